"""Latent steps of ``pipeline=dfr``: the x2 upsamplers on (B, C, F, H, W) latents, a denoised state split into its
video latent and generated keyframe slots, the keyframe-slot item."""

from __future__ import annotations

import mlx.core as mx

from ltx2.sampling.latent_state import VideoLatentShape, clear_conditioning, unpatchify_video


def slots_item(frames, initial: mx.array | None = None):
    """Generated keyframe slots at pixel ``frames``, started from ``initial`` (B, C, K, H, W) or zeros."""
    from ltx2.conditioning.keyframe_slots import KeyframeSlots

    return KeyframeSlots(frames=tuple(int(f) for f in frames), initial=initial)


def clean(state, shape: VideoLatentShape) -> tuple[mx.array, mx.array | None]:
    """The denoised video latent (B, C, F, H, W) without conditioning tokens, and its generated keyframe slots
    (B, C, K, H, W)."""
    state = clear_conditioning(state, shape.tokens)
    return unpatchify_video(state.latent, shape), state.generated_keyframes


def upsample(models, latent: mx.array, dtype: mx.Dtype, temporal: bool = False) -> mx.array:
    """(B, C, F, H, W) normalized latent through the spatial (or temporal) x2 upsampler, same layout."""
    from ltx2.models.upsampler.model import upsample_latent

    network = temporal_upsampler(models) if temporal else models.upsampler()
    out = upsample_latent(latent.transpose(0, 2, 3, 4, 1), network, models.video_encoder().per_channel_statistics)
    return out.transpose(0, 4, 1, 2, 3).astype(dtype)


def temporal_upsampler(models):
    from ltx2.loading.model_set import _identity, cached
    from ltx2.models.upsampler.load import load_upsampler

    path = models.component_files["temporal_upsampler"]
    return cached(("temporal_upsampler", _identity(path), models.dtype), lambda: load_upsampler(path, models.dtype))
