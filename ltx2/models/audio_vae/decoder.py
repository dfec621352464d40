"""Audio VAE decoder: normalized latent (B, T', M', z) -> log-mel (B, 4T' - 3, mel_bins, out_ch)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.audio_vae.config import LATENT_DOWNSAMPLE, AudioVAEConfig
from ltx2.models.audio_vae.layers import (
    AttnBlock,
    CausalConv2d,
    PerChannelStatistics,
    ResnetBlock,
    Upsample,
    mid_block,
    norm_silu,
    run_level,
    run_mid,
)


class AudioDecoder(nn.Module):
    """un-normalize -> ``conv_in`` -> ``mid`` -> ``up[L-1] ... up[0]`` (num_res_blocks + 1 res blocks, optional
    attention, upsample except level 0) -> PixelNorm -> SiLU -> ``conv_out`` -> crop / zero-pad to
    (target frames, mel_bins). The target is ``4 T' - 3`` frames for a causal model (``4 T'`` otherwise)."""

    def __init__(self, config: AudioVAEConfig):
        super().__init__()
        self.config = config
        c, axis = config.ch, config.causality_axis
        width = c * config.ch_mult[-1]
        self.per_channel_statistics = PerChannelStatistics(config.stats_size)
        self.conv_in = CausalConv2d(config.z_channels, width, 3, axis)
        self.mid = mid_block(width, axis, config.mid_block_add_attention and config.attn_type == "vanilla")
        stages = {}
        resolution = config.resolution // 2 ** (config.levels - 1)
        for level in reversed(range(config.levels)):
            out = c * config.ch_mult[level]
            stage = {"block": [], "attn": []}
            for _ in range(config.num_res_blocks + 1):
                stage["block"].append(ResnetBlock(width, out, axis))
                width = out
                if config.has_attention(resolution):
                    stage["attn"].append(AttnBlock(width))
            if level != 0:
                stage["upsample"] = Upsample(width, axis)
                resolution *= 2
            stages[level] = stage
        self.up = [stages[level] for level in range(config.levels)]  # indexed by level, run from the last
        self.conv_out = CausalConv2d(width, config.out_ch, 3, axis)

    def target_frames(self, latent_frames: int) -> int:
        frames = latent_frames * LATENT_DOWNSAMPLE
        return max(frames - (LATENT_DOWNSAMPLE - 1), 1) if self.config.causal else frames

    def __call__(self, latent: mx.array) -> mx.array:
        """latent (B, T', M', z_channels) -> log-mel (B, T, mel_bins, out_ch)."""
        cfg = self.config
        if latent.ndim != 4 or latent.shape[-1] != cfg.z_channels or latent.shape[2] != cfg.latent_mel_bins:
            raise ValueError(f"audio decoder input has shape {tuple(latent.shape)}; expected (batch, frames, "
                             f"{cfg.latent_mel_bins} mel bins, {cfg.z_channels} channels)")
        frames = self.target_frames(latent.shape[1])
        x = self.conv_in(self.per_channel_statistics.un_normalize(latent))
        x = run_mid(self.mid, x)
        for stage in reversed(self.up):
            x = run_level(stage, x)
            if "upsample" in stage:
                x = stage["upsample"](x)
        x = self.conv_out(norm_silu(x))
        x = x[:, :frames, : cfg.mel_bins]
        pad_t, pad_m = frames - x.shape[1], cfg.mel_bins - x.shape[2]
        if pad_t > 0 or pad_m > 0:
            x = mx.pad(x, [(0, 0), (0, pad_t), (0, pad_m), (0, 0)])
        return x
