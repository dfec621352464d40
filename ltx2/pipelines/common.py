"""Steps shared by the pipelines: prompts, noise, denoising loops, decoding."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import mlx.core as mx
import numpy as np

from ltx2.sampling import step_cache
from ltx2.sampling.latent_state import (
    AudioLatentShape,
    LatentState,
    VideoLatentShape,
    clear_conditioning,
    initial_audio_state,
    initial_video_state,
    unpatchify_audio,
    unpatchify_video,
)
from ltx2.sampling.loops import euler_ancestral_loop, euler_loop, heun_loop, res2s_loop
from ltx2.sampling.noisers import DeterministicNoiser, GaussianNoiser

log = logging.getLogger("ltx2")
STEP_HOOKS: list[Callable] = []  # (StepInfo, loop title) -> None after every step, e.g. ltx2/experiment/previews.py
SAMPLERS = ("euler", "heun", "res2s")


def check_sampler(sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"pipeline.sampler={sampler!r} is not one of {SAMPLERS}")
    return sampler


@dataclass
class PipelineResult:
    """What a pipeline hands back: frames are decoded lazily, chunk by chunk, while the video is written."""

    frames: Callable[[], Iterator[np.ndarray]]
    latents: dict[str, mx.array]
    noise: dict[str, mx.array]
    audio: tuple[np.ndarray, int] | None = None
    info: dict = field(default_factory=dict)


def compute_dtype(models) -> mx.Dtype:
    from ltx2.loading.checkpoint import resolve_dtype

    return resolve_dtype(models.dtype)


def encode_prompts(job, negative: bool):
    """Contexts of the prompt (and the negative prompt when guidance needs it), from the embedding cache when
    possible; the text encoder is freed before denoising."""
    from ltx2.models.text.cache import EmbeddingCache
    from ltx2.models.text.cache import encode_prompts as encode
    from ltx2.models.text.enhance import PromptEnhancement

    cache = EmbeddingCache(job.text_cache_dir) if job.text_cache_dir else None
    enhancement = None
    if job.enhance_prompt:
        mode = getattr(job.conditioning, "ENHANCE_MODE", None) or (
            "t2v" if job.conditioning.__class__.__name__ == "NoConditioning" else "i2v")
        enhancement = PromptEnhancement(mode=mode, seed=job.seed)
    encoder = job.models.text_encoder(job.quantize_bits)
    enhancement = encoder.enhancement_for(enhancement) if enhancement else None  # the enhancer is in the key
    encoded = remembered_text(encoder, job.prompt, job.negative_prompt if negative else None, cache, enhancement,
                              encode)
    job.info.update(prompt_used=encoded.prompt, prompt_enhanced=encoded.enhanced)
    return encoded


_TEXT_MEMORY: dict[str, object] = {}  # contexts encoded (or read) by this process, newest last
_TEXT_MEMORY_SIZE = 32


def remembered_text(encoder, prompt, negative_prompt, cache, enhancement, encode):
    """Contexts kept in memory for the jobs of a sweep (so each distinct prompt is encoded once per process even
    with text.cache=false), else from the on-disk cache or the encoder; counted in ``model_set.STATS``."""
    from ltx2.loading.model_set import STATS
    from ltx2.models.text.cache import cache_key

    key = cache_key(prompt, negative_prompt, encoder.fingerprint(), enhancement)
    if key in _TEXT_MEMORY:
        log.info("text contexts from memory (encoded earlier in this process)")
        STATS["text:memory"] += 1
        return _TEXT_MEMORY[key]
    encoded = encode(encoder, prompt, negative_prompt, cache, enhancement)
    STATS["text:disk" if encoded.from_cache else "encode:text"] += 1
    if encoded.from_cache or not enhancement or encoded.enhanced:  # a failed enhancement is retried next time
        _TEXT_MEMORY[key] = encoded
        while len(_TEXT_MEMORY) > _TEXT_MEMORY_SIZE:
            _TEXT_MEMORY.pop(next(iter(_TEXT_MEMORY)))
    return encoded


def make_noiser(job):
    """Seeded Gaussian noise, or the noise saved by an earlier run (``noise.from_file``). The job keeps it
    (``job.info["noiser"]``): the diffusion video decoder draws its starting noise from it last (``decoder_frames``),
    as 1.2.0 hands the pipeline's one generator to the video decoder after every stage's noiser."""
    if job.noise_file is None:
        noiser = GaussianNoiser(job.seed)
    else:
        saved = mx.load(str(job.noise_file))
        names = sorted(saved, key=lambda k: int(k.split("_")[-1]))
        noiser = DeterministicNoiser([saved[k] for k in names])
    job.info["noiser"] = noiser
    return noiser


def noise_record(noiser) -> dict[str, mx.array]:
    return {f"noise_{i}": n for i, n in enumerate(noiser.drawn)}


def initial_states(job, shape: VideoLatentShape, dtype: mx.Dtype, noiser, items: list, noise_scale: float = 1.0,
                   video_latent: mx.array | None = None, audio_latent: mx.array | None = None,
                   audio_noise_scale: float | None = None):
    """Clean states (zeros or given latents), conditioning applied to video, then noised: video first, then audio
    (the reference's order; the audio noise is drawn even at scale 0, so the draws stay aligned)."""
    audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)
    video = initial_video_state(shape, job.fps, dtype, video_latent)
    for item in items:
        video = item.apply(video, shape, job.fps)
    audio = initial_audio_state(audio_shape, dtype, audio_latent)
    audio_scale = noise_scale if audio_noise_scale is None else audio_noise_scale
    return noiser(video, noise_scale), noiser(audio, audio_scale), audio_shape


