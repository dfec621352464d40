"""CPU fast path of the 3x3x3 convolutions: BLAS ``sgemm`` straight on a padded, flattened copy of the input.

Unfolding a 3x3 neighbourhood into channels (im2col) with MLX ops writes 9x the input through MLX's single-threaded
strided copy (~1.5 GB/s here), which cost more than the matrix products themselves at the VAE's wide levels. Here:

* the input frames are copied once (PixelNorm + SiLU applied on the way, see ``Prologue``) into a zero (or reflect)
  padded buffer whose planes are flattened: ``padded[(t * Hp + y) * Wp + x]`` (Hp = H + 2, Wp = W + 2), channels last;
* output position ``q = (t * Hp + y) * Wp + x`` reads input ``q + dt * Hp * Wp + dy * Wp + dx`` for tap (dt, dy, dx):
  every tap's operand is a *contiguous* slice of that buffer, so the 27 taps are 27 products (K = I) accumulated in
  BLAS (``beta = 1``) with no unfolded copy at all, a block of output rows at a time;
* outputs at x >= W and y >= H are junk (computed, then dropped when the valid frames are copied out, bias added);
  on small planes (the VAE's deepest level), where that junk is a third of the work, all 27 taps are unfolded instead.

Frames are processed a chunk at a time (the padded buffer stays ~``CHUNK_BYTES``). Registered for ``ops.conv3d``, which
it runs for float32 activations on the CPU device when an optimized BLAS is loaded (``ltx2/backends/cpu/blas.py``),
stride 1, 3x3x3 kernels, large enough outputs (:func:`applies`); otherwise the MLX version in ``ltx2/ops.py`` runs, as
it does on GPUs.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ltx2.backends.cpu import blas as _blas
from ltx2.backends.cpu.elementwise import activation
from ltx2.backends.cpu.pool import numpy_path, parallel
from ltx2.ops import NormSiLU

CHUNK_BYTES = 64 * 2**20  # padded (or unfolded) input + products per chunk of output frames
ROW_BLOCK = 8192  # output rows per BLAS call: the block stays in cache across the 27 taps
WEIGHT_BLOCK_BYTES = 32 * 2**20  # float32 weights per block of output channels
# below this the MLX path's single lazy graph is cheaper than a host round-trip; a wide conv on a small tile is not
# (MLX's per-call weight transpose alone cost 0.4 s for 1024 -> 1024 channels on a 4x4 latent)
MIN_MULTIPLY_ADDS = 1 << 24
SMALL_PLANE_JUNK = 1.3  # padded plane / output plane above which all 27 taps are unfolded


def applies(x: mx.array, weight: mx.array, bias: mx.array | None = None, stride: tuple[int, int, int] = (1, 1, 1),
            time_pad: tuple[int, int] = (0, 0), space_pad: str | None = None, prologue: NormSiLU | None = None) -> bool:
    """Whether :func:`conv3d` should run this convolution (the arguments of ``ops.conv3d``)."""
    out_ch, kt, kh, kw, in_ch = weight.shape
    return (numpy_path(x) and (kt, kh, kw) == (3, 3, 3) and tuple(stride) == (1, 1, 1)
            and x.size // max(1, x.shape[-1]) * out_ch * in_ch * 27 >= MIN_MULTIPLY_ADDS and _blas.sgemm() is not None)


def conv3d(x: mx.array, weight: mx.array, bias: mx.array | None, stride: tuple[int, int, int] = (1, 1, 1),
           time_pad: tuple[int, int] = (0, 0), space_pad: str | None = None,
           prologue: NormSiLU | None = None) -> mx.array:
    """``ops.conv3d`` for 3x3x3 kernels at stride 1: x (B, T, H, W, I), weight (O, 3, 3, 3, I); ``prologue`` (applied
    to x first) is computed while the padded copy is written. Writes only its own buffers and a fresh output."""
    out_ch, _, _, _, in_ch = weight.shape
    front, back = time_pad
    grow = 1 if space_pad else 0
    b, t_in, h_in, w_in = x.shape[:4]
    hp, wp = h_in + 2 * grow, w_in + 2 * grow
    plane = hp * wp
    t_out, h_out, w_out = t_in + front + back - 2, hp - 2, wp - 2
    bias = None if bias is None else bias.astype(mx.float32)
    mx.eval(*([x] + ([] if bias is None else [bias]) + ([] if prologue is None else prologue.arrays())))
    xs = np.array(x, copy=False)
    bias_np = None if bias is None else np.array(bias, copy=False)
    result = mx.zeros((b, t_out, h_out, w_out, out_ch), mx.float32)
    mx.eval(result)
    res = np.array(result, copy=False)

    # small planes (the VAE's deepest level) waste a third of the products on the padding columns: unfold all 27 taps
    full_unfold = plane > SMALL_PLANE_JUNK * h_out * w_out
    # output channels a block at a time, so that a bf16 weight's float32 copy stays small (4096 x 1024 x 27: 453 MB)
    o_step = max(1, min(out_ch, WEIGHT_BLOCK_BYTES // (27 * in_ch * 4)))
    per_frame = ((27 * h_out * w_out if full_unfold else plane) * in_ch + plane * o_step) * 4  # input side + products
    step = max(1, min(t_out, CHUNK_BYTES // per_frame - (0 if full_unfold else 2)))
    padded = np.empty(((step + 2) * plane + 2, in_ch), np.float32)
    unfolded = np.empty(step * 27 * h_out * w_out * in_ch if full_unfold else 0, np.float32)
    out = np.empty((step * (h_out * w_out if full_unfold else plane), o_step), np.float32)
    for o0 in range(0, out_ch, o_step):
        o1 = min(out_ch, o0 + o_step)
        w_t, w_taps = _weight_block(weight[o0:o1], per_tap=not full_unfold)
        block_bias = None if bias_np is None else bias_np[o0:o1]
        products = out[:, :o1 - o0] if o1 - o0 == o_step else np.empty((out.shape[0], o1 - o0), np.float32)
        for bi in range(b):
            act = activation(prologue, bi)
            for t0 in range(0, t_out, step):
                n = min(step, t_out - t0)
                frames = [min(max(f - front, 0), t_in - 1) for f in range(t0, t0 + n + 2)]  # edge frames repeated
                _fill_padded(padded, xs[bi], frames, hp, wp, grow, space_pad, act)
                if full_unfold:
                    valid = _full_unfold_products(padded, unfolded, products, w_t, n, hp, wp, in_ch)
                else:
                    valid = _tap_products(padded, products, w_taps, n, hp, wp)
                dst = res[bi, t0:t0 + n, ..., o0:o1]
                parallel(lambda i: _store(valid[i], dst[i], block_bias), list(range(n)))
    return result


def _weight_block(weight: mx.array, per_tap: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(O', 3, 3, 3, I) weights (any float dtype) -> float32 rows (O', 27 * I) read as B^T, and with ``per_tap`` one
    contiguous (O', I) matrix per tap, (27, O', I): BLAS ran ~1.5x faster on those than on the strided rows."""
    out_ch, in_ch = weight.shape[0], weight.shape[-1]
    weight = weight.astype(mx.float32)
    mx.eval(weight)
    w_t = np.array(weight, copy=False).reshape(out_ch, 27 * in_ch)
    if not per_tap:
        return w_t, None
    w_taps = np.empty((27, out_ch, in_ch), np.float32)
    halves = [slice(0, out_ch // 2), slice(out_ch // 2, out_ch)]
    parallel(lambda h: np.copyto(w_taps[:, h], w_t[h].reshape(-1, 27, in_ch).transpose(1, 0, 2)), halves)
    return None, w_taps


def _tap_products(padded, out, w_taps, n, hp, wp) -> np.ndarray:
    """Accumulate the 27 taps in BLAS, each a contiguous slice of the padded buffer (K = I), a block of rows at a
    time so that the output block stays in cache; returns the outputs (n, H', W', O) as a view of ``out``."""
    plane = hp * wp
    rows = (n - 1) * plane + (hp - 2) * wp
    for r0 in range(0, rows, ROW_BLOCK):
        r = min(ROW_BLOCK, rows - r0)
        for tap in range(27):
            dt, dy, dx = tap // 9, tap // 3 % 3, tap % 3
            start = dt * plane + dy * wp + dx + r0
            _blas.gemm(padded[start:start + r], w_taps[tap], out[r0:r0 + r], transpose_b=True, beta=1.0 if tap else 0.0)
    return out[:n * plane].reshape(n, hp, wp, -1)[:, :hp - 2, :wp - 2]


def _full_unfold_products(padded, unfolded, out, w_t, n, hp, wp, in_ch) -> np.ndarray:
    """im2col of all 27 taps (K = 27 * I), one product; returns (n, H', W', O)."""
    h_out, w_out = hp - 2, wp - 2
    planes = padded[:(n + 2) * hp * wp].reshape(n + 2, hp, wp, in_ch)
    st, sh, sw, sc = planes.strides
    windows = np.lib.stride_tricks.as_strided(planes, (n, h_out, w_out, 3, 3, 3, in_ch), (st, sh, sw, st, sh, sw, sc))
    rows = n * h_out * w_out
    cols = unfolded[:rows * 27 * in_ch].reshape(n, h_out, w_out, 3, 3, 3, in_ch)
    parallel(lambda i: np.copyto(cols[i], windows[i]), list(range(n)))
    _blas.gemm(cols.reshape(rows, 27 * in_ch), w_t, out[:rows], transpose_b=True)
    return out[:rows].reshape(n, h_out, w_out, -1)


def _store(valid: np.ndarray, dst: np.ndarray, bias: np.ndarray | None) -> None:
    if bias is None:
        dst[...] = valid
    else:
        np.add(valid, bias, out=dst)


def _fill_padded(padded: np.ndarray, x: np.ndarray, frames: list[int], hp: int, wp: int, grow: int,
                 mode: str | None, activation) -> None:
    """padded[:len(frames) * hp * wp] = activation(the frames of x (T, H, W, C)), H and W padded by ``grow``."""
    n, c = len(frames), x.shape[-1]
    planes = padded[:n * hp * wp].reshape(n, hp, wp, c)
    padded[n * hp * wp:] = 0.0
    h, w = hp - 2 * grow, wp - 2 * grow
    done: dict[int, int] = {}

    def fill(i: int) -> None:
        f = frames[i]
        dst = planes[i, grow:grow + h, grow:grow + w]
        if activation is None:
            dst[...] = x[f]
        else:
            activation(x[f], dst)

    firsts = [i for i, f in enumerate(frames) if done.setdefault(f, i) == i]  # a repeated edge frame is copied
    parallel(fill, firsts)
    for i, f in enumerate(frames):
        if done[f] != i:
            planes[i] = planes[done[f]]
    if not grow:
        return
    if mode == "zeros":
        planes[:, 0] = 0.0
        planes[:, h + 1] = 0.0
        planes[:, :, 0] = 0.0
        planes[:, :, w + 1] = 0.0
    else:  # reflect: mirror without repeating the edge, rows first, then columns (corners included)
        planes[:, 0, 1:w + 1] = planes[:, 2, 1:w + 1]
        planes[:, h + 1, 1:w + 1] = planes[:, h - 1, 1:w + 1]
        planes[:, :, 0] = planes[:, :, 2]
        planes[:, :, w + 1] = planes[:, :, w - 1]
