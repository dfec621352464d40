"""Build the vocoder from an official single-file checkpoint: tensors under ``vocoder.`` (one leading
``vocoder.`` stripped, so LTX-2.3's ``vocoder.vocoder.conv_pre`` is the BWE model's ``vocoder.conv_pre``)."""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_component, read_header
from ltx2.models.vocoder.config import VocoderConfig
from ltx2.models.vocoder.model import Vocoder, build_vocoder

PREFIX = "vocoder."


def read_vocoder_config(path: str | os.PathLike) -> VocoderConfig:
    section = read_header(path).section("vocoder", " (is this an audio-video LTX-2 checkpoint?)")
    try:
        return VocoderConfig.from_metadata(section)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None


def is_transposed_conv(key: str) -> bool:
    parts = key.split(".")
    return len(parts) >= 3 and parts[-3] == "ups" and parts[-1] == "weight"


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """PyTorch layouts -> MLX: Conv1d (O, I, k) -> (O, k, I); ConvTranspose1d (I, O, k) -> (O, k, I); the
    resampling filters and STFT / mel bases stay as stored."""
    out = {}
    for key, value in weights.items():
        if key.startswith("mel_stft.") or key.endswith(".filter") or value.ndim != 3:
            out[key] = value
        elif is_transposed_conv(key):
            out[key] = value.transpose(1, 2, 0)
        else:
            out[key] = mx.moveaxis(value, 1, -1)
    return out


def load_vocoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> Vocoder:
    """The vocoder of an official checkpoint or audio-VAE file (HiFi-GAN for LTX-2, BigVGAN-v2 + BWE for LTX-2.3
    and LTX-2.5). A vocoder with BWE always gets float32 weights, whatever ``dtype`` says: the official one runs
    its whole pass in float32 (bf16 accumulation through its ~100 convolutions degrades the spectrum)."""
    config = read_vocoder_config(path)
    dtype = "float32" if config.bwe else dtype
    return Vocoder(config, load_component(build_vocoder(config), path, PREFIX, "vocoder", dtype, sanitize))
