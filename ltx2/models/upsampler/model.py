"""Latent upsampler: un-normalized latent (B, F, H, W, C) -> (B, F', H', W', C), spatially x2 / x1.5 (rational)
and/or temporally x2 (F' = 2F - 1)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.upsampler.config import GROUP_NORM_GROUPS, UpsamplerConfig
from ltx2.models.video_vae.conv import Conv3dParams, zero_padded_conv3d
from ltx2.models.video_vae.layout import PerChannelStatistics, depth_to_space
from ltx2.ops import silu

GROUP_NORM_EPS = 1e-5  # torch's default, as the official GroupNorm(32, C)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUP_NORM_GROUPS, channels, eps=GROUP_NORM_EPS, pytorch_compatible=True)


def _conv(params: Conv3dParams, x: mx.array) -> mx.array:
    return zero_padded_conv3d(x, params.weight, params.bias)


class Conv2dParams(nn.Module):
    """``weight`` (O, kH, kW, I), ``bias`` (O,): a per-frame 2-D convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = mx.random.uniform(-1, 1, (out_channels, 3, 3, in_channels)) * (9 * in_channels) ** -0.5
        self.bias = mx.zeros((out_channels,))

    def __call__(self, x: mx.array) -> mx.array:
        return zero_padded_conv3d(x, self.weight[:, None], self.bias)  # kernel depth 1: frames independent


class ResBlock(nn.Module):
    """conv1 -> GroupNorm -> SiLU -> conv2 -> GroupNorm -> SiLU(+ input); zero-padded 3x3x3 convs."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = Conv3dParams(channels, channels)
        self.norm1 = _group_norm(channels)
        self.conv2 = Conv3dParams(channels, channels)
        self.norm2 = _group_norm(channels)

    def __call__(self, x: mx.array) -> mx.array:
        h = silu(self.norm1(_conv(self.conv1, x)))
        return silu(self.norm2(_conv(self.conv2, h)) + x)


class BlurDownsample(nn.Module):
    """Depthwise blur with the stored ``kernel`` (1, k, k, 1) (5x5 binomial), stride ``stride``, zero padding
    k//2, per frame; stride 1 is the identity."""

    def __init__(self, stride: int, size: int = 5):
        super().__init__()
        self.stride = stride
        self.kernel = mx.zeros((1, size, size, 1))

    def __call__(self, x: mx.array) -> mx.array:
        if self.stride == 1:
            return x
        size, s = self.kernel.shape[1], self.stride
        b, f, h, w, c = x.shape
        h_out, w_out = (h - 1) // s + 1, (w - 1) // s + 1
        x = mx.pad(x, [(0, 0), (0, 0), (size // 2, size // 2), (size // 2, size // 2), (0, 0)])
        kernel = self.kernel[0, :, :, 0].astype(x.dtype)
        out = None
        for i in range(size):
            for j in range(size):
                term = kernel[i, j] * x[:, :, i: i + (h_out - 1) * s + 1: s, j: j + (w_out - 1) * s + 1: s]
                out = term if out is None else out + term
        return out


class RationalResampler(nn.Module):
    """Per frame: conv (C -> num^2 C), pixel shuffle by num, blur-downsample by den (x num/den)."""

    def __init__(self, channels: int, num: int, den: int):
        super().__init__()
        self.num = num
        self.conv = Conv2dParams(channels, num * num * channels)
        self.blur_down = BlurDownsample(den)

    def __call__(self, x: mx.array) -> mx.array:
        return self.blur_down(depth_to_space(self.conv(x), (1, self.num, self.num)))


class LatentUpsampler(nn.Module):
    """``initial_conv`` -> GroupNorm -> SiLU -> ``res_blocks`` -> ``upsampler`` -> ``post_upsample_res_blocks``
    -> ``final_conv``. Works on *un-normalized* latents: see ``upsample_latent``."""

    def __init__(self, config: UpsamplerConfig):
        super().__init__()
        self.config = config
        mid = config.mid_channels
        self.initial_conv = Conv3dParams(config.in_channels, mid)
        self.initial_norm = _group_norm(mid)
        self.res_blocks = [ResBlock(mid) for _ in range(config.num_blocks_per_stage)]
        kind = config.kind
        if kind == "rational":
            self.upsampler = RationalResampler(mid, *config.rational)
        elif kind == "spatial":
            self.upsampler = [Conv2dParams(mid, 4 * mid)]
        else:
            self.upsampler = [Conv3dParams(mid, (8 if kind == "spatiotemporal" else 2) * mid)]
        self.post_upsample_res_blocks = [ResBlock(mid) for _ in range(config.num_blocks_per_stage)]
        self.final_conv = Conv3dParams(mid, config.in_channels)

    def __call__(self, latent: mx.array) -> mx.array:
        if latent.ndim != 5 or latent.shape[-1] != self.config.in_channels:
            raise ValueError(f"latent has shape {tuple(latent.shape)}; the upsampler takes (batch, frames, height, "
                             f"width, {self.config.in_channels}) channels-last")
        x = silu(self.initial_norm(_conv(self.initial_conv, latent)))
        for block in self.res_blocks:
            x = block(x)
        x = self._upsample(x)
        for block in self.post_upsample_res_blocks:
            x = block(x)
        return _conv(self.final_conv, x)

    def _upsample(self, x: mx.array) -> mx.array:
        kind = self.config.kind
        if kind == "rational":
            return self.upsampler(x)
        if kind == "spatial":
            return depth_to_space(self.upsampler[0](x), (1, 2, 2))
        stride = (2, 2, 2) if kind == "spatiotemporal" else (2, 1, 1)
        return depth_to_space(_conv(self.upsampler[0], x), stride)[:, 1:]  # drop the first frame: F -> 2F - 1


def upsample_latent(latent: mx.array, upsampler: LatentUpsampler, statistics: PerChannelStatistics) -> mx.array:
    """The pipelines' sequence on a *normalized* latent: un-normalize with the video encoder's statistics,
    upsample, normalize again."""
    return statistics.normalize(upsampler(statistics.un_normalize(latent)))
