"""Audio VAE encoder: log-mel (B, T, M, 2) -> normalized latent means (B, ceil(ceil(T/2)/2), M/4, z)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.audio_vae.config import AudioVAEConfig
from ltx2.models.audio_vae.layers import (
    AttnBlock,
    CausalConv2d,
    Downsample,
    PerChannelStatistics,
    ResnetBlock,
    mid_block,
    norm_silu,
    run_level,
    run_mid,
)


class AudioEncoder(nn.Module):
    """``conv_in`` -> ``down[l]`` (res blocks, optional attention, stride-2 downsample except the last level) ->
    ``mid`` -> PixelNorm -> SiLU -> ``conv_out`` -> first ``z_channels`` (the means) -> normalize. Causal in time:
    latent frame t depends on mel frames <= 4t."""

    def __init__(self, config: AudioVAEConfig):
        super().__init__()
        self.config = config
        c, axis = config.ch, config.causality_axis
        self.per_channel_statistics = PerChannelStatistics(config.stats_size)
        self.conv_in = CausalConv2d(config.in_channels, c, 3, axis)
        self.down = []
        resolution, width = config.resolution, c
        in_mult = (1, *config.ch_mult)
        for level, mult in enumerate(config.ch_mult):
            width, out = c * in_mult[level], c * mult
            stage = {"block": [], "attn": []}
            for _ in range(config.num_res_blocks):
                stage["block"].append(ResnetBlock(width, out, axis))
                width = out
                if config.has_attention(resolution):
                    stage["attn"].append(AttnBlock(width))
            if level != config.levels - 1:
                stage["downsample"] = Downsample(width, axis)
                resolution //= 2
            self.down.append(stage)
        self.mid = mid_block(width, axis, config.mid_block_add_attention and config.attn_type == "vanilla")
        self.conv_out = CausalConv2d(width, 2 * config.z_channels if config.double_z else config.z_channels, 3, axis)

    def __call__(self, mel: mx.array) -> mx.array:
        """mel (B, T, M, in_channels), natural-log magnitudes -> latent (B, T', M/4, z_channels)."""
        cfg = self.config
        if mel.ndim != 4 or mel.shape[-1] != cfg.in_channels or mel.shape[2] != cfg.mel_bins:
            raise ValueError(f"audio encoder input has shape {tuple(mel.shape)}; expected (batch, frames, "
                             f"{cfg.mel_bins} mel bins, {cfg.in_channels} channels)")
        x = self.conv_in(mel)
        for stage in self.down:
            x = run_level(stage, x)
            if "downsample" in stage:
                x = stage["downsample"](x)
        x = run_mid(self.mid, x)
        x = self.conv_out(norm_silu(x))
        means = x[..., : cfg.z_channels] if cfg.double_z else x
        return self.per_channel_statistics.normalize(means)
