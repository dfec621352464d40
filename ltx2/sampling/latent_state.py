"""Latent tokens being denoised, their shapes, and (un)patchifying between VAE latents and tokens.

Video latents (B, 128, F, H, W) become tokens ``b c f h w -> b (f h w) c``; audio latents (B, 8, T, 16) become
``b c t m -> b t (c m)`` (feature = c * 16 + m). Masks follow the same maps: (B, 1, F, H, W) / (B, 1, T, 1) ->
(B, tokens, 1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mlx.core as mx

from ltx2.models.transformer.positions import (
    AUDIO_DOWNSAMPLE,
    AUDIO_HOP,
    AUDIO_SAMPLE_RATE,
    VIDEO_SCALE,
    audio_positions,
    video_positions,
)
from ltx2.sampling import _checks as check

VIDEO_LATENT_CHANNELS = 128
AUDIO_LATENT_CHANNELS, AUDIO_MEL_BINS = 8, 16


@dataclass(frozen=True)
class KeyframeSlotLayout:
    """Where generated keyframe slots sit among the tokens: one latent frame (height * width tokens) per pixel
    frame of ``frames``, contiguous from ``first_token`` (ltx-core 1.2.0's ``GeneratedKeyframeLayout``)."""

    first_token: int
    frames: tuple[int, ...]
    height: int
    width: int

    @property
    def tokens(self) -> int:
        return len(self.frames) * self.height * self.width


@dataclass(frozen=True)
class LatentState:
    """One modality's tokens during denoising.

    latent: (B, T, C) current noisy tokens (compute dtype); denoise_mask: (B, T, 1) float32, 1 = denoise fully,
    0 = keep ``clean_latent``; positions: (B, 3, T, 2) video / (B, 1, T, 2) audio bounds, float32; clean_latent:
    (B, T, C) the tokens before noising (conditioning latents included); attention_mask: optional (B, T, T) in
    [0, 1]; keyframes_mask: optional (B, T0, 1) float32 marker of single-pixel-frame latents (video: the target's
    first latent frame), T0 <= T: tokens appended after it are unmarked (``keyframes_mask_of``); frozen: the stream
    is kept as it is (its ``Modality.sigma`` is 0); keyframe_slots: where generated keyframe slots were appended;
    generated_keyframes: (B, C, K, H, W) their latents, extracted by ``clear_conditioning``.
    """

    latent: mx.array
    denoise_mask: mx.array
    positions: mx.array
    clean_latent: mx.array
    attention_mask: mx.array | None = None
    keyframes_mask: mx.array | None = None
    frozen: bool = False  # a frozen stream (mask all 0): the transformer sees sigma 0 for it (ltx-core 1.2.0)
    keyframe_slots: KeyframeSlotLayout | None = None
    generated_keyframes: mx.array | None = None


def keyframes_mask_of(state: LatentState) -> mx.array | None:
    """The state's keyframes mask over all its tokens, (B, T, 1): conditioning tokens appended after the mask
    was made extend it with zeros (only generated keyframe slots are marked, and they set it themselves)."""
    mask = state.keyframes_mask
    if mask is None or mask.shape[1] >= state.latent.shape[1]:
        return mask
    pad = mx.zeros((mask.shape[0], state.latent.shape[1] - mask.shape[1], mask.shape[2]), mask.dtype)
    return mx.concatenate([mask, pad], axis=1)


@dataclass(frozen=True)
class VideoLatentShape:
    batch: int
    frames: int
    height: int
    width: int
    channels: int = VIDEO_LATENT_CHANNELS

    @classmethod
    def from_pixels(cls, frames: int, height: int, width: int, batch: int = 1) -> VideoLatentShape:
        """Pixel frames 8k+1 and sizes multiple of 32 -> latent grid ((F-1)//8 + 1, H//32, W//32)."""
        check.integer("num_frames", frames, 1)
        check.integer("height", height, VIDEO_SCALE[1])
        check.integer("width", width, VIDEO_SCALE[2])
        return cls(batch, (frames - 1) // VIDEO_SCALE[0] + 1, height // VIDEO_SCALE[1], width // VIDEO_SCALE[2])

    @property
    def tokens(self) -> int:
        return self.frames * self.height * self.width

    @property
    def array_shape(self) -> tuple[int, int, int, int, int]:
        return (self.batch, self.channels, self.frames, self.height, self.width)


@dataclass(frozen=True)
class AudioLatentShape:
    batch: int
    frames: int
    channels: int = AUDIO_LATENT_CHANNELS
    mel_bins: int = AUDIO_MEL_BINS

    @classmethod
    def from_video(cls, frames: int, fps: float, batch: int = 1) -> AudioLatentShape:
        """Audio latent frames covering the video's duration: round(F / fps * 25) (25 latents per second)."""
        check.integer("num_frames", frames, 1)
        check.real("fps", fps, 0.0, low_open=True)
        per_second = float(AUDIO_SAMPLE_RATE) / float(AUDIO_HOP) / float(AUDIO_DOWNSAMPLE)
        return cls(batch, round(float(frames) / float(fps) * per_second))

    @property
    def tokens(self) -> int:
        return self.frames

    @property
    def array_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.frames, self.mel_bins)


def patchify_video(x: mx.array) -> mx.array:
    """(B, C, F, H, W) -> (B, F*H*W, C)."""
    b, c = x.shape[:2]
    return x.reshape(b, c, -1).transpose(0, 2, 1)


def unpatchify_video(tokens: mx.array, shape: VideoLatentShape) -> mx.array:
    """(B, F*H*W, C) -> (B, C, F, H, W)."""
    b, t, c = tokens.shape
    if t != shape.tokens:
        raise ValueError(f"{t} video tokens do not fill a {shape.frames}x{shape.height}x{shape.width} grid "
                         f"({shape.tokens} tokens): clear appended conditioning tokens first")
    return tokens.transpose(0, 2, 1).reshape(b, c, shape.frames, shape.height, shape.width)


def patchify_audio(x: mx.array) -> mx.array:
    """(B, C, T, M) -> (B, T, C*M), channel-major features."""
    b, c, t, m = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, c * m)


