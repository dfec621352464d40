"""The transformer blocks of LTX-2.5's diffusion video decoder, channels-last (B, T, H, W, C): neighborhood
self-attention with 3-axis RoPE, SwiGLU, the deterministic ``NABlock``, the stage-5 ``DiffusionNABlock`` (AdaLN
modulated, context re-injected in every block), the linear pixel-shuffle upsample and the shared AdaLN-Zero.

The stage-5 attention follows the official default decode mode (CHUNKED): the width is cut into 4 slabs, each
widened by a halo of ``K_w // 2`` columns taken from its neighbours, or, past the two outer edges, copies of the
edge column (so the outer columns see replicated neighbours, not an inward-shifted window); each slab attends on
its own with RoPE column positions = the global column index.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2 import ops
from ltx2.models.transformer.layers import Linear, silu
from ltx2.models.video_vae.layout import depth_to_space
from ltx2.models.video_vae.neighborhood_attention import apply_rope_3d, na3d, rope_split

NORM_EPS = 1e-6
ADALN_CHUNKS = 7  # scale_msa, shift_msa, gate_msa, scale_mlp, shift_mlp, gate_mlp, gate_ctx
W_SLABS = 4
SWIGLU_TOKENS = 16384  # tokens per SwiGLU chunk (the official tile size)


def rms_norm(x: mx.array, weight: mx.array) -> mx.array:
    return mx.fast.rms_norm(x, weight, NORM_EPS)


def modulate(x: mx.array, scale: mx.array, shift: mx.array) -> mx.array:
    return x * (1.0 + scale) + shift


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = mx.ones((dim,))

    def __call__(self, x: mx.array) -> mx.array:
        return rms_norm(x, self.weight)


class QKV(nn.Module):
    """Three projections (the file's fused ``qkv`` is split at load)."""

    def __init__(self, dim: int):
        super().__init__()
        self.to_q, self.to_k, self.to_v = Linear(dim, dim), Linear(dim, dim), Linear(dim, dim)


class NeighborhoodAttention3D(nn.Module):
    """``proj(NA(q, k, v))`` with ``q = q_norm(q) / sqrt(head_dim)``, ``k = k_norm(k)``, both rotated by RoPE."""

    def __init__(self, dim: int, kernel: tuple[int, int, int], head_dim: int):
        super().__init__()
        self.kernel, self.head_dim, self.heads = tuple(kernel), head_dim, dim // head_dim
        self.split = rope_split(head_dim)
        self.qkv = QKV(dim)
        self.proj = Linear(dim, dim)
        self.q_norm, self.k_norm = RMSNorm(head_dim), RMSNorm(head_dim)

    def project(self, y: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """Per-token q (normed, scaled), k (normed), v, each (B, T, H, W, heads, head_dim), before RoPE."""
        shape = (*y.shape[:-1], self.heads, self.head_dim)
        q = self.q_norm(self.qkv.to_q(y).reshape(shape)) * self.head_dim ** -0.5
        k = self.k_norm(self.qkv.to_k(y).reshape(shape))
        return q, k, self.qkv.to_v(y).reshape(shape)

    def __call__(self, y: mx.array) -> mx.array:
        """Full-volume NA (the deterministic stages)."""
        q, k, v = self.project(y)
        out = na3d(apply_rope_3d(q, self.split), apply_rope_3d(k, self.split), v, self.kernel)
        return self.proj(out.reshape(*y.shape[:-1], -1))

    def w_chunked(self, y: mx.array) -> mx.array:
        """The CHUNKED form over ``W_SLABS`` width slabs (module docstring); ``y`` carries one extra last column,
        the (modulated, normed) zero token that fills unfilled slab slots. Returns ``proj(NA(.))`` over the
        real columns."""
        q, k, v = self.project(y)
        width = y.shape[3] - 1
        outs = []
        for columns, core, w_positions in w_slabs(width, self.kernel[2] // 2):
            cols = mx.array(columns)
            qs, ks, vs = (mx.take(a, cols, axis=3) for a in (q, k, v))
            qs, ks = apply_rope_3d(qs, self.split, w_positions), apply_rope_3d(ks, self.split, w_positions)
            outs.append(na3d(qs, ks, vs, self.kernel, w_range=core))
        out = mx.concatenate(outs, axis=3) if len(outs) > 1 else outs[0]
        return self.proj(out.reshape(*out.shape[:4], -1))


def with_zero_column(x: mx.array) -> mx.array:
    """x with one all-zero column appended at W (what an unfilled slab slot holds)."""
    return mx.concatenate([x, mx.zeros((*x.shape[:3], 1, x.shape[4]), x.dtype)], axis=3)


def w_slabs(width: int, halo: int, slabs: int = W_SLABS) -> list[tuple[np.ndarray, tuple[int, int], mx.array]]:
    """The official W-chunked slabs of a ``width``-column volume: for each non-empty slab, the source column of
    every slot (``width`` = a zero column), the slot range of its own (core) columns, and the RoPE positions of
    its slots. Slab i covers ``chunk = ceil(width / slabs)`` core columns with ``halo`` slots either side: the
    left halo is the previous slab's last ``min(halo, its core)`` columns (slots before them stay zero), the
    right halo the next ``halo`` columns; past the outer edges (first slab's left, any slot beyond the volume)
    slots copy the slab's first / last core column."""
    chunk = -(-width // slabs)
    extent = chunk + 2 * halo
    out = []
    previous_tail: list[int] = []
    for i in range(slabs):
        lo, hi = i * chunk, min(width, (i + 1) * chunk)
        core = hi - lo
        slots = [width] * extent
        if i > 0:
            for j, c in enumerate(previous_tail):
                slots[halo - len(previous_tail) + j] = c
        for j in range(max(core, 0)):
            slots[halo + j] = lo + j
        right = list(range(hi, min(width, hi + halo))) if i + 1 < slabs else []
        for j, c in enumerate(right):
            slots[halo + core + j] = c
        if i == 0 and halo > 0 and core > 0:
            slots[:halo] = [slots[halo]] * halo
        filled = halo + max(core, 0) + len(right)
        if extent - filled > 0 and core > 0:
            slots[filled:] = [slots[halo + core - 1]] * (extent - filled)
        if i + 1 < slabs:
            take = min(halo, core)
            previous_tail = list(range(hi - take, hi)) if take > 0 else []
        if core > 0:
            positions = mx.arange(extent, dtype=mx.float32) + (lo - halo)
            out.append((np.array(slots, dtype=np.int32), (halo, halo + core), positions))
    return out


class SwiGLU(nn.Module):
    """``w_down(silu(w_gate(y)) * w_up(y))``, no biases."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w_up = Linear(dim, hidden, bias=False)
        self.w_gate = Linear(dim, hidden, bias=False)
        self.w_down = Linear(hidden, dim, bias=False)

    def __call__(self, y: mx.array) -> mx.array:
        """Over chunks of ``SWIGLU_TOKENS`` tokens (as the official tiled SwiGLU), so that one chunk's hidden
        activations exist at a time."""
        rows = y.reshape(-1, y.shape[-1])
        if rows.shape[0] <= SWIGLU_TOKENS:
            return self._rows(rows).reshape(y.shape)
        parts = []
        for start in range(0, rows.shape[0], SWIGLU_TOKENS):
            parts.append(self._rows(rows[start:start + SWIGLU_TOKENS]))
            mx.eval(parts[-1])
        return mx.concatenate(parts, axis=0).reshape(y.shape)

    def _rows(self, y: mx.array) -> mx.array:
        gate = self.w_gate(y)
        gate = ops.silu(gate) if gate.dtype == mx.float32 else silu(gate)  # bf16: float32 inside, one rounding
        return self.w_down(gate * self.w_up(y))


def mlp_hidden(dim: int) -> int:
    """``round_up16(4 * dim)``."""
    return (4 * dim + 15) // 16 * 16


class NABlock(nn.Module):
    """``x += NA(norm1(x))``; ``x += SwiGLU(norm2(x))``."""

    def __init__(self, dim: int, kernel: tuple[int, int, int], head_dim: int):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = NeighborhoodAttention3D(dim, kernel, head_dim)
        self.mlp = SwiGLU(dim, mlp_hidden(dim))

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DiffusionNABlock(nn.Module):
    """Stage-5 block: ``x += context_proj(context)``; ``x += NA(modulate(norm1(x)))`` (W-chunked);
    ``x += SwiGLU(modulate(norm2(x)))``. Modulation = the shared AdaLN chunks + ``scale_shift_table``; the file's
    static gates are folded into ``attn.proj``, ``mlp.w_down`` and ``context_proj`` at load."""

    def __init__(self, dim: int, kernel: tuple[int, int, int], context_channels: int, head_dim: int):
        super().__init__()
        self.context_proj = Linear(context_channels, dim)
        self.scale_shift_table = mx.zeros((ADALN_CHUNKS, dim))
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = NeighborhoodAttention3D(dim, kernel, head_dim)
        self.mlp = SwiGLU(dim, mlp_hidden(dim))

    def __call__(self, x: mx.array, context: mx.array, modulation: list[mx.array]) -> mx.array:
        scale_msa, shift_msa, _, scale_mlp, shift_mlp, _, _ = (
            m + self.scale_shift_table[i] for i, m in enumerate(modulation))
        x = x + self.context_proj(context)
        x = x + self.attn.w_chunked(modulate(self.norm1(with_zero_column(x)), scale_msa, shift_msa))
        return x + self.mlp(modulate(self.norm2(x), scale_mlp, shift_mlp))


class LinearPixelShuffleUpsample(nn.Module):
    """Linear C -> prod(stride)*C/r, then depth-to-space (channel order c, dt, dh, dw); a T-stride of 2 drops
    the first output frame when asked (the tile that holds the clip's first frame)."""

    def __init__(self, channels: int, stride: tuple[int, int, int], reduction: int):
        super().__init__()
        self.stride = tuple(stride)
        self.proj = Linear(channels, math.prod(stride) * channels // reduction)

    def __call__(self, x: mx.array, drop_first_frame: bool = True) -> mx.array:
        x = depth_to_space(self.proj(x), self.stride)
        return x[:, 1:] if self.stride[0] == 2 and drop_first_frame else x


class AdaLNZero(nn.Module):
    """``proj(silu(t_emb))`` split in 7 chunks, each (B, 1, 1, 1, C)."""

    def __init__(self, dim: int, t_emb_dim: int):
        super().__init__()
        self.proj = Linear(t_emb_dim, ADALN_CHUNKS * dim)

    def __call__(self, t_emb: mx.array) -> list[mx.array]:
        h = self.proj(silu(t_emb))
        return [c[:, None, None, None, :] for c in mx.split(h, ADALN_CHUNKS, axis=-1)]
