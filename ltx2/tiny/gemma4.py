"""A tiny LTX-2.5 text-encoder file (Gemma 4 unified + V2 text projection + tokenizer + sidecars), laid out as the
official packer (``build_text_encoder_tensors_from_gemma_root``) writes it, deterministic from a seed:

* ``gemma_config`` metadata: a complete HF ``gemma4_unified`` config (text, vision and audio sections) with the
  top-level ``gemma_version``; ``format: pt``;
* Comfy-flat Gemma names (``model.layers.*`` with ``layer_scalar``, ``model.embed_tokens.weight``,
  ``model.norm.weight``) and stand-ins for the vision / audio embedders (``vision_model.*``,
  ``multi_modal_projector.*``, ``audio_projector.*``) so the reference's full model loads;
* ``text_embedding_projection.{video,audio}_aggregate_embed.*`` for a transformer's video / audio widths;
* ``tokenizer_json`` (byte-level tokenizer that adds no ``<bos>``, as Gemma 4's) and ``hf_asset__*`` sidecars.

Also ``write_tiny_connector_file``: a split LTX-2.5-style transformer stand-in holding only the metadata the text
stack reads (``config.transformer``, ``model_version``, ``gemma_source_checkpoint``) and the two connectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.gemma4 import FULL, SLIDING, Gemma4Config, Gemma4TextModel, RopeSpec
from ltx2.models.text.processor import FEATURES_PREFIX
from ltx2.models.text.te_file import ASSET_PREFIX, GEMMA_CONFIG_KEY, LTX25_GEMMA_VERSION, TOKENIZER_KEY
from ltx2.tiny.text import CHAT_TEMPLATE, build_tiny_tokenizer, tiny_processor_tensors
from ltx2.tiny.weights import random_weights

TINY_GEMMA4 = Gemma4Config(hidden_size=64, num_hidden_layers=6, intermediate_size=128, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=16, global_head_dim=32, num_global_key_value_heads=1,
                           sliding_window=16, vocab_size=262, gemma_version=LTX25_GEMMA_VERSION)
# The vision / audio embedders of the unified model (unused for text; present so the reference loads the file).
_VISION = {"patch_size": 2, "pooling_kernel_size": 1, "mm_posemb_size": 8}
_AUDIO_DIM = 16


def gemma4_hf_config(config: Gemma4Config = TINY_GEMMA4) -> dict:
    """The HF config dict (``gemma_config`` metadata) describing ``config``."""
    def rope(spec: RopeSpec) -> dict:
        out = {"rope_type": spec.rope_type, "rope_theta": spec.theta}
        if spec.rope_type == "proportional":
            out["partial_rotary_factor"] = spec.partial_rotary_factor
        if spec.factor != 1.0:
            out["factor"] = spec.factor
        return out

    h = config.hidden_size
    text = {"model_type": "gemma4_unified_text", "vocab_size": config.vocab_size, "hidden_size": h,
            "intermediate_size": config.intermediate_size, "num_hidden_layers": config.num_hidden_layers,
            "num_attention_heads": config.num_attention_heads, "num_key_value_heads": config.num_key_value_heads,
            "head_dim": config.head_dim, "global_head_dim": config.global_head_dim,
            "num_global_key_value_heads": config.num_global_key_value_heads,
            "attention_k_eq_v": config.attention_k_eq_v, "sliding_window": config.sliding_window,
            "layer_types": list(config.layer_types), "rms_norm_eps": config.rms_norm_eps,
            "rope_parameters": {SLIDING: rope(config.sliding_rope), FULL: rope(config.full_rope)},
            "num_kv_shared_layers": config.num_kv_shared_layers, "use_double_wide_mlp": config.use_double_wide_mlp,
            "hidden_activation": "gelu_pytorch_tanh", "attention_bias": False, "final_logit_softcapping": None,
            "use_bidirectional_attention": "vision", "max_position_embeddings": 262144, "pad_token_id": 0,
            "eos_token_id": 1, "bos_token_id": 2, "tie_word_embeddings": True}
    hf = {"architectures": ["Gemma4UnifiedForConditionalGeneration"], "model_type": "gemma4_unified",
          "text_config": text,
          "vision_config": {"model_type": "gemma4_unified_vision", "mm_embed_dim": h, "output_proj_dims": h,
                            **_VISION},
          "audio_config": {"model_type": "gemma4_unified_audio", "audio_embed_dim": _AUDIO_DIM},
          "tie_word_embeddings": True, "dtype": "float32"}
    if config.gemma_version is not None:
        hf["gemma_version"] = config.gemma_version
    return hf


def _tower_shapes(h: int) -> dict[str, tuple[int, ...]]:
    p = _VISION["patch_size"]
    return {"vision_model.patch_dense.weight": (h, 3 * p * p), "vision_model.patch_dense.bias": (h,),
            "vision_model.patch_ln1.weight": (3 * p * p,), "vision_model.patch_ln1.bias": (3 * p * p,),
            "vision_model.patch_ln2.weight": (h,), "vision_model.patch_ln2.bias": (h,),
            "vision_model.pos_embedding": (_VISION["mm_posemb_size"], 2, h),
            "vision_model.pos_norm.weight": (h,), "vision_model.pos_norm.bias": (h,),
            "multi_modal_projector.embedding_projection.weight": (h, h),
            "audio_projector.embedding_projection.weight": (h, _AUDIO_DIM)}


def tiny_gemma4_weights(config: Gemma4Config = TINY_GEMMA4, seed: int = 0) -> dict[str, mx.array]:
    """Random Gemma weights under the file's Comfy-flat keys; norm weights ~1 (Gemma 4 scales by ``weight``),
    ``layer_scalar`` ~ 1 + N(0, 0.1^2) so that it matters."""
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(Gemma4TextModel(config).parameters())}
    weights = random_weights(shapes, seed)
    for key in (k for k in weights if k.endswith("layer_scalar")):
        weights[key] = 1 + weights[key]  # random_weights draws N(0, 0.1^2) for it
    out = {"model." + k: mx.array(v) for k, v in weights.items()}
    out.update({k: mx.array(v) for k, v in random_weights(_tower_shapes(config.hidden_size), seed + 1).items()})
    return out


def tiny_projection_tensors(config: Gemma4Config, video_dim: int, audio_dim: int, seed: int) -> dict[str, mx.array]:
    """The V2 feature extractor's projections (``in = hidden * (layers + 1)``) under their file keys."""
    width = config.hidden_size * config.num_hidden_states
    shapes = {"video_aggregate_embed.weight": (video_dim, width), "video_aggregate_embed.bias": (video_dim,),
              "audio_aggregate_embed.weight": (audio_dim, width), "audio_aggregate_embed.bias": (audio_dim,)}
    return {FEATURES_PREFIX + k: mx.array(v) for k, v in random_weights(shapes, seed + 7919).items()}


