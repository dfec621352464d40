"""LTX-2.5's diffusion video decoder (the official ``DiffusionVideoDecoder``, a port of ``NADiffusionDecoder``)
in the official default decode mode (CHUNKED): latent (B, F', H', W', 128) -> pixels (B, F, H, W, 3) in about
[-1, 1], channels-last.

1. The latent is padded to the decoder's minimum (frames: repeat the last; rows/columns: symmetric) and two
   copies of its last frame are appended (the NATTEN last-frame workaround; cropped before stage 5).
2. Stages 1-3 (neighborhood-attention blocks + linear pixel-shuffle upsamples) run once on the whole latent.
3. Per tile of the stage-4 grid (one tile untiled): stage 4's blocks, then the context = ``upsamples[3]`` of
   it; stage 5 starts from the caller's noise over the pixel canvas and takes ``num_steps`` Euler steps
   (t = 1.0 -> 0.5 -> 0 by default, float32, v-prediction) of a pixel-space transformer re-injecting the
   context in every block.
4. Tiles are blended with the official ramps; the padding is cropped off; frames are handed out as soon as no
   later tile touches them (``decode_chunks``).

The noise is an argument (``canvas_shape`` gives its shape) so that a pipeline draws it from its own generator
after the noiser's draws, as the official pipelines do.
"""

from __future__ import annotations

from collections.abc import Iterator

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2.models.transformer.layers import Linear, TimestepEmbedder
from ltx2.models.video_vae.diffusion_blocks import (
    AdaLNZero, DiffusionNABlock, LinearPixelShuffleUpsample, NABlock, RMSNorm,
)
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.diffusion_tiling import (
    canvas_shape, pad_to_min_latent, resize_axis, stage4_shape, tile_plan,
)
from ltx2.models.video_vae.layout import PerChannelStatistics, patchify, unpatchify
from ltx2.models.video_vae.tiling import TilingConfig

WEIGHT_FLOOR = 1e-8


class _TimestepEmbedding(nn.Module):  # checkpoint path: t_embedder.timestep_embedder.linear_{1,2}
    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)

    def __call__(self, t: mx.array, dtype: mx.Dtype) -> mx.array:
        return self.timestep_embedder(t, dtype)


