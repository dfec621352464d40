"""CPU fast paths of the transformer's elementwise-heavy ops: attention softmax and GELU(tanh).

MLX's CPU backend runs ``exp``/``tanh`` single-threaded at ~50-75 M elements/s; numpy's vectorised ones reach
~1,000 M/s. So on the CPU device, for float32, the matrix products stay in MLX (MKL, see ``ltx2/_blas.py``) and
the elementwise work runs through numpy *in place* on zero-copy views of evaluated MLX buffers, in blocks that
stay in cache, spread over a small thread pool (numpy releases the GIL inside ufuncs).

Used only when :func:`active` says so: the default device is the CPU, the tensor is float32 and the work is large
enough to pay for a host synchronisation. On GPU backends (and for bf16/fp16) the model keeps its pure-MLX lazy
graph. ``LTX2_CPU_KERNELS=0`` turns the fast paths off.
Each function evaluates its inputs (a host synchronisation), which is what the CPU backend does anyway.
"""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from ltx2.cpu_pool import enabled, parallel

_BLOCK_ELEMENTS = 1 << 18  # ~1 MiB of float32 per numpy block: stays in L2 for the several passes of a softmax
_HEAD_CHUNK_ELEMENTS = 1 << 23  # score elements per MLX matmul chunk (32 MiB float32): bounds the scores' memory
# below this the host synchronisation and thread hand-off cost more than MLX's slow exp. 1 << 20 (set when a
# guided step at 1.5e5 softmax elements measured 20% slower) kept the tiny model's text cross-attention (4 passes
# x 2 heads x 18 tokens x 1024 text tokens = 1.5e5 scores: 3.3 ms in MLX, 0.7 ms here) on MLX; re-measured
# interleaved in one process, the tiny default job's 4 guided steps take 142 -> 104 ms at 1 << 16 (and 206 ->
# 153 ms at 256x192), while a 2.6e3-score self-attention is still faster in MLX (0.07 vs 0.21 ms)
_MIN_ELEMENTS = 1 << 16
_GELU_C = 2.0 * math.sqrt(2.0 / math.pi)  # gelu_tanh(x) = x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))

def active(x: mx.array, elements: int | None = None) -> bool:
    """Use the numpy fast paths for ``x``: CPU device, float32, ``elements`` (default ``x.size``: the elementwise
    work) at least _MIN_ELEMENTS, not switched off by ``LTX2_CPU_KERNELS=0``."""
    return (x.dtype == mx.float32 and mx.default_device() == mx.cpu
            and (x.size if elements is None else elements) >= _MIN_ELEMENTS
            and enabled())


def _row_blocks(rows: np.ndarray) -> list[np.ndarray]:
    """Split a (..., N, S) array into (N_block, S) views of about _BLOCK_ELEMENTS elements."""
    rows2d = rows.reshape(-1, rows.shape[-1])
    step = max(1, _BLOCK_ELEMENTS // rows2d.shape[1])
    return [rows2d[i:i + step] for i in range(0, rows2d.shape[0], step)]


def _writable_view(x: mx.array) -> np.ndarray:
    """Zero-copy numpy view of an evaluated, row-contiguous MLX array (which the caller owns alone)."""
    view = np.asarray(x)
    if not (view.flags.c_contiguous and view.flags.writeable):
        raise RuntimeError("cpu_kernels needs a contiguous, writable MLX buffer")  # matmul outputs always are
    return view


def _softmax_rows(block: np.ndarray) -> None:  # (n, S), in place
    block -= block.max(axis=-1, keepdims=True)
    np.exp(block, out=block)
    block *= 1.0 / block.sum(axis=-1, keepdims=True)


def attention(q: mx.array, k: mx.array, v: mx.array, scale: float, mask: mx.array | None = None) -> mx.array:
    """softmax(q k^T * scale + mask) v for float32 q (B, H, T, D), k/v (B, H, S, D); mask additive, broadcastable
    to (B, H, T, S). Returns (B, T, H*D). Scores are formed per chunk of heads (MLX matmul), soft-maxed in place
    by numpy, multiplied by v (MLX matmul) and freed before the next chunk."""
    b, h, t, d = q.shape
    s = k.shape[2]
    q = q * scale
    kt = k.swapaxes(-1, -2)  # (B, H, D, S)
    if mask is not None:
        mask = mx.broadcast_to(mask, (mask.shape[0], mask.shape[1], t, s))
        mx.eval(mask)
        mask_np = np.asarray(mask)
    mx.eval(q, kt, v)
    heads = max(1, min(h, _HEAD_CHUNK_ELEMENTS // max(1, t * s)))
    per_sample, pending = [], None
    for i in range(b):
        outs = []
        for h0 in range(0, h, heads):
            h1 = min(h, h0 + heads)
            scores = q[i, h0:h1] @ kt[i, h0:h1]  # (h, T, S)
            mx.eval(scores, *([] if pending is None else [pending]))
            view = _writable_view(scores)
            if mask is not None:
                bias = mask_np[i if mask_np.shape[0] > 1 else 0]
                view += bias if bias.shape[0] == 1 else bias[h0:h1]
            parallel(_softmax_rows, _row_blocks(view))
            pending = scores @ v[i, h0:h1]  # (h, T, D)
            outs.append(pending)
        per_sample.append(mx.concatenate(outs, axis=0) if len(outs) > 1 else outs[0])
    out = mx.stack(per_sample)  # (B, H, T, D)
    out = out.transpose(0, 2, 1, 3).reshape(b, t, h * d)
    mx.eval(out)
    return out


def _gelu_rows(block: np.ndarray) -> None:  # (n, N), in place
    # x / (1 + exp(-c x (1 + 0.044715 x^2))) = 0.5 x (1 + tanh(c/2 (x + 0.044715 x^3))); exp overflowing to inf
    # for very negative x gives -0, as GELU's limit
    scratch = np.multiply(block, block)
    scratch *= 0.044715
    scratch += 1.0
    scratch *= block
    scratch *= -_GELU_C
    with np.errstate(over="ignore"):
        np.exp(scratch, out=scratch)
    scratch += 1.0
    np.divide(block, scratch, out=block)


def gelu_tanh_inplace(x: mx.array) -> mx.array:
    """GELU (tanh approximation) of a float32 array that the caller owns alone (e.g. a fresh matmul output),
    written over its own buffer. Returns the same (now evaluated) array."""
    mx.eval(x)
    view = _writable_view(x)
    parallel(_gelu_rows, _row_blocks(view.reshape(1, -1) if view.ndim == 1 else view))
    return x
