"""BigVGAN-v2 pieces of the LTX-2.3 vocoder: SnakeBeta and the anti-aliased ``Activation1d`` (x2 kaiser-sinc
upsample -> activation -> x2 low-pass downsample, length preserving). The 12-tap filters are checkpoint
buffers (``upsample.filter``, ``downsample.lowpass.filter``); ``kaiser_sinc_filter`` computes the same values
for tiny checkpoints."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2 import ops
from ltx2.models.vocoder.banded import banded_lowpass, banded_upsample, lowpass_matrix, upsample_matrix
from ltx2.models.vocoder.conv1d import replicate_pad

FILTER_TAPS = 12
SNAKE_EPS = 1e-9


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> np.ndarray:
    """Kaiser-windowed sinc low-pass (BigVGAN's design rule), normalised to unit sum, shape (1, 1, taps)."""
    half = taps // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    t = np.arange(-half, half) + 0.5 if taps % 2 == 0 else np.arange(taps) - half
    window = np.kaiser(taps, beta)
    values = 2 * cutoff * window * np.sinc(2 * cutoff * t)
    return (values / values.sum()).astype(np.float32).reshape(1, 1, taps)


class SnakeBeta(nn.Module):
    """x + sin(x e^alpha)^2 / (e^beta + 1e-9), per channel (alpha, beta stored in log scale)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = mx.zeros((channels,))
        self.beta = mx.zeros((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        """x (B, C, L) -> (B, C, L)."""
        return ops.snake(x, self.alpha, self.beta, SNAKE_EPS)


class _Filter(nn.Module):
    def __init__(self):
        super().__init__()
        self.filter = mx.array(kaiser_sinc_filter(0.25, 0.3, FILTER_TAPS))


class _Downsample(nn.Module):
    def __init__(self):
        super().__init__()
        self.lowpass = _Filter()


class Activation1d(nn.Module):
    """Upsample x2 (replicate pad 5, transposed conv x2 gain, crop 15 each side) -> SnakeBeta -> low-pass and
    decimate x2 (replicate pad 5 left / 6 right)."""

    def __init__(self, channels: int):
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = _Filter()
        self.downsample = _Downsample()
        self._matrices = ()  # (up filter, down filter, dtype, band matrices): rebuilt when the filters change

    def _banded(self, dtype: mx.Dtype) -> tuple:
        """The block-banded matrices of the two fixed filters, built on first use (not per call: ~10 small ops
        each, 200 calls in the tiny LTX-2.3 vocoder) and again once other filters are loaded."""
        up, down = self.upsample.filter, self.downsample.lowpass.filter
        cached = self._matrices
        if not cached or cached[0] is not up or cached[1] is not down or cached[2] != dtype:
            up_taps, down_taps = up.reshape(-1).astype(dtype), down.reshape(-1).astype(dtype)
            k = up_taps.shape[0]
            crop_left = (k // 2 - 1) * 2 + (k - 2) // 2  # of the x2 transposed convolution's output
            matrices = (2 * up_taps, upsample_matrix(2 * up_taps, 2, crop_left), crop_left, down_taps,
                        lowpass_matrix(down_taps, 2))  # lazy: computed with the first call's graph, then kept
            self._matrices = cached = (up, down, dtype, matrices)
        return cached[3]

    def __call__(self, x: mx.array) -> mx.array:
        """x (B, C, L) -> (B, C, L); the resampling filters run as block-banded matmuls (banded.py)."""
        up, up_matrix, crop_left, down, down_matrix = self._banded(x.dtype)
        pad = up.shape[0] // 2 - 1
        y = banded_upsample(replicate_pad(x, pad, pad), up, 2, crop_left, 2 * x.shape[2], up_matrix)
        y = self.act(y)
        k = down.shape[0]
        return banded_lowpass(replicate_pad(y, k // 2 - (1 - k % 2), k // 2), down, 2, down_matrix)
