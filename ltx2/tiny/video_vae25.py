"""Tiny LTX-2.5 video-VAE files in the official split format: bare ``encoder.*``, ``decoder.*`` and
``per_channel_statistics.*`` tensors, the ``vae`` section alone in the metadata ``config``.

Two geometries: "32x32x8" (the LTX-2.3 block types, plus an ``attn`` block in each half) and "16x16x4" (the
smaller 2.5 variant with ``attn``). ``diffusion=True`` writes the default 2.5 file's layout instead
(``CausalDiffusionVAE``, nested ``vae.encoder`` / ``vae.decoder`` sections) with the encoder's tensors only: the
diffusion decoder is written by ltx2.tiny.diffusion_vae.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.video_vae.config import CONV_VAE_CLASS, DecoderConfig, EncoderConfig
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder
from ltx2.models.video_vae.load import STATS_KEYS
from ltx2.tiny.video_vae import WIDE_LATENT, _random_tensor, _torch_shape

MODEL_VERSION = "2.5.0"


def _res(n: int = 1) -> list:
    return ["res_x", {"num_layers": n}]


GEOMETRIES = {  # name -> (encoder blocks, decoder blocks in checkpoint order)
    "32x32x8": ([_res(), ["compress_space_res", {"multiplier": 2}], _res(), ["compress_time_res", {"multiplier": 2}],
                 ["attn", {}], ["compress_all_res", {"multiplier": 2}], _res(), ["compress_all_res", {"multiplier": 1}],
                 _res()],
                [_res(), ["compress_space", {"multiplier": 2}], _res(), ["compress_time", {"multiplier": 2}], _res(),
                 ["compress_all", {"multiplier": 1}], ["attn", {}], _res(), ["compress_all", {"multiplier": 2}],
                 _res()]),
    "16x16x4": ([_res(), ["compress_all_res", {"multiplier": 2}], ["attn", {}],
                 ["compress_all_res", {"multiplier": 2}], _res()],
                [_res(), ["attn", {}], ["compress_all", {"multiplier": 2}], _res(),
                 ["compress_all", {"multiplier": 2}], _res()]),
}
_COMMON = {"dims": 3, "in_channels": 3, "out_channels": 3, "patch_size": 4, "norm_layer": "pixel_norm",
           "latent_log_var": "uniform", "causal_decoder": False, "timestep_conditioning": False,
           "spatial_padding_mode": "zeros"}


def tiny_vae25_section(geometry: str = "32x32x8", latent_channels: int = 128, decoder_base_channels: int = 4,
                       diffusion: bool = False, **overrides) -> dict:
    """The ``vae`` metadata section: flat ``CausalVideoAutoencoder`` (the conv-decoder file), or with
    ``diffusion`` the nested ``CausalDiffusionVAE`` layout (encoder fields under ``encoder``)."""
    if geometry not in GEOMETRIES:
        raise ValueError(f"tiny 2.5 VAE geometry {geometry!r} is not one of {sorted(GEOMETRIES)}")
    encoder, decoder = GEOMETRIES[geometry]
    if latent_channels >= WIDE_LATENT:  # keep the encoder at the latent width (as ltx2.tiny.video_vae)
        encoder = [[name, {"multiplier": 1}] if name.endswith("_res") else [name, params] for name, params in encoder]
    if diffusion:
        enc = {k: v for k, v in _COMMON.items() if k not in ("out_channels", "causal_decoder", "timestep_conditioning")}
        section = {"_class_name": "CausalDiffusionVAE", "model_output_type": "v", "latent_channels": latent_channels,
                   "encoder": {**enc, "blocks": encoder, "out_channels": latent_channels},
                   "decoder": {"in_channels": latent_channels, "out_channels": 3, "patch_size": 4, "head_dim": 64}}
    else:
        section = {"_class_name": CONV_VAE_CLASS, **_COMMON, "latent_channels": latent_channels,
                   "encoder_blocks": encoder, "decoder_blocks": decoder,
                   "decoder_base_channels": decoder_base_channels}
    section.update(overrides)
    return section


def tiny_vae25_tensors(section: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 tensors, PyTorch layout, split-file keys (no ``vae.`` root)."""
    parts = [("encoder.", VideoEncoder(EncoderConfig.from_metadata(section)))]
    if section.get("_class_name", CONV_VAE_CLASS) == CONV_VAE_CLASS:
        parts.append(("decoder.", VideoDecoder(DecoderConfig.from_metadata(section))))
    rng = np.random.default_rng(seed)
    tensors = {}
    for prefix, model in parts:
        for key, value in sorted(tree_flatten(model.parameters())):
            if not key.startswith("per_channel_statistics."):
                tensors[prefix + key] = _random_tensor(key, _torch_shape(tuple(value.shape)), rng)
    channels = parts[0][1].config.latent_channels
    stats = {"std-of-means": rng.uniform(0.5, 1.5, channels), "mean-of-means": 0.1 * rng.standard_normal(channels),
             "mean-of-stds": rng.uniform(0.5, 1.5, channels)}  # the last one: carried by real files, unused
    tensors.update({"per_channel_statistics." + k: v.astype(np.float32) for k, v in stats.items()})
    assert all("per_channel_statistics." + k in tensors for k in STATS_KEYS)
    return tensors


def write_tiny_video_vae25(path: str | os.PathLike, geometry: str = "32x32x8", seed: int = 0,
                           diffusion: bool = False, dtype: mx.Dtype = mx.float32, **section_overrides) -> Path:
    """Write a tiny ``ltx-2.5-video-vae-conv`` (default) or, with ``diffusion``, ``ltx-2.5-video-vae`` file."""
    section = tiny_vae25_section(geometry, diffusion=diffusion, **section_overrides)
    tensors = {k: mx.array(v).astype(dtype) for k, v in tiny_vae25_tensors(section, seed).items()}
    save_checkpoint(path, tensors, {"config": json.dumps({"vae": section}), "model_version": MODEL_VERSION})
    return Path(path)
