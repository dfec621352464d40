"""Tiny latent upsampler files in the official format (flat ``config`` metadata, keys without prefix)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.upsampler.config import UpsamplerConfig
from ltx2.models.upsampler.model import LatentUpsampler

KINDS = {  # file name stem -> config entries
    "spatial-x2": {"spatial_upsample": True, "temporal_upsample": False, "spatial_scale": 2.0,
                   "rational_resampler": False},
    "spatial-x1.5": {"spatial_upsample": True, "temporal_upsample": False, "spatial_scale": 1.5,
                     "rational_resampler": True},
    "temporal-x2": {"spatial_upsample": False, "temporal_upsample": True, "spatial_scale": 2.0,
                    "rational_resampler": False},
}


def tiny_upsampler_config(kind: str, in_channels: int = 128, mid_channels: int = 32, blocks: int = 1) -> dict:
    if kind not in KINDS:
        raise ValueError(f"tiny upsampler kind {kind!r} is not one of {sorted(KINDS)}")
    return {"_class_name": "LatentUpsampler", "in_channels": in_channels, "mid_channels": mid_channels,
            "num_blocks_per_stage": blocks, "dims": 3, **KINDS[kind]}


def tiny_upsampler_tensors(config: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 tensors in PyTorch layout; the blur kernel is the exact normalized 5x5 binomial."""
    model = LatentUpsampler(UpsamplerConfig.from_metadata(config))
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, value in sorted(tree_flatten(model.parameters())):
        shape = tuple(value.shape)
        shape = (shape[0], shape[-1], *shape[1:-1]) if len(shape) >= 4 else shape
        if key.endswith("blur_down.kernel"):
            row = np.array([math.comb(shape[-1] - 1, k) for k in range(shape[-1])], dtype=np.float64)
            tensors[key] = (np.outer(row, row) / np.outer(row, row).sum()).astype(np.float32).reshape(shape)
            continue
        values = rng.standard_normal(shape).astype(np.float32)
        if "norm" in key and key.endswith(".weight"):
            values = 1 + 0.1 * values
        elif key.endswith(".weight"):
            values = values / np.sqrt(np.prod(shape[1:]))
        else:
            values = 0.1 * values
        tensors[key] = values
    return tensors


def write_tiny_upsampler(path: str | os.PathLike, kind: str = "spatial-x2", seed: int = 0, **config_overrides) -> Path:
    config = dict(tiny_upsampler_config(kind), **config_overrides)
    tensors = {k: mx.array(v) for k, v in tiny_upsampler_tensors(config, seed).items()}
    save_checkpoint(path, tensors, {"config": json.dumps(config)})
    return Path(path)
