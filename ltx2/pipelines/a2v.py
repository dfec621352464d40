"""Audio-to-video (the official ``A2VidPipelineTwoStage``'s denoising, in one stage): the audio latent of a given
sound is frozen while the video is denoised against it, and the output carries the original waveform."""

from __future__ import annotations

import copy

import mlx.core as mx

from ltx2.conditioning.audio import AudioConditioning
from ltx2.media import fit_audio
from ltx2.pipelines import common
from ltx2.sampling.guidance import ModalityGuidance
from ltx2.sampling.latent_state import AudioLatentShape, VideoLatentShape


class AudioToVideoPipeline:
    """1. encode the prompts  2. waveform -> log-mel -> audio VAE encoder -> latent, cropped to the video's
    round(25 F / fps) latent frames  3. noise the video (audio: scale 0, denoise mask 0, so it stays exactly the
    encoded sound; its sigma still drives the video's audio<->video attention)  4. denoise with the video guidance
    and no audio guidance (as the reference)  5. decode the video; the track is the original waveform.

    Differs from the reference: one stage at the requested size (the reference adds a distilled-LoRA refinement
    stage at twice the size)."""

    RESOLUTION_MULTIPLE = 32
    NEEDS_UPSAMPLER = False
    CONDITIONING = AudioConditioning

    def __init__(self, sampler: str = "euler"):
        self.sampler = common.check_sampler(sampler)

    def __call__(self, job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=job.guidance.needs_negative)
        shape = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
        audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)
        with job.phase("encode_audio"):
            waveform, rate = job.conditioning.waveform(job.num_frames / job.fps)
            audio_latent = self._encode(models, waveform, rate, audio_shape, dtype)
        noiser = common.make_noiser(job)
        video, audio, _ = common.initial_states(job, shape, dtype, noiser, [], audio_latent=audio_latent,
                                                audio_noise_scale=0.0)
        audio = common.frozen(audio)
        with job.phase("load_transformer"):
            transformer = models.transformer()
        guidance = copy.copy(job.guidance)
        guidance.audio = ModalityGuidance()  # the reference guides audio not at all here
        positive, negative = prompts.positive, prompts.negative
        denoiser = guidance.denoiser(transformer, positive.video, positive.audio,
                                     negative.video if negative else None, negative.audio if negative else None)
        with job.phase("denoise"):
            video, audio = common.run_loop(self.sampler, job.scheduler.sigmas(), video, audio, denoiser, "denoise")
        video_latent, audio_latent = common.final_latents(video, audio, shape, audio_shape)
        mx.eval(video_latent, audio_latent)
        track = (fit_audio(waveform, rate, job.num_frames / job.fps), rate) if job.audio_enabled else None
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser), audio=track)

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
