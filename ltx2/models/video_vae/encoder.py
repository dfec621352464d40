"""Video VAE encoder: pixels (B, F, H, W, 3) in [-1, 1] -> normalized latent means (B, F', H', W', C)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.video_vae.attention import AttnBlock3D
from ltx2.models.video_vae.config import ENCODER_STRIDES, EncoderConfig
from ltx2.models.video_vae.conv import CausalConv3d
from ltx2.models.video_vae.inputs import check_video
from ltx2.models.video_vae.layout import PerChannelStatistics, prologue, patchify
from ltx2.models.video_vae.resnet import ResBlockStack, ResnetBlock3D
from ltx2.models.video_vae.sampling import SpaceToDepthDownsample


def _encoder_block(block, cin: int, cout: int, padding: str) -> nn.Module:
    stride = ENCODER_STRIDES[block.name]
    if block.name == "res_x":
        return ResBlockStack(cin, block.get("num_layers"), padding)
    if block.name == "res_x_y":
        return ResnetBlock3D(cin, cout, padding)
    if block.name == "attn":
        return AttnBlock3D(cin)
    if block.name.endswith("_res"):
        return SpaceToDepthDownsample(cin, cout, stride, padding)
    return CausalConv3d(cin, cout, padding, stride)  # compress_time / _space / _all / compress_all_x_y


class VideoEncoder(nn.Module):
    """patchify -> ``conv_in`` -> ``down_blocks`` -> PixelNorm -> SiLU -> ``conv_out`` -> means -> normalize.
    Every convolution is causal in time, so latent frame 0 depends on pixel frame 0 only."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        c, pad = config.latent_channels, config.spatial_padding_mode
        self.per_channel_statistics = PerChannelStatistics(c)
        self.conv_in = CausalConv3d(config.in_channels * config.patch_size**2, c, pad)
        self.down_blocks = [_encoder_block(block, cin, cout, pad)
                            for block, (cin, cout) in zip(config.blocks, config.block_channels())]
        width = config.block_channels()[-1][1]
        extra = {"per_channel": c, "uniform": 1, "constant": 1}[config.latent_log_var]
        self.conv_out = CausalConv3d(width, c + extra, pad)

    def __call__(self, video: mx.array) -> mx.array:
        time_factor, space_factor = self.config.scale_factors
        check_video(video, self.config.in_channels, time_factor, space_factor)
        x = self.conv_in(patchify(video, self.config.patch_size))
        for block in self.down_blocks:
            x = block(x, True)
        x = self.conv_out(x, prologue=prologue())  # PixelNorm -> SiLU -> conv
        means = x[..., : self.config.latent_channels]  # the log-variance channels are discarded
        return self.per_channel_statistics.normalize(means)
