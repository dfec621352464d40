"""Multi-head attention of the LTX-2 transformer (self, text-cross and audio<->video cross)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.backends.cpu import transformer as cpu_kernels
from ltx2.models.transformer.layers import NORM_EPS, Linear, product
from ltx2.models.transformer.rope import RopeTable, apply_rope


class Attention(nn.Module):
    """q/k RMSNorm (learnable, over the whole inner dim) before RoPE; optional per-head gate (LTX-2.3).

    ``passthrough=True`` is the STG perturbation: softmax attention is replaced by the value path,
    ``to_out(v * head_gate)``. A per-sample ``keep`` (B,) in [0, 1] blends the two for mixed batches.
    """

    def __init__(self, query_dim: int, context_dim: int, heads: int, head_dim: int, gated: bool = False):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.to_q = Linear(query_dim, inner)
        self.to_k = Linear(context_dim, inner)
        self.to_v = Linear(context_dim, inner)
        self.q_norm = nn.RMSNorm(inner, eps=NORM_EPS)
        self.k_norm = nn.RMSNorm(inner, eps=NORM_EPS)
        if gated:
            self.to_gate_logits = Linear(query_dim, heads)
        self.to_out = [Linear(inner, query_dim)]

    def __call__(
        self,
        x: mx.array,
        context: mx.array | None = None,
        mask: mx.array | None = None,
        pe: RopeTable | None = None,
        k_pe: RopeTable | None = None,
        passthrough: bool = False,
        keep: mx.array | None = None,
    ) -> mx.array:
        context = x if context is None else context
        v = self.to_v(context)  # (B, S, inner)
        if passthrough:
            out = v
        else:
            out = self._attend(x, context, v, mask, pe, pe if k_pe is None else k_pe)
            if keep is not None:
                keep = keep.reshape(-1, 1, 1).astype(out.dtype)
                out = out * keep + v * (1 - keep)
        if "to_gate_logits" in self:
            b, t, _ = out.shape
            logits = self.to_gate_logits(x)  # (B, T, H)
            gates = 2.0 * mx.sigmoid(logits.astype(mx.float32)).astype(logits.dtype)
            out = (out.reshape(b, t, self.heads, self.head_dim) * gates[..., None]).reshape(b, t, -1)
        return self.to_out[0](out)

    def _attend(self, x, context, v, mask, q_pe, k_pe) -> mx.array:
        (q, q_bias), (k, k_bias) = product(self.to_q, x), product(self.to_k, context)
        scale = self.head_dim**-0.5
        scores = q.shape[0] * self.heads * q.shape[1] * k.shape[1]  # B*H*T*S softmax elements
        if cpu_kernels.active(q, scores) and (mask is None or mx.issubdtype(mask.dtype, mx.floating)):
            # in place on the fresh projections (biases folded in); the output is written over q's buffer
            q = cpu_kernels.qk_norm_rope_(q, self.q_norm.weight, self.q_norm.eps, _host(q_pe), self.heads, scale,
                                          q_bias)
            k = cpu_kernels.qk_norm_rope_(k, self.k_norm.weight, self.k_norm.eps, _host(k_pe), self.heads,
                                          bias=k_bias)
            return cpu_kernels.attention_(q, k, v, self.heads, mask)  # (B, T, H*D)
        q, k = (q if q_bias is None else q + q_bias), (k if k_bias is None else k + k_bias)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (self._rope_heads(q, q_pe), self._rope_heads(k, k_pe), self._heads(v))
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        b, _, t, _ = out.shape
        return out.transpose(0, 2, 1, 3).reshape(b, t, -1)

    def _heads(self, x: mx.array) -> mx.array:  # (B, T, H*D) -> (B, H, T, D)
        b, t, _ = x.shape
        return x.reshape(b, t, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def _rope_heads(self, x: mx.array, pe: RopeTable | None) -> mx.array:
        if pe is None:
            return self._heads(x)
        if pe.rope_type == "interleaved":
            return self._heads(apply_rope(x, pe))
        return apply_rope(self._heads(x), pe)


def _host(pe: RopeTable | None):
    return None if pe is None else pe.host()
