"""1-D convolutions of the vocoders, channels-first ``(B, C, L)`` (time last, as PyTorch has it: every tap is
a slice of whole rows, so unfolding copies runs of L samples; channels-last copies ran in strips of C floats, which
dominated the narrow late stages, C = 2..16), written as unfold + one matmul (the fixed depthwise resampling
filters are in banded.py). Weights keep the MLX layout (O, k, I) of the checkpoint loader."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


def conv1d(x: mx.array, weight: mx.array, bias: mx.array | None, padding: int = 0, dilation: int = 1) -> mx.array:
    """x (B, I, L), weight (O, k, I), symmetric zero ``padding`` -> (B, O, L + 2p - d(k-1))."""
    out_ch, k, in_ch = weight.shape
    if padding:
        x = mx.pad(x, [(0, 0), (0, 0), (padding, padding)])
    b, _, n = x.shape
    n_out = n - dilation * (k - 1)
    if k > 1:  # tap j of channel i is the row x[i, j*d : j*d + n_out]: one strided gather, rows ordered (tap, i)
        x = mx.as_strided(x, (b, k, in_ch, n_out), (in_ch * n, dilation, n, 1)).reshape(b, k * in_ch, n_out)
    out = weight.reshape(out_ch, k * in_ch) @ x
    return out if bias is None else out + bias[:, None]


def conv_transpose1d(x: mx.array, weight: mx.array, bias: mx.array | None, stride: int, padding: int) -> mx.array:
    """PyTorch ``ConvTranspose1d``: x (B, I, L), weight (O, k, I) -> (B, O, (L-1)s - 2p + k). One matmul gives
    every tap of every input sample; the taps are then overlap-added in groups of ``stride``."""
    out_ch, k, in_ch = weight.shape
    b, _, n = x.shape
    groups = -(-k // stride)
    taps = weight.transpose(1, 0, 2).reshape(k * out_ch, in_ch) @ x  # (B, k*O, L), rows ordered (tap, o)
    if groups * stride != k:
        taps = mx.pad(taps, [(0, 0), (0, (groups * stride - k) * out_ch), (0, 0)])
    taps = taps.reshape(b, groups, stride * out_ch, n)
    out = None
    for q in range(groups):  # tap q*stride + r of sample t lands on output (t + q)*stride + r
        part = mx.pad(taps[:, q], [(0, 0), (0, 0), (q, groups - 1 - q)])
        out = part if out is None else out + part
    out = out.reshape(b, stride, out_ch, n + groups - 1).transpose(0, 2, 3, 1).reshape(b, out_ch, -1)
    out = out[:, :, padding: (n - 1) * stride + k - padding]
    return out if bias is None else out + bias[:, None]


def replicate_pad(x: mx.array, left: int, right: int) -> mx.array:
    """x (B, C, L) with its first / last sample repeated ``left`` / ``right`` times."""
    parts = [mx.repeat(x[:, :, :1], left, axis=2)] if left else []
    parts.append(x)
    if right:
        parts.append(mx.repeat(x[:, :, -1:], right, axis=2))
    return mx.concatenate(parts, axis=2) if len(parts) > 1 else x


class Conv1d(nn.Module):
    """``weight`` (O, k, I) (MLX layout of a PyTorch Conv1d) and optional ``bias``; symmetric zero padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int = 0, dilation: int = 1,
                 bias: bool = True):
        super().__init__()
        scale = (in_channels * kernel) ** -0.5
        self.weight = mx.random.uniform(-scale, scale, (out_channels, kernel, in_channels))
        if bias:
            self.bias = mx.zeros((out_channels,))
        self._padding, self._dilation = padding, dilation

    def __call__(self, x: mx.array) -> mx.array:
        return conv1d(x, self.weight, self.get("bias"), self._padding, self._dilation)


class ConvTranspose1d(nn.Module):
    """``weight`` (O, k, I) (a PyTorch ConvTranspose1d's (I, O, k), transposed) and ``bias``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int):
        super().__init__()
        scale = (in_channels * kernel) ** -0.5
        self.weight = mx.random.uniform(-scale, scale, (out_channels, kernel, in_channels))
        self.bias = mx.zeros((out_channels,))
        self._stride, self._padding = stride, padding

    def __call__(self, x: mx.array) -> mx.array:
        return conv_transpose1d(x, self.weight, self.bias, self._stride, self._padding)
