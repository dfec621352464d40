"""The ``attn`` block of the LTX-2.5 video VAE (official ``AttnBlock3D``): single-head spatial self-attention
within each frame, added to its input. Channels-last (B, F, H, W, C); frames never attend to each other."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops

NORM_EPS = 1e-12  # torch F.normalize: x / max(||x||, eps)
SCORE_BUDGET = 1 << 28  # attention scores held at once (frames x (H*W)^2 elements): frames go in chunks below it


class ChannelL2Norm(nn.Module):
    """``x / ||x||_C * sqrt(C) * gamma``; ``gamma`` keeps the checkpoint's (C, 1, 1) shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = mx.ones((channels, 1, 1))

    def __call__(self, x: mx.array) -> mx.array:
        norm = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True))
        scale = (x.shape[-1] ** 0.5) * self.gamma.reshape(-1).astype(x.dtype)
        return x / mx.maximum(norm, NORM_EPS) * scale


class PointwiseConv(nn.Module):
    """A 1x1 Conv2d: ``weight`` (O, 1, 1, I) (MLX layout of the checkpoint's (O, I, 1, 1)), ``bias`` (O,)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = mx.random.uniform(-1, 1, (out_channels, 1, 1, in_channels)) * in_channels**-0.5
        self.bias = mx.zeros((out_channels,))

    def __call__(self, x: mx.array) -> mx.array:
        weight = self.weight.reshape(self.weight.shape[0], -1)
        return ops.linear(x, weight.astype(x.dtype), self.bias.astype(x.dtype))


class AttnBlock3D(nn.Module):
    """``x + proj(attention(q, k, v))`` with ``q, k, v = to_qkv(norm(x))`` over the H*W positions of each frame,
    one head of width C, scale 1/sqrt(C). Takes the ``causal`` flag of the other blocks and ignores it."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = ChannelL2Norm(channels)
        self.to_qkv = PointwiseConv(channels, 3 * channels)
        self.proj = PointwiseConv(channels, channels)

    def __call__(self, x: mx.array, causal: bool = True) -> mx.array:
        b, f, h, w, c = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(b * f, h * w, 3 * c)
        q, k, v = qkv[..., :c], qkv[..., c: 2 * c], qkv[..., 2 * c:]
        step = max(1, SCORE_BUDGET // (h * w) ** 2)  # one head of width C: a frame's scores are (H*W)^2
        out = [ops.attention(q[i: i + step], k[i: i + step], v[i: i + step], 1, c**-0.5)
               for i in range(0, b * f, step)]
        out = out[0] if len(out) == 1 else mx.concatenate(out, axis=0)
        return x + self.proj(out.reshape(b, f, h, w, c))