def frozen(state: LatentState) -> LatentState:
    """Denoise mask 0 everywhere and marked frozen: the tokens keep their clean values through the loop and the
    transformer sees sigma 0 for the stream (ltx-pipelines 1.2.0 ``ModalitySpec(frozen=True)``; in 1.0.0 the
    step's sigma still reached the prompt AdaLN and the other modality's gate)."""
    from dataclasses import replace

    return replace(state, denoise_mask=mx.zeros_like(state.denoise_mask), frozen=True)


def run_loop(sampler: str, sigmas: mx.array, video: LatentState, audio: LatentState, denoiser, title: str,
             **options):
    """One denoising loop with a progress bar and the step hooks; ``options`` go to the loop (the ancestral
    loop's ``noiser``, ``eta``)."""
    from tqdm import tqdm

    loops = {"euler": euler_loop, "heun": heun_loop, "res2s": res2s_loop, "euler_ancestral": euler_ancestral_loop}
    with tqdm(total=len(sigmas) - 1, desc=title, unit="step", leave=False) as bar:
        def progress(info):
            bar.set_postfix(sigma=f"{info.sigma_next:.3f}")
            bar.update(1)
            for hook in list(STEP_HOOKS):
                hook(info, title)

        denoiser = step_cache.wrap(denoiser, title)  # sampling.cache=teacache: skips passes (off: unchanged)
        return loops[sampler](sigmas, video, audio, denoiser, callback=progress, **options)


def final_latents(video: LatentState, audio: LatentState, shape: VideoLatentShape, audio_shape: AudioLatentShape,
                  job=None):
    """Tokens -> VAE latents (conditioning tokens dropped): video (1, F', H', W', C) channels-last, audio
    (1, 8, T, 16). With ``job``, generated keyframe slots go to ``job.info["generated_keyframes"]`` as (pixel
    frames, latents (B, C, K, H, W)) for the run to decode."""
    video = clear_conditioning(video, shape.tokens)
    if job is not None and video.generated_keyframes is not None:
        job.info["generated_keyframes"] = (video.keyframe_slots.frames, video.generated_keyframes)
    video_latent = unpatchify_video(video.latent, shape).transpose(0, 2, 3, 4, 1)
    return video_latent, unpatchify_audio(audio.latent, audio_shape)


def decode_audio(job, audio_latent: mx.array) -> tuple[np.ndarray, int] | None:
    """Audio latent (1, 8, T, 16) -> (stereo waveform (2, S) float32 in [-1, 1], vocoder rate), fitted to the
    video's duration; None when audio is off (``audio.enabled=false``) or the model has no audio VAE/vocoder."""
    from ltx2.io.media import fit_audio

    if not getattr(job, "audio_enabled", True):
        return None
    if not job.models.has_audio():
        log.info("the checkpoint has no audio VAE / vocoder: the video is silent")
        return None
    with job.phase("decode_audio"):
        decoder, vocoder = job.models.audio_decoder(), job.models.vocoder()
        mel = decoder(audio_latent.transpose(0, 2, 3, 1).astype(compute_dtype(job.models)))
        waveform = vocoder(mel.astype(mx.float32))[0]
        waveform = np.array(waveform.astype(mx.float32))
    return fit_audio(waveform, vocoder.output_sampling_rate, job.num_frames / job.fps), vocoder.output_sampling_rate


