"""Rotary position embeddings as LTX-2 defines them.

RoPE spans the whole inner dim (all heads together), so each head sees its own slice of frequencies.
For ``n_pos`` position axes (3 for video: t, h, w; 1 for audio, A/V cross attention, connectors),
``n = dim // (2 * n_pos)`` frequencies ``g_k = (pi/2) * theta ** (k / (n - 1))`` are laid out
frequency-major: ``[g0*x_t, g0*x_h, g0*x_w, g1*x_t, ...]``. Unused entries (identity: cos 1, sin 0) are
padded at the *front*. ``x_j = 2 * p_j / max_pos[j] - 1`` with ``p_j`` the middle of a token's bounds.

``split``: each head's vector is two halves ``[a | b]`` rotated as ``(a c - b s, b c + a s)``.
``interleaved``: adjacent pairs ``(x[2i], x[2i+1])`` rotated the same way.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict

import mlx.core as mx
import numpy as np

from ltx2 import ops
from ltx2.ops import RopeTable, apply_rope  # noqa: F401  (the table type and its rotation live with the ops)

ROPE_TYPES = ("split", "interleaved")


@functools.lru_cache(maxsize=16)
def frequency_grid(theta: float, n_pos: int, dim: int, float64: bool) -> np.ndarray:
    """The ``n = dim // (2 n_pos)`` base frequencies, float32.

    ``float64`` (checkpoint ``frequencies_precision: float64``) computes the power in float64 and rounds once.
    Otherwise the exponents are a float32 linspace (bit-exact with the reference's) and the power is rounded
    once from float64; the reference's float32 power is not always correctly rounded, so ~1% of a large grid
    differ from it by one ulp (the real checkpoints use float64).
    """
    n = dim // (2 * n_pos)
    if float64:
        grid = np.power(theta, np.linspace(0.0, 1.0, n, dtype=np.float64)) * math.pi / 2
        return grid.astype(np.float32)
    power = np.power(np.float64(theta), _torch_linspace_f32(n).astype(np.float64)).astype(np.float32)
    return (power * np.float32(math.pi) / np.float32(2)).astype(np.float32)


def _torch_linspace_f32(n: int) -> np.ndarray:
    """``linspace(0, 1, n)`` in float32 exactly as torch computes it (fused multiply-add from both ends)."""
    if n == 1:
        return np.zeros(1, np.float32)
    step = np.float64(np.float32(1) / np.float32(n - 1))
    i = np.arange(n)
    return np.where(i < n // 2, step * i, 1.0 - step * (n - 1 - i)).astype(np.float32)


def fractional_positions(positions: mx.array, max_pos: list[int] | tuple[int, ...], use_middle: bool) -> mx.array:
    """positions (B, n_pos, T, 2) bounds [start, end) -> ``2 p / max_pos - 1`` (B, n_pos, T).

    The arithmetic runs in the positions' own dtype: the reference pipelines store video positions in
    bf16 and do this in bf16 (a parity trap), so we keep the same per-op rounding.
    """
    if positions.ndim == 4:
        positions = (positions[..., 0] + positions[..., 1]) / 2.0 if use_middle else positions[..., 0]
    if positions.shape[1] != len(max_pos):
        raise ValueError(f"positions have {positions.shape[1]} axes but max_pos {list(max_pos)} has {len(max_pos)}")
    axes = [positions[:, j] / max_pos[j] for j in range(len(max_pos))]
    return mx.stack(axes, axis=1) * 2 - 1


def rope_table(
    positions: mx.array,
    dim: int,
    num_heads: int,
    max_pos: list[int] | tuple[int, ...],
    rope_type: str,
    theta: float = 10000.0,
    float64_grid: bool = True,
    use_middle: bool = True,
    dtype: mx.Dtype = mx.float32,
) -> RopeTable:
    """cos/sin tables for tokens at ``positions`` (B, n_pos, T, 2); cast to ``dtype`` like the reference."""
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_type {rope_type!r} is not one of {ROPE_TYPES}")
    n_pos = positions.shape[1]
    grid = mx.array(frequency_grid(float(theta), n_pos, dim, float64_grid))  # (n,)
    x = fractional_positions(positions, max_pos, use_middle).astype(mx.float32)  # (B, n_pos, T)
    b, _, t = x.shape
    freqs = (x.transpose(0, 2, 1)[..., None, :] * grid[:, None]).reshape(b, t, -1)  # (B, T, n*n_pos), k*n_pos+j
    cos, sin = ops.cos_sin(freqs)
    if rope_type == "split":
        pad = dim // 2 - freqs.shape[-1]
        cos, sin = _pad_front(cos, sin, pad)
        cos = cos.reshape(b, t, num_heads, -1).transpose(0, 2, 1, 3)
        sin = sin.reshape(b, t, num_heads, -1).transpose(0, 2, 1, 3)
    else:
        cos = mx.repeat(cos, 2, axis=-1)
        sin = mx.repeat(sin, 2, axis=-1)
        cos, sin = _pad_front(cos, sin, dim % (2 * n_pos))
    return RopeTable(cos.astype(dtype), sin.astype(dtype), rope_type)


_recent_tables: OrderedDict = OrderedDict()
RECENT_TABLES = 4  # one forward's worth: video and audio self-attention, and their audio<->video tables


def cached_rope_table(positions: mx.array, *args, **kwargs) -> RopeTable:
    """``rope_table``, kept for the last RECENT_TABLES distinct inputs when running on the CPU: every step of a
    denoising loop passes the same positions, and MLX's single-threaded CPU sin/cos made the tables ~4% of a
    forward at the 19B widths (220 ms). Keyed by the positions' values; GPUs just recompute them (no
    host read of the inputs, and their sin/cos are cheap)."""
    if mx.default_device() != mx.cpu:
        return rope_table(positions, *args, **kwargs)
    values = np.asarray(positions.astype(mx.float32))  # exact for the bf16 positions too
    key = (values.shape, str(positions.dtype), hashlib.sha1(values.tobytes()).hexdigest(),
           repr((args, sorted(kwargs.items()))))
    table = _recent_tables.pop(key, None) or rope_table(positions, *args, **kwargs)
    _recent_tables[key] = table
    while len(_recent_tables) > RECENT_TABLES:
        _recent_tables.popitem(last=False)
    return table


def _pad_front(cos: mx.array, sin: mx.array, pad: int) -> tuple[mx.array, mx.array]:
    if pad == 0:
        return cos, sin
    shape = (*cos.shape[:-1], pad)
    return (mx.concatenate([mx.ones(shape, cos.dtype), cos], axis=-1),
            mx.concatenate([mx.zeros(shape, sin.dtype), sin], axis=-1))
