"""Audio-to-video (official ``A2VidPipelineTwoStage``): the audio latent of a given sound is frozen while the
video is denoised against it, in two stages, and the output carries the original waveform."""

from __future__ import annotations

import copy
from dataclasses import replace

import mlx.core as mx

from ltx2.conditioning.audio import AudioConditioning
from ltx2.io.media import fit_audio
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, two_stages
from ltx2.pipelines.two_stage import lora_strength
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.guiders import MultiModalGuiderParams
from ltx2.sampling.latent_state import AudioLatentShape, VideoLatentShape


class AudioToVideoPipeline:
    """1. encode the prompts  2. waveform -> log-mel -> audio VAE encoder -> latent, cropped to the video's
    round(25 F / fps) latent frames  3. stage 1 at half size: noise the video (audio: scale 0, denoise mask 0, so
    it stays exactly the encoded sound; a frozen stream: the transformer sees it at sigma 0, as in ltx-pipelines
    1.2.0), denoise with
    the ``scheduler`` and the video guidance of the ``guider`` (no audio guidance, as the reference)  4. upsample
    the video latent x2  5. stage 2 at full size with the distilled LoRA (``model.distilled_lora`` at
    ``distilled_lora_strength``) fused: video re-noised to 0.909375, 3 distilled sigmas, positive prompt only,
    audio still frozen  6. decode the video; the track is the original waveform. Width and height must be
    multiples of 64."""

    RESOLUTION_MULTIPLE = 64
    CONDITIONING = AudioConditioning

    def __init__(self, distilled_lora_strength: float = 1.0, sampler: str = "euler"):
        self.distilled_lora_strength = lora_strength("distilled_lora_strength", distilled_lora_strength, "1.0")
        self.sampler = sampler

    def phases(self) -> Phases:
        return replace(two_stages(), encodes_audio=True)

    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=job.guidance.needs_negative)
        half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
        audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)
        with job.phase("encode_audio"):
            waveform, rate = job.conditioning.waveform(job.num_frames / job.fps)
            audio_latent = self._encode(models, waveform, rate, audio_shape, dtype)
        noiser = common.make_noiser(job)

        # Stage 1: half size, guided video, frozen audio.
        video, audio, _ = common.initial_states(job, half, dtype, noiser, [], audio_latent=audio_latent,
                                                audio_noise_scale=0.0)
        audio = common.frozen(audio)
        with job.phase("load_transformer"):
            transformer = models.transformer()
        guidance = copy.copy(job.guidance)
        guidance.audio = MultiModalGuiderParams()  # the reference guides audio not at all here ...
        positive, negative = prompts.positive, prompts.negative
        # ... and its audio guider has no negative context, so the negative pass keeps the positive audio context
        # (the audio tokens it produces reach the video through the audio-to-video attention)
        denoiser = guidance.denoiser(transformer, positive.video, positive.audio,
                                     negative.video if negative else None, None)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("euler", job.scheduler.sigmas(), video, audio, denoiser, "stage 1")
        video_latent, _ = common.final_latents(video, audio, half, audio_shape)
        mx.eval(video_latent)
        del transformer, denoiser

        def stage_2_denoiser():  # the distilled LoRA fused in; positive prompt only
            with job.phase("load_transformer_stage_2"):
                lora = ((models.distilled_lora, self.distilled_lora_strength),)
                return SimpleDenoiser(models.transformer(extra_loras=lora), positive.video, positive.audio)

        track = (fit_audio(waveform, rate, job.num_frames / job.fps), rate) if job.audio_enabled else None
        return common.upsample_and_refine(job, video_latent, audio_latent, audio_shape, noiser, dtype,
                                          stage_2_denoiser, freeze_audio=True, audio_track=track)

    @staticmethod
    def _encode(models, waveform, rate, audio_shape: AudioLatentShape, dtype) -> mx.array:
        """(2, S) waveform -> audio latent (1, 8, T, 16), cropped (or edge-padded) to ``audio_shape.frames``."""
        from ltx2.models.audio_vae.mel import MelFrontEnd

        encoder = models.audio_encoder()
        mel = MelFrontEnd.from_config(encoder.config)(waveform, rate)  # (1, T, M, C)
        latent = encoder(mx.array(mel).astype(dtype)).transpose(0, 3, 1, 2)  # (1, z, T', M/4)
        frames = audio_shape.frames
        if latent.shape[2] < frames:
            pad = mx.repeat(latent[:, :, -1:], frames - latent.shape[2], axis=2)
            latent = mx.concatenate([latent, pad], axis=2)
        return latent[:, :, :frames].astype(dtype)
