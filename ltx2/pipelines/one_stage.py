"""One-stage text/image-to-video (official ``TI2VidOneStagePipeline``)."""

from __future__ import annotations

import mlx.core as mx

from ltx2.pipelines import common
from ltx2.pipelines.contract import ONE_STAGE, Job, Phases
from ltx2.sampling.latent_state import VideoLatentShape


class OneStagePipeline:
    """1. encode the prompts  2. sigmas from the scheduler  3. conditioning items (VAE-encoded images)
    4. noise video then audio  5. denoise with the guider's denoiser (``sampler``: euler | heun | res2s)
    6. decode the audio latent (audio VAE + vocoder), then the video latent (frames stream to the writer)."""

    AUTO_DURATION = True  # num_frames=auto: the duration head predicts the length (LTX-2.5)
    RESOLUTION_MULTIPLE = 32

    def __init__(self, sampler: str = "euler"):
        self.sampler = common.check_sampler(sampler)

    def phases(self) -> Phases:
        return ONE_STAGE

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=job.guidance.needs_negative)
        sigmas = job.scheduler.sigmas()
        shape = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width, job.height, dtype)
        noiser = common.make_noiser(job)
        video, audio, audio_shape = common.initial_states(job, shape, dtype, noiser, items)
        with job.phase("load_transformer"):
            transformer = models.transformer()
        positive, negative = prompts.positive, prompts.negative
        denoiser = job.guidance.denoiser(transformer, positive.video, positive.audio,
                                         negative.video if negative else None, negative.audio if negative else None)
        with job.phase("denoise"):
            video, audio = common.run_loop(self.sampler, sigmas, video, audio, denoiser, "denoise")
        video_latent, audio_latent = common.final_latents(video, audio, shape, audio_shape, job=job)
        mx.eval(video_latent, audio_latent)
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent, noiser),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser),
                                     audio=common.decode_audio(job, audio_latent))
