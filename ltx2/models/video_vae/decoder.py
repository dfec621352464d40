"""Video VAE decoder (conv): normalized latent (B, F', H', W', C) -> pixels (B, 1+t(F'-1), sH', sW', 3), with
(t, s) = ``config.scale_factors`` ((8, 32) for the LTX-2 / 2.3 VAEs)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.video_vae.attention import AttnBlock3D
from ltx2.models.video_vae.config import DECODER_STRIDES, DecoderConfig
from ltx2.models.video_vae.conv import CausalConv3d
from ltx2.models.video_vae.inputs import check_latent
from ltx2.models.video_vae.layout import PerChannelStatistics, prologue, unpatchify
from ltx2.models.video_vae.resnet import NoiseSource, ResBlockStack, ResnetBlock3D, TimeEmbedder, mlx_noise
from ltx2.models.video_vae.sampling import DepthToSpaceUpsample


def _decoder_block(block, cin: int, cout: int, config: DecoderConfig) -> nn.Module:
    pad, noise = config.spatial_padding_mode, bool(block.get("inject_noise", False))
    if block.name == "res_x":
        return ResBlockStack(cin, block.get("num_layers"), pad, noise, config.timestep_conditioning)
    if block.name == "res_x_y":
        return ResnetBlock3D(cin, cout, pad, noise)
    if block.name == "attn":
        return AttnBlock3D(cin)
    residual = block.name == "compress_all" and bool(block.get("residual", False))
    return DepthToSpaceUpsample(cin, DECODER_STRIDES[block.name], pad, residual, block.get("multiplier", 1))


class VideoDecoder(nn.Module):
    """[noise] -> un-normalize -> ``conv_in`` -> ``up_blocks`` -> PixelNorm -> [modulate] -> SiLU -> ``conv_out``
    -> unpatchify. With timestep conditioning (decided by the metadata) the latent is first mixed with
    ``decode_noise_scale`` of noise and every ``res_x`` stack is modulated by ``timestep * multiplier``."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        self.decode_noise_scale = config.decode_noise_scale
        self.decode_timestep = config.decode_timestep
        pad, width = config.spatial_padding_mode, config.width
        self.per_channel_statistics = PerChannelStatistics(config.latent_channels)
        self.conv_in = CausalConv3d(config.latent_channels, width, pad)
        channels = config.block_channels()
        self.up_blocks = [_decoder_block(block, cin, cout, config)
                          for block, (cin, cout) in zip(reversed(config.blocks), channels)]
        final = channels[-1][1]
        self.conv_out = CausalConv3d(final, config.out_channels * config.patch_size**2, pad)
        if config.timestep_conditioning:
            self.timestep_scale_multiplier = mx.array(1000.0)
            self.last_time_embedder = TimeEmbedder(2 * final)
            self.last_scale_shift_table = mx.zeros((2, final))

    def __call__(self, latent: mx.array, timestep: mx.array | float | None = None,
                 noise: NoiseSource | None = None) -> mx.array:
        """``timestep`` (B,) or a number, default ``decode_timestep``; ``noise`` draws the decoder's noise
        (default: MLX's global generator). Both are used only with timestep conditioning or noise injection."""
        config = self.config
        check_latent(latent, config.latent_channels)
        noise = noise or mlx_noise()
        batch, causal, tc = latent.shape[0], config.causal, config.timestep_conditioning
        x = latent
        if tc:
            x = noise(tuple(x.shape), x.dtype) * self.decode_noise_scale + (1.0 - self.decode_noise_scale) * x
        x = self.conv_in(self.per_channel_statistics.un_normalize(x), causal)
        scaled_t = None
        if tc:
            t = self.decode_timestep if timestep is None else timestep
            t = mx.broadcast_to(mx.array(t, dtype=x.dtype).reshape(-1), (batch,))
            scaled_t = t * self.timestep_scale_multiplier.astype(x.dtype)
        for block in self.up_blocks:
            if isinstance(block, ResBlockStack):
                x = block(x, causal, scaled_t, noise)
            elif isinstance(block, ResnetBlock3D):
                x = block(x, causal, None, noise)
            else:
                x = block(x, causal)
        act = prologue()  # PixelNorm -> [modulate] -> SiLU, then conv_out
        if tc:
            # rows: shift, scale; each (B, 1, 1, 1, C)
            ada = self.last_scale_shift_table.astype(x.dtype) + self.last_time_embedder(scaled_t, x.dtype).reshape(
                batch, 2, -1)
            act = prologue(ada[:, 1, None, None, None], ada[:, 0, None, None, None])
        x = self.conv_out(x, causal, act)
        return unpatchify(x, config.patch_size)
