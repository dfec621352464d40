"""Gemma 4 "unified" language model (LTX-2.5's text encoder) returning every hidden state the LTX text stack
consumes. Written in plain MLX from the facts of transformers' ``gemma4_unified`` text model (encode path only).

Differences from Gemma 3 that matter for parity: RMSNorm scales by ``weight`` (not ``1 + weight``) in float32;
``v_norm`` has no weight; attention scale is 1.0; every layer output is multiplied by its stored
``layer_scalar``; full-attention layers use ``global_head_dim`` heads with "proportional" RoPE (only the first
``partial_rotary_factor`` of the frequencies rotate, the exponent divides by the full head dim) and, with
``attention_k_eq_v``, take the values from the raw key projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import mlx.core as mx
import mlx.nn as nn

from ltx2.errors import ConfigError
from ltx2.models.text.gemma import QUANT_BITS, attention_mask_for, quantize_under
from ltx2.ops import gelu_tanh

MODEL_TYPE = "gemma4_unified"
SLIDING, FULL = "sliding_attention", "full_attention"
ROPE_TYPES = ("default", "proportional")
TE_FILE_FIX = "use the official LTX-2.5 text-encoder file (gemma4-12b-with-proj-ltx-2.5-*.safetensors)"


@dataclass(frozen=True)
class RopeSpec:
    """RoPE of one layer type: ``default`` (all head_dim/2 frequencies) or ``proportional`` (the first
    ``int(partial * dim // 2)`` frequencies, the rest zero = no rotation)."""

    rope_type: str = "default"
    theta: float = 10_000.0
    partial_rotary_factor: float = 1.0
    factor: float = 1.0

    def inv_freq(self, dim: int) -> mx.array:
        if self.rope_type == "default":
            return 1.0 / (self.theta ** (mx.arange(0, dim, 2, dtype=mx.float32) / dim))
        angles = int(self.partial_rotary_factor * dim // 2)
        rotated = 1.0 / (self.theta ** (mx.arange(0, 2 * angles, 2, dtype=mx.float32) / dim))
        return mx.concatenate([rotated, mx.zeros((dim // 2 - angles,), mx.float32)]) / self.factor


@dataclass(frozen=True)
class Gemma4Config:
    """The text model of a ``gemma4_unified`` config. Defaults are transformers' ``Gemma4UnifiedTextConfig``
    defaults (not the 12B sizes); the text-encoder file's ``gemma_config`` overrides the entries it states."""

    hidden_size: int = 2304
    num_hidden_layers: int = 30
    intermediate_size: int = 9216
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: int = 256
    global_head_dim: int = 512
    num_global_key_value_heads: int | None = None
    attention_k_eq_v: bool = False
    sliding_window: int = 1024
    rms_norm_eps: float = 1e-6
    vocab_size: int = 262_144
    num_kv_shared_layers: int = 0
    use_double_wide_mlp: bool = False
    layer_types: tuple[str, ...] = ()
    sliding_rope: RopeSpec = field(default_factory=lambda: RopeSpec("default", 10_000.0))
    full_rope: RopeSpec = field(default_factory=lambda: RopeSpec("proportional", 1_000_000.0, 0.25))
    gemma_version: str | None = None

    def __post_init__(self):
        if not self.layer_types:  # 5 sliding : 1 full, as transformers
            types = tuple(SLIDING if (i + 1) % 6 else FULL for i in range(self.num_hidden_layers))
            object.__setattr__(self, "layer_types", types)
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(f"{len(self.layer_types)} layer_types for {self.num_hidden_layers} layers")
        if self.layer_types[-1] != FULL:  # transformers forces the last layer to full attention
            object.__setattr__(self, "layer_types", (*self.layer_types[:-1], FULL))
        first = self.first_kv_shared_layer
        orphans = set(self.layer_types[first:]) - set(self.layer_types[:first])
        if not 0 <= self.num_kv_shared_layers <= self.num_hidden_layers or orphans:
            raise ValueError(f"num_kv_shared_layers={self.num_kv_shared_layers}: the last layers reuse the keys and "
                             f"values of an earlier layer of their type, but {sorted(orphans) or 'none'} has none")

    @property
    def num_hidden_states(self) -> int:
        """Embedding output + one per layer (the last one after the final norm)."""
        return self.num_hidden_layers + 1

    @property
    def first_kv_shared_layer(self) -> int:
        return self.num_hidden_layers - self.num_kv_shared_layers

    @classmethod
    def from_hf(cls, hf: dict, where: str = "gemma_config", key: str = "model.text_encoder",
                model_type: str = MODEL_TYPE, fix: str = TE_FILE_FIX, **extra) -> Gemma4Config:
        """From the Hugging Face config dict (``model_type: gemma4_unified`` with a ``text_config``; a subclass
        names its own ``model_type``, config ``key`` and ``fix``, and passes values of its own in ``extra``)."""
        if hf.get("model_type") != model_type:
            raise ConfigError(key, where, f"model_type={hf.get('model_type')!r} is not {model_type!r}", fix)
        text = dict(hf.get("text_config") or {})
        plain = {f.name for f in fields(cls)} - {"layer_types", "sliding_rope", "full_rope", "gemma_version",
                                                 *extra}
        values = {k: text[k] for k in plain if text.get(k) is not None}
        values.update(extra)
        if text.get("layer_types"):
            values["layer_types"] = tuple(text["layer_types"])
        problems = []
        rope = text.get("rope_parameters") or {}
        for kind, key in ((SLIDING, "sliding_rope"), (FULL, "full_rope")):
            params = rope.get(kind)
            if params:
                spec = RopeSpec(params.get("rope_type", "default"), float(params.get("rope_theta", 10_000.0)),
                                float(params.get("partial_rotary_factor", 1.0)), float(params.get("factor", 1.0)))
                if spec.rope_type not in ROPE_TYPES:
                    problems.append(f"{kind} rope_type={spec.rope_type!r} (supported: {ROPE_TYPES})")
                values[key] = spec
        act = text.get("hidden_activation") or "gelu_pytorch_tanh"
        if act != "gelu_pytorch_tanh":
            problems.append(f"hidden_activation={act!r} (supported: 'gelu_pytorch_tanh')")
        if text.get("attention_bias"):
            problems.append("attention_bias=True (supported: False)")
        if text.get("use_bidirectional_attention") not in (None, "vision"):
            problems.append(f"use_bidirectional_attention={text['use_bidirectional_attention']!r} (supported: "
                            "'vision', i.e. causal text)")
        unknown = sorted(set(values.get("layer_types", ())) - {SLIDING, FULL})
        if unknown:
            problems.append(f"layer_types {unknown} (supported: {SLIDING!r}, {FULL!r})")
        n_layers = values.get("num_hidden_layers", cls.num_hidden_layers)
        if "layer_types" in values and len(values["layer_types"]) != n_layers:
            problems.append(f"{len(values['layer_types'])} layer_types for num_hidden_layers={n_layers}")
        if problems:
            raise ConfigError(key, where, "unsupported Gemma 4 config: " + "; ".join(problems), fix)
        try:
            return cls(**values, gemma_version=hf.get("gemma_version"))
        except ValueError as e:
            raise ConfigError(key, where, f"unsupported Gemma 4 config: {e}", fix) from None


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` in float32, cast back (no weight: ``with_scale=False``)."""

    def __init__(self, dim: int, eps: float, with_scale: bool = True):
        super().__init__()
        self.eps = eps
        if with_scale:
            self.weight = mx.ones((dim,))

    def __call__(self, x: mx.array) -> mx.array:
        weight = self.weight.astype(mx.float32) if "weight" in self else None
        return mx.fast.rms_norm(x.astype(mx.float32), weight, self.eps).astype(x.dtype)


def rotate(x: mx.array, cos: mx.array, sin: mx.array) -> mx.array:
    """Rotate-half RoPE: x (B, T, H, D), cos/sin (1, T, 1, D) in x's dtype."""
    half = x.shape[-1] // 2
    return x * cos + mx.concatenate([-x[..., half:], x[..., :half]], axis=-1) * sin


class Attention(nn.Module):
    def __init__(self, config: Gemma4Config, index: int):
        super().__init__()
        self.is_sliding = config.layer_types[index] == SLIDING
        self.head_dim = config.head_dim if self.is_sliding else config.global_head_dim
        self.k_eq_v = config.attention_k_eq_v and not self.is_sliding
        self.kv_shared = index >= config.first_kv_shared_layer
        self.heads = config.num_attention_heads
        self.kv_heads = (config.num_global_key_value_heads or config.num_key_value_heads) if self.k_eq_v \
            else config.num_key_value_heads
        dim, eps = config.hidden_size, config.rms_norm_eps
        self.q_proj = nn.Linear(dim, self.heads * self.head_dim, bias=False)
        self.q_norm = RMSNorm(self.head_dim, eps)
        if not self.kv_shared:
            self.k_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
            if not self.k_eq_v:
                self.v_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
            self.k_norm = RMSNorm(self.head_dim, eps)
            self.v_norm = RMSNorm(self.head_dim, eps, with_scale=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, dim, bias=False)

    def __call__(self, x: mx.array, mask: mx.array, cos: mx.array, sin: mx.array,
                 shared: tuple[mx.array, mx.array] | None,
                 cache=None) -> tuple[mx.array, tuple[mx.array, mx.array]]:
        """``cache`` (generation): its ``update(k, v)`` returns the keys / values of every position so far."""
        b, t, _ = x.shape
        q = rotate(self.q_norm(self.q_proj(x).reshape(b, t, -1, self.head_dim)), cos, sin).transpose(0, 2, 1, 3)
        if self.kv_shared:
            k, v = shared
        else:
            raw_k = self.k_proj(x).reshape(b, t, -1, self.head_dim)
            raw_v = raw_k if self.k_eq_v else self.v_proj(x).reshape(b, t, -1, self.head_dim)
            k = rotate(self.k_norm(raw_k), cos, sin).transpose(0, 2, 1, 3)
            v = self.v_norm(raw_v).transpose(0, 2, 1, 3)
            if cache is not None:
                k, v = cache.update(k, v)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(b, t, -1)), (k, v)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(gelu_tanh(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """``h = x + post_attn(attn(in(x)))``; ``h += post_ff(mlp(pre_ff(h)))``; ``h * layer_scalar``."""

    def __init__(self, config: Gemma4Config, index: int):
        super().__init__()
        dim, eps = config.hidden_size, config.rms_norm_eps
        wide = config.use_double_wide_mlp and index >= config.first_kv_shared_layer > 0
        self.self_attn = Attention(config, index)
        self.mlp = MLP(dim, config.intermediate_size * (2 if wide else 1))
        self.input_layernorm = RMSNorm(dim, eps)
        self.post_attention_layernorm = RMSNorm(dim, eps)
        self.pre_feedforward_layernorm = RMSNorm(dim, eps)
        self.post_feedforward_layernorm = RMSNorm(dim, eps)
        self.layer_scalar = mx.ones((1,))

    def __call__(self, x, mask, cos, sin, shared):
        attended, kv = self.self_attn(self.input_layernorm(x), mask, cos, sin, shared)
        h = x + self.post_attention_layernorm(attended)
        h = h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))
        return h * self.layer_scalar.astype(h.dtype), kv


class Gemma4TextModel(nn.Module):
    """Gemma 4 unified text model. ``hidden_states`` -> ``num_hidden_layers + 1`` arrays (B, T, hidden)."""

    layer_class = DecoderLayer

    def __init__(self, config: Gemma4Config):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = [self.layer_class(config, i) for i in range(config.num_hidden_layers)]
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.quantization: dict | None = None

    def rope_tables(self, t: int, dtype: mx.Dtype, positions: mx.array | None = None
                    ) -> dict[str, tuple[mx.array, mx.array]]:
        """cos/sin (1, T, 1, head dim) per layer type for positions 0..T-1 (or ``positions``, (T,)), float32 then
        cast to ``dtype``."""
        c = self.config
        out = {}
        where = mx.arange(t, dtype=mx.float32) if positions is None else positions.astype(mx.float32)
        for kind, spec, dim in ((SLIDING, c.sliding_rope, c.head_dim), (FULL, c.full_rope, c.global_head_dim)):
            # "default" RoPE always uses head_dim (as transformers); "proportional" the layer type's own head dim
            freqs = where[:, None] * spec.inv_freq(
                c.head_dim if spec.rope_type == "default" else dim)[None]
            angles = mx.concatenate([freqs, freqs], axis=-1)[None, :, None, :]
            out[kind] = (mx.cos(angles).astype(dtype), mx.sin(angles).astype(dtype))
        return out

    def hidden_states(self, input_ids: mx.array, attention_mask: mx.array) -> list[mx.array]:
        """input_ids, attention_mask: (B, T), left padded. Positions are 0..T-1 *including* the pads, as the
        reference. Returns [embeddings * sqrt(hidden), after layer 0, ..., after layer n-2,
        final_norm(after layer n-1)]; pad rows are finite but meaningless."""
        c = self.config
        h = self.embed_tokens(input_ids)
        h = h * mx.array(math.sqrt(c.hidden_size), mx.float32).astype(h.dtype)
        masks = {FULL: attention_mask_for(attention_mask, None), SLIDING: attention_mask_for(attention_mask,
                                                                                             c.sliding_window)}
        tables = self.rope_tables(input_ids.shape[-1], h.dtype)
        shared: dict[str, tuple[mx.array, mx.array]] = {}
        last_of_type = {kind: i for i, kind in enumerate(c.layer_types[:c.first_kv_shared_layer])}
        states = [h]
        for i, layer in enumerate(self.layers):
            kind = c.layer_types[i]
            h, kv = layer(h, masks[kind], *tables[kind], shared.get(kind))
            if last_of_type.get(kind) == i:
                shared[kind] = kv
            states.append(h)
        states[-1] = self.norm(h)
        return states

    def quantize(self, bits: int, group_size: int = 64, under: str = "") -> int:
        """MLX affine quantization of the embeddings and linear layers under ``under`` (default all); layers
        whose input width is not a multiple of ``group_size`` stay unquantized. Returns how many were."""
        if bits not in QUANT_BITS:
            raise ValueError(f"Gemma quantization bits={bits!r} is not supported: use one of {QUANT_BITS} (or none)")
        count = quantize_under(self, bits, group_size, under)
        self.quantization = {"bits": bits, "group_size": group_size,
                             "layers": count + (self.quantization or {}).get("layers", 0)}
        return count
