"""3-D neighborhood attention (NATTEN ``na3d`` semantics) and the absolute 3-axis RoPE of LTX-2.5's diffusion
video decoder, channels-last: q, k, v (B, T, H, W, heads, head_dim).

Neighborhood: along each axis a query at ``i`` sees the ``K`` keys starting at ``clamp(i - K//2, 0, L - K)`` (the
window is shifted inward at the borders, ``K`` clipped to the axis length; no dilation, not causal). Softmax
scale 1: q comes pre-scaled.

Computed per query block: a block of (bt, bh, bw) queries sees the union of its windows, a key box of at most
(bt + K - 1) per axis, and a boolean mask keeps each query to its own window. Every block has the same shape
(the last block of an axis is moved back to end at the axis end), so all blocks go through one batched
``mx.fast.scaled_dot_product_attention`` call per group of blocks.
"""

from __future__ import annotations

import functools

import mlx.core as mx
import numpy as np

ROPE_BASE = 10000.0
QUERY_BLOCK = (1, 8, 8)  # (T, H, W) queries per block
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


def _gather(x: mx.array, idx: tuple[np.ndarray, np.ndarray, np.ndarray]) -> mx.array:
    """x (B, T, H, W, heads, d) -> (B, nT, nH, nW, heads, bT*bH*bW, d): the boxes at these per-axis indices."""
    for axis, ix in enumerate(idx, start=1):
        x = mx.take(x, mx.array(ix.reshape(-1)), axis=axis)
    b, _, _, _, heads, d = x.shape
    (nt, bt), (nh, bh), (nw, bw) = (ix.shape for ix in idx)
    x = x.reshape(b, nt, bt, nh, bh, nw, bw, heads, d).transpose(0, 1, 3, 5, 7, 2, 4, 6, 8)
    return x.reshape(b, nt, nh, nw, heads, bt * bh * bw, d)


def na3d(q: mx.array, k: mx.array, v: mx.array, kernel: tuple[int, int, int],
         w_range: tuple[int, int] | None = None, block: tuple[int, int, int] = QUERY_BLOCK) -> mx.array:
    """Neighborhood attention, scale 1: q, k, v (B, T, H, W, heads, d) -> (B, T, H, W', heads, d), where
    ``w_range`` = (lo, hi) limits the queries to columns lo..hi-1 (W' = hi - lo; keys still span all of W)."""
    b, t, h, w, heads, d = q.shape
    w_lo, w_hi = (0, w) if w_range is None else w_range
    plans = [_axis_plan(t, kernel[0], 0, t, block[0]), _axis_plan(h, kernel[1], 0, h, block[1]),
             _axis_plan(w, kernel[2], w_lo, w_hi, block[2])]
    q_idx, k_idx, allowed, rows = (tuple(p[i] for p in plans) for i in range(4))
    (nt, bt), (nh, bh), (nw, bw) = (ix.shape for ix in q_idx)
    kbt, kbh, kbw = (ix.shape[1] for ix in k_idx)
    nq, nk = bt * bh * bw, kbt * kbh * kbw
    mask = (allowed[0][:, None, None, :, None, None, :, None, None]
            & allowed[1][None, :, None, None, :, None, None, :, None]
            & allowed[2][None, None, :, None, None, :, None, None, :])  # (nT, nH, nW, bT, bH, bW, kT, kH, kW)
    mask = mask.reshape(nt, nh * nw, 1, nq, nk)
    per_t = max(1, SCORE_BUDGET // max(1, nh * nw * nq * nk))  # T blocks per sdpa call
    outs = []
    for t0 in range(0, nt, per_t):
        t1 = min(nt, t0 + per_t)
        sub = (q_idx[0][t0:t1], q_idx[1], q_idx[2])
        qs = _gather(q, sub)
        ks = _gather(k, (k_idx[0][t0:t1], k_idx[1], k_idx[2]))
        vs = _gather(v, (k_idx[0][t0:t1], k_idx[1], k_idx[2]))
        g = (t1 - t0) * nh * nw
        m = mx.broadcast_to(mx.array(mask[t0:t1].reshape(1, g, 1, nq, nk)), (b, g, 1, nq, nk))
        o = mx.fast.scaled_dot_product_attention(qs.reshape(b * g, heads, nq, d), ks.reshape(b * g, heads, nk, d),
                                                 vs.reshape(b * g, heads, nk, d), scale=1.0,
                                                 mask=m.reshape(b * g, 1, nq, nk))
        outs.append(o.reshape(b, t1 - t0, nh, nw, heads, bt, bh, bw, d))
    o = mx.concatenate(outs, axis=1) if len(outs) > 1 else outs[0]
    o = o.transpose(0, 1, 5, 2, 6, 3, 7, 4, 8).reshape(b, nt * bt, nh * bh, nw * bw, heads, d)
    for axis, r in enumerate(rows, start=1):
        if len(r) != o.shape[axis] or not np.array_equal(r, np.arange(len(r))):
            o = mx.take(o, mx.array(r), axis=axis)
    return o


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
