"""The ``guider`` config group: one class per guidance algorithm, named by ``_target_`` in conf/guider/<option>.yaml.

  option      class       x0 of each modality                                                  passes per step
  none        NoGuidance  c                                                                                 1
  cfg         CFG         c + (cfg - 1)(c - u)                                                              2
  cfg_star    CFGStar     c + (cfg - 1)(c - proj(c, u) u)                                                   2
  apg         APG         adaptive projected guidance (apg_eta, apg_norm_threshold)                         2
  stg         STG         c + (cfg - 1)(c - u) + stg (c - p)                                                3
  multimodal  MultiModal  c + (cfg - 1)(c - u) + stg (c - p) + (mod - 1)(c - i), rescaled towards std(c)
                          by rescale_scale, every (skip_step + 1)-th step (the official pipelines')    up to 4
  hq          MultiModal  a preset of multimodal: the official HQ values (no STG)                           3
c: positive prompt, u: negative prompt, p: STG-perturbed (self-attention as value path in stg_blocks),
i: audio and video isolated from each other.

Each class names the keys it reads: ``video_keys`` and ``audio_keys`` are fields of ``MultiModalGuiderParams``
(the one record of a modality's guidance values; video keys at the top level, audio keys under ``audio``), and
``own_keys`` its other keys with their defaults. ``ltx2.experiment.schema`` makes each option's Hydra schema of
exactly these keys, so a key the chosen guider would ignore is refused when the config is composed (for a sweep:
every job, before any runs); ``ltx2.run`` says so in one line. cfg_star and apg have one scale for both
modalities (the video one): they take no ``audio`` keys. ``batch_passes`` (auto | true | false): run a step's
passes as one batched transformer call (auto: when the estimated memory allows; see ``batched_passes``).

Pipelines use ``needs_negative``, ``denoiser(model, video_ctx, audio_ctx, video_neg, audio_neg)`` and the runner
``stg_block_lists()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from ltx2.errors import ConfigError
from ltx2.sampling.batched_passes import batch_mode
from ltx2.sampling.guiders import APGGuider, CFGStarGuider, MultiModalGuiderParams

# what a key adds to x0, for the message that refuses it where the guider has no such thing
TERMS = {"cfg_scale": "CFG term", "stg_scale": "STG term", "stg_blocks": "STG term", "rescale_scale": "rescale",
         "modality_scale": "audio<->video modality term", "skip_step": "step skipping",
         "apg_eta": "APG projection", "apg_norm_threshold": "APG projection",
         "batch_passes": "second transformer pass to batch"}


class Guider:
    """A guidance algorithm: the values it reads (``video`` and ``audio`` records, its own keys as attributes)
    and the denoiser it builds."""

    option = ""  # its conf/guider option
    video_keys: tuple[str, ...] = ()
    audio_keys: tuple[str, ...] = ()
    own_keys: ClassVar[dict[str, Any]] = {}

    def __init__(self, audio: Mapping | None = None, **keys):
        audio = dict(audio or {})
        for prefix, values, allowed in (("guider.", keys, (*self.video_keys, *self.own_keys)),
                                        ("guider.audio.", audio, self.audio_keys)):
            for key, value in values.items():
                if key not in allowed:
                    raise ignored_key(type(self), prefix + key, value)
        self.video = _record("guider", {k: keys[k] for k in self.video_keys if k in keys})
        self.audio = _record("guider.audio", audio)
        for key, default in self.own_keys.items():
            setattr(self, key, keys.get(key, default))
        if "batch_passes" in self.own_keys:
            self.batch_passes = batch_mode(self.batch_passes)

    @property
    def needs_negative(self) -> bool:
        return False

    def stg_block_lists(self) -> list[tuple[str, tuple[int, ...]]]:
        """The STG block lists this guider perturbs, by key (checked against the model's block count)."""
        lists = [("guider.stg_blocks", self.video.stg_blocks), ("guider.audio.stg_blocks", self.audio.stg_blocks)]
        return [(key, blocks) for key, blocks in lists if blocks]

    def denoiser(self, model, video_context, audio_context=None, video_negative=None, audio_negative=None):
        """The denoiser for a loop: ``(video_state, audio_state, sigmas, step) -> (x0_video, x0_audio)``."""
        raise NotImplementedError


class NoGuidance(Guider):
    """x0 = c: one positive pass per step."""

    option = "none"

    def denoiser(self, model, video_context, audio_context=None, video_negative=None, audio_negative=None):
        from ltx2.sampling.denoise import SimpleDenoiser

        return SimpleDenoiser(model, video_context, audio_context)


class MultiModal(Guider):
    """The official pipelines' guidance, each modality with its own values (see the module docstring)."""

    option = "multimodal"
    video_keys = audio_keys = ("cfg_scale", "stg_scale", "stg_blocks", "rescale_scale", "modality_scale",
                               "skip_step")
    own_keys: ClassVar[dict[str, Any]] = {"batch_passes": "auto"}

    @property
    def needs_negative(self) -> bool:
        return any(not math.isclose(g.cfg_scale, 1.0) for g in (self.video, self.audio))

    def denoiser(self, model, video_context, audio_context=None, video_negative=None, audio_negative=None):
        from ltx2.sampling.denoise import MultiModalGuidedDenoiser

        negative = video_negative if self.video.cfg_scale != 1 or self.audio.cfg_scale != 1 else None
        return MultiModalGuidedDenoiser(model, video_context, audio_context, self.video, self.audio, negative,
                                        audio_negative, batch_passes=self.batch_passes)


class CFG(MultiModal):
    """Classifier-free guidance, each modality with its own scale (the multimodal guider's CFG term alone)."""

    option = "cfg"
    video_keys = audio_keys = ("cfg_scale",)


class STG(MultiModal):
    """CFG + spatio-temporal guidance, each modality with its own values (the multimodal guider's two terms)."""

    option = "stg"
    video_keys = audio_keys = ("cfg_scale", "stg_scale", "stg_blocks")


class CFGStar(Guider):
    """CFG-star rescaling, one scale (``cfg_scale``) for both modalities."""

    option = "cfg_star"
    video_keys = ("cfg_scale",)
    own_keys: ClassVar[dict[str, Any]] = {"batch_passes": "auto"}

    @property
    def needs_negative(self) -> bool:
        return self.video.cfg_scale != 1

    def single_delta(self):
        return CFGStarGuider(self.video.cfg_scale)

    def denoiser(self, model, video_context, audio_context=None, video_negative=None, audio_negative=None):
        from ltx2.sampling.denoise import GuidedDenoiser

        return GuidedDenoiser(model, self.single_delta(), video_context, audio_context, video_negative,
                              audio_negative, batch_passes=self.batch_passes)


class APG(CFGStar):
    """Adaptive projected guidance, one scale (``cfg_scale``) for both modalities."""

    option = "apg"
    own_keys: ClassVar[dict[str, Any]] = {"apg_eta": 1.0, "apg_norm_threshold": 0.0, "batch_passes": "auto"}

    def single_delta(self):
        return APGGuider(self.video.cfg_scale, self.apg_eta, self.apg_norm_threshold)


GUIDERS = (NoGuidance, CFG, CFGStar, APG, STG, MultiModal)


def accepted_keys(guider: type[Guider]) -> set[str]:
    """Every ``guider.*`` key this guider reads."""
    return ({f"guider.{k}" for k in (*guider.video_keys, *guider.own_keys)}
            | {f"guider.audio.{k}" for k in guider.audio_keys})


def readers(key: str) -> list[str]:
    """The guider options that read ``key`` (e.g. ``guider.stg_scale``)."""
    return [g.option for g in GUIDERS if key in accepted_keys(g)]


def ignored_key(guider: type[Guider], key: str, value) -> ConfigError:
    """The error for a ``guider.*`` key this guider would ignore: why, and which guiders read it."""
    readers_ = readers(key)
    name = key.rsplit(".", 1)[-1]
    if key.startswith("guider.audio.") and not guider.audio_keys:
        why = (f"guider={guider.option} applies its video values to both modalities (no audio values of its own), "
               "so this key would have no effect")
        fix = f"set guider.{name} for both, or use " + " or ".join(f"guider={r}" for r in readers_)
    else:
        why = f"guider={guider.option} has no {TERMS.get(name, name)}, so this key would have no effect"
        fix = "use " + " or ".join(f"guider={r}" for r in readers_) if readers_ else f"remove {key}"
    return ConfigError(key, value, why, fix)


def _record(prefix: str, values: dict) -> MultiModalGuiderParams:
    for key in ("cfg_scale", "stg_scale", "rescale_scale", "modality_scale"):
        value = values.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (math.isfinite(value)
                                                                                  and value >= 0):
            raise ConfigError(f"{prefix}.{key}", value, "must be a finite number >= 0",
                              f"set {prefix}.{key} to a number such as 1.0")
    rescale = values.get("rescale_scale")
    if isinstance(rescale, (int, float)) and not 0 <= rescale <= 1:
        raise ConfigError(f"{prefix}.rescale_scale", rescale, "must be between 0 and 1",
                          f"set {prefix}.rescale_scale to e.g. 0.7 (0: no rescale)")
    return MultiModalGuiderParams(**values)
