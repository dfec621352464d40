"""Build a latent upsampler from its own checkpoint file (flat ``config`` metadata, keys without prefix), and
read the latent statistics it needs from the main checkpoint."""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_tensors, load_weights_strict, read_header, resolve_dtype
from ltx2.models.upsampler.config import UpsamplerConfig
from ltx2.models.upsampler.model import LatentUpsampler
from ltx2.models.video_vae.conv import torch_to_mlx_conv
from ltx2.models.video_vae.layout import PerChannelStatistics
from ltx2.models.video_vae.load import STATS_KEYS, vae_root


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """PyTorch conv layouts -> MLX: (O, I, kT, kH, kW) -> (O, kT, kH, kW, I) and (O, I, kH, kW) -> (O, kH, kW, I)
    (the blur kernel (1, 1, 5, 5) included)."""
    return {k: torch_to_mlx_conv(v) if v.ndim in (4, 5) else v for k, v in weights.items()}


def load_upsampler(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> LatentUpsampler:
    dtype = resolve_dtype(dtype, "upsampler")
    header = read_header(path)
    try:
        config = UpsamplerConfig.from_metadata(header.config)
    except ConfigError as e:
        raise e.about("model.spatial_upsampler", str(path)) from None
    model = LatentUpsampler(config)
    load_weights_strict(model, sanitize(load_tensors(path, "")), f"latent upsampler in {path}", dtype)
    model.eval()
    return model


def load_latent_statistics(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> PerChannelStatistics:
    """The video latent statistics of the video VAE's file (``vae.per_channel_statistics.`` in a single-file
    checkpoint, bare ``per_channel_statistics.`` in a split LTX-2.5 video-VAE file), without loading the encoder."""
    dtype = resolve_dtype(dtype, "upsampler")
    prefix = vae_root(path) + "per_channel_statistics."
    stats = load_tensors(path, prefix)
    missing = [prefix + k for k in STATS_KEYS if k not in stats]
    if missing:
        raise ConfigError("checkpoint", str(path), f"no latent statistics {missing}",
                          "use the file holding the video VAE (its per_channel_statistics)")
    module = PerChannelStatistics(stats[STATS_KEYS[0]].shape[0])
    load_weights_strict(module, {k: stats[k] for k in STATS_KEYS}, f"latent statistics in {path}", dtype)
    return module
