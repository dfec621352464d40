"""The ``guider`` config group: guidance settings per modality, turned into the denoiser a pipeline calls.

kinds (one YAML each in conf/guider/):
  none        x0 = c                                                   1 pass per step
  cfg         x0 = c + (cfg - 1)(c - u)                                2 passes
  multimodal  x0 = c + (cfg - 1)(c - u) + stg (c - p) + (mod - 1)(c - i), rescaled towards std(c) by
              ``rescale_scale``; per modality (the official pipelines' guidance)      up to 4 passes
  cfg_star    x0 = c + (cfg - 1)(c - proj(c, u) u)                     2 passes
  apg         adaptive projected guidance (``apg_eta``, ``apg_norm_threshold``)       2 passes
c: positive prompt, u: negative prompt, p: STG-perturbed (self-attention as value path in ``stg_blocks``),
i: audio and video isolated from each other. ``cfg``/``multimodal``/``none`` use each modality's own values
(audio under ``audio``); ``cfg_star``/``apg`` apply the video values to both modalities.
``batch_passes`` (auto | true | false): run a step's passes as one batched transformer call (auto: when the
estimated memory allows; see ``ltx2.sampling.batched_passes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ltx2.sampling.batched_passes import batch_mode
from ltx2.sampling.denoise import GuidedDenoiser, MultiModalGuidedDenoiser, SimpleDenoiser
from ltx2.sampling.guiders import APGGuider, CFGStarGuider, MultiModalGuiderParams

KINDS = ("none", "cfg", "multimodal", "cfg_star", "apg")


@dataclass
class ModalityGuidance:
    cfg_scale: float = 1.0
    stg_scale: float = 0.0
    stg_blocks: tuple[int, ...] = ()
    rescale_scale: float = 0.0
    modality_scale: float = 1.0
    skip_step: int = 0

    def params(self) -> MultiModalGuiderParams:
        return MultiModalGuiderParams(cfg_scale=self.cfg_scale, stg_scale=self.stg_scale,
                                      stg_blocks=tuple(self.stg_blocks), rescale_scale=self.rescale_scale,
                                      modality_scale=self.modality_scale, skip_step=self.skip_step)


class Guidance:
    """Guidance of one run (see the module docstring for ``kind``)."""

    def __init__(self, kind: str = "multimodal", cfg_scale: float = 1.0, stg_scale: float = 0.0,
                 stg_blocks: list[int] | tuple[int, ...] = (), rescale_scale: float = 0.0,
                 modality_scale: float = 1.0, skip_step: int = 0, apg_eta: float = 1.0,
                 apg_norm_threshold: float = 0.0, audio: dict | None = None, batch_passes: str | bool = "auto"):
        if kind not in KINDS:
            raise ValueError(f"guider.kind={kind!r} is not one of {KINDS}: pick a conf/guider option")
        self.kind = kind
        self.video = ModalityGuidance(cfg_scale, stg_scale, tuple(stg_blocks), rescale_scale, modality_scale, skip_step)
        self.audio = ModalityGuidance(**{k: tuple(v) if k == "stg_blocks" else v for k, v in (audio or {}).items()})
        if kind == "none":
            self.video = self.audio = ModalityGuidance()
        elif kind == "cfg":  # plain CFG: the other terms stay off whatever the file says
            self.video = ModalityGuidance(cfg_scale=self.video.cfg_scale)
            self.audio = ModalityGuidance(cfg_scale=self.audio.cfg_scale)
        self.apg_eta, self.apg_norm_threshold = apg_eta, apg_norm_threshold
        self.batch_passes = batch_mode(batch_passes)
        for name, g in (("guider", self.video), ("guider.audio", self.audio)):
            for key in ("cfg_scale", "stg_scale", "rescale_scale", "modality_scale"):
                value = getattr(g, key)
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"{name}.{key}={value} must be a finite number >= 0")
            if not 0 <= g.rescale_scale <= 1:
                raise ValueError(f"{name}.rescale_scale={g.rescale_scale} must be between 0 and 1")
            if g.skip_step < 0:
                raise ValueError(f"{name}.skip_step={g.skip_step} must be >= 0")
        self.params()  # the guider classes' own checks

    def params(self) -> tuple[MultiModalGuiderParams, MultiModalGuiderParams]:
        return self.video.params(), self.audio.params()

    def stg_block_lists(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("guider.stg_blocks", self.video.stg_blocks), ("guider.audio.stg_blocks", self.audio.stg_blocks)]

    @property
    def needs_negative(self) -> bool:
        if self.kind in ("cfg_star", "apg"):
            return self.video.cfg_scale != 1
        return any(not math.isclose(g.cfg_scale, 1.0) for g in (self.video, self.audio))

    def denoiser(self, model, video_context, audio_context=None, video_negative=None, audio_negative=None):
        """The denoiser for a loop: ``(video_state, audio_state, sigmas, step) -> (x0_video, x0_audio)``."""
        if self.kind == "none":
            return SimpleDenoiser(model, video_context, audio_context)
        if self.kind in ("cfg_star", "apg"):
            guider = (CFGStarGuider(self.video.cfg_scale) if self.kind == "cfg_star"
                      else APGGuider(self.video.cfg_scale, self.apg_eta, self.apg_norm_threshold))
            return GuidedDenoiser(model, guider, video_context, audio_context, video_negative, audio_negative,
                                  batch_passes=self.batch_passes)
        video_params, audio_params = self.params()
        return MultiModalGuidedDenoiser(model, video_context, audio_context, video_params, audio_params,
                                        video_negative if video_params.cfg_scale != 1 or audio_params.cfg_scale != 1
                                        else None, audio_negative, batch_passes=self.batch_passes)
