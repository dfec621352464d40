"""Denoising functions: (video_state, audio_state, sigmas, step_index) -> (x0_video, x0_audio).

Each calls the x0 transformer once or several times at sigma = sigmas[step_index] and combines the results.
``audio_state`` may be None for a video-only model. The x0s are not yet blended with clean tokens (the loops do
that with ``post_process_latent``). Each call adds to the process counters that run records carry
(``process.counts``): ``denoise:calls``, ``transformer:passes`` (x0 predictions) and ``transformer:forwards``
(transformer calls: fewer than passes when a step's passes run batched).
"""

from __future__ import annotations

import mlx.core as mx

from ltx2.loading.model_set import STATS
from ltx2.models.transformer import BatchPerturbations, Modality, X0Model, modality_isolation
from ltx2.models.transformer.perturbations import Perturbation, PerturbationType
from ltx2.sampling.batched_passes import GuidancePass, batch_mode, run_batched, should_batch
from ltx2.sampling.guiders import (
    APGGuider,
    CFGStarGuider,
    MultiModalGuider,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
    as_schedule,
)
from ltx2.sampling.latent_state import LatentState, keyframes_mask_of

X0Pair = tuple[mx.array, mx.array | None]


def modality(state: LatentState | None, context: mx.array | None, sigma: mx.array,
             enabled: bool = True) -> Modality | None:
    """Transformer input of a state at ``sigma``: timesteps = denoise_mask * sigma, no text mask; a frozen state
    gets sigma 0 (ltx-core 1.2.0 ``modality_from_latent_state``)."""
    if state is None:
        return None
    if state.frozen:
        sigma = mx.zeros_like(sigma)
    return Modality(latent=state.latent, sigma=sigma, timesteps=state.denoise_mask * sigma,
                    positions=state.positions, context=context, enabled=enabled,
                    attention_mask=state.attention_mask, keyframes_mask=keyframes_mask_of(state))


def _sigma(sigmas: mx.array, step_index: int) -> mx.array:
    return sigmas[step_index].astype(mx.float32)


def _count(passes: int, forwards: int) -> None:
    """One denoiser call that ran ``passes`` x0 predictions in ``forwards`` transformer calls."""
    STATS["denoise:calls"] += 1
    STATS["transformer:passes"] += passes
    STATS["transformer:forwards"] += forwards


def _model_width(model) -> int:
    """The transformer's video width, for the batching memory estimate (4096, the 19B one, when unknown)."""
    config = getattr(getattr(model, "velocity_model", None), "config", None)
    return getattr(config, "inner_dim", 4096)


class SimpleDenoiser:
    """One positive pass, no guidance (distilled model, stage 2)."""

    def __init__(self, model: X0Model, video_context: mx.array, audio_context: mx.array | None = None):
        self.model, self.video_context, self.audio_context = model, video_context, audio_context

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        _count(1, 1)
        return self.model(modality(video, self.video_context, sigma), modality(audio, self.audio_context, sigma))


