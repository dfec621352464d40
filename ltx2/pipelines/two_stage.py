"""Two-stage text/image-to-video (official ``TI2VidTwoStagesPipeline``)."""

from __future__ import annotations

import math

import mlx.core as mx

from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, two_stages
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape


class TwoStagePipeline:
    """Stage 1 at half size: the ``scheduler``'s sigmas and the ``guider``'s guidance (positive and negative
    prompts), Euler. Upsample the video latent x2 with the spatial upsampler (un-normalize, upsample,
    re-normalize). Stage 2 at full size with the distilled LoRA (``model.distilled_lora`` at
    ``distilled_lora_strength``) fused on top of the selected LoRAs: video and audio re-noised to sigma 0.909375
    and refined with the last 3 distilled sigmas, positive prompt only, no guidance; the audio kept is stage 1's
    (as in ltx-pipelines 1.2.0). Images are re-encoded at each stage's size. Width and height must be multiples
    of 64."""

    AUTO_DURATION = True  # num_frames=auto: the duration head predicts the length (LTX-2.5)
    RESOLUTION_MULTIPLE = 64

    SAMPLER = "euler"  # both stages
    KEEP_STAGE_1_AUDIO = True  # ltx-pipelines 1.2.0: stage 2 refines the video only, its audio is discarded

    def __init__(self, distilled_lora_strength: float = 1.0):
        self.strength_1 = None  # stage 1: the selected LoRAs only
        self.strength_2 = lora_strength("distilled_lora_strength", distilled_lora_strength, "1.0")

    def phases(self) -> Phases:
        return two_stages(stage_1_distilled_lora=self.strength_1 is not None)

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=job.guidance.needs_negative)
        positive, negative = prompts.positive, prompts.negative
        noiser = common.make_noiser(job)

        # Stage 1: half size, full noise, guided (the distilled LoRA fused only where strength_1 is set).
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        with job.phase("conditioning"):
            items = self.conditioning_items(job, job.width // 2, job.height // 2, dtype)
        video, audio, audio_shape = common.initial_states(job, half, dtype, noiser, items)
        with job.phase("load_transformer"):
            transformer = models.transformer(
                extra_loras=() if self.strength_1 is None else ((models.distilled_lora, self.strength_1),))
        denoiser = job.guidance.denoiser(transformer, positive.video, positive.audio,
                                         negative.video if negative else None, negative.audio if negative else None)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop(self.SAMPLER, self.stage_1_sigmas(job, half), video, audio, denoiser,
                                           "stage 1")
        video_latent, audio_latent = common.final_latents(video, audio, half, audio_shape, job=job)
        mx.eval(video_latent, audio_latent)
        del transformer, denoiser

        def stage_2_denoiser():  # the distilled LoRA fused in; positive prompt only
            with job.phase("load_transformer_stage_2"):
                lora = ((models.distilled_lora, self.strength_2),)
                return SimpleDenoiser(models.transformer(extra_loras=lora), positive.video, positive.audio)

        return common.upsample_and_refine(job, video_latent, audio_latent, audio_shape, noiser, dtype, stage_2_denoiser,
                                          sampler=self.SAMPLER,
                                          items=lambda w, h: self.conditioning_items(job, w, h, dtype),
                                          keep_stage_1_audio=self.KEEP_STAGE_1_AUDIO)

    def stage_1_sigmas(self, job, half: VideoLatentShape) -> mx.array:
        return job.scheduler.sigmas()

    def conditioning_items(self, job, width: int, height: int, dtype) -> list:
        """The conditioning at one stage's size (frame 0 replaces the first latent frame, others append tokens)."""
        return job.conditioning.items(job.models, width, height, dtype)


def lora_strength(name: str, value, official: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"pipeline.{name}={value!r} must be a finite number (the official default is {official})")
    return float(value)
