"""Conditioning items applied to a video latent state (official ``VideoConditionByLatentIndex`` and
``VideoConditionByKeyframeIndex``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.models.transformer.positions import VIDEO_SCALE
from ltx2.sampling.latent_state import LatentState, VideoLatentShape, patchify_video


@dataclass(frozen=True)
class LatentAtIndex:
    """Set the clean tokens of latent frames ``[index, index + F_c)`` to ``latent`` (B, C, F_c, H, W); their
    denoise mask becomes ``1 - strength``. No tokens are added. The noisy tokens are left as they are: the noiser
    takes the unmasked part from the clean tokens (ltx-core 1.2.0; 1.0.0 replaced the noisy tokens too)."""

    latent: mx.array
    strength: float
    index: int = 0

    def apply(self, state: LatentState, shape: VideoLatentShape, fps: float) -> LatentState:
        b, c, f, h, w = self.latent.shape
        if (b, c, h, w) != (shape.batch, shape.channels, shape.height, shape.width):
            raise ConfigError("conditioning", tuple(self.latent.shape), f"the conditioning latent does not match the "
                              f"video latent grid {shape.array_shape}", "encode the conditioning at the video's size")
        start, stop = self.index * h * w, (self.index + f) * h * w
        tokens = patchify_video(self.latent).astype(state.latent.dtype)

        def put(x: mx.array, values: mx.array) -> mx.array:
            return mx.concatenate([x[:, :start], values, x[:, stop:]], axis=1)

        mask = mx.full((b, stop - start, 1), 1.0 - self.strength, dtype=mx.float32)
        return replace(state, clean_latent=put(state.clean_latent, tokens), denoise_mask=put(state.denoise_mask, mask))


@dataclass(frozen=True)
class KeyframeAtFrame:
    """Append ``latent`` (B, C, F_c, H, W) as extra clean tokens placed at pixel frame ``frame_idx`` (zeros as
    their noisy tokens, ltx-core 1.2.0): positions from its own latent grid, shifted by ``frame_idx`` pixel
    frames (the causal first-frame fix only at frame 0), each spanning the single pixel frame ``[start, start + 1)``
    (1.2.0, whose pipelines keep its ``num_pixel_frames=1``; 1.0.0 gave it 8); in seconds, float32."""

    latent: mx.array
    strength: float
    frame_idx: int

    def apply(self, state: LatentState, shape: VideoLatentShape, fps: float) -> LatentState:
        b, c, f, h, w = self.latent.shape
        tokens = patchify_video(self.latent).astype(state.latent.dtype)
        grid_f, grid_h, grid_w = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
        starts = np.stack([grid_f, grid_h, grid_w]).reshape(3, -1).astype(np.float32)
        bounds = np.stack([starts, starts + 1], -1) * np.array(VIDEO_SCALE, np.float32)[:, None, None]
        if self.frame_idx == 0:
            bounds[0] = np.maximum(bounds[0] + 1 - VIDEO_SCALE[0], 0)
        bounds[0] = bounds[0] + np.float32(self.frame_idx)
        bounds[0, :, 1] = bounds[0, :, 0] + 1  # one pixel frame (1.2.0's default num_pixel_frames=1, always used)
        bounds[0] = bounds[0] / np.float32(fps)
        positions = mx.array(np.ascontiguousarray(np.broadcast_to(bounds[None], (b, *bounds.shape))))
        mask = mx.full((b, tokens.shape[1], 1), 1.0 - self.strength, dtype=mx.float32)
        attention = state.attention_mask
        if attention is not None:  # an earlier item's attention mask: full attention to the noisy tokens
            from ltx2.conditioning.reference_latent import extended_attention_mask

            attention = extended_attention_mask(attention, state.latent.shape[1], shape.tokens,
                                                mx.ones((b, tokens.shape[1]), mx.float32), state.latent.dtype)
        return replace(state, latent=mx.concatenate([state.latent, mx.zeros_like(tokens)], axis=1),
                       clean_latent=mx.concatenate([state.clean_latent, tokens], axis=1),
                       denoise_mask=mx.concatenate([state.denoise_mask, mask], axis=1),
                       positions=mx.concatenate([state.positions.astype(mx.float32), positions], axis=2),
                       attention_mask=attention)
