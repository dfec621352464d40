"""3-D neighborhood attention (NATTEN ``na3d`` semantics) and the absolute 3-axis RoPE of LTX-2.5's diffusion
video decoder, channels-last: q, k, v (B, T, H, W, heads, head_dim).

Neighborhood: along each axis a query at ``i`` sees the ``K`` keys starting at ``clamp(i - K//2, 0, L - K)`` (the
window is shifted inward at the borders, ``K`` clipped to the axis length; no dilation, not causal). Softmax
scale 1: q comes pre-scaled.

Computed per query block: a block of (bt, bh, bw) queries sees the union of its windows, a key box of at most
(bt + K - 1) per axis, and a boolean mask keeps each query to its own window. Every block has the same shape
(the last block of an axis is moved back to end at the axis end), and the blocks that share a mask (all but
those at the borders) go through one batched ``ops.attention`` call (``mx.fast.scaled_dot_product_attention``,
or the CPU backend's).
"""

from __future__ import annotations

import functools
import itertools

import mlx.core as mx
import numpy as np

from ltx2 import ops

ROPE_BASE = 10000.0
QUERY_BLOCK = (2, 8, 16)  # (T, H, W) queries per block
SCORE_BUDGET = 2**25  # mask/score elements per sdpa call (per batch item and head)


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """The official default split of ``head_dim`` over (T, H, W): 64 -> (16, 24, 24)."""
    if head_dim % 8:
        raise ValueError(f"head_dim={head_dim} must be a multiple of 8")
    d_t = (head_dim // 4) // 2 * 2
    d_hw = (head_dim - d_t) // 2
    if d_hw % 2:
        d_t -= 2
        d_hw = (head_dim - d_t) // 2
    return d_t, d_hw, d_hw


@functools.lru_cache(maxsize=16)
def _inv_freq(dim: int, base: float) -> np.ndarray:
    """``1 / base**(arange(0, dim, 2) / dim)`` computed in float64, stored float32."""
    return (1.0 / np.power(base, np.arange(0, dim, 2, dtype=np.float64) / dim)).astype(np.float32)


def _rotate_axis(x: mx.array, positions: mx.array, axis: int, base: float) -> mx.array:
    """Rotate interleaved pairs ``(x[2i], x[2i+1])`` of ``x`` (B, T, H, W, heads, d) by ``positions * inv_freq``
    along ``axis`` (1, 2 or 3), in float32."""
    d = x.shape[-1]
    angles = positions.astype(mx.float32)[:, None] * mx.array(_inv_freq(d, base))[None, :]
    shape = [1, 1, 1, 1, 1, d // 2]
    shape[axis] = positions.shape[0]
    cos, sin = mx.cos(angles).reshape(shape), mx.sin(angles).reshape(shape)
    pairs = x.astype(mx.float32).reshape(*x.shape[:-1], d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    out = mx.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1)
    return out.reshape(x.shape).astype(x.dtype)


def apply_rope_3d(x: mx.array, split: tuple[int, int, int], w_positions: mx.array | None = None,
                  base: float = ROPE_BASE) -> mx.array:
    """Absolute RoPE on x (B, T, H, W, heads, head_dim): the first ``split[0]`` channels rotate with the frame
    index, the next ``split[1]`` with the row, the last ``split[2]`` with the column (``w_positions``, default
    0..W-1); positions are local and 0-based."""
    d_t, d_h, _ = split
    _, t, h, w, _, _ = x.shape
    w_positions = mx.arange(w, dtype=mx.float32) if w_positions is None else w_positions
    return mx.concatenate([
        _rotate_axis(x[..., :d_t], mx.arange(t, dtype=mx.float32), 1, base),
        _rotate_axis(x[..., d_t:d_t + d_h], mx.arange(h, dtype=mx.float32), 2, base),
        _rotate_axis(x[..., d_t + d_h:], w_positions, 3, base),
    ], axis=-1)


@functools.lru_cache(maxsize=256)
def _axis_plan(length: int, kernel: int, q_lo: int, q_hi: int, block: int):
    """Query blocks along one axis for queries ``q_lo..q_hi-1`` of an axis of ``length``: query indices
    (n, b), key indices (n, kb), allowed (n, b, kb) bool, and for each query its row in the flattened
    (n*b) block outputs."""
    kernel = min(kernel, length)
    n_q = q_hi - q_lo
    b = min(block, n_q)
    n = -(-n_q // b)
    starts = [q_lo + j * b for j in range(n - 1)] + [q_hi - b]
    kb = min(length, b + kernel - 1)

    def window_start(i):
        return min(max(i - kernel // 2, 0), length - kernel)

    q_idx = np.array([[s + a for a in range(b)] for s in starts], dtype=np.int32)
    k_start = [min(window_start(s), length - kb) for s in starts]
    k_idx = np.array([[s + c for c in range(kb)] for s in k_start], dtype=np.int32)
    ws = np.vectorize(window_start)(q_idx)[..., None]
    allowed = (k_idx[:, None, :] >= ws) & (k_idx[:, None, :] < ws + kernel)
    rows = np.array([min((i - q_lo) // b, n - 1) * b + i - starts[min((i - q_lo) // b, n - 1)]
                     for i in range(q_lo, q_hi)], dtype=np.int32)
    return q_idx, k_idx, allowed, rows


@functools.lru_cache(maxsize=32)
def _plan(dims: tuple[int, int, int], kernel: tuple[int, int, int], w_range: tuple[int, int],
          block: tuple[int, int, int]):
    """The blocks grouped by mask (blocks away from the borders share one): per group the flat (T*H*W)
    indices of its blocks' queries (g, nq) and keys (g, nk) and its mask (1, 1, nq, nk) (True: in the
    query's window); and for each query (in T, H, W order) its row in the groups' concatenated (blocks * nq) outputs."""
    t, h, w = dims
    plans = [_axis_plan(t, kernel[0], 0, t, block[0]), _axis_plan(h, kernel[1], 0, h, block[1]),
             _axis_plan(w, kernel[2], *w_range, block[2])]
    patterns = [np.unique(p[2].reshape(p[2].shape[0], -1), axis=0, return_inverse=True)[1].reshape(-1)
                for p in plans]
    sizes = [(p[0].shape[0], p[0].shape[1]) for p in plans]  # (blocks, queries per block) per axis
    groups: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    for j in np.ndindex(*(n for n, _ in sizes)):
        groups.setdefault(tuple(int(patterns[a][j[a]]) for a in range(3)), []).append(j)
    strides = (h * w, w, 1)
    out, position = [], {}
    for members in groups.values():
        q_flat = [sum((plans[a][0][j[a]] * strides[a]).reshape([-1 if b == a else 1 for b in range(3)])
                      for a in range(3)).reshape(-1) for j in members]
        k_flat = [sum((plans[a][1][j[a]] * strides[a]).reshape([-1 if b == a else 1 for b in range(3)])
                      for a in range(3)).reshape(-1) for j in members]
        j = members[0]
        allowed = (plans[0][2][j[0]][:, None, None, :, None, None] & plans[1][2][j[1]][None, :, None, None, :, None]
                   & plans[2][2][j[2]][None, None, :, None, None, :])
        nq, nk = len(q_flat[0]), len(k_flat[0])
        mask = allowed.reshape(1, 1, nq, nk)
        for member in members:
            position[member] = len(position)
        out.append((np.stack(q_flat).astype(np.int32), np.stack(k_flat).astype(np.int32), mask))
    rows = plans[0][3], plans[1][3], plans[2][3]
    (_, bt), (_, bh), (_, bw) = sizes
    nq = bt * bh * bw
    index = np.empty((len(rows[0]), len(rows[1]), len(rows[2])), np.int32)
    for (it, rt), (ih, rh), (iw, rw) in itertools.product(*(enumerate(r) for r in rows)):
        block_pos = position[(int(rt // bt), int(rh // bh), int(rw // bw))]
        index[it, ih, iw] = block_pos * nq + ((rt % bt) * bh + rh % bh) * bw + rw % bw
    return out, index.reshape(-1)


def na3d(q: mx.array, k: mx.array, v: mx.array, kernel: tuple[int, int, int],
         w_range: tuple[int, int] | None = None, block: tuple[int, int, int] = QUERY_BLOCK) -> mx.array:
    """Neighborhood attention, scale 1: q, k, v (B, T, H, W, heads, d) -> (B, T, H, W', heads, d), where
    ``w_range`` = (lo, hi) limits the queries to columns lo..hi-1 (W' = hi - lo; keys still span all of W).
    The blocks go through ``ops.attention`` (``mx.fast.scaled_dot_product_attention``; the CPU backend's on a
    CPU), one call per mask group (split to about ``SCORE_BUDGET`` scores per head)."""
    b, t, h, w, heads, d = q.shape
    w_range = (0, w) if w_range is None else tuple(w_range)
    groups, rows = _plan((t, h, w), tuple(kernel), w_range, tuple(block))
    qf, kf, vf = (a.reshape(b, t * h * w, heads * d) for a in (q, k, v))
    outs = []
    for q_idx, k_idx, mask in groups:
        n, nq = q_idx.shape
        nk = k_idx.shape[1]
        m = mx.where(mx.array(mask), mx.array(0, q.dtype), mx.array(-mx.inf, q.dtype))  # additive
        per_call = max(1, SCORE_BUDGET // (nq * nk))
        for g0 in range(0, n, per_call):
            g = min(n, g0 + per_call) - g0
            qs = mx.take(qf, mx.array(q_idx[g0:g0 + g].reshape(-1)), axis=1).reshape(b * g, nq, heads * d)
            ki = mx.array(k_idx[g0:g0 + g].reshape(-1))
            ks, vs = (mx.take(a, ki, axis=1).reshape(b * g, nk, heads * d) for a in (kf, vf))
            outs.append(ops.attention(qs, ks, vs, heads, 1.0, m).reshape(b, g * nq, heads * d))
    o = mx.concatenate(outs, axis=1) if len(outs) > 1 else outs[0]
    o = mx.take(o, mx.array(rows), axis=1)
    return o.reshape(b, t, h, w_range[1] - w_range[0], heads, d)


def brute_force_na3d(q: np.ndarray, k: np.ndarray, v: np.ndarray, kernel: tuple[int, int, int]) -> np.ndarray:
    """The definition, one query at a time in float64 (tests)."""
    b, t, h, w, heads, d = q.shape
    out = np.zeros(q.shape, np.float64)

    def win(i, n, kk):
        kk = min(kk, n)
        s = min(max(i - kk // 2, 0), n - kk)
        return slice(s, s + kk)

    for it, ih, iw in np.ndindex(t, h, w):
        sl = (slice(None), win(it, t, kernel[0]), win(ih, h, kernel[1]), win(iw, w, kernel[2]))
        kk, vv = k[sl].reshape(b, -1, heads, d), v[sl].reshape(b, -1, heads, d)
        s = np.einsum("bnd,bknd->bnk", q[:, it, ih, iw].astype(np.float64), kk)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out[:, it, ih, iw] = np.einsum("bnk,bknd->bnd", p, vv)
    return out


__all__ = ["apply_rope_3d", "brute_force_na3d", "na3d", "rope_split"]
