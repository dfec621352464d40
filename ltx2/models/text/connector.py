"""Embeddings1DConnector: a small pre-norm transformer over the text features.

The prompt tokens are moved to the front (the left padding removed, order kept) and every position from
``n`` on is filled with ``learnable_registers[i mod R]``; then all T positions attend to each other (no mask)
with RoPE over positions 0..T-1, and the output goes through a parameter-free RMSNorm.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.models.text.config import NUM_REGISTERS, ConnectorConfig
from ltx2.models.transformer.attention import Attention
from ltx2.models.transformer.layers import FeedForward, rms_norm
from ltx2.models.transformer.rope import RopeTable, rope_table


class ConnectorBlock(nn.Module):
    """``x + attn1(rms(x))`` then ``x + ff(rms(x))``; no AdaLN, no cross-attention."""

    def __init__(self, config: ConnectorConfig):
        super().__init__()
        self.attn1 = Attention(config.dim, config.dim, config.heads, config.head_dim, gated=config.gated)
        self.ff = FeedForward(config.dim)

    def __call__(self, x: mx.array, pe: RopeTable) -> mx.array:
        x = x + self.attn1(rms_norm(x), pe=pe)
        return x + self.ff(rms_norm(x))


class Embeddings1DConnector(nn.Module):
    """(B, T, dim) features + (B, T) prompt mask -> (B, T, dim) context. T must be a multiple of R."""

    def __init__(self, config: ConnectorConfig, num_registers: int = NUM_REGISTERS):
        super().__init__()
        self.config = config
        self.transformer_1d_blocks = [ConnectorBlock(config) for _ in range(config.num_layers)]
        self.learnable_registers = mx.zeros((num_registers, config.dim))

    def __call__(self, features: mx.array, attention_mask: mx.array, rope_type: str, max_pos: tuple[int, ...],
                 theta: float = 10000.0, float64_grid: bool = True) -> mx.array:
        x = self.fill_with_registers(features, attention_mask)
        t = x.shape[1]
        positions = mx.arange(t, dtype=mx.float32).reshape(1, 1, t)  # (1, n_pos=1, T)
        pe = rope_table(positions, self.config.dim, self.config.heads, max_pos, rope_type, theta, float64_grid,
                        use_middle=False, dtype=x.dtype)
        for block in self.transformer_1d_blocks:
            x = block(x, pe)
        return rms_norm(x)

    def fill_with_registers(self, features: mx.array, attention_mask: mx.array) -> mx.array:
        """Prompt tokens (mask 1) first, in order; registers (tiled) at every later position."""
        b, t, _ = features.shape
        registers = self.learnable_registers
        if t % registers.shape[0]:
            raise ValueError(f"text sequence length {t} must be a multiple of the connector's "
                             f"{registers.shape[0]} registers (the tokenizer's max_length sets it)")
        keep = attention_mask.astype(mx.int32)
        order = mx.argsort((1 - keep) * t + mx.arange(t)[None], axis=-1)  # prompt tokens first, stable
        compacted = mx.take_along_axis(features, order[..., None], axis=1)
        is_prompt = mx.arange(t)[None] < keep.sum(axis=-1, keepdims=True)  # (B, T)
        tiled = mx.tile(registers.astype(features.dtype), (t // registers.shape[0], 1))  # (T, dim)
        return mx.where(is_prompt[..., None], compacted, tiled[None])
