"""Step caching (``sampling.cache=teacache``, opt-in): skip a transformer pass whose input barely changed since the
last computed one, reusing that pass's residual (TeaCache, Liu et al. 2024, without its model-specific rescaling
polynomial).

At every pass the signal is the timestep-modulated input of the first block (``block.modulated_input``: what the
first block's self-attention sees, which moves with both the latent and sigma). Its relative L1 change since the
previous pass, ``mean|m - m_prev| / mean|m_prev|`` (over every modality present), is added to an accumulator; while
the accumulator stays below ``threshold`` the blocks are skipped and the streams leaving them are the streams
entering them plus the residual (blocks' output - input) of the last computed pass; otherwise the blocks run, their
residual is kept and the accumulator restarts at 0. The first pass of each kind is always computed. Threshold 0
computes every pass: the same numbers as the exact run, bit for bit.

A denoising step may call the transformer several times (guidance: positive, negative, STG passes), each with its
own inputs: the k-th call at a given sigma is "pass kind k", and each kind keeps its own signal, accumulator and
residual. The transformer knows nothing of this: it exposes its forward in parts (``LTXModel.prepare``,
``run_blocks``, ``finish``) and the first block's AdaLN table. The loops see an x0 model like any other
(``wrap`` replaces a denoiser's ``model`` for the length of one loop).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field, replace

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.models.transformer.block import modulated_input
from ltx2.models.transformer.model import to_denoised

KINDS = ("none", "teacache")
DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class CacheSettings:
    """``sampling.cache`` / ``sampling.cache_threshold``."""

    kind: str = "none"
    threshold: float = DEFAULT_THRESHOLD

    @property
    def enabled(self) -> bool:
        return self.kind != "none"


def settings_of(cfg) -> CacheSettings:
    """The run's step-cache settings, checked (a threshold without a cache, or a negative one, is refused)."""
    from omegaconf import OmegaConf

    kind = OmegaConf.select(cfg, "sampling.cache", default="none")
    threshold = OmegaConf.select(cfg, "sampling.cache_threshold", default=None)
    kind = "none" if kind is None or kind is False else str(kind)
    if kind not in KINDS:
        raise ConfigError("sampling.cache", kind, f"is not one of {', '.join(KINDS)}",
                          "use sampling.cache=teacache (skip passes whose input barely changed) or none")
    if kind == "none":
        if threshold is not None:
            raise ConfigError("sampling.cache_threshold", threshold, "is read only by a step cache, and "
                              "sampling.cache=none", "add sampling.cache=teacache, or drop the threshold")
        return CacheSettings()
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold < 0:
        raise ConfigError("sampling.cache_threshold", threshold, "must be a number >= 0 (the accumulated relative "
                          "change of the first block's input under which a pass is skipped)",
                          f"use e.g. sampling.cache_threshold={DEFAULT_THRESHOLD} (0: skip nothing)")
    return CacheSettings(kind, float(threshold))


@dataclass
class CacheStats:
    """What a run's step cache did (``run_record.json`` ``step_cache``)."""

    kind: str
    threshold: float
    passes: int = 0
    skipped: int = 0
    skipped_per_loop: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "threshold": self.threshold, "passes": self.passes, "computed":
                self.passes - self.skipped, "skipped": self.skipped, "skipped_per_loop": dict(self.skipped_per_loop)}


@dataclass
class _PassKind:
    signal: mx.array | None = None
    accumulated: float = 0.0
    residual: tuple = (None, None)  # video, audio: blocks' output - input of the last computed pass


class TeaCacheModel:
    """An x0 model (``X0Model`` interface) that skips the blocks of passes whose first-block input barely changed."""

    def __init__(self, model, threshold: float, stats: CacheStats | None = None, title: str = "denoise"):
        self.velocity_model = model.velocity_model
        self.threshold, self.title = float(threshold), title
        self.stats = stats or CacheStats("teacache", float(threshold))
        self._kinds: dict[int, _PassKind] = {}
        self._sigma_key: bytes | None = None
        self._call = 0
        self._tables: dict[str, mx.array] = {}

    def _kind(self, video, audio) -> _PassKind:
        # both modalities' sigmas: a frozen stream's is 0 at every step, the other one's tells the steps apart
        key = b"".join(np.asarray(m.sigma.astype(mx.float32)).tobytes() for m in (video, audio) if m is not None)
        self._call = self._call + 1 if key == self._sigma_key else 0
        self._sigma_key = key
        return self._kinds.setdefault(self._call, _PassKind())

    def _signal(self, streams) -> list[mx.array]:
        out = []
        for stream, prefix in zip(streams, ("", "audio_")):
            if stream is None or not stream.enabled or stream.x.size == 0:
                continue
            if prefix not in self._tables:
                self._tables[prefix] = self.velocity_model.first_block_table(prefix)
            out.append(modulated_input(stream, self._tables[prefix]).astype(mx.float32))
        return out

    def __call__(self, video, audio=None, perturbations=None):
        model = self.velocity_model
        streams = model.prepare(video, audio)
        kind = self._kind(video, audio)
        signal = self._signal(streams) if self.threshold > 0 else []  # threshold 0 never skips: no signal needed
        skip = False
        if signal and kind.signal is not None and len(kind.signal) == len(signal) and all(
                a.shape == b.shape for a, b in zip(kind.signal, signal)):
            change = sum(mx.abs(s - p).sum() for s, p in zip(signal, kind.signal))
            scale = sum(mx.abs(p).sum() for p in kind.signal)
            kind.accumulated += float(change / mx.maximum(scale, 1e-12))
            skip = kind.accumulated < self.threshold and all(r is not None or s is None
                                                             for r, s in zip(kind.residual, streams))
        kind.signal = signal
        self.stats.passes += 1
        if skip:
            self.stats.skipped += 1
            self.stats.skipped_per_loop[self.title] = self.stats.skipped_per_loop.get(self.title, 0) + 1
            out = tuple(None if s is None else replace(s, x=s.x + r) for s, r in zip(streams, kind.residual))
        else:
            out = model.run_blocks(*streams, perturbations)
            kind.accumulated = 0.0
            if self.threshold > 0:  # threshold 0 never skips: keep nothing
                kind.residual = tuple(None if o is None else o.x - s.x for o, s in zip(out, streams))
        v, a = model.finish(*out)
        return (to_denoised(video.latent, v, video.timesteps) if v is not None else None,
                to_denoised(audio.latent, a, audio.timesteps) if a is not None else None)


_ACTIVE: list[CacheStats] = []


@contextlib.contextmanager
def attached(settings: CacheSettings):
    """Turns the step cache on for every denoising loop run inside (``wrap``); yields the run's stats (None when
    the cache is off)."""
    if not settings.enabled:
        yield None
        return
    stats = CacheStats(settings.kind, settings.threshold)
    _ACTIVE.append(stats)
    try:
        yield stats
    finally:
        _ACTIVE.remove(stats)


def wrap(denoiser, title: str = "denoise"):
    """``denoiser`` with its x0 model behind a fresh step cache when one is attached (each loop starts empty:
    stages differ in size and sigma), else ``denoiser`` itself."""
    model = getattr(denoiser, "model", None)
    if not _ACTIVE or model is None or not hasattr(model, "velocity_model"):
        return denoiser
    stats = _ACTIVE[-1]
    cached = TeaCacheModel(model, stats.threshold, stats, title)
    clone = copy.copy(denoiser)
    clone.model = cached
    return clone
