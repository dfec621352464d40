"""A tiny LTX-2.5 duration-head file in the official format: ``duration_head.*`` tensors (the
``nn.MultiheadAttention`` layout), the input widths in ``config.transformer`` (those of the tiny transformer's
connectors) and the head's sizes in ``config.duration_head``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.duration_head.config import DurationHeadConfig
from ltx2.models.duration_head.load import PREFIX
from ltx2.models.duration_head.model import DurationHead
from ltx2.tiny.weights import random_weights


def tiny_duration_head_config(video_dim: int = 32, audio_dim: int = 16, pooler_hidden_dim: int = 32,
                              num_queries: int = 1, num_pooler_heads: int = 4, mlp_hidden: int = 32) -> dict:
    """The metadata ``config`` of the file (both sections)."""
    return {"transformer": {"cross_attention_dim": video_dim, "audio_cross_attention_dim": audio_dim},
            "duration_head": {"pooler_hidden_dim": pooler_hidden_dim, "num_queries": num_queries,
                              "num_pooler_heads": num_pooler_heads, "mlp_hidden": mlp_hidden}}


def tiny_duration_head_tensors(config: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 tensors under ``duration_head.``; the learned queries ~ N(0, 1) so attention is not flat."""
    model = DurationHead(DurationHeadConfig.from_metadata(config))
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    tensors = random_weights(shapes, seed)
    dim = shapes["attention_pooler.cross_attn.in_proj_weight"][1]
    tensors["attention_pooler.cross_attn.in_proj_weight"] *= 10 / np.sqrt(dim)  # N(0, 1/fan_in), as the linears
    tensors["attention_pooler.query_tokens"] *= 10
    return {PREFIX + k: v for k, v in tensors.items()}


def write_tiny_duration_head(path: str | os.PathLike, seed: int = 0, dtype: mx.Dtype = mx.float32,
                             **sizes: int) -> Path:
    config = tiny_duration_head_config(**sizes)
    tensors = {k: mx.array(v).astype(dtype) for k, v in tiny_duration_head_tensors(config, seed).items()}
    save_checkpoint(path, tensors, {"config": json.dumps(config), "model_version": "2.5.0"})
    return Path(path)
