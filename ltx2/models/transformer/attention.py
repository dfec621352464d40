"""Multi-head attention of the LTX-2 transformer (self, text-cross and audio<->video cross)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops
from ltx2.models.transformer.layers import NORM_EPS, Linear
from ltx2.ops import RopeTable


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
        """softmax attention of the normed, rotated projections of x (queries) and context (keys): (B, T, H*D)."""
        q = ops.qk_norm_rope(self.to_q, x, self.q_norm.weight, self.q_norm.eps, q_pe, self.heads)
        k = ops.qk_norm_rope(self.to_k, context, self.k_norm.weight, self.k_norm.eps, k_pe, self.heads)
        return ops.attention(q, k, v, self.heads, self.head_dim**-0.5, mask)
