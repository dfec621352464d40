"""Building blocks of the audio VAE, channels-last ``(B, T, M, C)`` (T = time, the official "height"; M = mel).

A 2-D convolution is "zero-pad, unfold the kH x kW neighbourhood into channels, one matmul" (MLX's CPU conv is
slower than a BLAS matmul at these sizes).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops
from ltx2.models.audio_vae.config import CAUSALITY, PIXEL_NORM_EPS


def conv2d(x: mx.array, weight: mx.array, bias: mx.array | None, pad: tuple[int, int, int, int],
           stride: int = 1) -> mx.array:
    """x (B, T, M, I), weight (O, kT, kM, I); ``pad`` = zeros (top, bottom, left, right) -> (B, T', M', O)."""
    out_ch, kt, km, in_ch = weight.shape
    top, bottom, left, right = pad
    if any(pad):
        x = mx.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)])
    b, t, m = x.shape[:3]
    t_out, m_out = (t - kt) // stride + 1, (m - km) // stride + 1
    if kt == km == 1 and stride == 1:
        cols = x
    else:
        cols = mx.concatenate([x[:, i: i + (t_out - 1) * stride + 1: stride, j: j + (m_out - 1) * stride + 1: stride]
                               for i in range(kt) for j in range(km)], axis=-1)
    w = weight.reshape(out_ch, kt * km * in_ch).T
    out = cols.reshape(-1, kt * km * in_ch)
    out = out @ w if bias is None else mx.addmm(bias, out, w)
    return out.reshape(b, t_out, m_out, out_ch)


class Conv2dParams(nn.Module):
    """``weight`` (O, kT, kM, I) and ``bias`` (O,) (MLX layout of a PyTorch Conv2d)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3):
        super().__init__()
        scale = (in_channels * kernel * kernel) ** -0.5
        self.weight = mx.random.uniform(-scale, scale, (out_channels, kernel, kernel, in_channels))
        self.bias = mx.zeros((out_channels,))

    def __call__(self, x: mx.array, pad: tuple[int, int, int, int] = (0, 0, 0, 0), stride: int = 1) -> mx.array:
        return conv2d(x, self.weight, self.bias, pad, stride)


class CausalConv2d(nn.Module):
    """Zero padding set by the causality axis, then a valid convolution (official key ``<name>.conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, causality: str):
        super().__init__()
        self.conv = Conv2dParams(in_channels, out_channels, kernel)
        self.pad = CAUSALITY[causality]["conv"] if kernel == 3 else (0, 0, 0, 0)

    def __call__(self, x: mx.array) -> mx.array:
        return self.conv(x, self.pad)


def pixel_norm(x: mx.array) -> mx.array:
    return x * mx.rsqrt(mx.mean(mx.square(x), axis=-1, keepdims=True) + PIXEL_NORM_EPS)


def silu(x: mx.array) -> mx.array:
    return x * mx.sigmoid(x)


def norm_silu(x: mx.array) -> mx.array:
    """SiLU(PixelNorm(x)), the pre-activation of every resnet block and of ``conv_out``."""
    return ops.norm_silu(x, ops.NormSiLU(PIXEL_NORM_EPS))


class ResnetBlock(nn.Module):
    """PixelNorm -> SiLU -> conv1 -> PixelNorm -> SiLU -> conv2, plus the input (1x1 ``nin_shortcut`` when the
    width changes)."""

    def __init__(self, in_channels: int, out_channels: int, causality: str):
        super().__init__()
        self.conv1 = CausalConv2d(in_channels, out_channels, 3, causality)
        self.conv2 = CausalConv2d(out_channels, out_channels, 3, causality)
        if in_channels != out_channels:
            self.nin_shortcut = CausalConv2d(in_channels, out_channels, 1, causality)

    def __call__(self, x: mx.array) -> mx.array:
        h = self.conv1(norm_silu(x))
        h = self.conv2(norm_silu(h))
        if "nin_shortcut" in self:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all (time, mel) positions with 1x1 convs q, k, v, proj_out."""

    def __init__(self, channels: int):
        super().__init__()
        self.q = Conv2dParams(channels, channels, 1)
        self.k = Conv2dParams(channels, channels, 1)
        self.v = Conv2dParams(channels, channels, 1)
        self.proj_out = Conv2dParams(channels, channels, 1)

    def __call__(self, x: mx.array) -> mx.array:
        b, t, m, c = x.shape
        h = pixel_norm(x)
        q, k, v = (layer(h).reshape(b, t * m, c) for layer in (self.q, self.k, self.v))
        weights = mx.softmax((q @ k.transpose(0, 2, 1)) * c ** -0.5, axis=-1)
        return x + self.proj_out((weights @ v).reshape(b, t, m, c))


