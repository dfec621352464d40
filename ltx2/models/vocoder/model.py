"""The vocoder of a checkpoint, whichever generation: log-mel (B, T, 64, 2) from the audio decoder ->
stereo waveform (B, 2, S) in [-1, 1] at ``output_sampling_rate``."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.vocoder.bwe import VocoderWithBWE
from ltx2.models.vocoder.config import VocoderConfig
from ltx2.models.vocoder.generator import Generator


def build_vocoder(config: VocoderConfig) -> nn.Module:
    """The module whose keys match the checkpoint's ``vocoder.`` tensors (prefix stripped once)."""
    return VocoderWithBWE(config.generator, config.bwe) if config.bwe else Generator(config.generator)


class Vocoder:
    """Wraps the loaded module with its config; ``samples(frames)`` is the waveform length for T mel frames."""

    def __init__(self, config: VocoderConfig, module: nn.Module):
        self.config = config
        self.module = module

    @property
    def output_sampling_rate(self) -> int:
        return self.config.output_sampling_rate

    def samples(self, mel_frames: int) -> int:
        n = mel_frames * self.config.generator.upsampling
        if self.config.bwe:
            n = n * self.config.bwe.output_sampling_rate // self.config.bwe.input_sampling_rate
        return n

    def __call__(self, mel: mx.array) -> mx.array:
        """mel (B, T, 64, 2) -> waveform (B, 2, S). With BWE the pass runs in float32 (mel and weights) and the
        waveform comes back in the mel's dtype, as the official ``VocoderWithBWE``."""
        if not self.config.bwe:
            return self.module(mel)
        return self.module(mel.astype(mx.float32)).astype(mel.dtype)
