"""Positional grids of latent tokens, in seconds (time) and pixels (height, width), as [start, end) bounds.

Video (patch size 1): latent frame f covers pixel frames scaled by 8 with the causal fix ``t -> max(0, t + 1 - 8)``
(the first latent frame stands for one pixel frame), divided by fps: frame 0 is ``[0, 1/fps)``, frame f >= 1 is
``[(8f - 7)/fps, (8f + 1)/fps)``; rows/columns ``[32h, 32h + 32)`` pixels. Token order (f, h, w) row-major.
Positions stay float32 (ltx-core 1.2.0; 1.0.0 stored video positions in the compute dtype, bf16 rounding 1/24 s
to 0.041748: ``dtype`` still reproduces that for a comparison with it).

Audio: latent i covers mel frames ``[max(0, 4i - 3), 4i + 1)`` at 100 mel frames/s (16 kHz, hop 160), float32.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

VIDEO_SCALE = (8, 32, 32)  # VAE (time, height, width) downsampling
AUDIO_SAMPLE_RATE, AUDIO_HOP, AUDIO_DOWNSAMPLE = 16000, 160, 4


def video_positions(frames: int, height: int, width: int, fps: float, batch: int = 1,
                    dtype: mx.Dtype = mx.float32) -> mx.array:
    """(B, 3, frames*height*width, 2) bounds for a latent grid of that size (latent units in, pixels/s out)."""
    f, h, w = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    starts = np.stack([f, h, w]).reshape(3, -1).astype(np.float32)  # (3, T)
    bounds = np.stack([starts, starts + 1], axis=-1) * np.array(VIDEO_SCALE, np.float32)[:, None, None]
    bounds[0] = np.maximum(bounds[0] + 1 - VIDEO_SCALE[0], 0) / np.float32(fps)
    grid = np.broadcast_to(bounds[None], (batch, *bounds.shape))
    return mx.array(np.ascontiguousarray(grid)).astype(dtype)


def audio_positions(num_latents: int, batch: int = 1, shift: int = 0) -> mx.array:
    """(B, 1, num_latents, 2) bounds in seconds, float32 (never rounded to the compute dtype)."""
    i = np.arange(shift, shift + num_latents, dtype=np.float32)
    start = np.maximum(AUDIO_DOWNSAMPLE * i + 1 - AUDIO_DOWNSAMPLE, 0)
    end = np.maximum(AUDIO_DOWNSAMPLE * (i + 1) + 1 - AUDIO_DOWNSAMPLE, 0)
    seconds = (np.stack([start, end], axis=-1) * np.float32(AUDIO_HOP)) / np.float32(AUDIO_SAMPLE_RATE)
    return mx.array(np.ascontiguousarray(np.broadcast_to(seconds[None, None], (batch, 1, num_latents, 2))))
