"""Tiled decoding (streamed chunk by chunk) and tiled encoding with the official tile plans and blending.

Decoded tiles are accumulated in float32 numpy buffers that span one temporal tile row (all of H and W);
a chunk of frames is handed out as soon as no later tile can touch it, so at most two rows of float pixels
exist at once however long the video is.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import mlx.core as mx
import numpy as np

from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder
from ltx2.models.video_vae.inputs import check_latent, check_video, pixels_to_uint8
from ltx2.models.video_vae.resnet import NoiseSource, mlx_noise
from ltx2.models.video_vae.tiling import TilingConfig, decode_plan, encode_plan

WEIGHT_FLOOR = 1e-8


def tiled_decode(decoder: VideoDecoder, latent: mx.array, tiling: TilingConfig | None,
                 timestep: mx.array | float | None = None, noise: NoiseSource | None = None) -> Iterator[mx.array]:
    """Decode ``latent`` (B, F', H', W', C) tile by tile; yields float32 pixel chunks (B, f, H, W, 3) whose
    frame counts add up to 1 + 8(F'-1). Each tile draws its own decoder noise (timestep-conditioned models)."""
    check_latent(latent, decoder.config.latent_channels)
    time_factor, space_factor = decoder.config.scale_factors
    batch, frames, height, width, _ = latent.shape
    out_hw = (height * space_factor, width * space_factor)
    noise = noise or mlx_noise()
    tiles = decode_plan((frames, height, width), tiling, time_factor, space_factor)
    previous = None  # (values, weights, frame slice) of the row before
    for frame_slice, row in itertools.groupby(tiles, key=lambda t: (t.dst[0].start, t.dst[0].stop)):
        start, stop = frame_slice
        values = np.zeros((batch, stop - start, *out_hw, decoder.config.out_channels), dtype=np.float32)
        weights = np.zeros((1, stop - start, *out_hw, 1), dtype=np.float32)
        for tile in row:
            decoded = np.array(decoder(latent[:, tile.src[0], tile.src[1], tile.src[2]], timestep, noise),
                               dtype=np.float32)
            mask = tile.blend_mask()[None, ..., None]  # (1, f, h, w, 1)
            offset = tile.dst[0].start - start
            n = min(tile.dst[0].stop - tile.dst[0].start, decoded.shape[1], values.shape[1] - offset)
            region = (slice(None), slice(offset, offset + n), tile.dst[1], tile.dst[2])
            decoded = decoded[:, :n]
            decoded *= mask[:, :n]
            values[region] += decoded
            weights[region] += mask[:, :n]
            del decoded
            mx.clear_cache()  # MLX keeps a tile's freed buffers for reuse: return them, or they add to every tile
        if previous is not None:
            prev_values, prev_weights, (prev_start, prev_stop) = previous
            if prev_stop > start:  # fold the overlap into both rows
                overlap, into = prev_stop - start, start - prev_start
                prev_values[:, into:] += values[:, :overlap]
                prev_weights[:, into:] += weights[:, :overlap]
                values[:, :overlap] = prev_values[:, into:]
                weights[:, :overlap] = prev_weights[:, into:]
            done = start - prev_start
            yield _blended(prev_values[:, :done], prev_weights[:, :done])
        previous = (values, weights, frame_slice)
    values, weights, _ = previous
    yield _blended(values, weights)


def _blended(values: np.ndarray, weights: np.ndarray) -> mx.array:
    """values / weights, divided in place (the row buffer is not used again): one float copy fewer per chunk."""
    np.maximum(weights, WEIGHT_FLOOR, out=weights)
    np.divide(values, weights, out=values)
    return mx.array(values)


def tiled_encode(encoder: VideoEncoder, video: mx.array, tiling: TilingConfig | None) -> mx.array:
    """Encode ``video`` (B, F, H, W, 3) tile by tile -> normalized latent (B, F', H', W', C)."""
    time_factor, space_factor = encoder.config.scale_factors
    check_video(video, encoder.config.in_channels, time_factor, space_factor)
    batch, frames, height, width, _ = video.shape
    shape = (batch, 1 + (frames - 1) // time_factor, height // space_factor, width // space_factor,
             encoder.config.latent_channels)
    values = np.zeros(shape, dtype=np.float32)
    weights = np.zeros((1, *shape[1:4], 1), dtype=np.float32)
    for tile in encode_plan((frames, height, width), tiling, time_factor, space_factor):
        encoded = np.array(encoder(video[:, tile.src[0], tile.src[1], tile.src[2]]), dtype=np.float32)
        mask = tile.blend_mask()[None, ..., None]
        region = (slice(None), *tile.dst)
        values[region] += encoded * mask
        weights[region] += mask
    return mx.array(values / np.maximum(weights, WEIGHT_FLOOR))


def decode_video(decoder: VideoDecoder | DiffusionVideoDecoder, latent: mx.array, tiling: TilingConfig | None = None,
                 timestep: mx.array | float | None = None,
                 noise: NoiseSource | mx.array | None = None) -> Iterator[np.ndarray]:
    """Decode one latent (1, F', H', W', C) to uint8 frames (f, H, W, 3), chunk by chunk when ``tiling`` is
    given (one chunk otherwise). Truncating conversion, as the official ``decode_video``. A diffusion decoder
    starts from ``noise`` (its whole pixel canvas, ``decoder.canvas_shape``), given as that array or drawn once
    from the NoiseSource; its frames come chunk by chunk with temporal tiling (``decode_chunks``)."""
    if latent.ndim != 5 or latent.shape[0] != 1:
        raise ValueError(f"decode_video takes one latent (1, F', H', W', C), got shape {tuple(latent.shape)}: "
                         "decode batch items one at a time")
    if isinstance(decoder, DiffusionVideoDecoder):
        canvas = noise if isinstance(noise, mx.array) else (noise or mlx_noise())(
            decoder.canvas_shape(latent.shape), latent.dtype)
        for chunk in decoder.decode_chunks(latent, canvas.astype(latent.dtype), tiling):
            yield np.array(pixels_to_uint8(chunk)[0])
        return
    if tiling is None:
        yield np.array(pixels_to_uint8(decoder(latent, timestep, noise))[0])
        return
    for chunk in tiled_decode(decoder, latent, tiling, timestep, noise):
        yield np.array(pixels_to_uint8(chunk)[0])
