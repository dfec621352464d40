"""Channel <-> space rearrangements, PixelNorm and the latent statistics, all channels-last (B, F, H, W, C).

Two channel orders exist in the official model and must not be confused:
* ``patchify`` (VAE input/output): channel = ``c*p*p + dx*p + dy`` (W offset before H offset);
* ``space_to_depth`` / ``depth_to_space`` (inside the VAE, and the upsampler's pixel shuffle):
  channel = ``((c*st + dt)*sh + dy)*sw + dx`` (time, height, width offsets: standard pixel-shuffle order).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.ops import NormSiLU

PIXEL_NORM_EPS = 1e-8


def patchify(x: mx.array, p: int) -> mx.array:
    """(B, F, H, W, C) -> (B, F, H/p, W/p, C*p*p), channel ``c*p*p + dx*p + dy``."""
    b, f, h, w, c = x.shape
    x = x.reshape(b, f, h // p, p, w // p, p, c)  # (b, f, h', dy, w', dx, c)
    return x.transpose(0, 1, 2, 4, 6, 5, 3).reshape(b, f, h // p, w // p, c * p * p)


def unpatchify(x: mx.array, p: int) -> mx.array:
    """Inverse of ``patchify``: (B, F, H, W, C*p*p) -> (B, F, H*p, W*p, C)."""
    b, f, h, w, cpp = x.shape
    x = x.reshape(b, f, h, w, cpp // (p * p), p, p)  # (b, f, h, w, c, dx, dy)
    return x.transpose(0, 1, 2, 6, 3, 5, 4).reshape(b, f, h * p, w * p, cpp // (p * p))


def space_to_depth(x: mx.array, stride: tuple[int, int, int]) -> mx.array:
    """(B, F, H, W, C) -> (B, F/st, H/sh, W/sw, C*st*sh*sw), channel order (c, dt, dy, dx)."""
    st, sh, sw = stride
    b, f, h, w, c = x.shape
    x = x.reshape(b, f // st, st, h // sh, sh, w // sw, sw, c)
    return x.transpose(0, 1, 3, 5, 7, 2, 4, 6).reshape(b, f // st, h // sh, w // sw, c * st * sh * sw)


def depth_to_space(x: mx.array, stride: tuple[int, int, int]) -> mx.array:
    """Inverse of ``space_to_depth``: (B, F, H, W, C*st*sh*sw) -> (B, F*st, H*sh, W*sw, C)."""
    st, sh, sw = stride
    b, f, h, w, cv = x.shape
    c = cv // (st * sh * sw)
    x = x.reshape(b, f, h, w, c, st, sh, sw)
    return x.transpose(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, f * st, h * sh, w * sw, c)


def pixel_norm(x: mx.array) -> mx.array:
    """``x / sqrt(mean(x^2 over channels) + 1e-8)``, no parameters."""
    return mx.fast.rms_norm(x, None, PIXEL_NORM_EPS)


def prologue(scale: mx.array | None = None, shift: mx.array | None = None) -> NormSiLU:
    """PixelNorm -> optional per-channel modulation ``h * (1 + scale) + shift`` -> SiLU: what a ResnetBlock3D applies
    before each convolution, handed to the convolution (``ops.conv3d(..., prologue=)``) so that a backend can fuse
    it into its own copy of the input; scale/shift: (B, 1, 1, 1, C) or None."""
    return NormSiLU(PIXEL_NORM_EPS, scale, shift)


class PerChannelStatistics(nn.Module):
    """Latent statistics under the checkpoint's hyphenated names ``std-of-means`` and ``mean-of-means``."""

    def __init__(self, channels: int):
        super().__init__()
        self["std-of-means"] = mx.ones((channels,))
        self["mean-of-means"] = mx.zeros((channels,))

    def normalize(self, x: mx.array) -> mx.array:
        return (x - self["mean-of-means"].astype(x.dtype)) / self["std-of-means"].astype(x.dtype)

    def un_normalize(self, x: mx.array) -> mx.array:
        return x * self["std-of-means"].astype(x.dtype) + self["mean-of-means"].astype(x.dtype)