class GuidedDenoiser:
    """A single-delta guider with a negative-prompt pass (CFG-star, APG): ``x0 = cond + guider.delta(cond, uncond)``
    for each modality with the guider's one scale; one pass when the guider is disabled. ``batch_passes`` (auto |
    true | false): run both passes as one batched forward (see ``batched_passes``)."""

    def __init__(self, model: X0Model, guider: CFGStarGuider | APGGuider, video_context: mx.array,
                 audio_context: mx.array | None = None, video_negative_context: mx.array | None = None,
                 audio_negative_context: mx.array | None = None, batch_passes: str | bool = False):
        if guider.enabled() and video_negative_context is None:
            raise ValueError(f"{type(guider).__name__} needs a negative prompt's context: encode the negative "
                             "prompt and pass video_negative_context (and audio_negative_context)")
        self.model, self.guider = model, guider
        self.contexts = (video_context, audio_context)
        self.negative_contexts = (video_negative_context,
                                  audio_negative_context if audio_negative_context is not None else audio_context)
        self.batch_passes = batch_mode(batch_passes)

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        pos = (modality(video, self.contexts[0], sigma), modality(audio, self.contexts[1], sigma))
        if not self.guider.enabled():
            _count(1, 1)
            return self.model(*pos)
        passes = [GuidancePass(*self.contexts), GuidancePass(*self.negative_contexts)]
        if should_batch(self.batch_passes, *pos, passes, _model_width(self.model)):
            _count(2, 1)
            cond, uncond = run_batched(self.model, *pos, passes)
        else:
            _count(2, 2)
            cond = self.model(*pos)
            uncond = self.model(modality(video, self.negative_contexts[0], sigma),
                                modality(audio, self.negative_contexts[1], sigma))
        return tuple(c if c is None else c + self.guider.delta(c, u) for c, u in zip(cond, uncond))


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
    Video-only (audio None): the audio guider is ignored and the modality term is zero (no pass 4); audio-only
    (video None, text-to-audio) likewise with the video guider (1.2.0's positive-only guider for an absent one).
    ``batch_passes`` (auto | true | false): run the passes of a step as one batched forward when no modality
    skips the step (see ``batched_passes``); ``calls`` still counts passes, ``forwards`` transformer calls.
    """

    def __init__(self, model: X0Model, video_context: mx.array, audio_context: mx.array | None = None,
                 video_guider: MultiModalGuiderSchedule | MultiModalGuider | MultiModalGuiderParams | None = None,
                 audio_guider: MultiModalGuiderSchedule | MultiModalGuider | MultiModalGuiderParams | None = None,
                 video_negative_context: mx.array | None = None, audio_negative_context: mx.array | None = None,
                 batch_passes: str | bool = False):
        self.model = model
        self.video_schedule = as_schedule(video_guider)
        self.audio_schedule = self.video_schedule if audio_guider is None else as_schedule(audio_guider)
        self.contexts = (video_context, audio_context)
        self.negative_contexts = (video_negative_context, audio_negative_context)
        for name, schedule, negative in (("video", self.video_schedule, video_negative_context),
                                         ("audio", self.audio_schedule, audio_negative_context)):
            if (name == "audio" and audio_context is None) or (name == "video" and video_context is None):
                continue
            needing = [p.cfg_scale for _, p in schedule.entries if MultiModalGuider(p).needs_negative()]
            if needing and negative is None:
                raise ValueError(f"{name} cfg_scale={needing[0]} needs a negative prompt's context: pass "
                                 f"{name}_negative_context, or set the {name} cfg_scale to 1")
        self.batch_passes = batch_mode(batch_passes)
        self.last: X0Pair = (None, None)
        self.calls = 0  # transformer passes so far
        self.forwards = 0  # transformer calls so far (fewer than passes when batched)

    def guiders(self, sigma: float) -> tuple[MultiModalGuider, MultiModalGuider]:
        return self.video_schedule.guider(sigma), self.audio_schedule.guider(sigma)

    def _run(self, video: Modality, audio: Modality | None, perturbations: list[Perturbation] | None = None):
        self.calls += 1
        self.forwards += 1
        batch = (video or audio).latent.shape[0]
        return self.model(video, audio, BatchPerturbations.same(perturbations, batch) if perturbations else None)

    def __call__(self, video: LatentState, audio: LatentState | None, sigmas: mx.array, step_index: int) -> X0Pair:
        sigma = _sigma(sigmas, step_index)
        vg, ag = self.guiders(float(sigma))
        if audio is None:
            ag = MultiModalGuider(MultiModalGuiderParams(skip_step=vg.params.skip_step))
        if video is None:
            vg = MultiModalGuider(MultiModalGuiderParams(skip_step=ag.params.skip_step))
        skip_v, skip_a = vg.skips(step_index), ag.skips(step_index)
        if skip_v and skip_a:
            _count(0, 0)
            return self.last
        pos_v = modality(video, self.contexts[0], sigma, enabled=not skip_v)
        pos_a = modality(audio, self.contexts[1], sigma, enabled=not skip_a)
        passes = self._passes(video, audio, vg, ag)
        calls, forwards = self.calls, self.forwards
        if should_batch(self.batch_passes, pos_v, pos_a, list(passes.values()), _model_width(self.model)):
            self.calls += len(passes)
            self.forwards += 1
            results = dict(zip(passes, run_batched(self.model, pos_v, pos_a, list(passes.values()))))
        else:
            results = {"cond": self._run(pos_v, pos_a)}
            if "neg" in passes:  # both modalities run in the negative pass, even one that skips this step
                results["neg"] = self._run(modality(video, passes["neg"].video_context, sigma),
                                           modality(audio, passes["neg"].audio_context, sigma))
            for name in ("ptb", "iso"):
                if name in passes:
                    results[name] = self._run(pos_v, pos_a, list(passes[name].perturbations))
        _count(self.calls - calls, self.forwards - forwards)
        cond_v, cond_a = results["cond"]
        neg, ptb, iso = (results.get(name, (0.0, 0.0)) for name in ("neg", "ptb", "iso"))
        if (vg.needs_isolated() or ag.needs_isolated()) and (audio is None or video is None):
            iso = results["cond"]  # with one modality the positive pass is the isolated one: the term is zero
        x0_v = None if video is None else (self.last[0] if skip_v else vg.calculate(cond_v, neg[0], ptb[0], iso[0]))
        x0_a = None if audio is None else (self.last[1] if skip_a else ag.calculate(cond_a, neg[1], ptb[1], iso[1]))
        self.last = (x0_v, x0_a)
        return self.last

    def _passes(self, video: LatentState | None, audio: LatentState | None, vg: MultiModalGuider,
                ag: MultiModalGuider) -> dict:
        """The passes this step needs, by name: cond, then neg / ptb / iso when their scale is not inert."""
        passes = {"cond": GuidancePass(*self.contexts)}
        if vg.needs_negative() or ag.needs_negative():
            passes["neg"] = GuidancePass(*self._negative_contexts(audio, vg, ag))
        if vg.needs_perturbed() or ag.needs_perturbed():
            perturbations = []
            if vg.needs_perturbed():
                perturbations.append(Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, vg.params.stg_blocks))
            if ag.needs_perturbed():
                perturbations.append(Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, ag.params.stg_blocks))
            passes["ptb"] = GuidancePass(*self.contexts, tuple(perturbations))
        if (vg.needs_isolated() or ag.needs_isolated()) and audio is not None and video is not None:
            passes["iso"] = GuidancePass(*self.contexts, tuple(modality_isolation()))
        return passes

    def _negative_contexts(self, audio, vg: MultiModalGuider, ag: MultiModalGuider):
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
        return contexts
