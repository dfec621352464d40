"""CPU fast paths of the transformer's elementwise-heavy work: attention, RMSNorm (+ AdaLN modulation, + RoPE)
and GELU(tanh).

MLX's CPU backend runs ``exp``/``tanh`` single-threaded at ~50-75 M elements/s, and its RMSNorm and RoPE ops at
~200 M/s (33 and 60-75 ms on a 1,536 x 4,096 projection); numpy's vectorised ufuncs on two threads are several
times faster. So on the CPU device, for float32, the linear layers stay in MLX (MKL, see ``ltx2/backends/cpu/blas.py``) and
the rest runs through numpy *in place* on zero-copy views of evaluated MLX buffers, in blocks that stay in cache,
spread over a small thread pool (numpy releases the GIL inside ufuncs). Attention reads each head's columns
straight from the (B, T, H*D) projections with the loaded BLAS's sgemm, so no head transposes are copied.

Registered for ``ltx2.ops`` (see ``ltx2/backends/cpu/__init__.py``) with the rule :func:`active`: the default
device is the CPU, the tensor is float32 and the work is large enough to pay for a host synchronisation. Each
function evaluates its inputs (a host synchronisation, which is what the CPU backend does anyway), never writes
into an array it was given, and writes only into buffers it made itself: the products it computes (``x W^T``,
then bias, norm, RoPE or GELU in place) or fresh outputs (``mx.empty``)."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2 import ops
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
_KEEP_SCRATCH_ELEMENTS = 1 << 24  # work buffers up to this size (64 MiB) are kept between calls, larger ones freed


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


def _fresh(shape: tuple[int, ...]) -> tuple[mx.array, np.ndarray]:
    """A new float32 MLX array of ``shape`` (contents undefined) and a writable numpy view of it: an output this
    backend writes before handing it over."""
    out = mx.empty(shape, mx.float32)
    mx.eval(out)
    return out, np.asarray(out)


def _owned_product(layer, x: mx.array) -> tuple[mx.array, np.ndarray, np.ndarray | None]:
    """``layer(x)`` computed here, so that this backend owns the result and may finish it in place: for a float32
    ``nn.Linear`` with a bias, the product ``x W^T`` and the bias (to be added in the same pass as what follows:
    MLX's ``addmm`` first copies the broadcast bias into its output); for any other layer (quantized), its output.
    Returns (array, writable numpy view, host bias or None); the array is float32 or ``layer(x)``'s own dtype."""
    if isinstance(layer, nn.Linear) and "bias" in layer and layer.weight.dtype == mx.float32:
        y, bias = x @ layer.weight.T, _host_bias(layer.bias)
    else:
        y, bias = layer(x), None
    mx.eval(y)
    view = np.asarray(y)
    if not (view.flags.c_contiguous and view.flags.writeable):  # matmul outputs always are
        raise RuntimeError("the CPU backend needs a contiguous, writable product")
    return y, view, bias


def _out_elements(layer, x: mx.array) -> int:
    return x.size // max(1, x.shape[-1]) * layer.weight.shape[0]


def _exp_rows(rows_and_sums: tuple[np.ndarray, np.ndarray]) -> None:
    """Scores (n, S) -> exp(scores - row max) in place, their row sums into (n,): a softmax but for the division,
    which is done on the (n, D) output instead (12x fewer elements at S = 1,536 and D = 128)."""
    block, sums = rows_and_sums
    block -= block.max(axis=-1, keepdims=True)
    np.exp(block, out=block)
    np.sum(block, axis=-1, out=sums)


_scratch_buffers: dict[str, np.ndarray] = {}


def _scratch(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 work buffer of this backend, kept between calls (a fresh 32 MB numpy buffer costs ~4 ms of page
    faults each time) unless larger than _KEEP_SCRATCH_ELEMENTS (see :func:`_trim_scratch`)."""
    size = math.prod(shape)
    buffer = _scratch_buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = _scratch_buffers[name] = np.empty(size, np.float32)
    return buffer[:size].reshape(shape)


def _trim_scratch() -> None:
    for name in [n for n, b in _scratch_buffers.items() if b.size > _KEEP_SCRATCH_ELEMENTS]:
        del _scratch_buffers[name]


def attention_applies(q: mx.array, k: mx.array, v: mx.array, heads: int, scale: float,
                      mask: mx.array | None = None) -> bool:
    scores = q.shape[0] * heads * q.shape[1] * k.shape[1]  # B*H*T*S softmax elements
    return active(q, scores) and (mask is None or mx.issubdtype(mask.dtype, mx.floating))


def attention(q: mx.array, k: mx.array, v: mx.array, heads: int, scale: float,
              mask: mx.array | None = None) -> mx.array:
    """``ops.attention`` over float32 token rows: q (B, T, H*D), k and v (B, S, H*D), mask additive and
    broadcastable to (B, H, T, S) -> (B, T, H*D). q is copied, times ``scale``, into a fresh output; a chunk of
    heads' scores is formed by sgemm straight from that copy's and k's columns, soft-maxed in place by numpy in a
    work buffer, and multiplied by v into the output columns that chunk no longer needs. No head transposes."""
    mx.eval(q, k, v, *([] if mask is None else [mask]))
    qn, kn, vn = (np.ascontiguousarray(np.asarray(a)) for a in (q, k, v))
    b, t, inner = qn.shape
    s, d = kn.shape[1], inner // heads
    out, on = _fresh(qn.shape)
    parallel(lambda rows: np.multiply(rows[0], np.float32(scale), out=rows[1]),
             list(zip(_row_blocks(qn), _row_blocks(on))))  # q * scale rounded once, as torch's attention does
    mask_np = None if mask is None else np.asarray(mask)
    chunk = max(1, min(heads, _HEAD_CHUNK_ELEMENTS // max(1, t * s)))
    scores, sums = _scratch("scores", (chunk, t, s)), _scratch("sums", (chunk, t))
    for i in range(b):
        bias = None if mask_np is None else mask_np[i if mask_np.shape[0] > 1 else 0]  # (H or 1, T or 1, S)
        for h0 in range(0, heads, chunk):
            h1 = min(heads, h0 + chunk)
            view = scores[: h1 - h0]
            for h in range(h0, h1):
                _blas.gemm(on[i, :, h * d:(h + 1) * d], kn[i, :, h * d:(h + 1) * d], view[h - h0], transpose_b=True)
            if bias is not None:
                view += bias if bias.shape[0] == 1 else bias[h0:h1]
            parallel(_exp_rows, _paired_row_blocks(view, sums[: h1 - h0]))
            for h in range(h0, h1):
                _blas.gemm(view[h - h0], vn[i, :, h * d:(h + 1) * d], on[i, :, h * d:(h + 1) * d])

            def normalize(h, i=i, h0=h0):
                columns = on[i, :, h * d:(h + 1) * d]
                np.divide(columns, sums[h - h0, :, None], out=columns)

            parallel(normalize, list(range(h0, h1)))
    _trim_scratch()
    return out


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


def rms_norm_modulate_applies(x: mx.array, scale=None, shift=None, eps: float = 1e-6) -> bool:
    return active(x)


def rms_norm_modulate(x: mx.array, scale: mx.array | None = None, shift: mx.array | None = None,
                      eps: float = 1e-6) -> mx.array:
    """``ops.rms_norm_modulate`` of float32 x (B, T, D) into a fresh array, one pass per cache-sized block of
    tokens on the thread pool; scale and shift (B or 1, T or 1, D)."""
    mx.eval(x, *([] if scale is None else [scale, shift]))
    src = np.asarray(x)
    out, dst = _fresh(src.shape)
    gain = None if scale is None else np.asarray(1 + scale)
    bias = None if shift is None else np.asarray(shift)

    def work(block):
        i, t0, t1 = block
        rows = dst[i, t0:t1]
        rms_normalize(src[i, t0:t1], rows, eps)
        if gain is not None:
            rows *= _rows_of(gain, i, t0, t1)
            rows += _rows_of(bias, i, t0, t1)

    parallel(work, _token_blocks(src.shape))
    return out


def _host_rope(table: ops.RopeTable) -> tuple[str, np.ndarray, np.ndarray]:
    """(rope_type, cos, sin) as float32 numpy arrays laid out by token -- split (B, T, H, head_dim/2),
    interleaved (B, T, dim) -- made once per table (kept in its ``derived`` cache)."""
    if "cpu" not in table.derived:
        tables = (table.cos, table.sin) if table.rope_type == "interleaved" else (
            table.cos.transpose(0, 2, 1, 3), table.sin.transpose(0, 2, 1, 3))
        table.derived["cpu"] = tuple(np.asarray(mx.contiguous(t.astype(mx.float32))) for t in tables)
    return (table.rope_type, *table.derived["cpu"])


def qk_norm_rope_applies(layer, x: mx.array, norm_weight, eps, rope, heads) -> bool:
    return active(x, _out_elements(layer, x))


def qk_norm_rope(layer, x: mx.array, norm_weight: mx.array, eps: float, rope: ops.RopeTable | None,
                 heads: int) -> mx.array:
    """``ops.qk_norm_rope``: the projection computed here, then (plus its bias) RMSNorm over the whole inner dim
    times ``norm_weight`` and RoPE, in one cache-resident pass over the product."""
    y, view, host_bias = _owned_product(layer, x)
    if y.dtype != mx.float32:
        return ops.qk_norm_rope.mlx_version(lambda _: y, x, norm_weight, eps, rope, heads)
    mx.eval(norm_weight)
    w = np.asarray(norm_weight.astype(mx.float32))
    host_rope = None if rope is None else _host_rope(rope)
    half = view.shape[-1] // heads // 2

    def work(block):
        i, t0, t1 = block
        rows = view[i, t0:t1]
        if host_bias is not None:
            rows += host_bias
        rms_normalize(rows, rows, eps)
        rows *= w
        if host_rope is not None:
            kind, cos, sin = host_rope[0], _rows_of(host_rope[1], i, t0, t1), _rows_of(host_rope[2], i, t0, t1)
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

    parallel(work, _token_blocks(view.shape))
    return y


def _host_bias(bias: mx.array | None) -> np.ndarray | None:
    return None if bias is None else np.asarray(bias.astype(mx.float32))


def linear_applies(x: mx.array, weight: mx.array, bias: mx.array | None = None) -> bool:
    out_elements = x.size // max(1, x.shape[-1]) * weight.shape[0]
    return bias is not None and weight.dtype == mx.float32 and active(x, out_elements)


def linear(x: mx.array, weight: mx.array, bias: mx.array | None = None) -> mx.array:
    """``ops.linear``: the product ``x W^T``, then ``+= bias`` in place in a numpy pass. MLX's ``addmm`` first
    copies the broadcast bias into its output, which cost 4-10% of a linear layer at the 19B widths (80 ms for the
    1,536 x 16,384 feed-forward up-projection); a numpy pass after the product costs less."""
    y = x @ weight.T
    mx.eval(y, bias)
    view, b = np.asarray(y), _host_bias(bias)

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


def linear_gelu_applies(layer, x: mx.array) -> bool:
    return active(x, _out_elements(layer, x))


def linear_gelu(layer, x: mx.array) -> mx.array:
    """``ops.linear_gelu``: the projection computed here, then (plus its bias) GELU (tanh approximation) in place."""
    y, view, b = _owned_product(layer, x)
    if y.dtype != mx.float32:
        return ops.gelu_tanh(y)

    def work(rows):
        if b is not None:
            rows += b
        _gelu_rows(rows)

    parallel(work, _row_blocks(view.reshape(1, -1) if view.ndim == 1 else view))
    return y


def cos_sin_applies(angles: mx.array) -> bool:
    return numpy_path(angles)


def cos_sin(angles: mx.array) -> tuple[mx.array, mx.array]:
    """``ops.cos_sin`` through numpy's vectorised cos/sin (MLX's CPU sin/cos are scalar: ~0.2 s per forward at the
    19B widths, paid at every first step and by every call without table reuse)."""
    mx.eval(angles)
    host = np.asarray(angles)
    return mx.array(np.cos(host)), mx.array(np.sin(host))
