"""Feature extractors: Gemma's hidden states (all layers) -> one feature vector per token.

The L hidden states are stacked on a last axis, (B, T, D, L), and flattened to D*L with the *layer* index
fastest (flat index d*L + l), which is the order of the checkpoints' aggregate_embed inputs.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

EPS = 1e-6


def stack_layers(hidden_states: list[mx.array] | mx.array) -> mx.array:
    """list of L (B, T, D) -> (B, T, D, L)."""
    return mx.stack(hidden_states, axis=-1) if isinstance(hidden_states, (list, tuple)) else hidden_states


def normalize_v1(x: mx.array, attention_mask: mx.array) -> mx.array:
    """LTX-2: per sample and layer, ``8 (x - mean) / (max - min)`` over the prompt tokens (all D channels);
    (B, T, D, L) -> (B, T, D*L) float32, pads zeroed. The prompt tokens are those of the binary mask, wherever
    they are (ltx-core 1.2.0; 1.0.0 read the mask as left padding, the same for a left-padded prompt)."""
    b, t, d, n_layers = x.shape
    lengths = attention_mask.sum(axis=-1).astype(mx.int32)  # (B,)
    valid = (attention_mask != 0)[:, :, None, None]  # (B, T, 1, 1)
    total = mx.where(valid, x, mx.zeros_like(x)).sum(axis=(1, 2), keepdims=True)  # in x's dtype, like torch
    mean = total.astype(mx.float32) / ((lengths * d).astype(mx.float32).reshape(b, 1, 1, 1) + EPS)
    high = mx.where(valid, x, mx.array(-mx.inf, x.dtype)).max(axis=(1, 2), keepdims=True)
    low = mx.where(valid, x, mx.array(mx.inf, x.dtype)).min(axis=(1, 2), keepdims=True)
    value_range = (high - low).astype(mx.float32)
    normed = 8 * (x.astype(mx.float32) - mean) / (value_range + EPS)
    return mx.where(valid[..., 0], normed.reshape(b, t, d * n_layers), 0.0)


def normalize_v2(x: mx.array, attention_mask: mx.array) -> mx.array:
    """LTX-2.3: per token and layer RMS over D, ``x / sqrt(mean_d(x^2) + eps)``; (B, T, D, L) -> (B, T, D*L)
    in x's dtype, pads (mask 0) zeroed."""
    b, t, d, n_layers = x.shape
    variance = mx.mean(x * x, axis=2, keepdims=True)
    normed = (x * mx.rsqrt(variance + EPS)).reshape(b, t, d * n_layers)
    return mx.where(attention_mask.astype(mx.bool_)[..., None], normed, mx.zeros_like(normed))


class FeatureExtractorV1(nn.Module):
    """LTX-2 ("19B"): normalize_v1 -> ``aggregate_embed`` (D*L -> D, no bias); video and audio share it."""

    def __init__(self, embedding_dim: int, num_layers: int):
        super().__init__()
        self.aggregate_embed = nn.Linear(embedding_dim * num_layers, embedding_dim, bias=False)

    def __call__(self, hidden_states, attention_mask: mx.array) -> tuple[mx.array, mx.array]:
        x = stack_layers(hidden_states)
        features = self.aggregate_embed(normalize_v1(x, attention_mask).astype(x.dtype))  # (B, T, D)
        return features, features


class FeatureExtractorV2(nn.Module):
    """LTX-2.3 ("22B"): normalize_v2, scaled by ``sqrt(out / D)`` per target, -> ``video_aggregate_embed`` /
    ``audio_aggregate_embed`` (with bias) of the transformer's video / audio widths."""

    def __init__(self, embedding_dim: int, num_layers: int, video_dim: int, audio_dim: int | None):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.video_aggregate_embed = nn.Linear(embedding_dim * num_layers, video_dim)
        if audio_dim is not None:
            self.audio_aggregate_embed = nn.Linear(embedding_dim * num_layers, audio_dim)

    def __call__(self, hidden_states, attention_mask: mx.array) -> tuple[mx.array, mx.array | None]:
        normed = normalize_v2(stack_layers(hidden_states), attention_mask)
        video = self._project(self.video_aggregate_embed, normed)
        audio = self._project(self.audio_aggregate_embed, normed) if "audio_aggregate_embed" in self else None
        return video, audio

    def _project(self, linear: nn.Linear, normed: mx.array) -> mx.array:
        out_dim = linear.weight.shape[0]
        return linear(normed * math.sqrt(out_dim / self.embedding_dim))
