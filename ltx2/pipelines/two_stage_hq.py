"""Two-stage text/image-to-video, high quality (official ``TI2VidTwoStagesHQPipeline``)."""

from __future__ import annotations

import math

import mlx.core as mx

from ltx2.pipelines import common
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape
from ltx2.sampling.schedulers import LTX2Scheduler


def _strength(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"pipeline.{name}={value!r} must be a finite number (the official defaults are 0.25 for "
                         "stage 1 and 0.5 for stage 2)")
    return float(value)


class TwoStageHQPipeline:
    """Stage 1 at half size with the distilled LoRA at ``distilled_lora_strength_stage_1`` fused on top of the
    selected LoRAs: the ``scheduler``'s sigmas (an LTX2Scheduler is shifted by the stage-1 latent's token count,
    as the reference does here only), the ``guider``'s guidance (official: ``guider=hq``), res_2s. Upsample the
    video latent x2. Stage 2 at full size with the distilled LoRA at ``distilled_lora_strength_stage_2``: video and
    audio re-noised to 0.909375 and refined by res_2s over the last 3 distilled sigmas, positive prompt only.

    The res_2s SDE noise comes from fixed seeds in each stage, as in the reference (its own generators, seeded
    -1 / 9999 whatever the run's seed; ours: MLX keys 0 / 10000), so it does not follow ``seed``."""

    RESOLUTION_MULTIPLE = 64
    NEEDS_UPSAMPLER = True
    NEEDS_DISTILLED_LORA = True

    def __init__(self, distilled_lora_strength_stage_1: float = 0.25, distilled_lora_strength_stage_2: float = 0.5):
        self.strength_1 = _strength("distilled_lora_strength_stage_1", distilled_lora_strength_stage_1)
        self.strength_2 = _strength("distilled_lora_strength_stage_2", distilled_lora_strength_stage_2)

    def __call__(self, job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=job.guidance.needs_negative)
        positive, negative = prompts.positive, prompts.negative
        noiser = common.make_noiser(job)

        # Stage 1: half size, full noise, guided, res_2s, distilled LoRA at strength_1.
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width // 2, job.height // 2, dtype)
        video, audio, audio_shape = common.initial_states(job, half, dtype, noiser, items)
        with job.phase("load_transformer"):
            transformer = models.transformer(extra_loras=((models.distilled_lora, self.strength_1),))
        denoiser = job.guidance.denoiser(transformer, positive.video, positive.audio,
                                         negative.video if negative else None, negative.audio if negative else None)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("res2s", stage_1_sigmas(job.scheduler, half), video, audio, denoiser,
                                           "stage 1")
        video_latent, audio_latent = common.final_latents(video, audio, half, audio_shape)
        mx.eval(video_latent, audio_latent)
        del transformer, denoiser

        def stage_2_denoiser():  # the distilled LoRA at strength_2; positive prompt only
            with job.phase("load_transformer_stage_2"):
                lora = ((models.distilled_lora, self.strength_2),)
                return SimpleDenoiser(models.transformer(extra_loras=lora), positive.video, positive.audio)

        return common.upsample_and_refine(job, video_latent, audio_latent, audio_shape, noiser, dtype,
                                          stage_2_denoiser, sampler="res2s")


def stage_1_sigmas(scheduler, half: VideoLatentShape) -> mx.array:
    """An LTX2Scheduler without its own ``tokens`` is shifted by the stage-1 latent's token count (F' H' W');
    any other scheduler gives its usual sigmas."""
    if isinstance(scheduler, LTX2Scheduler) and scheduler.tokens is None:
        return scheduler.sigmas(tokens=half.tokens)
    return scheduler.sigmas()
