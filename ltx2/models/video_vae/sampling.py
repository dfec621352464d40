"""Resolution changes of the video VAE: space-to-depth downsampling (encoder ``compress_*_res``) and
depth-to-space upsampling (decoder ``compress_*``)."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.video_vae.conv import CausalConv3d
from ltx2.models.video_vae.layout import depth_to_space, space_to_depth


class SpaceToDepthDownsample(nn.Module):
    """conv (C -> C'/prod(s)) then space-to-depth, plus a skip path: space-to-depth of the input averaged over
    groups of consecutive channels. A temporal stride first duplicates frame 0 (odd F -> even)."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int, int], padding_mode: str):
        super().__init__()
        self.stride = stride
        self.group_size = in_channels * math.prod(stride) // out_channels
        self.conv = CausalConv3d(in_channels, out_channels // math.prod(stride), padding_mode)

    def __call__(self, x: mx.array, causal: bool = True) -> mx.array:
        if self.stride[0] == 2:
            x = mx.concatenate([x[:, :1], x], axis=1)
        skip = space_to_depth(x, self.stride)
        skip = skip.reshape(*skip.shape[:-1], -1, self.group_size).mean(axis=-1)
        return space_to_depth(self.conv(x, causal), self.stride) + skip


class DepthToSpaceUpsample(nn.Module):
    """conv (C -> prod(s)*C/r) then depth-to-space; a temporal stride then drops the first frame. With
    ``residual``, adds the depth-to-space of the input tiled r'=prod(s)/r times along channels."""

    def __init__(self, in_channels: int, stride: tuple[int, int, int], padding_mode: str, residual: bool = False,
                 reduction: int = 1):
        super().__init__()
        self.stride = stride
        self.residual = residual
        self.repeats = math.prod(stride) // reduction
        self.conv = CausalConv3d(in_channels, math.prod(stride) * in_channels // reduction, padding_mode)

    def __call__(self, x: mx.array, causal: bool) -> mx.array:
        y = depth_to_space(self.conv(x, causal), self.stride)
        if self.stride[0] == 2:
            y = y[:, 1:]
        if self.residual:
            skip = depth_to_space(x, self.stride)
            skip = mx.tile(skip, (1, 1, 1, 1, self.repeats))  # torch .repeat: whole-tensor copies, not interleave
            if self.stride[0] == 2:
                skip = skip[:, 1:]
            y = y + skip
        return y
