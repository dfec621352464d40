"""IC-LoRA video-to-video (official ``ICLoraPipeline``): a reference video (depth, pose, edges, ...) steers the
generation through an in-context LoRA."""

from __future__ import annotations

import logging

import mlx.core as mx

from ltx2.conditioning.reference_video import ReferenceVideoConditioning
from ltx2.errors import ConfigError
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape
from ltx2.sampling.schedulers import DistilledScheduler

log = logging.getLogger("ltx2")
METADATA_KEY = "reference_downscale_factor"


def lora_downscale_factor(path: str) -> int:
    """``reference_downscale_factor`` from a LoRA file's safetensors metadata (1 when absent): the ratio of the
    target to the reference resolution the IC-LoRA was trained with."""
    from ltx2.loading.checkpoint import read_header

    value = read_header(path).metadata.get(METADATA_KEY, "1")
    try:
        factor = int(value)
    except ValueError:
        raise ConfigError("lora", path, f"its metadata {METADATA_KEY}={value!r} is not an integer",
                             "use an official IC-LoRA file") from None
    if factor < 1:
        raise ConfigError("lora", path, f"its metadata {METADATA_KEY}={factor} must be >= 1",
                             "use an official IC-LoRA file")
    return factor


def downscale_factor(loras) -> int:
    """The one factor of the selected LoRAs (those with a factor other than 1 must agree)."""
    factor, source = 1, None
    for path, _ in loras:
        scale = lora_downscale_factor(path)
        if scale == 1:
            continue
        if factor not in (1, scale):
            raise ConfigError("lora", path, f"has {METADATA_KEY}={scale} but {source} has {factor}; LoRAs trained "
                                 "with different reference scales cannot be combined", "select one IC-LoRA")
        factor, source = scale, path
    return factor


class ICLoraPipeline:
    """Stage 1 at half size with the selected LoRAs (the IC-LoRA) fused: 8 distilled sigmas, positive prompt only,
    image conditions plus the reference-video tokens (positions scaled by the LoRA's
    ``reference_downscale_factor``, optional attention strength / mask). Unless ``skip_stage_2`` (then the
    half-size result is the output): upsample x2 and refine at full size with 3 distilled sigmas, with NO LoRA
    and image conditions only. The ``scheduler`` and ``guider`` groups are not used. Width and height must be
    multiples of 64, and half of each a multiple of 32 x the downscale factor."""

    RESOLUTION_MULTIPLE = 64
    CONDITIONING = ReferenceVideoConditioning

    def __init__(self, skip_stage_2: bool = False):
        if not isinstance(skip_stage_2, bool):
            raise TypeError(f"pipeline.skip_stage_2={skip_stage_2!r} must be true or false")
        self.skip_stage_2 = skip_stage_2

    def check_job(self, models, conditioning, width: int, height: int, num_frames: int) -> None:
        """Before loading: an IC-LoRA is selected, the LoRAs agree on the downscale factor, and the stage-1 size
        divided by it is a size the video VAE takes."""
        if not models.loras:
            raise ConfigError("lora", [], "pipeline=ic_lora needs an IC-LoRA", "select one, e.g. "
                                 "'lora=[ic_pose_control]' (with lora.ic_pose_control.path=/file.safetensors for a "
                                 "local copy)")
        factor = downscale_factor(models.loras)
        for key, value in (("width", width), ("height", height)):
            stage_1 = value // 2
            if stage_1 % (32 * factor):
                step = 64 * factor
                near = max(step, round(value / step) * step)
                raise ConfigError(key, value, f"the IC-LoRA's {METADATA_KEY} is {factor}: the reference is read at "
                                     f"{key}/2/{factor}, which must be a multiple of 32", f"use {key}={near}")

    def phases(self) -> Phases:
        stage_1 = Stage("denoise_stage_1", 0.5, guided=False)  # the selected LoRAs (the IC-LoRA) fused
        if self.skip_stage_2:
            return Phases((stage_1,))
        return Phases((stage_1, Stage("denoise_stage_2", 1.0, guided=False, upsampled=True)))

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=False)
        positive = prompts.positive
        noiser = common.make_noiser(job)
        factor = downscale_factor(models.loras)

        # Stage 1: half size, the IC-LoRA fused, image conditions then the reference tokens.
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width // 2, job.height // 2, dtype)
            items += job.conditioning.reference_items(models, job.width // 2, job.height // 2, job.num_frames,
                                                      factor, dtype)
        video, audio, audio_shape = common.initial_states(job, half, dtype, noiser, items)
        with job.phase("load_transformer"):
            transformer = models.transformer()
        denoiser = SimpleDenoiser(transformer, positive.video, positive.audio)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("euler", DistilledScheduler(stage=1).sigmas(), video, audio, denoiser,
                                           "stage 1")
        video_latent, audio_latent = common.final_latents(video, audio, half, audio_shape)
        mx.eval(video_latent, audio_latent)
        del transformer, denoiser
        if self.skip_stage_2:
            log.info("skip_stage_2: the half-size stage-1 result (%dx%d) is the output", job.width // 2,
                     job.height // 2)
            return common.PipelineResult(frames=common.decoder_frames(job, video_latent, noiser),
                                         latents={"video": video_latent, "audio": audio_latent},
                                         noise=common.noise_record(noiser),
                                         audio=common.decode_audio(job, audio_latent))

        def stage_2_denoiser():  # the base weights: no LoRA in stage 2
            with job.phase("load_transformer_stage_2"):
                return SimpleDenoiser(models.transformer(include_selected=False), positive.video, positive.audio)

        return common.upsample_and_refine(job, video_latent, audio_latent, audio_shape, noiser, dtype, stage_2_denoiser)
