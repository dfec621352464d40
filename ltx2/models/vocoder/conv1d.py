"""1-D convolutions of the vocoders, channels-last ``(B, L, C)``, written as unfold + one matmul (the fixed
depthwise resampling filters are in banded.py)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


def conv1d(x: mx.array, weight: mx.array, bias: mx.array | None, padding: int = 0, dilation: int = 1) -> mx.array:
    """x (B, L, I), weight (O, k, I), symmetric zero ``padding`` -> (B, L + 2p - d(k-1), O)."""
    out_ch, k, in_ch = weight.shape
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    b, n = x.shape[:2]
    n_out = n - dilation * (k - 1)
    cols = x if k == 1 else mx.concatenate([x[:, j * dilation: j * dilation + n_out] for j in range(k)], axis=-1)
    w = weight.reshape(out_ch, k * in_ch).T
    out = cols.reshape(-1, k * in_ch)
    out = out @ w if bias is None else mx.addmm(bias, out, w)
    return out.reshape(b, n_out, out_ch)


def conv_transpose1d(x: mx.array, weight: mx.array, bias: mx.array | None, stride: int, padding: int) -> mx.array:
    """PyTorch ``ConvTranspose1d``: x (B, L, I), weight (O, k, I) -> (B, (L-1)s - 2p + k, O). One matmul gives
    every tap of every input sample; the taps are then overlap-added in groups of ``stride``."""
    out_ch, k, in_ch = weight.shape
    b, n = x.shape[:2]
    groups = -(-k // stride)
    w = weight.transpose(2, 1, 0).reshape(in_ch, k * out_ch)  # columns ordered (tap, o)
    taps = (x.reshape(-1, in_ch) @ w).reshape(b, n, k, out_ch)
    if groups * stride != k:
        taps = mx.pad(taps, [(0, 0), (0, 0), (0, groups * stride - k), (0, 0)])
    taps = taps.reshape(b, n, groups, stride, out_ch)
    out = None
    for q in range(groups):  # tap q*stride + r of sample t lands on output (t + q)*stride + r
        part = mx.pad(taps[:, :, q], [(0, 0), (q, groups - 1 - q), (0, 0), (0, 0)])
        out = part if out is None else out + part
    out = out.reshape(b, (n + groups - 1) * stride, out_ch)[:, padding: (n - 1) * stride + k - padding]
    return out if bias is None else out + bias


def replicate_pad(x: mx.array, left: int, right: int) -> mx.array:
    parts = [mx.repeat(x[:, :1], left, axis=1)] if left else []
    parts.append(x)
    if right:
        parts.append(mx.repeat(x[:, -1:], right, axis=1))
    return mx.concatenate(parts, axis=1) if len(parts) > 1 else x


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
