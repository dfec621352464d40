"""Gemma 3 language model returning every hidden state the LTX text stack consumes.

The layers are mlx-lm's Gemma 3 implementation (``mlx_lm.models.gemma3_text``), driven layer by layer here:
mlx-lm's own forward returns only the final normed output, takes no padding mask and rounds the embedding
scale to bf16 even in float32. We embed (scale ``sqrt(hidden)`` cast to the compute dtype, as transformers
does), build causal + sliding-window + left-padding masks, run each block, and keep every residual state.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.models import gemma3_text

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_weights_strict
from ltx2.models.text.config import GEMMA_ROOT_FIX, GemmaConfig

log = logging.getLogger(__name__)

QUANT_BITS = (4, 8)
# Checkpoint prefixes of the language model (HF 4.5x multimodal, HF 5.x multimodal, text-only) -> mlx-lm's "model.".
_LM_PREFIXES = ("language_model.model.", "model.language_model.", "model.")
# Other parts of a multimodal Gemma 3 checkpoint (only the language model is used; lm_head is tied).
VISION_PREFIXES = ("vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector.")
_IGNORED_PREFIXES = VISION_PREFIXES + ("lm_head.", "language_model.lm_head.")


class GemmaTextModel(nn.Module):
    """Gemma 3 text model (tied lm_head). ``hidden_states`` -> ``num_hidden_layers + 1`` arrays (B, T, hidden)."""

    def __init__(self, config: GemmaConfig):
        super().__init__()
        self.config = config
        self.language_model = gemma3_text.Model(gemma3_text.ModelArgs.from_dict(config.mlx_lm_args()))
        self.language_model.sanitize({})  # no lm_head weight: tie it to the embeddings, like Gemma 3
        self.quantization: dict | None = None

    def hidden_states(self, input_ids: mx.array, attention_mask: mx.array) -> list[mx.array]:
        """input_ids, attention_mask: (B, T), left padded. Positions are 0..T-1 *including* the pads, as in the
        reference (no position ids passed). Returns [embeddings * sqrt(hidden), after layer 0, ...,
        after layer n-2, final_norm(after layer n-1)]; pad rows are finite but meaningless."""
        inner = self.language_model.model
        h = inner.embed_tokens(input_ids)
        h = h * mx.array(math.sqrt(self.config.hidden_size), mx.float32).astype(h.dtype)
        global_mask = attention_mask_for(attention_mask, None)
        local_mask = attention_mask_for(attention_mask, self.config.sliding_window)
        states = [h]
        for layer in inner.layers:
            h = layer(h, local_mask if layer.self_attn.is_sliding else global_mask, None)
            states.append(h)
        states[-1] = inner.norm(h)
        return states

    def quantize(self, bits: int, group_size: int = 64, under: str = "") -> int:
        """Quantize embeddings and linear layers (those under the module path ``under``, default all) in place
        with MLX affine quantization; layers whose input width is not a multiple of ``group_size`` stay
        unquantized. Returns how many layers were quantized."""
        if bits not in QUANT_BITS:
            raise ValueError(f"Gemma quantization bits={bits!r} is not supported: use one of {QUANT_BITS} (or none)")

        count = quantize_under(self.language_model, bits, group_size, under)
        self.quantization = {"bits": bits, "group_size": group_size,
                             "layers": count + (self.quantization or {}).get("layers", 0)}
        return count


def quantize_under(root: nn.Module, bits: int, group_size: int, under: str = "") -> int:
    """Quantize (in place) the embeddings and linear layers of ``root`` under the module path ``under`` (default
    all) whose input width is a multiple of ``group_size``; returns how many were quantized."""

    def chosen(path: str, module: nn.Module) -> bool:
        inside = not under or path == under or path.startswith(under + ".")
        return inside and _quantizable(module, group_size)

    count = sum(chosen(p, m) for p, m in root.named_modules())
    nn.quantize(root, group_size=group_size, bits=bits, class_predicate=chosen)
    return count


def _quantizable(module: nn.Module, group_size: int) -> bool:
    return hasattr(module, "to_quantized") and "scales" not in module and module.weight.shape[-1] % group_size == 0


def attention_mask_for(attention_mask: mx.array, window: int | None) -> mx.array:
    """(B, T) 0/1 key mask -> boolean (B, 1, T, T): causal, within ``window`` (query - key < window) and on a
    prompt token. Each query also sees itself, so fully padded rows stay finite (their values are unused)."""
    t = attention_mask.shape[-1]
    q = mx.arange(t)[:, None]
    k = mx.arange(t)[None]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (q - k < window)
    allowed = allowed[None] & (attention_mask[:, None, :] > 0)
    return (allowed | (q == k)[None])[:, None]


def language_model_weights(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Gemma checkpoint keys -> mlx-lm ``gemma3_text.Model`` keys (``model.*``); vision tower, projector and
    lm_head are dropped; anything unrecognised is kept so the strict loader reports it."""
    out = {}
    for key, value in weights.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        prefix = next((p for p in _LM_PREFIXES if key.startswith(p)), None)
        out["model." + key.removeprefix(prefix) if prefix else key] = value
    return out


