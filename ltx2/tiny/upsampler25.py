"""Tiny LTX-2.5 latent upsampler files (``ltx-2.5-latent-{spatial,temporal}-upscaler-x2``): the same official
format as before (flat ``config`` metadata, keys without prefix), ``model_version`` 2.5.0, the block count of the
recipes (2 per stage) and a width that keeps GroupNorm(32) meaningful."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.tiny.upsampler import tiny_upsampler_config, tiny_upsampler_tensors

KINDS25 = ("spatial-x2", "temporal-x2")
MODEL_VERSION = "2.5.0"


def tiny_upsampler25_config(kind: str = "spatial-x2", in_channels: int = 128, mid_channels: int = 64,
                            blocks: int = 2) -> dict:
    if kind not in KINDS25:
        raise ValueError(f"tiny LTX-2.5 upsampler kind {kind!r} is not one of {list(KINDS25)}")
    return tiny_upsampler_config(kind, in_channels, mid_channels, blocks)


def write_tiny_upsampler25(path: str | os.PathLike, kind: str = "spatial-x2", seed: int = 0,
                           dtype: mx.Dtype = mx.float32, **config_overrides) -> Path:
    config = {**tiny_upsampler25_config(kind), **config_overrides}
    tensors = {k: mx.array(v).astype(dtype) for k, v in tiny_upsampler_tensors(config, seed).items()}
    save_checkpoint(path, tensors, {"config": json.dumps(config), "model_version": MODEL_VERSION})
    return Path(path)