class DiffusionVideoDecoder(nn.Module):
    def __init__(self, config: DiffusionDecoderConfig):
        super().__init__()
        c = self.config = config
        self.per_channel_statistics = PerChannelStatistics(c.in_channels)
        self.conv_in = Linear(c.in_channels, c.stage_channels[0])
        self.det_stages = [[NABlock(c.stage_channels[i], c.stage_kernels[i], c.head_dim)
                            for _ in range(c.stage_depths[i])] for i in range(4)]
        self.upsamples = [LinearPixelShuffleUpsample(c.stage_channels[i], stride, reduction)
                          for i, (stride, reduction) in enumerate(c.upsamples)]
        self.t_embedder = _TimestepEmbedding(c.t_emb_dim)
        self.conv_in_x_t = Linear(c.noised_channels, c.stage5_dim)
        self.shared_adaln = AdaLNZero(c.stage5_dim, c.t_emb_dim)
        self.diff_blocks = [DiffusionNABlock(c.stage5_dim, c.stage5_kernel, c.context_channels, c.head_dim)
                            for _ in range(c.stage_depths[4])]
        self.norm_out = RMSNorm(c.stage5_dim)
        self.conv_out = Linear(c.stage5_dim, c.noised_channels)

    def canvas_shape(self, latent_shape: tuple[int, ...]) -> tuple[int, int, int, int, int]:
        """Shape of the noise ``decode`` takes for a latent of ``latent_shape`` (B, F', H', W', C)."""
        return canvas_shape(self.config, latent_shape)

    # -- stages ---------------------------------------------------------------------------------------------------
    def stages_1_to_3(self, latent: mx.array) -> mx.array:
        """Normalized latent (B, F', H', W', C) -> stage-4 input (B, T4, H4, W4, C4); first frames dropped."""
        x = self.conv_in(self.per_channel_statistics.un_normalize(latent))
        for i in range(3):
            for block in self.det_stages[i]:
                x = block(x)
                mx.eval(x)
            x = self.upsamples[i](x, drop_first_frame=True)
        return x

    def stage_4(self, feat: mx.array, pad_trailing: bool) -> mx.array:
        """Stage 4's blocks on a tile (no upsample: the diffusion blocks take the upsampled context); with
        ``pad_trailing`` (the tile holds the ghost frames) the ghost frames are cropped, keeping at least
        ceil(K_t(stage 5) / 2) frames."""
        for block in self.det_stages[3]:
            feat = block(feat)
            mx.eval(feat)
        if pad_trailing and self.config.trailing_ghost_frames:
            up_t = self.config.upsamples[3][0][0]
            ghost = self.config.trailing_ghost_frames * (self.config.scale_factors[0] // up_t)
            kernel_t = max(1, -(-self.config.stage5_kernel[0] // up_t))
            keep = min(feat.shape[1], max(max(feat.shape[1] - ghost, 1), kernel_t))
            feat, _ = resize_axis(feat, 1, keep, "repeat_last")
        return feat

    def velocity(self, x_t: mx.array, context: mx.array, t: float) -> mx.array:
        """Stage 5 at time ``t``: noisy pixels (B, F, H, W, 3) and context (B, F, H/p, W/p, C_ctx) -> v."""
        c = self.config
        x = self.conv_in_x_t(patchify(x_t, c.patch_size))
        t_emb = self.t_embedder(mx.full((x_t.shape[0],), c.timestep_scale_multiplier * t, mx.float32), x.dtype)
        modulation = self.shared_adaln(t_emb)
        for block in self.diff_blocks:
            x = block(x, context, modulation)
            mx.eval(x)  # one block's intermediates at a time
        return unpatchify(self.conv_out(self.norm_out(x)), c.patch_size)

    def denoise_tile(self, feat: mx.array, noise: mx.array, is_origin: bool, pad_trailing: bool) -> mx.array:
        """Stage 4 + the Euler steps of stage 5 on one stage-4 tile, from ``noise`` (its pixels)."""
        context = self.upsamples[3](self.stage_4(feat, pad_trailing), drop_first_frame=is_origin)
        mx.eval(context)
        times = self.config.timesteps
        x = noise
        for i, t in enumerate(times):
            t_next = times[i + 1] if i + 1 < len(times) else 0.0
            v = self.velocity(x, context, t).astype(mx.float32)
            dt = np.float32(t) - np.float32(t_next)
            x = (x.astype(mx.float32) - mx.array(dt) * v).astype(noise.dtype)
            mx.eval(x)
        return x

    # -- the whole decode -----------------------------------------------------------------------------------------
    def decode(self, latent: mx.array, noise: mx.array, tiling: TilingConfig | None = None) -> mx.array:
        """Normalized latent (B, F', H', W', C) and noise of ``canvas_shape(latent.shape)`` -> pixels
        (B, 1 + 8(F'-1), 32 H', 32 W', 3), float, about [-1, 1] (unclamped). The official decoder draws that noise
        as one ``randn`` of shape (B, 3, F, H, W) (channels first) in the latent's dtype: replaying it means
        drawing that and moving the channel axis last. Tiles (``tiling``) are decoded in isolation and blended."""
        return mx.concatenate(list(self.decode_chunks(latent, noise, tiling)), axis=1)

    def decode_chunks(self, latent: mx.array, noise: mx.array,
                      tiling: TilingConfig | None = None) -> Iterator[mx.array]:
        """``decode`` in chunks of frames: tiles come in temporal order, and the frames before a tile's first
        frame are handed out (blended, cropped) as soon as it starts, so that with temporal tiling the float32
        blend buffers span about one temporal tile, not the whole video."""
        c = self.config
        b, frames, height, width, _ = latent.shape
        if tuple(noise.shape) != self.canvas_shape(latent.shape):
            raise ValueError(f"noise of shape {tuple(noise.shape)} given for a latent of shape "
                             f"{tuple(latent.shape)}; the decoder needs {self.canvas_shape(latent.shape)}")
        padded, (before_h, before_w) = pad_to_min_latent(latent, c)
        s4 = stage4_shape(c, *padded.shape[1:4])
        ghost = c.trailing_ghost_frames
        ghosted = resize_axis(padded, 1, padded.shape[1] + ghost, "repeat_last")[0] if ghost else padded
        feat = self.stages_1_to_3(ghosted)
        mx.eval(feat)
        canvas = noise.shape[1:4]
        time, space = c.scale_factors
        crop = (slice(before_h * space, (before_h + height) * space),
                slice(before_w * space, (before_w + width) * space))
        out_frames, done = (frames - 1) * time + 1, 0  # canvas frames [0, done) handed out
        values = np.zeros((b, 0, *canvas[1:], noise.shape[-1]), np.float32)
        weights = np.zeros((1, 0, *canvas[1:], 1), np.float32)
        for tile in tile_plan(c, s4, canvas, tiling):
            start, stop = tile.pixels[0].start, tile.pixels[0].stop
            if start > done:  # no later tile touches the frames before this one
                yield from self._blended(values[:, :start - done], weights[:, :start - done], done, out_frames,
                                         crop, latent.dtype)
                values, weights, done = values[:, start - done:], weights[:, start - done:], start
            if stop - done > values.shape[1]:
                grow = stop - done - values.shape[1]
                values = np.concatenate([values, np.zeros((b, grow, *values.shape[2:]), np.float32)], axis=1)
                weights = np.concatenate([weights, np.zeros((1, grow, *weights.shape[2:]), np.float32)], axis=1)
            t_cells, h_cells, w_cells = tile.cells
            is_origin, pad_trailing = t_cells.start == 0, t_cells.stop == s4[0]
            content = [s.stop - s.start for s in tile.cells]
            feat_tile = feat[:, t_cells.start:(feat.shape[1] if pad_trailing else t_cells.stop), h_cells, w_cells]
            f5, h5, w5 = self._stage5_shape(content, is_origin, pad_trailing)
            tile_noise = noise[:, tile.pixels[0], tile.pixels[1], tile.pixels[2]]
            tile_noise = resize_axis(tile_noise, 1, f5, "repeat_last")[0]
            tile_noise = resize_axis(resize_axis(tile_noise, 2, h5, "symmetric")[0], 3, w5, "symmetric")[0]
            pixels = self.denoise_tile(feat_tile, tile_noise, is_origin, pad_trailing)
            pixels = resize_axis(pixels, 1, stop - start, "repeat_last")[0]
            pixels = resize_axis(pixels, 2, tile.pixels[1].stop - tile.pixels[1].start, "symmetric")[0]
            pixels = resize_axis(pixels, 3, tile.pixels[2].stop - tile.pixels[2].start, "symmetric")[0]
            pixels = np.array(pixels.astype(mx.float32))
            region = (slice(None), slice(start - done, stop - done), tile.pixels[1], tile.pixels[2])
            mask = tile.blend_mask()
            if mask is None:
                values[region] += pixels
                weights[region] += 1.0
            else:
                values[region] += pixels * mask[None, ..., None]
                weights[region] += mask[None, ..., None]
            del pixels
            mx.clear_cache()
        yield from self._blended(values, weights, done, out_frames, crop, latent.dtype)

    @staticmethod
    def _blended(values: np.ndarray, weights: np.ndarray, first: int, out_frames: int, crop: tuple[slice, slice],
                 dtype: mx.Dtype) -> Iterator[mx.array]:
        """Canvas frames [first, first + n) blended (values / weights), cropped to the output; none past it."""
        n = min(values.shape[1], out_frames - first)
        if n <= 0:
            return
        blended = values[:, :n, crop[0], crop[1]] / np.maximum(weights[:, :n, crop[0], crop[1]], WEIGHT_FLOOR)
        yield mx.array(blended).astype(dtype)

    def _stage5_shape(self, content: list[int], is_origin: bool, pad_trailing: bool) -> tuple[int, int, int]:
        st, sh, sw = self.config.upsamples[3][0]
        frames = content[0] * st - 1 if is_origin and st == 2 else content[0] * st
        if pad_trailing:
            frames = max(frames, self.config.stage5_kernel[0])
        p = self.config.patch_size
        return frames, content[1] * sh * p, content[2] * sw * p
