"""Residual blocks of the video VAE: ``ResnetBlock3D`` and the ``res_x`` stack (official ``UNetMidBlock3D``),
with the optional timestep modulation and spatial noise injection of the decoder."""

from __future__ import annotations

from typing import Callable

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.transformer.layers import TimestepEmbedder
from ltx2.models.video_vae.conv import CausalConv3d, Conv3dParams, conv3d_valid
from ltx2.models.video_vae.layout import prologue

# (shape, dtype) -> standard normal noise. The decoder draws, in order: the latent-shaped noise, then one
# (H, W) map after each conv of every noise-injecting block.
NoiseSource = Callable[[tuple[int, ...], mx.Dtype], mx.array]
GROUP_NORM_EPS = 1e-6


def mlx_noise(seed: int | None = None) -> NoiseSource:
    """Noise from MLX's generator; with a ``seed``, the draws are reproducible."""
    key = [mx.random.key(seed)] if seed is not None else None

    def draw(shape: tuple[int, ...], dtype: mx.Dtype) -> mx.array:
        if key is None:
            return mx.random.normal(shape, dtype=dtype)
        key[0], sub = mx.random.split(key[0])
        return mx.random.normal(shape, dtype=dtype, key=sub)

    return draw


class TimeEmbedder(nn.Module):
    """Sinusoid -> MLP, under the official key ``<name>.timestep_embedder.linear_{1,2}``."""

    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)

    def __call__(self, t: mx.array, dtype: mx.Dtype) -> mx.array:
        return self.timestep_embedder(t, dtype)


class ResnetBlock3D(nn.Module):
    """PixelNorm -> [modulate] -> SiLU -> conv1 -> [noise] -> PixelNorm -> [modulate] -> SiLU -> conv2 -> [noise],
    plus the input (through LayerNorm + 1x1x1 conv when the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str, inject_noise: bool = False,
                 timestep_conditioning: bool = False):
        super().__init__()
        self.inject_noise = inject_noise
        self.timestep_conditioning = timestep_conditioning
        self.conv1 = CausalConv3d(in_channels, out_channels, padding_mode)
        self.conv2 = CausalConv3d(out_channels, out_channels, padding_mode)
        if inject_noise:
            self.per_channel_scale1 = mx.zeros((in_channels, 1, 1))
            self.per_channel_scale2 = mx.zeros((in_channels, 1, 1))
        if in_channels != out_channels:
            self.norm3 = nn.GroupNorm(1, in_channels, eps=GROUP_NORM_EPS, pytorch_compatible=True)
            self.conv_shortcut = Conv3dParams(in_channels, out_channels, (1, 1, 1))
        if timestep_conditioning:
            self.scale_shift_table = mx.zeros((4, in_channels))

    def __call__(self, x: mx.array, causal: bool, time_embedding: mx.array | None = None,
                 noise: NoiseSource | None = None) -> mx.array:
        scale1 = shift1 = scale2 = shift2 = None
        if self.timestep_conditioning:
            # rows: shift1, scale1, shift2, scale2; each (B, 1, 1, 1, C)
            ada = self.scale_shift_table.astype(x.dtype) + time_embedding.reshape(x.shape[0], 4, -1)
            shift1, scale1, shift2, scale2 = (ada[:, i, None, None, None] for i in range(4))
        h = self.conv1(x, causal, prologue(scale1, shift1))  # PixelNorm -> [modulate] -> SiLU -> conv
        if self.inject_noise:
            h = self._add_spatial_noise(h, self.per_channel_scale1, noise)
        h = self.conv2(h, causal, prologue(scale2, shift2))
        if self.inject_noise:
            h = self._add_spatial_noise(h, self.per_channel_scale2, noise)
        if "conv_shortcut" in self:
            x = self.norm3(x.reshape(x.shape[0], -1, x.shape[-1])).reshape(x.shape)
            x = conv3d_valid(x, self.conv_shortcut.weight, self.conv_shortcut.bias)
        return x + h

    @staticmethod
    def _add_spatial_noise(h: mx.array, scale: mx.array, noise: NoiseSource) -> mx.array:
        """Add one (H, W) noise map, scaled per channel, to every frame and batch item."""
        spatial = noise(tuple(h.shape[2:4]), h.dtype)
        return h + spatial[:, :, None] * scale.reshape(-1).astype(h.dtype)


class ResBlockStack(nn.Module):
    """``res_x``: ``num_layers`` ResnetBlock3D of constant width; with timestep conditioning it owns the
    ``time_embedder`` whose (B, 4C) output modulates every block."""

    def __init__(self, channels: int, num_layers: int, padding_mode: str, inject_noise: bool = False,
                 timestep_conditioning: bool = False):
        super().__init__()
        self.timestep_conditioning = timestep_conditioning
        if timestep_conditioning:
            self.time_embedder = TimeEmbedder(4 * channels)
        self.res_blocks = [ResnetBlock3D(channels, channels, padding_mode, inject_noise, timestep_conditioning)
                           for _ in range(num_layers)]

    def __call__(self, x: mx.array, causal: bool, scaled_timestep: mx.array | None = None,
                 noise: NoiseSource | None = None) -> mx.array:
        embedding = self.time_embedder(scaled_timestep, x.dtype) if self.timestep_conditioning else None
        for block in self.res_blocks:
            x = block(x, causal, embedding, noise)
        return x
