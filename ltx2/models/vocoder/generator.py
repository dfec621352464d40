"""The vocoder generator: log-mel (B, T, 64, 2) -> waveform (B, 2, T * prod(upsample_rates)), channels-first.

``conv_pre`` (128 = stereo-major (s, mel) packing -> width) -> per stage: [leaky ReLU 0.1] -> transposed conv
upsample -> mean of the stage's residual blocks (all fed the same input) -> ``act_post`` -> ``conv_post`` ->
tanh / clamp. HiFi-GAN (``resblock "1"``): leaky ReLU 0.1 inside the blocks, ``act_post`` leaky ReLU 0.01.
BigVGAN-v2 (``resblock "AMP1"``): anti-aliased SnakeBeta everywhere, no activation before the upsamples.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.vocoder.bigvgan import Activation1d
from ltx2.models.vocoder.config import MEL_INPUT_CHANNELS, GeneratorConfig
from ltx2.models.vocoder.conv1d import Conv1d, ConvTranspose1d

BLOCK_SLOPE = 0.1
POST_SLOPE = 0.01  # the official act_post is nn.LeakyReLU() with its default slope


def leaky_relu(x: mx.array, slope: float) -> mx.array:
    return mx.where(x >= 0, x, slope * x)


class ResBlock1(nn.Module):
    """HiFi-GAN block: for each dilation d, x += conv2(lrelu(conv1_d(lrelu(x))))."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = [Conv1d(channels, channels, kernel, d * (kernel - 1) // 2, d) for d in dilations]
        self.convs2 = [Conv1d(channels, channels, kernel, (kernel - 1) // 2) for _ in dilations]

    def __call__(self, x: mx.array) -> mx.array:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(leaky_relu(c1(leaky_relu(x, BLOCK_SLOPE)), BLOCK_SLOPE))
        return x


class AMPBlock1(nn.Module):
    """BigVGAN-v2 block: for each dilation d, x += conv2(act2(conv1_d(act1(x)))) with anti-aliased SnakeBeta."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = [Conv1d(channels, channels, kernel, d * (kernel - 1) // 2, d) for d in dilations]
        self.convs2 = [Conv1d(channels, channels, kernel, (kernel - 1) // 2) for _ in dilations]
        self.acts1 = [Activation1d(channels) for _ in dilations]
        self.acts2 = [Activation1d(channels) for _ in dilations]

    def __call__(self, x: mx.array) -> mx.array:
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
            x = x + c2(a2(c1(a1(x))))
        return x


class Generator(nn.Module):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        width = config.upsample_initial_channel
        self.conv_pre = Conv1d(MEL_INPUT_CHANNELS, width, 7, 3)
        self.ups = [ConvTranspose1d(config.channels(i - 1), config.channels(i), k, s, (k - s) // 2)
                    for i, (s, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes))]
        block = AMPBlock1 if config.amp else ResBlock1
        self.resblocks = [block(config.channels(i), k, d) for i in range(len(config.upsample_rates))
                          for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)]
        final = config.channels(len(config.upsample_rates) - 1)
        if config.amp:
            self.act_post = Activation1d(final)
        self.conv_post = Conv1d(final, 2, 7, 3, bias=config.use_bias_at_final)

    def __call__(self, mel: mx.array) -> mx.array:
        """mel (B, T, M, 2) -> waveform (B, 2, S)."""
        b, t, m, s = mel.shape
        if s != 2 or 2 * m != MEL_INPUT_CHANNELS:
            raise ValueError(f"vocoder input has shape {tuple(mel.shape)}; expected (batch, frames, "
                             f"{MEL_INPUT_CHANNELS // 2} mel bins, 2 stereo channels)")
        x = self.conv_pre(mel.transpose(0, 3, 2, 1).reshape(b, s * m, t))
        n = len(self.config.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            if not self.config.amp:
                x = leaky_relu(x, BLOCK_SLOPE)
            x = up(x)
            blocks = self.resblocks[i * n: (i + 1) * n]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / n
        x = self.act_post(x) if self.config.amp else leaky_relu(x, POST_SLOPE)
        x = self.conv_post(x)
        if self.config.apply_final_activation:
            x = mx.tanh(x) if self.config.use_tanh_at_final else mx.clip(x, -1.0, 1.0)
        return x
