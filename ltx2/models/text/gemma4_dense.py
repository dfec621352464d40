"""Dense Gemma 4 instruct language model (``model_type: gemma4``, e.g. Gemma 4 E2B-it): the generative model the
reference uses only to rewrite prompts for LTX-2.5 (its own text encoder, Gemma 4 *unified*, cannot generate).
Plain MLX, built on the unified model's layers (ltx2/models/text/gemma4.py) from the facts of transformers'
``Gemma4ForConditionalGeneration`` text path.

What the dense model adds to those layers: per-layer input embeddings (PLE: a token table of ``num_layers x
hidden_size_per_layer_input`` scaled by ``sqrt(per-layer width)``, averaged with an RMS-normed projection of the
embeddings scaled by ``1/sqrt(hidden)``, then after each layer's feed-forward ``h += norm(proj(gelu(gate(h)) *
ple_i))``), logits from the tied embedding matrix with optional ``final_logit_softcapping`` (``cap *
tanh(logits / cap)``), and a key/value cache for generation. Vision and audio towers are not loaded (the
image-to-video enhancement gets the text alone, as ltx2's Gemma 3 enhancement).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_weights_strict
from ltx2.models.text.gemma import QUANT_BITS, load_quantizing
from ltx2.models.text.gemma4 import FULL, SLIDING, DecoderLayer, Gemma4Config, Gemma4TextModel, RMSNorm
from ltx2.ops import gelu_tanh

MODEL_TYPE = "gemma4"
ENHANCER_KEY = "model.prompt_enhancer"
ENHANCER_FIX = ("use a dense Gemma 4 instruct folder (google/gemma-4-E2B-it) or a Gemma 3 instruct folder, or "
                "set text.enhance_prompt=false")
LM_PREFIX = "model.language_model."
# The checkpoint's other parts (unused: the image is not shown to the enhancer) and, for KV-shared layers, the
# key / value weights transformers ignores too.
_IGNORED = ("model.vision_tower.", "model.audio_tower.", "model.embed_vision.", "model.embed_audio.",
            "model.multi_modal_projector.", "lm_head.")
_SHARED_KV = ("k_proj", "v_proj", "k_norm", "v_norm")


@dataclass(frozen=True)
class Gemma4DenseConfig(Gemma4Config):
    """The text model of a ``gemma4`` config (defaults: transformers' ``Gemma4TextConfig``)."""

    sliding_window: int = 512
    hidden_size_per_layer_input: int = 256  # 0: no per-layer inputs
    vocab_size_per_layer_input: int = 262_144
    final_logit_softcapping: float | None = None
    pad_token_id: int = 0
    eos_token_ids: tuple[int, ...] = (1,)

    @classmethod
    def from_hf(cls, hf: dict, where: str = "config.json", **_) -> Gemma4DenseConfig:
        """From a ``gemma4`` root's config.json. Stop tokens as transformers' generation defaults: the top-level
        ``eos_token_id`` when set, else the text config's."""
        text = dict(hf.get("text_config") or {})
        if text.get("enable_moe_block"):
            raise ConfigError(ENHANCER_KEY, where, "is a mixture-of-experts Gemma 4 (enable_moe_block=true), which "
                              "ltx2 does not run", ENHANCER_FIX)
        eos = hf.get("eos_token_id", text.get("eos_token_id", 1))
        extra = {"eos_token_ids": tuple(eos if isinstance(eos, list) else [eos]),
                 "final_logit_softcapping": text.get("final_logit_softcapping")}
        if "hidden_size_per_layer_input" in text:
            extra["hidden_size_per_layer_input"] = int(text["hidden_size_per_layer_input"] or 0)
        return super().from_hf(hf, where, ENHANCER_KEY, MODEL_TYPE, ENHANCER_FIX, **extra)


class DenseDecoderLayer(DecoderLayer):
    """The unified layer plus the per-layer input block (after the feed-forward, before ``layer_scalar``)."""

    def __init__(self, config: Gemma4DenseConfig, index: int):
        super().__init__(config, index)
        width, dim = config.hidden_size_per_layer_input, config.hidden_size
        if width:
            self.per_layer_input_gate = nn.Linear(dim, width, bias=False)
            self.per_layer_projection = nn.Linear(width, dim, bias=False)
            self.post_per_layer_input_norm = RMSNorm(dim, config.rms_norm_eps)

    def __call__(self, x, mask, cos, sin, shared, per_layer_input=None, cache=None):
        attended, kv = self.self_attn(self.input_layernorm(x), mask, cos, sin, shared, cache)
        h = x + self.post_attention_layernorm(attended)
        h = h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))
        if per_layer_input is not None:
            gated = gelu_tanh(self.per_layer_input_gate(h)) * per_layer_input
            h = h + self.post_per_layer_input_norm(self.per_layer_projection(gated))
        return h * self.layer_scalar.astype(h.dtype), kv


