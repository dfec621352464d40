"""Build the video encoder / decoder from an official single-file checkpoint.

Keys: ``vae.encoder.*`` / ``vae.decoder.*`` for each half, and ``vae.per_channel_statistics.*`` stored once for
both. Of the statistics only ``std-of-means`` and ``mean-of-means`` are used; the files carry others
(``channel``, ``mean-of-stds``, ...) that the official code ignores too.
"""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_component, per_channel_statistics, read_header
from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig
from ltx2.models.video_vae.conv import torch_to_mlx_conv
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder

ENCODER_PREFIX = "vae.encoder."
DECODER_PREFIX = "vae.decoder."
STATS_PREFIX = "vae.per_channel_statistics."
STATS_KEYS = ("std-of-means", "mean-of-means")


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Checkpoint tensors (component prefix removed) -> module keys and MLX layout: 5-D conv weights
    (O, I, kT, kH, kW) -> (O, kT, kH, kW, I); everything else as is."""
    return {k: torch_to_mlx_conv(v) if v.ndim == 5 else v for k, v in weights.items()}


def read_vae_section(path: str | os.PathLike) -> dict:
    return read_header(path).section("vae", " (is this an LTX-2 checkpoint with the video VAE?)")


def load_video_encoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> VideoEncoder:
    """The video encoder of an official checkpoint, weights cast to ``dtype``."""
    try:
        config = EncoderConfig.from_metadata(read_vae_section(path))
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    return _load(VideoEncoder(config), path, ENCODER_PREFIX, "video encoder", dtype)


def load_video_decoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> VideoDecoder:
    """The video decoder of an official checkpoint, weights cast to ``dtype``. Float32 is the default because
    CPU matmuls are fastest (and exact) in float32; the official pipelines run the VAE in bfloat16."""
    try:
        config = DecoderConfig.from_metadata(read_vae_section(path))
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    return _load(VideoDecoder(config), path, DECODER_PREFIX, "video decoder", dtype)


def _load(model, path, prefix: str, what: str, dtype: str | mx.Dtype):
    stats = per_channel_statistics(path, STATS_PREFIX, STATS_KEYS)
    return load_component(model, path, prefix, what, dtype, sanitize, stats)