def _bytes(data: bytes) -> mx.array:
    return mx.array(np.frombuffer(data, dtype=np.uint8).copy())


def write_tiny_text_encoder_file(path: str | os.PathLike, seed: int = 0, config: Gemma4Config = TINY_GEMMA4,
                                 video_dim: int = 32, audio_dim: int = 16, dtype: mx.Dtype = mx.float32,
                                 tokenizer_config: dict | None = None) -> Path:
    """Write the tiny text-encoder file; ``video_dim`` / ``audio_dim``: the transformer's video / audio inner dims
    (the tiny LTX-2.3 transformer's 32 / 16 by default); ``tokenizer_config``: entries added to (or replacing those
    of) its ``tokenizer_config.json``."""
    tokenizer = build_tiny_tokenizer(bos=False)
    if tokenizer.get_vocab_size() > config.vocab_size:
        raise ValueError(f"tiny tokenizer has {tokenizer.get_vocab_size()} tokens, more than vocab_size="
                         f"{config.vocab_size}")
    tensors = {k: v.astype(dtype) for k, v in tiny_gemma4_weights(config, seed).items()}
    tensors.update({k: v.astype(dtype) for k, v in tiny_projection_tensors(config, video_dim, audio_dim,
                                                                          seed).items()})
    sidecars = {
        "tokenizer_config.json": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                                  "unk_token": "<unk>", "padding_side": "left",
                                  "tokenizer_class": "GemmaTokenizer", "model_max_length": 1024,
                                  **(tokenizer_config or {})},
        "processor_config.json": {"processor_class": "Gemma4UnifiedProcessor"},
        "generation_config.json": {"bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0},
    }
    tensors[TOKENIZER_KEY] = _bytes(tokenizer.to_str().encode())
    for name, value in sidecars.items():
        tensors[ASSET_PREFIX + name] = _bytes(json.dumps(value, indent=2).encode())
    tensors[ASSET_PREFIX + "chat_template.jinja"] = _bytes(CHAT_TEMPLATE.encode())
    metadata = {"format": "pt", GEMMA_CONFIG_KEY: json.dumps(gemma4_hf_config(config))}
    save_checkpoint(path, tensors, metadata)
    return Path(path)


def write_tiny_connector_file(path: str | os.PathLike, section: dict, seed: int = 0,
                              gemma_version: str | None = LTX25_GEMMA_VERSION, model_version: str = "2.5.0",
                              dtype: mx.Dtype = mx.float32) -> Path:
    """A split-transformer stand-in for the text stack: metadata (``config.transformer`` = ``section``, which
    must hold the connector entries, ``model_version``, ``gemma_source_checkpoint`` unless ``gemma_version`` is
    None) and the two connectors (``model.diffusion_model.{video,audio}_embeddings_connector.*``)."""
    tensors = {k: v.astype(dtype) for k, v in tiny_processor_tensors(section, seed, TINY_GEMMA4).items()
               if not k.startswith(FEATURES_PREFIX)}
    metadata = {"config": json.dumps({"transformer": section}), "model_version": model_version}
    if gemma_version is not None:
        metadata["gemma_source_checkpoint"] = json.dumps({"gemma_version": gemma_version})
    save_checkpoint(path, tensors, metadata)
    return Path(path)

