"""Dub-It, lip dubbing (official ``DubItPipeline``, formerly LipDub): a clip of someone speaking is re-voiced with
what the prompt says, in the speaker's voice and with matching lips. A distilled model and one Dub-It IC-LoRA,
fused in both stages."""

from __future__ import annotations

import mlx.core as mx

from ltx2.conditioning.audio_reference import AudioReferenceLatent
from ltx2.conditioning.dubit import DubItConditioning
from ltx2.errors import ConfigError
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.pipelines.ic_lora import METADATA_KEY, downscale_factor
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import (
    AudioLatentShape,
    VideoLatentShape,
    clear_conditioning,
    initial_audio_state,
    initial_video_state,
)
from ltx2.sampling.schedulers import DistilledScheduler

LORA_PRESET = "dubit"  # conf/lora/dubit.yaml


class DubItPipeline:
    """1. encode the prompt (positive only)  2. the clip's soundtrack -> log-mel -> audio VAE encoder -> the
    reference audio latent (the whole track)  3. stage 1 at half size with the IC-LoRA fused: the clip's frames as
    IC-LoRA reference tokens (at half size / the LoRA's ``reference_downscale_factor``), the reference audio
    appended after the target audio at negative times (``AudioReferenceLatent``); video and audio noised, 8
    distilled sigmas, plain Euler, simple denoiser  4. upsample the video latent x2  5. stage 2 at full size, the
    IC-LoRA still fused: reference tokens re-encoded at full size, video re-noised to 0.909375, 3 distilled
    sigmas; the audio frozen (sigma 0 for the transformer) at stage 1's latent, with stage 1's latent as its
    reference  6. decode the video, and stage 1's audio. The ``scheduler`` and ``guider`` groups are not used.
    Width and height must be multiples of 64 (and half of each a multiple of 32 x the downscale factor).

    One departure: the clip's frames are encoded whole, where 1.2.0 encodes them tile by tile with its size-based
    ``TileSizeConfig.default()`` (80-frame, 768-px tiles): the same latent while the reference fits one tile, not
    beyond (more frames or a larger reference differ at the tile seams; that tiling is not implemented here)."""

    RESOLUTION_MULTIPLE = 64
    CONDITIONING = DubItConditioning

    def phases(self) -> Phases:
        return Phases((Stage("denoise_stage_1", 0.5, guided=False),
                       Stage("denoise_stage_2", 1.0, guided=False, upsampled=True)),
                      encodes_video=True, encodes_audio=True)

    def check_job(self, models, conditioning, width: int, height: int, num_frames: int) -> None:
        """Before loading: a distilled model with an audio VAE, exactly one (Dub-It IC-LoRA) LoRA, and a size the
        LoRA's reference scale takes."""
        name = str(getattr(models, "name", "") or "")
        if "_dev" in name:
            raise ConfigError("model", name, "pipeline=dubit runs a distilled model (the official DubItPipeline)",
                              "use model=ltx2_3_22b_distilled (the Dub-It IC-LoRA is trained for LTX-2.3)")
        if not models.files.has("audio_vae"):
            raise ConfigError("model", name, "has no audio VAE: Dub-It encodes the speaker's voice and generates "
                              "speech", "use an audio-video model, e.g. model=ltx2_3_22b_distilled")
        if len(models.loras) != 1:
            raise ConfigError("lora", [path for path, _ in models.loras], f"pipeline=dubit takes exactly one LoRA, "
                              f"the Dub-It IC-LoRA ({len(models.loras)} given)",
                              f"select it alone: 'lora=[{LORA_PRESET}]' (lora.{LORA_PRESET}.path=/file.safetensors "
                              "for a local copy)")
        factor = downscale_factor(models.loras)
        for key, value in (("width", width), ("height", height)):
            if (value // 2) % (32 * factor):
                step = 64 * factor
                raise ConfigError(key, value, f"the IC-LoRA's {METADATA_KEY} is {factor}: the clip is read at "
                                  f"{key}/2/{factor}, which must be a multiple of 32",
                                  f"use {key}={max(step, round(value / step) * step)}")

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype, clip = job.models, common.compute_dtype(job.models), job.conditioning
        with job.phase("text_encoding"):
            positive = common.encode_prompts(job, negative=False).positive
        with job.phase("encode_audio"):
            voice = encode_voice(models, *clip.voice(), dtype)
            mx.eval(voice)
        noiser = common.make_noiser(job)
        factor = downscale_factor(models.loras)
        audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)

        def states(shape, noise_scale, video_latent, audio_latent, audio_reference, frozen_audio):
            with job.phase("conditioning"):
                items = clip.reference_items(models, shape.width * 32, shape.height * 32, job.num_frames, factor,
                                             dtype)
            video = initial_video_state(shape, job.fps, dtype, video_latent)
            for item in items:
                video = item.apply(video, shape, job.fps)
            audio = AudioReferenceLatent(audio_reference).apply(initial_audio_state(audio_shape, dtype, audio_latent),
                                                               audio_shape)
            video, audio = noiser(video, noise_scale), noiser(audio, 0.0 if frozen_audio else noise_scale)
            return video, common.frozen(audio) if frozen_audio else audio

        # Stage 1: half size, the IC-LoRA fused, video and audio generated.
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        video, audio = states(half, 1.0, None, None, voice, False)
        with job.phase("load_transformer"):
            denoiser = SimpleDenoiser(models.transformer(), positive.video, positive.audio)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("euler", DistilledScheduler(stage=1).sigmas(), video, audio, denoiser,
                                           "stage 1")
        video_latent, audio_latent = common.final_latents(video, clear_conditioning(audio, audio_shape.tokens), half,
                                                          audio_shape)
        mx.eval(video_latent, audio_latent)

        # Stage 2: full size, the same transformer; the audio frozen at stage 1's, which is also its reference.
        from ltx2.models.upsampler.model import upsample_latent

        with job.phase("upsample"):
            video_latent = upsample_latent(video_latent, models.upsampler(),
                                           models.video_encoder().per_channel_statistics).astype(dtype)
            mx.eval(video_latent)
        full = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
        sigmas = DistilledScheduler(stage=2).sigmas()
        video, audio = states(full, float(sigmas[0]), video_latent.transpose(0, 4, 1, 2, 3), audio_latent,
                              audio_latent, True)
        with job.phase("denoise_stage_2"):
            video, _ = common.run_loop("euler", sigmas, video, audio, denoiser, "stage 2")
        video_latent, _ = common.final_latents(video, clear_conditioning(audio, audio_shape.tokens), full, audio_shape)
        mx.eval(video_latent)
        del denoiser
        job.info["samplers"] = {"stage_1": "euler", "stage_2": "euler"}  # no ancestral stage 1 here, even on 2.5
        job.info["dubit"] = {"voice": clip.audio_path or clip.path, "voice_latent_frames": int(voice.shape[2]),
                             "reference_downscale_factor": factor, "audio": "stage_1"}
        if job.record is not None:  # the run record says where the voice came from and how long it was
            job.record.set(dubit=job.info["dubit"])
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser), audio=common.decode_audio(job, audio_latent))


def encode_voice(models, waveform, rate: int, dtype: mx.Dtype) -> mx.array:
    """(2, S) waveform -> the reference audio latent (1, 8, T, 16) of the whole recording (not cropped)."""
    from ltx2.models.audio_vae.mel import MelFrontEnd

    encoder = models.audio_encoder()
    mel = MelFrontEnd.from_config(encoder.config)(waveform, rate)  # (1, T, M, C)
    return encoder(mx.array(mel).astype(dtype)).transpose(0, 3, 1, 2).astype(dtype)  # (1, z, T', M/4)
