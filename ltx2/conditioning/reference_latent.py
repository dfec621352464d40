"""IC-LoRA reference-video tokens (official ``VideoConditionByReferenceLatent``, optionally wrapped by
``ConditioningItemAttentionStrengthWrapper``) and the pixel -> latent attention-mask reduction of ``ICLoraPipeline``.

The reference latent (B, C, F_r, H_r, W_r) is appended after every other token. Its positions come from its own
latent grid (causal first-frame fix, time in seconds, float32) with height and width multiplied by the LoRA's
``reference_downscale_factor`` (so a half-size reference covers the same pixels as the target). Its denoise mask
is ``1 - strength``. With an attention strength, a (B, N+M, N+M) self-attention mask is built: existing tokens keep
their mask (all ones when there was none), the new tokens see themselves fully, noisy <-> new tokens get the
per-token strength, earlier conditioning tokens <-> new tokens get 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ltx2.models.transformer.positions import VIDEO_SCALE
from ltx2.sampling.latent_state import LatentState, VideoLatentShape, patchify_video


def reference_positions(frames: int, height: int, width: int, fps: float, downscale_factor: int,
                        batch: int = 1) -> np.ndarray:
    """(B, 3, F*H*W, 2) float32 bounds of a reference latent grid: pixel units with the causal fix, time / fps,
    height and width times ``downscale_factor``."""
    f, h, w = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    starts = np.stack([f, h, w]).reshape(3, -1).astype(np.float32)
    bounds = np.stack([starts, starts + 1], -1) * np.array(VIDEO_SCALE, np.float32)[:, None, None]
    bounds[0] = np.maximum(bounds[0] + 1 - VIDEO_SCALE[0], 0) / np.float32(fps)
    if downscale_factor != 1:
        bounds[1:] = bounds[1:] * np.float32(downscale_factor)
    return np.ascontiguousarray(np.broadcast_to(bounds[None], (batch, *bounds.shape)))


def extended_attention_mask(existing: mx.array | None, existing_tokens: int, noisy_tokens: int,
                            cross: mx.array, dtype: mx.Dtype) -> mx.array:
    """(B, N, N) mask (or None: all ones) + M new tokens with per-token strengths ``cross`` (B, M) ->
    (B, N+M, N+M): [noisy | earlier conditioning | new] blocks as described in the module docstring."""
    b, m = cross.shape
    n = existing_tokens
    top_left = mx.ones((b, n, n), dtype) if existing is None else existing.astype(dtype)
    cross = cross.astype(dtype)
    # columns of the new tokens: noisy rows see `cross`, earlier conditioning rows see 0
    right = mx.concatenate([mx.broadcast_to(cross[:, None, :], (b, noisy_tokens, m)),
                            mx.zeros((b, n - noisy_tokens, m), dtype)], axis=1)
    # rows of the new tokens: `cross` towards noisy tokens, 0 towards earlier conditioning, 1 among themselves
    bottom = mx.concatenate([mx.broadcast_to(cross[:, :, None], (b, m, noisy_tokens)),
                             mx.zeros((b, m, n - noisy_tokens), dtype), mx.ones((b, m, m), dtype)], axis=2)
    return mx.concatenate([mx.concatenate([top_left, right], axis=2), bottom], axis=1)


@dataclass(frozen=True)
class ReferenceLatent:
    """Append ``latent`` (B, C, F_r, H_r, W_r) as reference tokens. ``attention``: None (no mask of its own; an
    existing mask is extended with full attention to the noisy tokens), a scalar strength, or per-token strengths
    (B, F_r*H_r*W_r)."""

    latent: mx.array
    strength: float = 1.0
    downscale_factor: int = 1
    attention: float | mx.array | None = None

    def apply(self, state: LatentState, shape: VideoLatentShape, fps: float) -> LatentState:
        b, _, f, h, w = self.latent.shape
        tokens = patchify_video(self.latent).astype(state.latent.dtype)
        m = tokens.shape[1]
        positions = mx.array(reference_positions(f, h, w, fps, self.downscale_factor, b))
        mask = mx.full((b, m, 1), 1.0 - self.strength, dtype=mx.float32)
        attention = _cross_strengths(self.attention, b, m)
        if attention is None and state.attention_mask is not None:
            attention = mx.ones((b, m), mx.float32)
        new_mask = None
        if attention is not None:
            new_mask = extended_attention_mask(state.attention_mask, state.latent.shape[1], shape.tokens, attention,
                                               state.latent.dtype)
        return LatentState(latent=mx.concatenate([state.latent, mx.zeros_like(tokens)], axis=1),  # 1.2.0: zeros
                           denoise_mask=mx.concatenate([state.denoise_mask, mask], axis=1),
                           positions=mx.concatenate([state.positions.astype(mx.float32), positions], axis=2),
                           clean_latent=mx.concatenate([state.clean_latent, tokens], axis=1),
                           attention_mask=new_mask, keyframes_mask=state.keyframes_mask,  # appended: unmarked
                           frozen=state.frozen, keyframe_slots=state.keyframe_slots)  # slots appended before stay


def _cross_strengths(attention, batch: int, tokens: int) -> mx.array | None:
    if attention is None:
        return None
    if isinstance(attention, (int, float)):
        return mx.full((batch, tokens), float(attention), mx.float32)
    attention = mx.array(attention)
    if attention.ndim == 1:
        attention = attention[None]
    if attention.shape[-1] != tokens:
        raise ValueError(f"attention strengths for {attention.shape[-1]} tokens, the reference has {tokens}")
    return mx.broadcast_to(attention, (batch, tokens))


def mask_to_latent(mask: np.ndarray, frames: int, height: int, width: int) -> np.ndarray:
    """Pixel mask (F_pix, H_pix, W_pix) in [0, 1] -> latent (F*H*W,) strengths in token order: area (adaptive
    average) interpolation of each frame to (height, width); the first frame kept; the others averaged in groups of
    (F_pix - 1) / (frames - 1) (the causal VAE's time grouping)."""
    f_pix = mask.shape[0]
    small = _area(_area(mask.astype(np.float32), height, 1), width, 2)  # (F_pix, height, width)
    if f_pix > 1 and frames > 1:
        if (f_pix - 1) % (frames - 1):
            raise ValueError(f"a {f_pix}-frame mask does not group onto {frames} latent frames "
                             f"((frames - 1) must divide {f_pix - 1})")
        group = (f_pix - 1) // (frames - 1)
        rest = small[1:].reshape(frames - 1, group, height, width).mean(axis=1)
        small = np.concatenate([small[:1], rest], axis=0)
    else:
        small = small[:1]
    return small.reshape(-1)


def _area(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Adaptive average pooling along ``axis`` (torch's ``mode="area"``): output i averages input
    [floor(i*n/size), ceil((i+1)*n/size))."""
    n = x.shape[axis]
    if n == size:
        return x
    parts = []
    for i in range(size):
        start, stop = (i * n) // size, -(-((i + 1) * n) // size)
        parts.append(np.take(x, np.arange(start, stop), axis=axis).mean(axis=axis, keepdims=True))
    return np.concatenate(parts, axis=axis)

