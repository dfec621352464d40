"""CPU fast paths of the transformer's elementwise-heavy work: attention, RMSNorm (+ AdaLN modulation, + RoPE)
and GELU(tanh).

MLX's CPU backend runs ``exp``/``tanh`` single-threaded at ~50-75 M elements/s, and its RMSNorm and RoPE ops at
~200 M/s (33 and 60-75 ms on a 1,536 x 4,096 projection); numpy's vectorised ufuncs on two threads are several
times faster. So on the CPU device, for float32, the linear layers stay in MLX (MKL, see ``ltx2/backends/cpu/blas.py``) and
the rest runs through numpy *in place* on zero-copy views of evaluated MLX buffers, in blocks that stay in cache,
spread over a small thread pool (numpy releases the GIL inside ufuncs). Attention reads each head's columns
straight from the (B, T, H*D) projections with the loaded BLAS's sgemm, so no head transposes are copied.

Used only when :func:`active` says so: the default device is the CPU, the tensor is float32 and the work is large
enough to pay for a host synchronisation. On GPU backends (and for bf16/fp16) the model keeps its pure-MLX lazy
graph. ``LTX2_CPU_KERNELS=0`` turns the fast paths off.
Each function evaluates its inputs (a host synchronisation), which is what the CPU backend does anyway.
"""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from ltx2.backends.cpu import blas as _blas
from ltx2.backends.cpu.elementwise import rms_normalize
from ltx2.backends.cpu.pool import numpy_path, parallel

_BLOCK_ELEMENTS = 1 << 18  # ~1 MiB of float32 per numpy block: stays in L2 for the several passes of a softmax
_HEAD_CHUNK_ELEMENTS = 1 << 23  # score elements per chunk of heads (32 MiB float32): bounds the scores' memory
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
    return numpy_path(x) and (x.size if elements is None else elements) >= _MIN_ELEMENTS


