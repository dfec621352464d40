"""3-D convolution layers of the video VAE and the latent upsampler, channels-last ``(B, F, H, W, C)``; the
convolution itself is the op ``ltx2.ops.conv3d``."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops
from ltx2.ops import PADDING_MODES, NormSiLU  # noqa: F401  (PADDING_MODES: the config validates against it)

conv3d_valid = ops.conv3d  # convolution without implicit padding (see ltx2/ops.py)


class Conv3dParams(nn.Module):
    """``weight`` (O, kT, kH, kW, I) and ``bias`` (O,) of a 3-D convolution (MLX layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (3, 3, 3)):
        super().__init__()
        scale = (in_channels * kernel[0] * kernel[1] * kernel[2]) ** -0.5
        self.weight = mx.random.uniform(-scale, scale, (out_channels, *kernel, in_channels))
        self.bias = mx.zeros((out_channels,))


class CausalConv3d(nn.Module):
    """3x3x3 convolution that pads time by repeating edge frames and H/W by ``padding_mode`` (key ``conv``)."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str,
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.padding_mode = padding_mode
        self.stride = stride
        self.conv = Conv3dParams(in_channels, out_channels)

    def __call__(self, x: mx.array, causal: bool = True, prologue: NormSiLU | None = None) -> mx.array:
        time_pad = (2, 0) if causal else (1, 1)  # repeated edge frames
        return ops.conv3d(x, self.conv.weight, self.conv.bias, self.stride, time_pad, self.padding_mode, prologue)


def zero_padded_conv3d(x: mx.array, weight: mx.array, bias: mx.array) -> mx.array:
    """Convolution with zero padding of ``k//2`` on every axis (torch ``Conv3d(padding=1)``)."""
    _, kt, kh, kw, _ = weight.shape
    x = mx.pad(x, [(0, 0), (kt // 2, kt // 2), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    return ops.conv3d(x, weight, bias)


def torch_to_mlx_conv(weight: mx.array) -> mx.array:
    """PyTorch conv weight (O, I, *k) -> MLX (O, *k, I)."""
    return mx.moveaxis(weight, 1, -1)


def mlx_to_torch_conv(weight: mx.array) -> mx.array:
    """MLX conv weight (O, *k, I) -> PyTorch (O, I, *k)."""
    return mx.moveaxis(weight, -1, 1)