def read_gemma_config(root: str | os.PathLike) -> GemmaConfig:
    root = Path(root)
    path = root / "config.json"
    if not path.is_file():
        raise ConfigError("model.gemma_root", str(root), "has no config.json", GEMMA_ROOT_FIX)
    try:
        return GemmaConfig.from_hf(json.loads(path.read_text()))
    except ConfigError as e:
        raise e.about("model.gemma_root", str(path)) from None
    except (json.JSONDecodeError, TypeError) as e:
        raise ConfigError("model.gemma_root", str(path), f"cannot be read as a Gemma config ({e})",
                          GEMMA_ROOT_FIX) from None


def gemma_shards(root: str | os.PathLike) -> list[Path]:
    shards = sorted(Path(root).glob("model*.safetensors"))
    if not shards:
        raise ConfigError("model.gemma_root", str(root), "has no model*.safetensors", "download the Gemma 3 "
                          "checkpoint (e.g. google/gemma-3-12b-it-qat-q4_0-unquantized) into it")
    return shards


def load_gemma(root: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16, quantize_bits: int | None = None,
               group_size: int = 64) -> GemmaTextModel:
    """Gemma 3 language model of a Hugging Face root folder (text-only or multimodal checkpoint)."""
    if quantize_bits is not None and quantize_bits not in QUANT_BITS:
        raise ValueError(f"Gemma quantization bits={quantize_bits!r} is not supported: use one of {QUANT_BITS} "
                         "or None")
    config = read_gemma_config(root)
    weights = {}
    for shard in gemma_shards(root):
        weights.update(mx.load(str(shard)))  # lazy: read tensor by tensor while loading
    weights = language_model_weights(weights)
    model = GemmaTextModel(config)
    what = f"Gemma language model in {root}"
    if quantize_bits is None:
        load_weights_strict(model.language_model, weights, what, dtype)
    else:
        _load_quantizing(model, weights, what, dtype, quantize_bits, group_size)
    mx.eval(model.parameters())
    model.eval()
    return model


def _load_quantizing(model: GemmaTextModel, weights: dict[str, mx.array], what: str, dtype: mx.Dtype, bits: int,
                     group_size: int) -> None:
    n_layers = len(model.language_model.model.layers)
    prefixes = ["model.embed_tokens.", "model.norm."] + [f"model.layers.{i}." for i in range(n_layers)]
    load_quantizing(model, model.language_model, weights, prefixes, what, dtype, bits, group_size,
                    "use a Gemma 3 folder whose config.json describes its weights")


def load_quantizing(model, root: nn.Module, weights: dict[str, mx.array], prefixes: list[str], what: str,
                    dtype: mx.Dtype, bits: int, group_size: int, fix: str) -> None:
    """Load and quantize one part at a time (``prefixes``: embeddings, final norm, each layer, as module paths of
    ``root`` + "."), so the peak memory is the quantized model plus one unquantized layer, not the whole
    unquantized model. ``model.quantize(bits, group_size, under=path)`` quantizes one part of ``root``."""
    unexpected = sorted(k for k in weights if not k.startswith(tuple(prefixes)))
    if unexpected:
        raise ConfigError("weights", what, f"does not match its config: {len(unexpected)} unexpected: "
                          + ", ".join(unexpected[:8]), fix)
    for prefix in prefixes:
        path = prefix.rstrip(".")
        part = {k.removeprefix(prefix): weights.pop(k) for k in [k for k in weights if k.startswith(prefix)]}
        load_weights_strict(_submodule(root, path), part, f"{what} ({path})", dtype)
        model.quantize(bits, group_size, under=path)
        mx.eval(_submodule(root, path).parameters())  # (quantizing may replace the module)
    skipped = [p for p, m in root.named_modules() if hasattr(m, "to_quantized") and "scales" not in m]
    if skipped:
        log.warning("Gemma quantization: %d layers have an input width not divisible by group_size=%d and stay "
                    "unquantized (e.g. %s)", len(skipped), group_size, skipped[0])


def _submodule(module: nn.Module, path: str) -> nn.Module:
    for name in path.split("."):
        module = module[int(name)] if isinstance(module, list) else module[name]
    return module


def parameter_bytes(model: nn.Module) -> int:
    return sum(v.nbytes for _, v in tree_flatten(model.parameters()))