def _row_blocks(rows: np.ndarray) -> list[np.ndarray]:
    """Split a (..., N, S) array into (N_block, S) views of about _BLOCK_ELEMENTS elements."""
    rows2d = rows.reshape(-1, rows.shape[-1])
    step = max(1, _BLOCK_ELEMENTS // rows2d.shape[1])
    return [rows2d[i:i + step] for i in range(0, rows2d.shape[0], step)]


def _paired_row_blocks(rows: np.ndarray, per_row: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``_row_blocks`` of a (..., N, S) array, each with the matching slice of a (..., N) array."""
    flat = per_row.reshape(-1)
    blocks, start = [], 0
    for block in _row_blocks(rows):
        blocks.append((block, flat[start:start + block.shape[0]]))
        start += block.shape[0]
    return blocks


def _writable_view(x: mx.array) -> np.ndarray:
    """Zero-copy numpy view of an evaluated, row-contiguous MLX array (which the caller owns alone)."""
    view = np.asarray(x)
    if not (view.flags.c_contiguous and view.flags.writeable):
        raise RuntimeError("cpu_kernels needs a contiguous, writable MLX buffer")  # matmul outputs always are
    return view


def _exp_rows(rows_and_sums: tuple[np.ndarray, np.ndarray]) -> None:
    """Scores (n, S) -> exp(scores - row max) in place, their row sums into (n,): a softmax but for the division,
    which is done on the (n, D) output instead (12x fewer elements at S = 1,536 and D = 128)."""
    block, sums = rows_and_sums
    block -= block.max(axis=-1, keepdims=True)
    np.exp(block, out=block)
    np.sum(block, axis=-1, out=sums)


_scratch_buffers: dict[str, np.ndarray] = {}


def _scratch(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 work buffer kept between calls (a fresh 32 MB numpy buffer costs ~4 ms of page faults each time);
    :func:`release_scratch` frees them."""
    size = math.prod(shape)
    buffer = _scratch_buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = _scratch_buffers[name] = np.empty(size, np.float32)
    return buffer[:size].reshape(shape)


def release_scratch() -> None:
    """Free the work buffers (the transformer calls this after each forward)."""
    _scratch_buffers.clear()


def attention_(q: mx.array, k: mx.array, v: mx.array, heads: int, mask: mx.array | None = None) -> mx.array:
    """softmax(q_h k_h^T + mask) v_h for every head h, over float32 token rows: q (B, T, H*D) already scaled (and
    normed/rotated), k and v (B, S, H*D); mask additive, broadcastable to (B, H, T, S). Returns (B, T, H*D)
    written over q's buffer, which the caller must own alone (a fresh projection): a chunk of heads' scores is
    formed by sgemm straight from the projections' columns, soft-maxed in place by numpy, and multiplied by v into
    the columns of q that chunk no longer needs. No head transposes, no copies of q, k, v or the output."""
    mx.eval(q, k, v, *([] if mask is None else [mask]))
    qn = _writable_view(q)
    kn, vn = (np.ascontiguousarray(np.asarray(a)) for a in (k, v))
    b, t, inner = qn.shape
    s, d = kn.shape[1], inner // heads
    mask_np = None if mask is None else np.asarray(mask)
    chunk = max(1, min(heads, _HEAD_CHUNK_ELEMENTS // max(1, t * s)))
    scores, sums = _scratch("scores", (chunk, t, s)), _scratch("sums", (chunk, t))
    for i in range(b):
        bias = None if mask_np is None else mask_np[i if mask_np.shape[0] > 1 else 0]  # (H or 1, T or 1, S)
        for h0 in range(0, heads, chunk):
            h1 = min(heads, h0 + chunk)
            view = scores[: h1 - h0]
            for h in range(h0, h1):
                _blas.gemm(qn[i, :, h * d:(h + 1) * d], kn[i, :, h * d:(h + 1) * d], view[h - h0], transpose_b=True)
            if bias is not None:
                view += bias if bias.shape[0] == 1 else bias[h0:h1]
            parallel(_exp_rows, _paired_row_blocks(view, sums[: h1 - h0]))
            for h in range(h0, h1):
                _blas.gemm(view[h - h0], vn[i, :, h * d:(h + 1) * d], qn[i, :, h * d:(h + 1) * d])

            def normalize(h, i=i, h0=h0):
                out = qn[i, :, h * d:(h + 1) * d]
                np.divide(out, sums[h - h0, :, None], out=out)

            parallel(normalize, list(range(h0, h1)))
    return q


def _token_blocks(shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(sample, first token, end token) blocks of about _BLOCK_ELEMENTS elements over a (B, T, D) array."""
    b, t, d = shape
    step = max(1, _BLOCK_ELEMENTS // d)
    return [(i, t0, min(t, t0 + step)) for i in range(b) for t0 in range(0, t, step)]


def _rows_of(table: np.ndarray | None, i: int, t0: int, t1: int) -> np.ndarray | None:
    """Rows t0:t1 of sample i of a (B or 1, T or 1, ...) table broadcast over samples and tokens."""
    if table is None:
        return None
    sample = table[i if table.shape[0] > 1 else 0]
    return sample[t0:t1] if sample.shape[0] > 1 else sample


def rms_norm_modulate(x: mx.array, scale: mx.array | None = None, shift: mx.array | None = None,
                      eps: float = 1e-6) -> mx.array:
    """``rms_norm(x) * (1 + scale) + shift`` (or just ``rms_norm(x)``) of float32 x (B, T, D) into a new array,
    one pass per cache-sized block of tokens on the thread pool; scale and shift (B or 1, T or 1, D)."""
    mx.eval(x, *([] if scale is None else [scale, shift]))
    src = np.asarray(x)
    out = _scratch("normed", src.shape)  # copied into the returned MLX array
    gain = None if scale is None else np.asarray(1 + scale)
    bias = None if shift is None else np.asarray(shift)

    def work(block):
        i, t0, t1 = block
        rows = out[i, t0:t1]
        rms_normalize(src[i, t0:t1], rows, eps)
        if gain is not None:
            rows *= _rows_of(gain, i, t0, t1)
            rows += _rows_of(bias, i, t0, t1)

    parallel(work, _token_blocks(src.shape))
    return mx.array(out)


def qk_norm_rope_(y: mx.array, weight: mx.array, eps: float, rope: tuple[str, np.ndarray, np.ndarray] | None,
                  heads: int, scale: float | None = None, bias: mx.array | None = None) -> mx.array:
    """In place on a float32 projection y (B, T, H*D) that the caller owns alone: plus the projection's ``bias``
    (when it was left out), RMSNorm over the whole inner dim times ``weight``, then RoPE, then times ``scale`` --
    what the linear layer, ``q_norm``, ``apply_rope`` and the attention scale do, in one cache-resident pass.
    ``rope``: (rope_type, cos, sin) with host tables laid out (B, T, H, D/2) for "split" and (B, T, H*D) for
    "interleaved" (``RopeTable.host``), or None."""
    mx.eval(y, weight)
    view = _writable_view(y)
    w = np.asarray(weight.astype(mx.float32))
    host_bias = _host_bias(bias)
    half = view.shape[-1] // heads // 2

    def work(block):
        i, t0, t1 = block
        rows = view[i, t0:t1]
        if host_bias is not None:
            rows += host_bias
        rms_normalize(rows, rows, eps)
        rows *= w
        if rope is not None:
            kind, cos, sin = rope[0], _rows_of(rope[1], i, t0, t1), _rows_of(rope[2], i, t0, t1)
            if kind == "split":  # per head [a | b] -> [a c - s b | b c + s a]
                per_head = rows.reshape(rows.shape[0], heads, 2 * half)
                a, b = per_head[..., :half], per_head[..., half:]
            else:  # adjacent pairs (x0, x1) -> (x0 c - x1 s, x1 c + x0 s); the tables repeat each value twice
                pairs = rows.reshape(rows.shape[0], -1, 2)
                a, b = pairs[..., 0], pairs[..., 1]
                cos, sin = cos[..., 0::2], sin[..., 0::2]
            a_before = a.copy()
            a *= cos
            rotated = sin * b
            a -= rotated
            b *= cos
            np.multiply(sin, a_before, out=rotated)
            b += rotated
        if scale is not None:
            rows *= scale

    parallel(work, _token_blocks(view.shape))
    return y


def _host_bias(bias: mx.array | None) -> np.ndarray | None:
    return None if bias is None else np.asarray(bias.astype(mx.float32))


def add_bias_(y: mx.array, bias: mx.array) -> mx.array:
    """``y += bias`` in place on a fresh float32 product y (..., N) that the caller owns alone. MLX's ``addmm``
    first copies the broadcast bias into its output, which cost 4-10% of a linear layer at the 19B widths
    (80 ms for the 1,536 x 16,384 feed-forward up-projection); a numpy pass after the product costs less."""
    mx.eval(y, bias)
    view = _writable_view(y)
    b = _host_bias(bias)

    def work(rows):
        rows += b

    parallel(work, _row_blocks(view))
    return y


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


def gelu_tanh_inplace(x: mx.array, bias: mx.array | None = None) -> mx.array:
    """GELU (tanh approximation) of a float32 array that the caller owns alone (e.g. a fresh matmul output), plus
    ``bias`` first when given, written over its own buffer. Returns the same (now evaluated) array."""
    mx.eval(x)
    view = _writable_view(x)
    b = _host_bias(bias)

    def work(rows):
        if b is not None:
            rows += b
        _gelu_rows(rows)

    parallel(work, _row_blocks(view.reshape(1, -1) if view.ndim == 1 else view))
    return x
