"""Retake: regenerate a time range of an existing clip's video and/or audio (official ``RetakePipeline``)."""

from __future__ import annotations

from dataclasses import replace

import mlx.core as mx
import numpy as np

from ltx2.conditioning.source_video import SourceVideoConditioning
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import (
    AudioLatentShape,
    VideoLatentShape,
    initial_audio_state,
    initial_video_state,
)
from ltx2.sampling.schedulers import DistilledScheduler

MODES = ("auto", "guided", "distilled")


class RetakePipeline:
    """One stage at the source's size, frames and fps (``conditioning=source_video``):

    1. encode the prompts  2. the source's frames -> video VAE encoder, its soundtrack -> log-mel -> audio VAE
    encoder (cropped, or zero-padded, to round(25 F / fps) latent frames) -> the initial latents  3. denoise masks:
    1 on tokens whose time span overlaps ``[start_time, end_time)``, 0 elsewhere  4. noise by those masks (video,
    then audio); a modality not regenerated is noised whole, then frozen (mask 0, sigma 0 for the transformer,
    as ltx-pipelines 1.2.0 does)  5. denoise, Euler  6. decode video and audio.

    ``mode``: ``guided`` = the ``scheduler`` and ``guider`` groups (the official full-model path: LTX2Scheduler
    + constant multimodal guidance); ``distilled`` = the 8 fixed distilled sigmas, positive prompt only, no
    guidance (the official ``distilled=True``); ``auto`` (default) picks ``distilled`` for models whose name ends
    in ``distilled``. The official CLI always runs the guided path with 40 steps and an empty negative prompt and
    writes the file at int(fps); here the groups decide (``experiment=retake`` sets the CLI's values) and the
    file keeps the source's fps. A source without audio gets its whole soundtrack generated."""

    RESOLUTION_MULTIPLE = 32
    CONDITIONING = SourceVideoConditioning

    def __init__(self, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"pipeline.mode={mode!r} is not one of {MODES}")
        self.mode = mode

    def phases(self) -> Phases:
        return Phases((Stage("denoise", guided=self.mode != "distilled"),), encodes_video=True, encodes_audio=True)

    def distilled(self, job) -> bool:
        if self.mode == "auto":
            return str(getattr(job.models, "name", "")).endswith("distilled")
        return self.mode == "distilled"

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype, source = job.models, common.compute_dtype(job.models), job.conditioning
        distilled = self.distilled(job)
        guided = not distilled
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=guided and job.guidance.needs_negative)
        shape = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
        audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)
        with job.phase("encode_source"):
            video_latent = encode_video(models, source.pixels(), dtype)
            track = source.waveform() if models.has_audio() else None  # a video-only model: no audio encoder
            audio_latent = encode_audio(models, *track, audio_shape, dtype) if track is not None else None
        video_mask, audio_mask = source.masks(shape, audio_shape, job.fps)
        if audio_latent is None:
            audio_mask = mx.ones_like(audio_mask)  # nothing to keep: the whole soundtrack is generated
        # A modality kept as it is is a frozen stream (ltx-pipelines 1.2.0 ``ModalitySpec(frozen=True)``): noised
        # whole like an unconditioned one, then its mask zeroed and its sigma 0 for the transformer; the Euler
        # steps bring it back to its clean latent by the last step.
        freeze_video = not source.regenerate_video
        freeze_audio = audio_latent is not None and not source.regenerate_audio
        video = replace(initial_video_state(shape, job.fps, dtype, video_latent),
                        denoise_mask=mx.ones_like(video_mask) if freeze_video else video_mask)
        audio = replace(initial_audio_state(audio_shape, dtype, audio_latent),
                        denoise_mask=mx.ones_like(audio_mask) if freeze_audio else audio_mask)
        noiser = common.make_noiser(job)
        video, audio = noiser(video, 1.0), noiser(audio, 1.0)
        video = common.frozen(video) if freeze_video else video
        audio = common.frozen(audio) if freeze_audio else audio
        with job.phase("load_transformer"):
            transformer = models.transformer()
        positive, negative = prompts.positive, prompts.negative
        if guided:
            sigmas = job.scheduler.sigmas()
            denoiser = job.guidance.denoiser(transformer, positive.video, positive.audio,
                                             negative.video if negative else None,
                                             negative.audio if negative else None)
        else:
            sigmas = DistilledScheduler(stage=1).sigmas()
            denoiser = SimpleDenoiser(transformer, positive.video, positive.audio)
        with job.phase("denoise"):
            video, audio = common.run_loop("euler", sigmas, video, audio, denoiser, "retake")
        video_latent, audio_latent = common.final_latents(video, audio, shape, audio_shape)
        mx.eval(video_latent, audio_latent)
        job.info.update(retake_mode="distilled" if distilled else "guided", source_has_audio=track is not None)
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent, noiser),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser), audio=common.decode_audio(job, audio_latent))


def encode_video(models, pixels: np.ndarray, dtype: mx.Dtype) -> mx.array:
    """(F, H, W, 3) in [-1, 1] -> video latent (1, 128, F', H/32, W/32)."""
    latent = models.video_encoder()(mx.array(pixels)[None].astype(dtype))  # (1, F', H', W', C): channels-last
    return latent.transpose(0, 4, 1, 2, 3).astype(dtype)


def encode_audio(models, waveform: np.ndarray, rate: int, audio_shape: AudioLatentShape, dtype: mx.Dtype) -> mx.array:
    """(2, S) waveform -> audio latent (1, 8, T, 16), cropped or zero-padded to ``audio_shape.frames`` (as the
    official retake does; a2v pads with the last frame instead)."""
    from ltx2.models.audio_vae.mel import MelFrontEnd

    encoder = models.audio_encoder()
    mel = MelFrontEnd.from_config(encoder.config)(waveform, rate)  # (1, T, M, C)
    latent = encoder(mx.array(mel).astype(dtype)).transpose(0, 3, 1, 2)  # (1, z, T', M/4)
    frames = audio_shape.frames
    if latent.shape[2] < frames:
        pad = mx.zeros((*latent.shape[:2], frames - latent.shape[2], latent.shape[3]), dtype=latent.dtype)
        latent = mx.concatenate([latent, pad], axis=2)
    return latent[:, :, :frames].astype(dtype)