def decoder_frames(job, video_latent: mx.array, noiser=None) -> Callable[[], Iterator[np.ndarray]]:
    """Frames decoded chunk by chunk (tiled when the video is large), by the decoder the video-VAE file carries
    (recorded as ``video_decoder``: conv | diffusion). The diffusion decoder's starting noise (its whole pixel
    canvas) is drawn here from ``noiser`` (default: the job's, ``make_noiser``), after every stage's draws, so that
    it is saved and replayed with them (``noise_N``); MLX draws lazily, nothing is computed before the frames."""
    from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
    from ltx2.models.video_vae.diffusion_tiling import canvas_shape
    from ltx2.models.video_vae.resnet import mlx_noise
    from ltx2.models.video_vae.tiled import decode_video

    dtype = compute_dtype(job.models)
    config = job.models.video_decoder_config()
    tiling = tiling_for(video_latent.shape, config)
    diffusion = isinstance(config, DiffusionDecoderConfig)
    job.info["video_decoder"] = "diffusion" if diffusion else "conv"
    if job.record is not None:
        job.record.set(video_decoder=job.info["video_decoder"])
    if diffusion:
        noiser = noiser if noiser is not None else job.info.get("noiser") or make_noiser(job)
        noise = noiser.draw(canvas_shape(config, video_latent.shape), dtype)
    else:
        noise = mlx_noise(job.seed)

    def frames():
        decoder = job.models.video_decoder()
        yield from decode_video(decoder, video_latent.astype(dtype), tiling, noise=noise)

    return frames


def tiling_for(latent_shape: tuple, config=None) -> object | None:
    """The tiling the pipelines decode with (``ltx2.models.video_vae.tiling.pipeline_tiling``)."""
    from ltx2.models.video_vae.tiling import pipeline_tiling

    return pipeline_tiling(latent_shape, config)


def upsample_and_refine(job, video_latent: mx.array, audio_latent: mx.array, audio_shape: AudioLatentShape, noiser,
                        dtype: mx.Dtype, make_denoiser: Callable[[], object], sampler: str = "euler",
                        items: Callable[[int, int], list] | None = None, freeze_audio: bool = False,
                        audio_track: tuple[np.ndarray, int] | None = None,
                        keep_stage_1_audio: bool = False) -> PipelineResult:
    """The official second stage: upsample the half-size video latent x2 (un-normalize, upsample, re-normalize),
    re-encode the conditioning at full size (``items(width, height)``, default the conditioning's own items),
    re-noise video and audio to the first stage-2 distilled sigma (0.909375), refine with the 3 remaining
    distilled sigmas with ``sampler``, return the result. ``freeze_audio``: the audio is noised at scale 0 and kept
    as it is (official ``denoise_video_only``); ``audio_track``: the soundtrack to return instead of decoding the
    audio latent; ``keep_stage_1_audio``: stage 2 still noises and refines the audio, but the audio returned is
    stage 1's (ltx-pipelines 1.2.0 two-stage and HQ discard stage 2's audio)."""
    from ltx2.models.upsampler.model import upsample_latent
    from ltx2.sampling.schedulers import DistilledScheduler

    models = job.models
    with job.phase("upsample"):
        video_latent = upsample_latent(video_latent, models.upsampler(),
                                       models.video_encoder().per_channel_statistics).astype(dtype)
        mx.eval(video_latent)
    full = VideoLatentShape.from_pixels(job.num_frames, job.height, job.width)
    sigmas = DistilledScheduler(stage=2).sigmas()
    with job.phase("conditioning"):
        items = (items or (lambda w, h: job.conditioning.items(models, w, h, dtype)))(job.width, job.height)
        items = [item for item in items if not getattr(item, "STAGE_1_ONLY", False)]  # generated keyframe slots
    video, audio, _ = initial_states(job, full, dtype, noiser, items, noise_scale=float(sigmas[0]),
                                     video_latent=video_latent.transpose(0, 4, 1, 2, 3), audio_latent=audio_latent,
                                     audio_noise_scale=0.0 if freeze_audio else None)
    audio = frozen(audio) if freeze_audio else audio
    denoiser = make_denoiser()
    with job.phase("denoise_stage_2"):
        video, audio = run_loop(sampler, sigmas, video, audio, denoiser, "stage 2")
    video_latent, refined_audio = final_latents(video, audio, full, audio_shape)
    audio_latent = audio_latent if keep_stage_1_audio else refined_audio
    mx.eval(video_latent, audio_latent)
    return PipelineResult(frames=decoder_frames(job, video_latent, noiser),
                          latents={"video": video_latent, "audio": audio_latent}, noise=noise_record(noiser),
                          audio=audio_track if audio_track is not None else decode_audio(job, audio_latent))