def unpatchify_audio(tokens: mx.array, shape: AudioLatentShape) -> mx.array:
    """(B, T, C*M) -> (B, C, T, M)."""
    b, t, _ = tokens.shape
    return tokens.reshape(b, t, -1, shape.mel_bins).transpose(0, 2, 1, 3)


def _initial_latent(shape, latent: mx.array | None, dtype: mx.Dtype, what: str) -> mx.array:
    if latent is None:
        return mx.zeros(shape.array_shape, dtype=dtype)
    if tuple(latent.shape) != shape.array_shape:
        raise ValueError(f"initial {what} latent has shape {tuple(latent.shape)}, expected {shape.array_shape}")
    return latent


def initial_video_state(shape: VideoLatentShape, fps: float, dtype: mx.Dtype = mx.bfloat16,
                        latent: mx.array | None = None) -> LatentState:
    """Clean state (zeros, or ``latent`` (B, C, F, H, W)) to be noised; positions float32 whatever ``dtype`` (as
    ltx-core 1.2.0; 1.0.0 rounded them to the compute dtype); mask all ones; keyframes mask 1 on the first latent
    frame (H*W tokens: the causal VAE makes it one pixel frame), 0 elsewhere, always (models without a keyframe
    embedding ignore it)."""
    x = patchify_video(_initial_latent(shape, latent, dtype, "video"))
    first_frame = shape.height * shape.width
    keyframes = (mx.arange(shape.tokens) < first_frame).astype(mx.float32)
    return LatentState(latent=x, denoise_mask=mx.ones((shape.batch, shape.tokens, 1), dtype=mx.float32),
                       positions=video_positions(shape.frames, shape.height, shape.width, fps, shape.batch),
                       clean_latent=x,
                       keyframes_mask=mx.broadcast_to(keyframes[None, :, None], (shape.batch, shape.tokens, 1)))


def initial_audio_state(shape: AudioLatentShape, dtype: mx.Dtype = mx.bfloat16,
                        latent: mx.array | None = None) -> LatentState:
    """Clean audio state (zeros, or ``latent`` (B, 8, T, 16)); positions stay float32."""
    x = patchify_audio(_initial_latent(shape, latent, dtype, "audio"))
    return LatentState(latent=x, denoise_mask=mx.ones((shape.batch, shape.tokens, 1), dtype=mx.float32),
                       positions=audio_positions(shape.tokens, shape.batch), clean_latent=x)


def clear_conditioning(state: LatentState, tokens: int) -> LatentState:
    """Drop tokens appended by conditioning items (keep the first ``tokens``), mask back to ones, no attention
    mask, no keyframes mask (as the reference's ``clear_conditioning``); generated keyframe slots are output, not
    conditioning: their latents are kept as ``generated_keyframes`` (B, C, K, H, W)."""
    slots, generated = state.keyframe_slots, None
    if slots is not None:
        b, _, c = state.latent.shape
        kept = state.latent[:, slots.first_token:slots.first_token + slots.tokens]
        generated = kept.transpose(0, 2, 1).reshape(b, c, len(slots.frames), slots.height, slots.width)
    return LatentState(latent=state.latent[:, :tokens], denoise_mask=mx.ones_like(state.denoise_mask[:, :tokens]),
                       positions=state.positions[:, :, :tokens], clean_latent=state.clean_latent[:, :tokens],
                       keyframe_slots=slots, generated_keyframes=generated)


def with_latent(state: LatentState, latent: mx.array) -> LatentState:
    return replace(state, latent=latent)
