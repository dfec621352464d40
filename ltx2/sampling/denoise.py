"""Denoising functions: (video_state, audio_state, sigmas, step_index) -> (x0_video, x0_audio).

Each calls the x0 transformer once or several times at sigma = sigmas[step_index] and combines the results.
``audio_state`` may be None for a video-only model. The x0s are not yet blended with clean tokens (the loops do
that with ``post_process_latent``).
"""

from __future__ import annotations

import mlx.core as mx

from ltx2.models.transformer import BatchPerturbations, Modality, X0Model, modality_isolation
from ltx2.models.transformer.perturbations import Perturbation, PerturbationType
from ltx2.sampling.guiders import (
    APGGuider,
    CFGGuider,
    CFGStarGuider,
    MultiModalGuider,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
    STGGuider,
    as_schedule,
)
from ltx2.sampling.latent_state import LatentState

X0Pair = tuple[mx.array, mx.array | None]


def modality(state: LatentState | None, context: mx.array | None, sigma: mx.array,
             enabled: bool = True) -> Modality | None:
    """Transformer input of a state at ``sigma``: timesteps = denoise_mask * sigma, no text mask."""
    if state is None:
        return None
    return Modality(latent=state.latent, sigma=sigma, timesteps=state.denoise_mask * sigma,
                    positions=state.positions, context=context, enabled=enabled,
                    attention_mask=state.attention_mask)


def _sigma(sigmas: mx.array, step_index: int) -> mx.array:
    return sigmas[step_index].astype(mx.float32)


class SimpleDenoiser:
    """One positive pass, no guidance (distilled model, stage 2)."""

    def __init__(self, model: X0Model, video_context: mx.array, audio_context: mx.array | None = None):
        self.model, self.video_context, self.audio_context = model, video_context, audio_context

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        return self.model(modality(video, self.video_context, sigma), modality(audio, self.audio_context, sigma))


class GuidedDenoiser:
    """A single-delta guider (CFG, CFG-star, APG: negative-prompt pass; STG: perturbed pass):
    ``x0 = cond + guider.delta(cond, other)`` for each modality; one pass when the guider is disabled."""

    def __init__(self, model: X0Model, guider: CFGGuider | CFGStarGuider | APGGuider | STGGuider,
                 video_context: mx.array, audio_context: mx.array | None = None,
                 video_negative_context: mx.array | None = None, audio_negative_context: mx.array | None = None):
        if guider.needs == "negative" and guider.enabled() and video_negative_context is None:
            raise ValueError(f"{type(guider).__name__} needs a negative prompt's context: encode the negative "
                             "prompt and pass video_negative_context (and audio_negative_context)")
        self.model, self.guider = model, guider
        self.contexts = (video_context, audio_context)
        self.negative_contexts = (video_negative_context,
                                  audio_negative_context if audio_negative_context is not None else audio_context)

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        pos = (modality(video, self.contexts[0], sigma), modality(audio, self.contexts[1], sigma))
        cond = self.model(*pos)
        if not self.guider.enabled():
            return cond
        if self.guider.needs == "negative":
            other = self.model(modality(video, self.negative_contexts[0], sigma),
                               modality(audio, self.negative_contexts[1], sigma))
        else:
            kinds = [PerturbationType.SKIP_VIDEO_SELF_ATTN]
            kinds += [PerturbationType.SKIP_AUDIO_SELF_ATTN] if audio is not None else []
            other = self.model(*pos, BatchPerturbations.same([Perturbation(k, self.guider.blocks) for k in kinds],
                                                             video.latent.shape[0]))
        return tuple(c if c is None else c + self.guider.delta(c, o) for c, o in zip(cond, other))


