"""Duration head (official ``DurationHead``): connector tokens -> predicted shot duration in seconds.

Each stream present is projected to the pooler width and tagged with its modality embedding; the tokens of both
are concatenated, ``num_queries`` learned queries cross-attend them (``nn.MultiheadAttention`` semantics, no
mask), and the flattened result goes through a GELU(tanh) MLP to a log-duration, returned as ``exp`` = seconds.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops
from ltx2.models.duration_head.config import DurationHeadConfig


class MultiheadCrossAttention(nn.Module):
    """torch ``nn.MultiheadAttention`` (batch first, no mask) from its ``in_proj_weight`` (3E, E) /
    ``in_proj_bias`` (3E,) rows q, k, v and ``out_proj``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = mx.zeros((3 * dim, dim))
        self.in_proj_bias = mx.zeros((3 * dim,))
        self.out_proj = nn.Linear(dim, dim)

    def __call__(self, query: mx.array, tokens: mx.array) -> mx.array:
        dim = query.shape[-1]
        w, b = self.in_proj_weight, self.in_proj_bias
        q = ops.linear(query, w[:dim], b[:dim])
        k = ops.linear(tokens, w[dim: 2 * dim], b[dim: 2 * dim])
        v = ops.linear(tokens, w[2 * dim:], b[2 * dim:])
        out = ops.attention(q, k, v, self.heads, (dim // self.heads) ** -0.5)
        return self.out_proj(out)


class AttentionPooler(nn.Module):
    """``num_queries`` learned tokens cross-attending the input tokens: (B, T, E) -> (B, num_queries, E)."""

    def __init__(self, dim: int, num_queries: int, heads: int):
        super().__init__()
        self.query_tokens = mx.zeros((num_queries, dim))
        self.cross_attn = MultiheadCrossAttention(dim, heads)

    def __call__(self, tokens: mx.array) -> mx.array:
        queries = mx.broadcast_to(self.query_tokens.astype(tokens.dtype)[None],
                                  (tokens.shape[0], *self.query_tokens.shape))
        return self.cross_attn(queries, tokens)


class DurationHead(nn.Module):
    def __init__(self, config: DurationHeadConfig):
        super().__init__()
        self.config = config
        dim = config.pooler_hidden_dim
        self.video_input_proj = nn.Linear(config.video_dim, dim)
        self.video_modality_emb = mx.zeros((dim,))
        self.audio_input_proj = nn.Linear(config.audio_dim, dim)
        self.audio_modality_emb = mx.zeros((dim,))
        self.attention_pooler = AttentionPooler(dim, config.num_queries, config.num_pooler_heads)
        self.mlp_hidden = nn.Linear(dim * config.num_queries, config.mlp_hidden)
        self.mlp_out = nn.Linear(config.mlp_hidden, 1)

    def __call__(self, video: mx.array | None = None, audio: mx.array | None = None) -> mx.array:
        """video (B, Tv, video_dim) and/or audio (B, Ta, audio_dim) connector outputs -> seconds (B,)."""
        if video is None and audio is None:
            raise ValueError("the duration head needs the video or the audio connector output (or both)")
        groups = []
        if video is not None:
            groups.append(self.video_input_proj(video) + self.video_modality_emb.astype(video.dtype))
        if audio is not None:
            groups.append(self.audio_input_proj(audio) + self.audio_modality_emb.astype(audio.dtype))
        pooled = self.attention_pooler(mx.concatenate(groups, axis=1))
        hidden = ops.gelu_tanh(self.mlp_hidden(pooled.reshape(pooled.shape[0], -1)))
        return mx.exp(self.mlp_out(hidden)[:, 0])