class KVCache:
    """Keys / values of every position so far, (B, heads, S, D), grown by concatenation."""

    def __init__(self):
        self.keys = self.values = None

    def update(self, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        if self.keys is not None:
            k, v = mx.concatenate([self.keys, k], axis=2), mx.concatenate([self.values, v], axis=2)
        self.keys, self.values = k, v
        return k, v


def generation_mask(key_mask: mx.array, offset: int, window: int | None) -> mx.array:
    """(B, S) 0/1 mask of every key so far -> boolean (B, 1, S - offset, S) for the queries at sequence indices
    offset.. S-1: causal, within ``window`` (by sequence index, pads included, as transformers) and on a real
    token; each query also sees itself (pad rows stay finite; they are never used)."""
    s = key_mask.shape[-1]
    q = mx.arange(offset, s)[:, None]
    k = mx.arange(s)[None]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (q - k < window)
    allowed = allowed[None] & (key_mask[:, None, :] > 0)
    return (allowed | (q == k)[None])[:, None]


class Gemma4DenseModel(Gemma4TextModel):
    """``__call__(ids, key_mask, positions, caches)`` -> float32 logits of the last position (B, vocab)."""

    layer_class = DenseDecoderLayer

    def __init__(self, config: Gemma4DenseConfig):
        super().__init__(config)
        layers, width = config.num_hidden_layers, config.hidden_size_per_layer_input
        if width:
            self.embed_tokens_per_layer = nn.Embedding(config.vocab_size_per_layer_input, layers * width)
            self.per_layer_model_projection = nn.Linear(config.hidden_size, layers * width, bias=False)
            self.per_layer_projection_norm = RMSNorm(width, config.rms_norm_eps)

    def per_layer_inputs(self, ids: mx.array, embedded: mx.array) -> mx.array:
        """(B, T, layers, width): ``(norm(proj(embedded) / sqrt(hidden)) + table(ids) * sqrt(width)) / sqrt(2)``."""
        c = self.config
        shape = (*ids.shape, c.num_hidden_layers, c.hidden_size_per_layer_input)
        table = self.embed_tokens_per_layer(ids)
        table = (table * mx.array(math.sqrt(c.hidden_size_per_layer_input), mx.float32).astype(table.dtype))
        projected = self.per_layer_model_projection(embedded) * (c.hidden_size ** -0.5)
        projected = self.per_layer_projection_norm(projected.reshape(shape))
        return (projected + table.reshape(shape)) * (2.0 ** -0.5)

    def __call__(self, ids: mx.array, key_mask: mx.array, positions: mx.array, caches: list[KVCache]) -> mx.array:
        """``ids`` (B, t): the new tokens; ``key_mask`` (B, S): every position so far (cached + new), 0 on pads;
        ``positions`` (t,): their RoPE positions; ``caches``: one per layer, updated in place."""
        c = self.config
        offset = key_mask.shape[-1] - ids.shape[-1]
        h = self.embed_tokens(ids)
        h = h * mx.array(math.sqrt(c.hidden_size), mx.float32).astype(h.dtype)
        ple = self.per_layer_inputs(ids, h) if c.hidden_size_per_layer_input else None
        masks = {FULL: generation_mask(key_mask, offset, None), SLIDING: generation_mask(key_mask, offset,
                                                                                         c.sliding_window)}
        tables = self.rope_tables(ids.shape[-1], h.dtype, positions)
        shared: dict[str, tuple[mx.array, mx.array]] = {}
        last_of_type = {kind: i for i, kind in enumerate(c.layer_types[:c.first_kv_shared_layer])}
        for i, layer in enumerate(self.layers):
            kind = c.layer_types[i]
            h, kv = layer(h, masks[kind], *tables[kind], shared.get(kind),
                          None if ple is None else ple[:, :, i], caches[i])
            if last_of_type.get(kind) == i:
                shared[kind] = kv
        logits = self.embed_tokens.as_linear(self.norm(h[:, -1]))  # tied lm_head
        if c.final_logit_softcapping is not None:
            cap = c.final_logit_softcapping
            logits = mx.tanh(logits / cap) * cap
        return logits.astype(mx.float32)


def read_dense_config(root: str | os.PathLike) -> Gemma4DenseConfig:
    path = Path(root) / "config.json"
    return Gemma4DenseConfig.from_hf(json.loads(path.read_text()), str(path))


def dense_weights(weights: dict[str, mx.array], config: Gemma4DenseConfig) -> dict[str, mx.array]:
    """Checkpoint keys (``model.language_model.*``) -> this module's; the towers and the KV-shared layers' key /
    value weights dropped; anything unrecognised kept so the strict loader names it."""
    out = {}
    for key, value in weights.items():
        if key.startswith(_IGNORED):
            continue
        name = key.removeprefix(LM_PREFIX)
        parts = name.split(".")
        if (parts[0] == "layers" and int(parts[1]) >= config.first_kv_shared_layer and len(parts) > 3
                and parts[3] in _SHARED_KV):
            continue
        out[name] = value
    return out


def load_gemma4_dense(root: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16, quantize_bits: int | None = None,
                      group_size: int = 64) -> Gemma4DenseModel:
    """The dense Gemma 4 language model of a Hugging Face root folder (``model*.safetensors``)."""
    if quantize_bits is not None and quantize_bits not in QUANT_BITS:
        raise ValueError(f"Gemma quantization bits={quantize_bits!r} is not supported: use one of {QUANT_BITS}")
    root = Path(root)
    config = read_dense_config(root)
    files = sorted(root.glob("model*.safetensors"))
    if not files:
        raise ConfigError(ENHANCER_KEY, str(root), "has no model*.safetensors", ENHANCER_FIX)
    weights = {}
    for path in files:
        weights.update(mx.load(str(path)))  # lazy: read tensor by tensor while loading
    model = Gemma4DenseModel(config)
    weights, what = dense_weights(weights, config), f"dense Gemma 4 in {root}"
    if quantize_bits is None:
        load_weights_strict(model, weights, what, dtype)
    else:
        prefixes = ["embed_tokens.", "norm."] + [f"layers.{i}." for i in range(config.num_hidden_layers)]
        if config.hidden_size_per_layer_input:
            prefixes += ["embed_tokens_per_layer.", "per_layer_model_projection.", "per_layer_projection_norm."]
        load_quantizing(model, model, weights, prefixes, what, dtype, quantize_bits, group_size, ENHANCER_FIX)
    mx.eval(model.parameters())
    model.eval()
    return model