class MultiModalGuidedDenoiser:
    """The LTX-2 audio-video guided denoiser (ltx-pipelines ``multi_modal_guider(_factory)_denoising_func``).

    Per call, with guiders resolved from the schedules at sigma = sigmas[step_index] (audio defaults to the
    video schedule), and each pass a full audio-video transformer call:
      1. positive (a modality whose guider skips this step is disabled);
      2. if either cfg != 1: negative contexts for both (a modality without one uses its positive context);
      3. if either stg != 0: STG (video self-attention on video stg_blocks if video stg != 0, audio likewise);
      4. if either modality_scale != 1: audio<->video cross-attention skipped in every block.
    Then ``MultiModalGuider.calculate`` per modality; a skipping modality returns its previous x0, and when both
    skip there is no transformer call. Keeps the previous x0s: use one instance per denoising run.
    Video-only (audio None): the audio guider is ignored and the modality term is zero (no pass 4).
    """

    def __init__(self, model: X0Model, video_context: mx.array, audio_context: mx.array | None = None,
                 video_guider: MultiModalGuiderSchedule | MultiModalGuider | MultiModalGuiderParams | None = None,
                 audio_guider: MultiModalGuiderSchedule | MultiModalGuider | MultiModalGuiderParams | None = None,
                 video_negative_context: mx.array | None = None, audio_negative_context: mx.array | None = None):
        self.model = model
        self.video_schedule = as_schedule(video_guider)
        self.audio_schedule = self.video_schedule if audio_guider is None else as_schedule(audio_guider)
        self.contexts = (video_context, audio_context)
        self.negative_contexts = (video_negative_context, audio_negative_context)
        for name, schedule, negative in (("video", self.video_schedule, video_negative_context),
                                         ("audio", self.audio_schedule, audio_negative_context)):
            if name == "audio" and audio_context is None:
                continue
            needing = [p.cfg_scale for _, p in schedule.entries if MultiModalGuider(p).needs_negative()]
            if needing and negative is None:
                raise ValueError(f"{name} cfg_scale={needing[0]} needs a negative prompt's context: pass "
                                 f"{name}_negative_context, or set the {name} cfg_scale to 1")
        self.last: X0Pair = (None, None)
        self.calls = 0  # transformer passes so far

    def guiders(self, sigma: float) -> tuple[MultiModalGuider, MultiModalGuider]:
        return self.video_schedule.guider(sigma), self.audio_schedule.guider(sigma)

    def _run(self, video: Modality, audio: Modality | None, perturbations: list[Perturbation] | None = None):
        self.calls += 1
        batch = video.latent.shape[0]
        return self.model(video, audio, BatchPerturbations.same(perturbations, batch) if perturbations else None)

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        vg, ag = self.guiders(float(sigma))
        if audio is None:
            ag = MultiModalGuider(MultiModalGuiderParams(skip_step=vg.params.skip_step))
        skip_v, skip_a = vg.skips(step_index), ag.skips(step_index)
        if skip_v and skip_a:
            return self.last
        pos_v = modality(video, self.contexts[0], sigma, enabled=not skip_v)
        pos_a = modality(audio, self.contexts[1], sigma, enabled=not skip_a)
        cond_v, cond_a = self._run(pos_v, pos_a)
        neg = ptb = iso = (0.0, 0.0)
        if vg.needs_negative() or ag.needs_negative():
            neg = self._run(*self._negative(video, audio, sigma, vg, ag))
        if vg.needs_perturbed() or ag.needs_perturbed():
            perturbations = []
            if vg.needs_perturbed():
                perturbations.append(Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, vg.params.stg_blocks))
            if ag.needs_perturbed():
                perturbations.append(Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, ag.params.stg_blocks))
            ptb = self._run(pos_v, pos_a, perturbations)
        if vg.needs_isolated() or ag.needs_isolated():
            # without audio the positive pass already is the isolated one: the modality term is then zero
            iso = self._run(pos_v, pos_a, modality_isolation()) if audio is not None else (cond_v, None)
        x0_v = self.last[0] if skip_v else vg.calculate(cond_v, neg[0], ptb[0], iso[0])
        x0_a = None if audio is None else (self.last[1] if skip_a else ag.calculate(cond_a, neg[1], ptb[1], iso[1]))
        self.last = (x0_v, x0_a)
        return self.last

    def _negative(self, video, audio, sigma, vg: MultiModalGuider, ag: MultiModalGuider):
        contexts = []
        for name, guider, pos, negative in (("video", vg, self.contexts[0], self.negative_contexts[0]),
                                            ("audio", ag, self.contexts[1], self.negative_contexts[1])):
            if name == "audio" and audio is None:
                contexts.append(None)
                continue
            if guider.needs_negative() and negative is None:
                raise ValueError(f"{name} cfg_scale={guider.params.cfg_scale} needs a negative prompt's context: "
                                 f"pass {name}_negative_context, or set {name} cfg_scale to 1")
            contexts.append(negative if negative is not None else pos)
        return modality(video, contexts[0], sigma), modality(audio, contexts[1], sigma)
