"""Guidance: combine the positive (conditioned) x0 prediction with extra passes of the transformer.

Single-delta guiders (``CFGStarGuider``, ``APGGuider``) return ``delta(cond, uncond)``, added to ``cond``; the
negative-prompt pass supplies ``uncond``. ``MultiModalGuider`` is the LTX-2 audio-video guider (CFG + STG +
modality isolation + rescale) of one modality's values, ``MultiModalGuiderParams`` (the one record of them: the
``guider`` group's keys are its fields), with ``MultiModalGuiderSchedule`` for sigma-dependent parameters.
Formulas and defaults are those of ltx-core 1.0.0; ``MultiModalGuider`` combines in float32 as 1.2.0 does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.sampling import _checks as check


def projection_coef(to_project: mx.array, onto: mx.array) -> mx.array:
    """Per sample ``<a, b> / (<b, b> + 1e-8)``, shaped (B, 1, ..., 1) to broadcast against ``a``.

    (ltx-core returns (B, 1), which broadcasts the same way only for B = 1.)
    """
    b = to_project.shape[0]
    a, o = to_project.reshape(b, -1), onto.reshape(b, -1)
    coef = (a * o).sum(axis=1) / ((o * o).sum(axis=1) + 1e-8)
    return coef.reshape((b,) + (1,) * (to_project.ndim - 1))


@dataclass(frozen=True)
class CFGStarGuider:
    """CFG with the negative prediction rescaled onto the positive one (CFG-star):
    ``delta = (scale - 1) * (cond - projection_coef(cond, uncond) * uncond)``."""

    scale: float = 3.0

    def __post_init__(self):
        object.__setattr__(self, "scale", check.real("scale", self.scale))

    def enabled(self) -> bool:
        return self.scale != 1.0

    def delta(self, cond: mx.array, uncond: mx.array) -> mx.array:
        return (self.scale - 1) * (cond - projection_coef(cond, uncond) * uncond)


@dataclass(frozen=True)
class APGGuider:
    """Adaptive projected guidance (ltx-core ``LtxAPGGuider``): ``g = cond - uncond``, optionally
    ``g *= min(1, norm_threshold / |g|)`` (L2 over the last three axes); ``g_par = projection_coef(g, cond) *
    cond``; ``delta = (eta * g_par + (g - g_par)) * (scale - 1)``."""

    scale: float = 3.0
    eta: float = 1.0
    norm_threshold: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "scale", check.real("scale", self.scale))
        object.__setattr__(self, "eta", check.real("eta", self.eta))
        object.__setattr__(self, "norm_threshold", check.real("norm_threshold", self.norm_threshold, 0.0))

    def enabled(self) -> bool:
        return self.scale != 1.0

    def delta(self, cond: mx.array, uncond: mx.array) -> mx.array:
        g = cond - uncond
        if self.norm_threshold > 0:
            axes = tuple(range(max(g.ndim - 3, 0), g.ndim))
            norm = mx.sqrt((g * g).sum(axis=axes, keepdims=True))
            g = g * mx.minimum(mx.ones_like(g), self.norm_threshold / norm)
        parallel = projection_coef(g, cond) * cond
        return (parallel * self.eta + (g - parallel)) * (self.scale - 1)


@dataclass(frozen=True)
class MultiModalGuiderParams:
    """One modality's guidance values, the one record of them (ltx-core defaults: no guidance). The ``guider``
    group's keys are these fields (video at the top level, audio under ``audio``), as far as the chosen guider
    reads them (``ltx2.sampling.guidance``).

    cfg_scale: prompt adherence (1 = off); stg_scale: STG strength (0 = off) on ``stg_blocks`` (None: all);
    rescale_scale in [0, 1]: how much the guided prediction's std is pulled back to the positive one's;
    modality_scale: audio<->video coupling strength (1 = off); skip_step: reuse the previous x0 on all but
    every (skip_step + 1)-th step (0 = never skip).
    """

    cfg_scale: float = 1.0
    stg_scale: float = 0.0
    stg_blocks: tuple[int, ...] | None = field(default_factory=tuple)
    rescale_scale: float = 0.0
    modality_scale: float = 1.0
    skip_step: int = 0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "cfg_scale", check.real("cfg_scale", self.cfg_scale))
        set_(self, "stg_scale", check.real("stg_scale", self.stg_scale))
        set_(self, "stg_blocks", _blocks("stg_blocks", self.stg_blocks, not math.isclose(self.stg_scale, 0.0)))
        set_(self, "rescale_scale", check.real("rescale_scale", self.rescale_scale, 0.0, 1.0))
        set_(self, "modality_scale", check.real("modality_scale", self.modality_scale))
        set_(self, "skip_step", check.integer("skip_step", self.skip_step, 0))


@dataclass(frozen=True)
class MultiModalGuider:
    """``pred = c + (cfg - 1)(c - u_text) + stg (c - u_perturbed) + (modality - 1)(c - u_isolated)``,
    evaluated left to right in the inputs' dtype; terms whose pass did not run get 0.0. If rescale_scale r != 0:
    ``pred *= r * std(c) / std(pred) + (1 - r)`` (std over the whole tensor, unbiased)."""

    params: MultiModalGuiderParams = field(default_factory=MultiModalGuiderParams)

    def calculate(self, cond: mx.array, uncond_text: mx.array | float, uncond_perturbed: mx.array | float,
                  uncond_modality: mx.array | float) -> mx.array:
        """The combination in float32 (ltx-core 1.2.0; 1.0.0 combined in the inputs' dtype), cast back to the
        dtype of ``cond``."""
        p, dtype = self.params, cond.dtype
        cond, uncond_text, uncond_perturbed, uncond_modality = (
            u.astype(mx.float32) if isinstance(u, mx.array) else u
            for u in (cond, uncond_text, uncond_perturbed, uncond_modality))
        pred = (cond + (p.cfg_scale - 1) * (cond - uncond_text) + p.stg_scale * (cond - uncond_perturbed)
                + (p.modality_scale - 1) * (cond - uncond_modality))
        if p.rescale_scale != 0:
            factor = _std(cond) / _std(pred)
            pred = pred * (p.rescale_scale * factor + (1 - p.rescale_scale))
        return pred.astype(dtype)

    def needs_negative(self) -> bool:
        return not math.isclose(self.params.cfg_scale, 1.0)

    def needs_perturbed(self) -> bool:
        return not math.isclose(self.params.stg_scale, 0.0)

    def needs_isolated(self) -> bool:
        return not math.isclose(self.params.modality_scale, 1.0)

    def skips(self, step: int) -> bool:
        n = self.params.skip_step
        return n > 0 and step % (n + 1) != 0


def _blocks(name: str, blocks, stg_on: bool) -> tuple[int, ...] | None:
    """Transformer blocks to perturb: a list of indices, or None for every block (as in ltx-core)."""
    if blocks is None:
        return None
    blocks = check.int_tuple(name, blocks)
    if stg_on and not blocks:
        raise ConfigError(name, [], "STG is on but no block is perturbed",
                          "list blocks, e.g. [29] for LTX-2 or [28] for LTX-2.3 (null: every block), or set the STG "
                          "scale to 0")
    return blocks


def _std(x: mx.array) -> mx.array:
    """Unbiased std of all elements, accumulated in float32, returned in x's dtype (as torch does for bf16)."""
    return mx.std(x.astype(mx.float32), ddof=1).astype(x.dtype)


class MultiModalGuiderSchedule:
    """Guider parameters by sigma: keys are bin upper bounds; sigma uses the params of the smallest key >= sigma,
    or those of the largest key when sigma is above every key (ltx-core ``MultiModalGuiderFactory``)."""

    def __init__(self, params_by_sigma: Mapping[float, MultiModalGuiderParams]):
        if not isinstance(params_by_sigma, Mapping) or not params_by_sigma:
            raise ConfigError("params_by_sigma", params_by_sigma, "must be a non-empty mapping sigma -> params",
                              "write it as {1.0: {cfg_scale: ...}, 0.5: {...}}")
        entries = []
        for key, params in params_by_sigma.items():
            sigma = _as_float(key)
            if not isinstance(sigma, float) or math.isnan(sigma) or sigma < 0:
                raise ConfigError("params_by_sigma key", key, "must be a sigma >= 0 (or inf)",
                                  "use numeric keys such as 1.0 and 0.5")
            if isinstance(params, Mapping):
                params = MultiModalGuiderParams(**params)
            if not isinstance(params, MultiModalGuiderParams):
                raise ConfigError(f"params_by_sigma[{key!r}]", params, "must be MultiModalGuiderParams or a mapping of "
                                  "its fields", "give cfg_scale, stg_scale, ... for each sigma")
            entries.append((sigma, params))
        self.entries = tuple(sorted(entries, key=lambda e: e[0], reverse=True))

    @classmethod
    def constant(cls, params: MultiModalGuiderParams) -> MultiModalGuiderSchedule:
        return cls({math.inf: params})

    def params(self, sigma: float) -> MultiModalGuiderParams:
        sigma = float(sigma)
        at_or_above = [p for k, p in self.entries if k >= sigma]
        return at_or_above[-1] if at_or_above else self.entries[0][1]

    def guider(self, sigma: float) -> MultiModalGuider:
        return MultiModalGuider(self.params(sigma))


def _as_float(key) -> float | str:
    try:
        return float(key)
    except (TypeError, ValueError):
        return key


def as_schedule(guider: MultiModalGuiderSchedule | MultiModalGuider | MultiModalGuiderParams | None
                ) -> MultiModalGuiderSchedule:
    """Any of: a schedule, a guider, params, or None (no guidance) -> a schedule."""
    if isinstance(guider, MultiModalGuiderSchedule):
        return guider
    if isinstance(guider, MultiModalGuider):
        return MultiModalGuiderSchedule.constant(guider.params)
    if guider is None:
        return MultiModalGuiderSchedule.constant(MultiModalGuiderParams())
    if isinstance(guider, MultiModalGuiderParams):
        return MultiModalGuiderSchedule.constant(guider)
    raise TypeError(f"expected MultiModalGuiderSchedule, MultiModalGuider or MultiModalGuiderParams, got "
                    f"{type(guider).__name__}")
