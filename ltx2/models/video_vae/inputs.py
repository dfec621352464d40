"""Checks on what goes into the video VAE, and the pixel <-> uint8 conversions of the official pipelines.

Layout everywhere: channels-last, video (B, F, H, W, 3) in [-1, 1], latent (B, F', H', W', C).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError

PIXEL_RANGE_TOLERANCE = 1e-3


def check_video(video: mx.array, channels: int, time_factor: int, space_factor: int) -> None:
    """Raise ConfigError unless ``video`` is (B, 1+k*time_factor, H, W, channels) float with H, W multiples
    of ``space_factor`` and values in [-1, 1]. (The official encoder silently drops trailing frames instead.)"""
    shape = tuple(video.shape)
    if video.ndim != 5:
        raise ConfigError("video", shape, f"the encoder takes (batch, frames, height, width, {channels}) "
                          "channels-last", "add a batch axis or transpose from (B, C, F, H, W)")
    b, f, h, w, c = video.shape
    if c != channels:
        raise ConfigError("video", shape, f"has {c} channels in its last axis, the encoder takes {channels}",
                          "pass channels-last (B, F, H, W, C) frames")
    if (f - 1) % time_factor:
        below = f - (f - 1) % time_factor
        raise ConfigError("video", shape, f"has {f} frames; the encoder needs 1 + {time_factor}*k frames",
                          f"trim it to {below} or pad it to {below + time_factor} frames")
    for name, n in (("height", h), ("width", w)):
        if n % space_factor or n == 0:
            raise ConfigError("video", shape, f"{name} is {n}; it must be a multiple of {space_factor}",
                              f"resize or crop to {max(space_factor, n - n % space_factor)}")
    if not mx.issubdtype(video.dtype, mx.floating):
        raise ConfigError("video", str(video.dtype), f"dtype is {video.dtype}; the encoder takes floats in [-1, 1]",
                          "convert uint8 frames with pixels_from_uint8()")
    low, high = mx.min(video).item(), mx.max(video).item()
    if low < -1 - PIXEL_RANGE_TOLERANCE or high > 1 + PIXEL_RANGE_TOLERANCE:
        raise ConfigError("video", shape, f"values span [{low:.4g}, {high:.4g}]; the encoder takes pixels in [-1, 1]",
                          "map uint8 frames with pixels_from_uint8() (x / 127.5 - 1)")


def check_latent(latent: mx.array, channels: int) -> None:
    if latent.ndim != 5 or latent.shape[-1] != channels:
        raise ConfigError("latent", tuple(latent.shape), f"the decoder takes (batch, frames, height, width, "
                          f"{channels}) channels-last", "transpose from (B, C, F, H, W) with moveaxis(1, -1)")


def pixels_from_uint8(frames: np.ndarray | mx.array) -> mx.array:
    """uint8 frames (..., 3) -> float32 pixels in [-1, 1] (``x / 127.5 - 1``, as the official media loader)."""
    return mx.array(frames).astype(mx.float32) / 127.5 - 1.0


def pixels_to_uint8(video: mx.array) -> mx.array:
    """Pixels in about [-1, 1] -> uint8 by truncation, as the official ``decode_video``:
    ``uint8(clamp((x + 1) / 2, 0, 1) * 255)``."""
    return (mx.clip((video.astype(mx.float32) + 1.0) / 2.0, 0.0, 1.0) * 255.0).astype(mx.uint8)
