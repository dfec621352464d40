"""Sigma schedules. Each scheduler is a small validated object whose ``sigmas()`` returns a float32
``mx.array`` of ``steps + 1`` decreasing noise levels, from about 1 (pure noise) to 0 (clean)."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.sampling import _checks as check

DEFAULT_TOKENS = 4096  # what every reference pipeline but HQ uses: shift = max_shift
_BASE_SHIFT_TOKENS, _MAX_SHIFT_TOKENS = 1024, 4096

DISTILLED_SIGMA_VALUES = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
STAGE_2_DISTILLED_SIGMA_VALUES = (0.909375, 0.725, 0.421875, 0.0)


def _torch_style_linspace(start: float, end: float, points: int) -> np.ndarray:
    """float32 linspace computed the way torch does on CPU (from both ends towards the middle)."""
    step = np.float32((np.float32(end) - np.float32(start)) / np.float32(max(points - 1, 1)))
    i = np.arange(points, dtype=np.float32)
    head = np.float32(start) + step * i
    tail = np.float32(end) - step * (np.float32(points - 1) - i)
    return np.where(np.arange(points) < points // 2, head, tail).astype(np.float32)


class LTX2Scheduler:
    """Token-count shifted schedule, stretched so that the last non-zero sigma equals ``terminal``.

    ``shift = tokens * m + b`` on the line through (1024, base_shift) and (4096, max_shift);
    ``sigma(t) = e^shift / (e^shift + 1/t - 1)`` for t = linspace(1, 0, steps + 1); stretch:
    ``sigma' = 1 - (1 - sigma) / ((1 - sigma_last_nonzero) / (1 - terminal))``. Computed in float32 like ltx-core.
    ``tokens`` defaults to 4096 (shift = max_shift), as in every reference pipeline except the HQ one, which
    passes the stage-1 latent's token count (frames * height * width).
    """

    def __init__(self, steps: int, max_shift: float = 2.05, base_shift: float = 0.95, stretch: bool = True,
                 terminal: float = 0.1, tokens: int | None = None):
        self.steps = check.integer("steps", steps, 1)
        self.max_shift = check.real("max_shift", max_shift)
        self.base_shift = check.real("base_shift", base_shift)
        self.stretch = check.boolean("stretch", stretch)
        self.terminal = check.real("terminal", terminal, 0.0, 1.0, low_open=True, high_open=True)
        self.tokens = None if tokens is None else check.integer("tokens", tokens, 1)

    def shift(self, tokens: int | None = None) -> float:
        tokens = tokens or self.tokens or DEFAULT_TOKENS
        slope = (self.max_shift - self.base_shift) / (_MAX_SHIFT_TOKENS - _BASE_SHIFT_TOKENS)
        return tokens * slope + (self.base_shift - slope * _BASE_SHIFT_TOKENS)

    def sigmas(self, tokens: int | None = None) -> mx.array:
        """``tokens`` (optional) overrides the constructor's token count."""
        if tokens is not None:
            check.integer("tokens", tokens, 1)
        e = np.float32(math.exp(self.shift(tokens)))
        t = _torch_style_linspace(1.0, 0.0, self.steps + 1)
        one = np.float32(1)
        with np.errstate(divide="ignore"):  # scalar / tensor is reciprocal-then-multiply in torch
            s = np.where(t != 0, e * (one / (e + (one / t - one))), np.float32(0)).astype(np.float32)
        if self.stretch and self.steps > 1:  # one step: nothing to stretch (ltx-core returns NaN there)
            nonzero = s != 0
            one_minus = np.float32(1) - s[nonzero]
            scale = one_minus[-1] / np.float32(1.0 - self.terminal)
            s[nonzero] = np.float32(1) - one_minus / scale
        return mx.array(s)


class LinearQuadraticScheduler:
    """``linear_steps`` (default steps // 2) linear steps down to ``1 - threshold_noise``, then a quadratic
    curve to 0. With 8 steps it gives exactly the distilled schedule."""

    def __init__(self, steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None):
        self.steps = check.integer("steps", steps, 1)
        self.threshold_noise = check.real("threshold_noise", threshold_noise, 0.0, 1.0, low_open=True,
                                          high_open=True)
        if linear_steps is not None:
            check.integer("linear_steps", linear_steps, 1)
            if linear_steps > self.steps:
                raise ConfigError("linear_steps", linear_steps, f"must be <= steps ({self.steps})",
                                  "lower linear_steps or leave it unset (steps // 2)")
        self.linear_steps = linear_steps

    def sigmas(self) -> mx.array:
        n, thr = self.steps, self.threshold_noise
        if n == 1:
            return mx.array([1.0, 0.0], dtype=mx.float32)
        lin = self.linear_steps if self.linear_steps is not None else n // 2
        xs = [i * thr / lin for i in range(lin)]
        diff = lin - thr * n
        quad = n - lin
        if quad > 0:
            a = diff / (lin * quad**2)
            b = thr / lin - 2 * diff / quad**2
            c = a * lin**2
            xs += [a * i**2 + b * i + c for i in range(lin, n)]
        return mx.array(np.array([1.0 - x for x in xs + [1.0]], dtype=np.float32))


class FixedScheduler:
    """A given list of sigmas (strictly decreasing, in [0, 1])."""

    def __init__(self, values: list[float] | tuple[float, ...]):
        self.values = check.sigma_values("values", values)

    @property
    def steps(self) -> int:
        return len(self.values) - 1

    def sigmas(self) -> mx.array:
        return mx.array(np.array(self.values, dtype=np.float32))


class DistilledScheduler(FixedScheduler):
    """The distilled model's fixed sigmas: stage 1 = DISTILLED_SIGMA_VALUES (8 steps), stage 2 (refinement of
    an upsampled latent, noise_scale = first sigma) = STAGE_2_DISTILLED_SIGMA_VALUES (3 steps)."""

    def __init__(self, stage: int = 1, steps: int | None = None):
        if stage not in (1, 2) or isinstance(stage, bool):
            raise ConfigError("stage", stage, "must be 1 or 2", "use stage=1 (full schedule) or stage=2 (refinement)")
        super().__init__(DISTILLED_SIGMA_VALUES if stage == 1 else STAGE_2_DISTILLED_SIGMA_VALUES)
        self.stage = stage
        if steps is not None and steps != self.steps:
            raise ConfigError("steps", steps, f"the distilled stage-{stage} schedule has exactly {self.steps} steps",
                              f"remove steps or set it to {self.steps}")
