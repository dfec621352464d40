"""Channel <-> space rearrangements, PixelNorm and the latent statistics, all channels-last (B, F, H, W, C).

Two channel orders exist in the official model and must not be confused:
* ``patchify`` (VAE input/output): channel = ``c*p*p + dx*p + dy`` (W offset before H offset);
* ``space_to_depth`` / ``depth_to_space`` (inside the VAE, and the upsampler's pixel shuffle):
  channel = ``((c*st + dt)*sh + dy)*sw + dx`` (time, height, width offsets: standard pixel-shuffle order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2.backends.cpu.elementwise import pixel_norm_silu

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


# SiLU as x * (1 + tanh(x/2)) / 2 with a rational tanh (Eigen's float approximation, exact to a few ulp):
# MLX's CPU sigmoid/exp are single-threaded and ~6x slower than a multiply, and SiLU runs on every
# activation of the VAE. Compiled into one kernel it is ~2.5x faster than x * sigmoid(x).
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
           -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
_TANH_CLAMP = 7.90531110763549805  # tanh rounds to +-1 in float32 beyond this


def _silu_rational(x: mx.array) -> mx.array:
    u = mx.clip(0.5 * x, -_TANH_CLAMP, _TANH_CLAMP)
    u2 = u * u
    p = _TANH_P[6]
    for c in _TANH_P[5::-1]:
        p = p * u2 + c
    q = _TANH_Q[3]
    for c in _TANH_Q[2::-1]:
        q = q * u2 + c
    return x * (0.5 + 0.5 * (u * p) / q)


_silu_compiled = mx.compile(_silu_rational)


def silu(x: mx.array) -> mx.array:
    """``x * sigmoid(x)`` (max abs deviation ~3e-6 at |x| ~ 16, relative ~1e-7)."""
    if x.dtype != mx.float32:
        return x * mx.sigmoid(x)
    return _silu_compiled(x)


@dataclass(frozen=True)
class Prologue:
    """PixelNorm -> optional per-channel modulation ``h * (1 + scale) + shift`` -> SiLU: what a ResnetBlock3D applies
    before each convolution. The convolution runs it (``conv3d_valid(..., prologue=)``) so that the CPU path can fuse
    it into its padded copy; scale/shift: (B, 1, 1, 1, C) or None."""

    scale: mx.array | None = None
    shift: mx.array | None = None

    def __call__(self, x: mx.array) -> mx.array:
        h = pixel_norm(x)
        if self.scale is not None:
            h = h * (1 + self.scale) + self.shift
        return silu(h)

    def arrays(self) -> list[mx.array]:
        return [a for a in (self.scale, self.shift) if a is not None]

    def numpy(self, batch: int) -> Callable[[np.ndarray, np.ndarray], None]:
        """``fn(src, dst)``: dst[...] = this prologue of src (..., C) of batch item ``batch``, float32 numpy."""
        modulation = None
        if self.scale is not None:
            scale, shift = (np.array(a.astype(mx.float32)).reshape(a.shape[0], -1)[batch] for a in (self.scale, self.shift))
            modulation = (1.0 + scale, shift)

        def apply(src: np.ndarray, dst: np.ndarray) -> None:
            pixel_norm_silu(src, dst, PIXEL_NORM_EPS, modulation)

        return apply


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
