"""A tiny LTX-2.5 transformer file in the official split format, deterministic from a seed.

LTX-2.5 ships one file per component; the transformer file holds ``model.diffusion_model.*`` (the transformer)
and the text connectors ``model.diffusion_model.{video,audio}_embeddings_connector.*`` (the text projection lives
in the text-encoder file), and its metadata carries only the ``transformer`` (+ ``scheduler``) sections of
``config``, ``model_version`` "2.5.0" and ``gemma_source_checkpoint`` (the Gemma build its connectors expect).
The transformer section is the tiny LTX-2.3 one plus the 2.5 flags: no video feed-forward bias, a keyframe
embedding (random here, so that it is not a no-op).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.processor import FEATURES_PREFIX
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.load import PREFIX
from ltx2.models.transformer.model import LTXModel
from ltx2.tiny.checkpoint import tiny_transformer_section
from ltx2.tiny.text import tiny_processor_tensors
from ltx2.tiny.weights import random_weights

MODEL_VERSION = "2.5.0"
GEMMA_VERSION = "gemma4-12b-ltx-v1"
LTX25_FLAGS = {"ff_bias": False, "audio_ff_bias": True, "use_keyframes_abs_pos_embedding": True,
               "use_prompt_adaln_single": True, "connector_ff_bias": True}
# the distilled / dev scheduler section a transformer file may carry beside its transformer section
SCHEDULER_SECTION = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}


def tiny_ltx25_section(**overrides) -> dict:
    """The ``transformer`` metadata section of a tiny LTX-2.5 transformer (``overrides`` win)."""
    return tiny_transformer_section("ltx2.3", **{**LTX25_FLAGS, **overrides})


def tiny_ltx25_tensors(section: dict, seed: int = 0) -> dict[str, mx.array]:
    """Random float32 transformer + connector tensors under their file keys."""
    config = TransformerConfig.from_metadata(section)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(LTXModel(config).parameters())}
    tensors = {PREFIX + k: mx.array(v) for k, v in random_weights(shapes, seed).items()}
    connectors = {k: v for k, v in tiny_processor_tensors(section, seed).items() if not k.startswith(FEATURES_PREFIX)}
    return {**tensors, **connectors}


def ltx25_transformer_metadata(section: dict, model_version: str = MODEL_VERSION,
                               gemma_version: str | None = GEMMA_VERSION) -> dict[str, str]:
    """Metadata of a split LTX-2.5 transformer file: ``config`` with only ``transformer`` and ``scheduler``."""
    metadata = {"config": json.dumps({"transformer": section, "scheduler": SCHEDULER_SECTION}),
                "model_version": model_version}
    if gemma_version is not None:
        metadata["gemma_source_checkpoint"] = json.dumps({"gemma_version": gemma_version})
    return metadata


def write_tiny_ltx25_transformer(path: str | os.PathLike, seed: int = 0, transformer: dict | None = None,
                                 dtype: mx.Dtype = mx.float32, model_version: str = MODEL_VERSION,
                                 gemma_version: str | None = GEMMA_VERSION) -> Path:
    """Write a tiny split-format LTX-2.5 transformer file; ``transformer`` overrides entries of its section."""
    section = tiny_ltx25_section(**(transformer or {}))
    tensors = {k: v.astype(dtype) for k, v in tiny_ltx25_tensors(section, seed).items()}
    save_checkpoint(path, tensors, ltx25_transformer_metadata(section, model_version, gemma_version))
    return Path(path)
