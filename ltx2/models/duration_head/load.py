"""Build the duration head from its file (``model_patches/ltx-2.5-duration-head``) or any file holding its
tensors under ``duration_head.``; the sizes come from that file's metadata ``config`` (defaults when absent)."""

from __future__ import annotations

import json
import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_component, read_header
from ltx2.models.duration_head.config import DurationHeadConfig
from ltx2.models.duration_head.model import DurationHead

PREFIX = "duration_head."


def has_duration_head(path: str | os.PathLike) -> bool:
    return bool(read_header(path).keys_with_prefix(PREFIX))


def read_duration_head_config(path: str | os.PathLike) -> DurationHeadConfig:
    metadata = read_header(path).metadata
    try:
        config = json.loads(metadata["config"]) if "config" in metadata else {}
        return DurationHeadConfig.from_metadata(config if isinstance(config, dict) else {})
    except json.JSONDecodeError as e:
        raise ConfigError("checkpoint", str(path), f"the metadata 'config' is not JSON ({e})",
                          "use the official LTX-2.5 duration-head file") from None
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None


def load_duration_head(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> DurationHead:
    """The duration head of ``path``, weights in ``dtype`` (a few MB: float32 costs nothing)."""
    return load_component(DurationHead(read_duration_head_config(path)), path, PREFIX, "duration head", dtype)
