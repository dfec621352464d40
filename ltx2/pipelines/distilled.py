"""Distilled two-stage text/image-to-video (official ``DistilledPipeline``)."""

from __future__ import annotations

from ltx2.loading.file_kinds import parse_version
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape
from ltx2.sampling.noisers import GaussianNoiser
from ltx2.sampling.schedulers import DistilledScheduler


class DistilledPipeline:
    """Stage 1 at half size: 8 fixed distilled sigmas, positive prompt only (LTX-2.5: ancestral Euler, eta 1, its
    own noise from seed + 10000). Upsample the video latent x2 with the
    spatial upsampler (un-normalize, upsample, re-normalize). Stage 2 at full size: re-noise to sigma 0.909375
    and refine with the last 3 sigmas; audio is refined too. The ``scheduler`` and ``guider`` groups are not
    used (the distilled model needs no guidance)."""

    AUTO_DURATION = True  # num_frames=auto: the duration head predicts the length (LTX-2.5)
    RESOLUTION_MULTIPLE = 64
    ANCESTRAL_SINCE = (2, 5)  # stage 1 samples with ancestral Euler (eta 1) from this model_version on
    ANCESTRAL_SEED_OFFSET = 10000  # its own noise stream: seed + 10000

    def phases(self) -> Phases:
        return Phases((Stage("denoise_stage_1", 0.5, guided=False),
                       Stage("denoise_stage_2", 1.0, guided=False, upsampled=True)))

    def __call__(self, job: Job) -> common.PipelineResult:
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
        sigmas = DistilledScheduler(stage=1).sigmas()
        with job.phase("denoise_stage_1"):
            if parse_version(models.files.header("transformer").model_version) >= self.ANCESTRAL_SINCE:
                step_noise = GaussianNoiser(job.seed + self.ANCESTRAL_SEED_OFFSET)
                job.info["samplers"] = {"stage_1": "euler_ancestral", "stage_1_eta": 1.0,
                                        "stage_1_noise_seed": job.seed + self.ANCESTRAL_SEED_OFFSET,
                                        "stage_2": "euler"}
                video, audio = common.run_loop("euler_ancestral", sigmas, video, audio, denoiser, "stage 1",
                                               noiser=step_noise)
            else:
                job.info["samplers"] = {"stage_1": "euler", "stage_2": "euler"}
                video, audio = common.run_loop("euler", sigmas, video, audio, denoiser, "stage 1")
        video_latent, audio_latent = common.final_latents(video, audio, half, audio_shape, job=job)
        return common.upsample_and_refine(job, video_latent, audio_latent, audio_shape, noiser, dtype,
                                          lambda: denoiser)
