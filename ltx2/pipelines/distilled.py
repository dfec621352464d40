"""Distilled two-stage text/image-to-video (official ``DistilledPipeline``)."""

from __future__ import annotations

import mlx.core as mx

from ltx2.pipelines import common
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape
from ltx2.sampling.schedulers import DistilledScheduler


class DistilledPipeline:
    """Stage 1 at half size: 8 fixed distilled sigmas, positive prompt only. Upsample the video latent x2 with the
    spatial upsampler (un-normalize, upsample, re-normalize). Stage 2 at full size: re-noise to sigma 0.909375
    and refine with the last 3 sigmas; audio is refined too. The ``scheduler`` and ``guider`` groups are not
    used (the distilled model needs no guidance)."""

    RESOLUTION_MULTIPLE = 64
    NEEDS_UPSAMPLER = True

    def __call__(self, job) -> common.PipelineResult:
        from ltx2.models.upsampler.model import upsample_latent

        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=False)
        noiser = common.make_noiser(job)
        with job.phase("load_transformer"):
            transformer = models.transformer()
        denoiser = SimpleDenoiser(transformer, prompts.positive.video, prompts.positive.audio)

        # Stage 1: half size, full noise.
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width // 2, job.height // 2, dtype)
        video, audio, audio_shape = common.initial_states(job, half, dtype, noiser, items)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("euler", DistilledScheduler(stage=1).sigmas(), video, audio, denoiser,
                                           "stage 1")
        video_latent, audio_latent = common.final_latents(video, audio, half, audio_shape)

        # Upsample x2 in latent space.
        with job.phase("upsample"):
            video_latent = upsample_latent(video_latent, models.upsampler(),
                                           models.video_encoder().per_channel_statistics).astype(dtype)
            mx.eval(video_latent)

        # Stage 2: full size, re-noised to the first stage-2 sigma, conditioning re-encoded at full size.
        full = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
        sigmas = DistilledScheduler(stage=2).sigmas()
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width, job.height, dtype)
        video, audio, _ = common.initial_states(job, full, dtype, noiser, items, noise_scale=float(sigmas[0]),
                                                video_latent=video_latent.transpose(0, 4, 1, 2, 3),
                                                audio_latent=audio_latent)
        with job.phase("denoise_stage_2"):
            video, audio = common.run_loop("euler", sigmas, video, audio, denoiser, "stage 2")
        video_latent, audio_latent = common.final_latents(video, audio, full, audio_shape)
        mx.eval(video_latent, audio_latent)
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser),
                                     audio=common.decode_audio(job, audio_latent))