class Downsample(nn.Module):
    """Zero padding (time-causal for "height"), then a stride-2 3x3 conv (key ``downsample.conv``)."""

    def __init__(self, channels: int, causality: str):
        super().__init__()
        self.conv = Conv2dParams(channels, channels, 3)
        self.pad = CAUSALITY[causality]["down"]

    def __call__(self, x: mx.array) -> mx.array:
        return self.conv(x, self.pad, stride=2)


class Upsample(nn.Module):
    """Nearest x2 on both axes -> causal 3x3 conv -> drop the first row of the causal axis (T -> 2T - 1)."""

    def __init__(self, channels: int, causality: str):
        super().__init__()
        self.conv = CausalConv2d(channels, channels, 3, causality)
        self.drop = CAUSALITY[causality]["drop"]

    def __call__(self, x: mx.array) -> mx.array:
        b, t, m, c = x.shape
        x = mx.broadcast_to(x[:, :, None, :, None], (b, t, 2, m, 2, c)).reshape(b, 2 * t, 2 * m, c)
        x = self.conv(x)
        if self.drop == 1:
            x = x[:, 1:]
        elif self.drop == 2:
            x = x[:, :, 1:]
        return x


class PerChannelStatistics(nn.Module):
    """Latent statistics over the (channel, mel bin)-flattened features, index ``c * M' + f`` (official
    ``"b c t f -> b t (c f)"``), stored as ``std-of-means`` / ``mean-of-means``."""

    def __init__(self, size: int):
        super().__init__()
        setattr(self, "std-of-means", mx.ones((size,)))
        setattr(self, "mean-of-means", mx.zeros((size,)))

    def _stats(self, x: mx.array) -> tuple[mx.array, mx.array]:
        channels, bins = x.shape[-1], x.shape[-2]
        std = getattr(self, "std-of-means").reshape(channels, bins).T  # (M', C) to broadcast on (B, T, M', C)
        mean = getattr(self, "mean-of-means").reshape(channels, bins).T
        return std.astype(x.dtype), mean.astype(x.dtype)

    def normalize(self, x: mx.array) -> mx.array:
        std, mean = self._stats(x)
        return (x - mean) / std

    def un_normalize(self, x: mx.array) -> mx.array:
        std, mean = self._stats(x)
        return x * std + mean


def mid_block(channels: int, causality: str, attention: bool) -> dict:
    """``mid.block_1``, optional ``mid.attn_1``, ``mid.block_2``."""
    mid = {"block_1": ResnetBlock(channels, channels, causality), "block_2": ResnetBlock(channels, channels, causality)}
    if attention:
        mid["attn_1"] = AttnBlock(channels)
    return mid


def run_level(stage: dict, x: mx.array) -> mx.array:
    """One resolution level's resnet blocks, each followed by its attention when the level has attention."""
    for i, block in enumerate(stage["block"]):
        x = block(x)
        if stage["attn"]:
            x = stage["attn"][i](x)
    return x


def run_mid(mid: dict, x: mx.array) -> mx.array:
    x = mid["block_1"](x)
    if "attn_1" in mid:
        x = mid["attn_1"](x)
    return mid["block_2"](x)
