"""Build the audio encoder / decoder from an official single-file checkpoint.

Keys: ``audio_vae.encoder.*`` / ``audio_vae.decoder.*``, and ``audio_vae.per_channel_statistics.*`` stored once
for both (only ``std-of-means`` and ``mean-of-means`` are used, as in the official code).
"""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_component, per_channel_statistics, read_header
from ltx2.models.audio_vae.config import AudioVAEConfig
from ltx2.models.audio_vae.decoder import AudioDecoder
from ltx2.models.audio_vae.encoder import AudioEncoder

ENCODER_PREFIX = "audio_vae.encoder."
DECODER_PREFIX = "audio_vae.decoder."
STATS_PREFIX = "audio_vae.per_channel_statistics."
STATS_KEYS = ("std-of-means", "mean-of-means")


def has_audio_vae(path: str | os.PathLike) -> bool:
    header = read_header(path)
    return isinstance(header.config.get("audio_vae"), dict) and bool(header.keys_with_prefix(DECODER_PREFIX))


def read_audio_vae_config(path: str | os.PathLike) -> AudioVAEConfig:
    section = read_header(path).section("audio_vae", " (is this an audio-video LTX-2 checkpoint?)")
    try:
        return AudioVAEConfig.from_metadata(section)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """PyTorch Conv2d weights (O, I, kT, kM) -> MLX (O, kT, kM, I); everything else as is."""
    return {k: mx.moveaxis(v, 1, -1) if v.ndim == 4 else v for k, v in weights.items()}


def load_audio_encoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> AudioEncoder:
    return _load(AudioEncoder(read_audio_vae_config(path)), path, ENCODER_PREFIX, "audio encoder", dtype)


def load_audio_decoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> AudioDecoder:
    return _load(AudioDecoder(read_audio_vae_config(path)), path, DECODER_PREFIX, "audio decoder", dtype)


def _load(model, path, prefix: str, what: str, dtype: str | mx.Dtype):
    stats = per_channel_statistics(path, STATS_PREFIX, STATS_KEYS)
    return load_component(model, path, prefix, what, dtype, sanitize, stats)
