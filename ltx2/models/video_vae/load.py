"""Build the video encoder / decoder from an official single-file checkpoint.

Keys: ``vae.encoder.*`` / ``vae.decoder.*`` for each half, and ``vae.per_channel_statistics.*`` stored once for
both. Of the statistics only ``std-of-means`` and ``mean-of-means`` are used; the files carry others
(``channel``, ``mean-of-stds``, ...) that the official code ignores too.
"""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.loading.checkpoint import CheckpointError, load_tensors, load_weights_strict, read_header
from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig, VAEConfigError
from ltx2.models.video_vae.conv import torch_to_mlx_conv
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder

ENCODER_PREFIX = "vae.encoder."
DECODER_PREFIX = "vae.decoder."
STATS_PREFIX = "vae.per_channel_statistics."
STATS_KEYS = ("std-of-means", "mean-of-means")
DTYPES = {"float32": mx.float32, "bfloat16": mx.bfloat16, "float16": mx.float16}


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Checkpoint tensors (component prefix removed) -> module keys and MLX layout: 5-D conv weights
    (O, I, kT, kH, kW) -> (O, kT, kH, kW, I); everything else as is."""
    return {k: torch_to_mlx_conv(v) if v.ndim == 5 else v for k, v in weights.items()}


def read_vae_section(path: str | os.PathLike) -> dict:
    section = read_header(path).config.get("vae")
    if not isinstance(section, dict):
        raise CheckpointError(f"{path}: the metadata config has no 'vae' section (is this an LTX-2 checkpoint "
                              "with the video VAE?)")
    return section


def load_video_encoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> VideoEncoder:
    """The video encoder of an official checkpoint, weights cast to ``dtype``."""
    try:
        config = EncoderConfig.from_metadata(read_vae_section(path))
    except VAEConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return _load(VideoEncoder(config), path, ENCODER_PREFIX, "video encoder", dtype)


def load_video_decoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> VideoDecoder:
    """The video decoder of an official checkpoint, weights cast to ``dtype``. Float32 is the default because
    CPU matmuls are fastest (and exact) in float32; the official pipelines run the VAE in bfloat16."""
    try:
        config = DecoderConfig.from_metadata(read_vae_section(path))
    except VAEConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return _load(VideoDecoder(config), path, DECODER_PREFIX, "video decoder", dtype)


def _load(model, path, prefix: str, what: str, dtype: str | mx.Dtype):
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"VAE dtype {dtype!r} is not one of {sorted(DTYPES)}")
        dtype = DTYPES[dtype]
    header = read_header(path)
    if not header.keys_with_prefix(prefix):
        raise CheckpointError(f"{path}: no tensors under '{prefix}' (does this checkpoint include the video VAE?)")
    weights = load_tensors(path, prefix)
    stats = load_tensors(path, STATS_PREFIX)
    weights.update({f"per_channel_statistics.{k}": stats[k] for k in STATS_KEYS if k in stats})
    load_weights_strict(model, sanitize(weights), f"{what} in {path}", dtype)
    model.eval()
    return model
