"""A tiny dense Gemma 4 instruct root (the prompt enhancer of LTX-2.5, as google/gemma-4-E2B-it is), written in the
Hugging Face layout the reference loads with transformers (``--prompt-enhancer-gemma-root``), deterministic from a
seed:

* ``config.json``: ``model_type: gemma4`` with a ``gemma4_text`` section exercising what E2B uses (per-layer input
  embeddings, two KV-shared layers with double-wide MLPs, logit soft-capping, a 16-token sliding window), a tiny
  ``gemma4_vision`` section (the reference's loader seeds the vision tower's RoPE, so it must exist) and no audio;
  top-level ``eos_token_id`` [<eos>, <end_of_turn>] as the official config;
* ``model.safetensors``: ``model.language_model.*`` (random, norm weights ~1, ``layer_scalar`` ~1) and stand-ins for
  ``model.vision_tower.*`` / ``model.embed_vision.*`` so the reference's full model loads (ltx2 ignores them);
* the byte-level tiny tokenizer (no ``<bos>`` added, as Gemma 4's), ``tokenizer_config.json``,
  ``chat_template.jinja`` and ``processor_config.json`` (a required sidecar of the reference's asset loader).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.gemma4 import FULL, SLIDING
from ltx2.models.text.gemma4_dense import Gemma4DenseConfig, Gemma4DenseModel
from ltx2.tiny.gemma4 import gemma4_hf_config
from ltx2.tiny.text import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tiny_tokenizer
from ltx2.tiny.weights import random_weights

TINY_GEMMA4_DENSE = Gemma4DenseConfig(
    hidden_size=64, num_hidden_layers=6, intermediate_size=128, num_attention_heads=2, num_key_value_heads=1,
    head_dim=16, global_head_dim=32, sliding_window=16, vocab_size=262, hidden_size_per_layer_input=8,
    vocab_size_per_layer_input=262, num_kv_shared_layers=2, use_double_wide_mlp=True, final_logit_softcapping=30.0,
    layer_types=(SLIDING, SLIDING, FULL, SLIDING, SLIDING, FULL),
    eos_token_ids=(SPECIAL_TOKENS.index("<eos>"), SPECIAL_TOKENS.index("<end_of_turn>")))
DIR_NAME = "tiny-gemma-4-e2b-it"
_VISION = {"model_type": "gemma4_vision", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
           "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 8, "patch_size": 4,
           "pooling_kernel_size": 1, "position_embedding_size": 16}


def dense_hf_config(config: Gemma4DenseConfig = TINY_GEMMA4_DENSE) -> dict:
    text = dict(gemma4_hf_config(config)["text_config"], model_type="gemma4_text", sliding_window=config.sliding_window,
                hidden_size_per_layer_input=config.hidden_size_per_layer_input,
                vocab_size_per_layer_input=config.vocab_size_per_layer_input,
                final_logit_softcapping=config.final_logit_softcapping, use_bidirectional_attention=None,
                enable_moe_block=False)
    return {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "text_config": text,
            "vision_config": _VISION, "audio_config": None, "eos_token_id": list(config.eos_token_ids),
            "pad_token_id": config.pad_token_id, "tie_word_embeddings": True, "dtype": "float32"}


def _vision_shapes(h: int) -> dict[str, tuple[int, ...]]:
    v, inner, p = _VISION["hidden_size"], _VISION["intermediate_size"], _VISION["patch_size"]
    head = _VISION["head_dim"]
    out = {"model.vision_tower.patch_embedder.position_embedding_table": (2, _VISION["position_embedding_size"], v),
           "model.vision_tower.patch_embedder.input_proj.weight": (v, 3 * p * p),
           "model.embed_vision.embedding_projection.weight": (h, v)}
    layer = "model.vision_tower.encoder.layers.0."
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        out[f"{layer}self_attn.{name}.linear.weight"] = (v, v)
    out.update({f"{layer}self_attn.q_norm.weight": (head,), f"{layer}self_attn.k_norm.weight": (head,),
                f"{layer}mlp.gate_proj.linear.weight": (inner, v), f"{layer}mlp.up_proj.linear.weight": (inner, v),
                f"{layer}mlp.down_proj.linear.weight": (v, inner)})
    for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                 "post_feedforward_layernorm"):
        out[f"{layer}{name}.weight"] = (v,)
    return out


def tiny_dense_weights(config: Gemma4DenseConfig = TINY_GEMMA4_DENSE, seed: int = 0) -> dict[str, mx.array]:
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(Gemma4DenseModel(config).parameters())}
    weights = random_weights(shapes, seed)
    for key in (k for k in weights if k.endswith("layer_scalar")):
        weights[key] = 1 + weights[key]
    out = {"model.language_model." + k: mx.array(v) for k, v in weights.items()}
    out.update({k: mx.array(v) for k, v in random_weights(_vision_shapes(config.hidden_size), seed + 1).items()})
    return out


def write_tiny_gemma4_dense_root(folder: str | os.PathLike, seed: int = 0,
                                 config: Gemma4DenseConfig = TINY_GEMMA4_DENSE,
                                 dtype: mx.Dtype = mx.float32) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(bos=False)
    if tokenizer.get_vocab_size() > config.vocab_size:
        raise ValueError(f"tiny tokenizer has {tokenizer.get_vocab_size()} tokens, more than vocab_size="
                         f"{config.vocab_size}")
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
        "unk_token": "<unk>", "padding_side": "left", "model_max_length": 1024}, indent=1))
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": "Gemma4Processor"}))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": list(config.eos_token_ids),
                                                               "pad_token_id": config.pad_token_id}))
    (folder / "config.json").write_text(json.dumps(dense_hf_config(config), indent=1))
    weights = {k: v.astype(dtype) for k, v in tiny_dense_weights(config, seed).items()}
    save_checkpoint(folder / "model.safetensors", weights, {"format": "pt"})
    return folder
