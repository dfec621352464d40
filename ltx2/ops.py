"""The named ops the models call, and the registry through which a backend runs a faster version of one.

Each op below is written in plain MLX (lazy; ``mx.fast`` kernels where they match the reference's numerics): that
is what runs on GPUs and whenever no backend claims a call. A backend (``ltx2/backends/<name>/``) registers, per
op, an implementation and the rule for when it applies (``register``); calling an op runs the first registered
implementation whose rule holds for these arguments, else the MLX one. Contract of every implementation: the same
arguments and result (shapes, dtype, numbers to float32 rounding) as the MLX version, and it never writes into
an array it was given.

Layouts: token rows are (B, T, D); attention takes and returns (B, T, H*D) (heads side by side, as the
projections make them); the video VAE's tensors are channels-last (B, F, H, W, C).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import mlx.core as mx
import numpy as np


# -- the registry -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Implementation:
    backend: str
    applies: Callable[..., bool]  # called with the op's arguments
    run: Callable[..., object]  # called with the op's arguments when ``applies`` says so


OPS: dict[str, Callable] = {}  # name -> the op (the dispatching function below)
_registry: dict[str, list[Implementation]] = {}
_selected: tuple[str, ...] | None = None  # backends allowed to run (None: every registered one)


def register(op: str, backend: str, applies: Callable[..., bool], run: Callable[..., object]) -> None:
    """Let ``backend`` run ``op`` (a name in ``OPS``) whenever ``applies(*args, **kwargs)`` is true."""
    if op not in OPS:
        raise ValueError(f"no op named {op!r}: the ops are {sorted(OPS)}")
    _registry.setdefault(op, []).append(Implementation(backend, applies, run))


def registered() -> dict[str, list[str]]:
    """Op name -> the backends registered for it (for ``python -m ltx2.doctor``)."""
    return {name: [impl.backend for impl in impls] for name, impls in _registry.items() if impls}


@contextmanager
def only(*backends: str):
    """Within the block, run only these backends' implementations (``only()``: the MLX versions alone)."""
    global _selected
    previous, _selected = _selected, tuple(backends)
    try:
        yield
    finally:
        _selected = previous


def op(mlx_version: Callable) -> Callable:
    """Make ``mlx_version`` a named op (its function name) that registered backends may take over."""
    name = mlx_version.__name__

    @functools.wraps(mlx_version)
    def dispatch(*args, **kwargs):
        for impl in _registry.get(name, ()):
            if (_selected is None or impl.backend in _selected) and impl.applies(*args, **kwargs):
                return impl.run(*args, **kwargs)
        return mlx_version(*args, **kwargs)

    dispatch.mlx_version = mlx_version
    OPS[name] = dispatch
    return dispatch


# -- host-side preparation (not an op: no forward pass runs it) ------------------------------------------------
_reference_exp: Callable[[np.ndarray], np.ndarray | None] | None = None


def set_reference_exp(fn: Callable[[np.ndarray], np.ndarray | None]) -> None:
    """Install the host float32 ``exp`` the reference's tables are made with (MKL's VML exp: ``ltx2/__init__``)."""
    global _reference_exp
    _reference_exp = fn


def reference_exp(x: np.ndarray) -> np.ndarray:
    """float32 ``exp`` of a host array as the reference computes it: the installed function (MKL VML, one ulp off
    the correctly rounded value at a few inputs), or the correctly rounded value when none is installed or it
    returns None."""
    out = None if _reference_exp is None else _reference_exp(x)
    return np.exp(np.asarray(x, np.float64)).astype(np.float32) if out is None else out


# -- transformer ops --------------------------------------------------------------------------------------------
@op
def linear(x: mx.array, weight: mx.array, bias: mx.array | None = None) -> mx.array:
    """``x W^T (+ bias)``, as ``nn.Linear``: x (..., I), weight (O, I), bias (O,)."""
    return x @ weight.T if bias is None else mx.addmm(bias, x, weight.T)


def gelu_tanh(x: mx.array) -> mx.array:
    """GELU, tanh approximation (torch ``approximate="tanh"``); float32 inside, one rounding, as torch."""
    y = x.astype(mx.float32)
    return (0.5 * y * (1 + mx.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y * y * y)))).astype(x.dtype)


@op
def linear_gelu(layer: Callable[[mx.array], mx.array], x: mx.array) -> mx.array:
    """``gelu_tanh(layer(x))`` for a linear layer (``nn.Linear`` or a quantized one)."""
    return gelu_tanh(layer(x))


@op
def rms_norm_modulate(x: mx.array, scale: mx.array | None = None, shift: mx.array | None = None,
                      eps: float = 1e-6) -> mx.array:
    """``rms_norm(x)`` over the last axis, then ``* (1 + scale) + shift`` when given (AdaLN): x (B, T, D),
    scale and shift broadcastable to it."""
    normed = mx.fast.rms_norm(x, None, eps)
    return normed if scale is None else normed * (1 + scale) + shift


@dataclass(frozen=True)
class RopeTable:
    """cos/sin of one RoPE layout. split: (B, H, T, head_dim/2); interleaved: (B, T, dim). ``derived``: layouts a
    backend made from these tables once (its own cache; it never changes cos/sin)."""

    cos: mx.array
    sin: mx.array
    rope_type: str
    derived: dict = field(default_factory=dict, compare=False, repr=False)


def apply_rope(x: mx.array, table: RopeTable) -> mx.array:
    """Rotate token rows x (B, T, H*D) by ``table``. split: each head's ``[a | b]`` -> ``(a c - b s, b c + a s)``;
    interleaved: adjacent pairs rotated the same way."""
    cos, sin = table.cos, table.sin
    if table.rope_type == "split":
        b, t, _ = x.shape
        heads = cos.shape[1]
        x = x.reshape(b, t, heads, -1)
        cos, sin = cos.transpose(0, 2, 1, 3), sin.transpose(0, 2, 1, 3)  # (B, T, H, D/2)
        half = x.shape[-1] // 2
        a, h = x[..., :half], x[..., half:]
        # (a c) rounds to x's dtype, then ``-= s b`` is one fused float32 step (torch's addcmul_), as the reference
        f32 = mx.float32
        first = ((a * cos).astype(f32) - sin.astype(f32) * h.astype(f32)).astype(x.dtype)
        second = ((h * cos).astype(f32) + sin.astype(f32) * a.astype(f32)).astype(x.dtype)
        return mx.concatenate([first, second], axis=-1).reshape(b, t, -1)
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    rotated = mx.stack([-pairs[..., 1], pairs[..., 0]], axis=-1).reshape(x.shape)
    return x * cos + rotated * sin


@op
def qk_norm_rope(layer: Callable[[mx.array], mx.array], x: mx.array, norm_weight: mx.array, eps: float,
                 rope: RopeTable | None, heads: int) -> mx.array:
    """A query or key of attention: ``layer(x)`` (B, T, H*D), RMSNorm over the whole inner dim times
    ``norm_weight``, then RoPE when ``rope`` is given. ``heads`` says how the inner dim splits."""
    y = mx.fast.rms_norm(layer(x), norm_weight, eps)
    return y if rope is None else apply_rope(y, rope)


@op
def attention(q: mx.array, k: mx.array, v: mx.array, heads: int, scale: float,
              mask: mx.array | None = None) -> mx.array:
    """``softmax(scale q_h k_h^T + mask) v_h`` for every head: q (B, T, H*D), k and v (B, S, H*D), mask
    additive (or boolean) broadcastable to (B, H, T, S) -> (B, T, H*D)."""
    b, t, _ = q.shape
    q, k, v = (a.reshape(b, a.shape[1], heads, -1).transpose(0, 2, 1, 3) for a in (q, k, v))
    out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
    return out.transpose(0, 2, 1, 3).reshape(b, t, -1)


@op
def cos_sin(angles: mx.array) -> tuple[mx.array, mx.array]:
    """``(cos(angles), sin(angles))``: the RoPE tables."""
    return mx.cos(angles), mx.sin(angles)


# -- VAE and vocoder ops ----------------------------------------------------------------------------------------
@op
def silu(x: mx.array) -> mx.array:
    """``x * sigmoid(x)``."""
    return x * mx.sigmoid(x)


@dataclass(frozen=True)
class NormSiLU:
    """PixelNorm (RMS over channels, ``eps``) -> optional ``h * (1 + scale) + shift`` -> SiLU: the pre-activation
    of a VAE resnet block. scale and shift broadcast over a channels-last x, e.g. (B, 1, 1, 1, C), or None."""

    eps: float
    scale: mx.array | None = None
    shift: mx.array | None = None

    def arrays(self) -> list[mx.array]:
        return [a for a in (self.scale, self.shift) if a is not None]


@op
def norm_silu(x: mx.array, act: NormSiLU) -> mx.array:
    """``act`` applied to channels-last x (..., C)."""
    h = mx.fast.rms_norm(x, None, act.eps)
    if act.scale is not None:
        h = h * (1 + act.scale) + act.shift
    return h * mx.sigmoid(h)


@op
def snake(x: mx.array, alpha: mx.array, beta: mx.array, eps: float) -> mx.array:
    """SnakeBeta of channels-first x (B, C, L): ``x + sin(x e^alpha)^2 / (e^beta + eps)``, alpha and beta (C,)."""
    scale, denom = mx.exp(alpha)[:, None], (mx.exp(beta) + eps)[:, None]
    return x + mx.square(mx.sin(x * scale)) / denom


# The video VAE's convolution as matrix products: unfold the 3x3 spatial neighbourhood into channels, then one
# matmul per temporal tap (MLX's CPU ``conv3d`` measured ~2x slower); a few frames (or a band of rows) at a time.
PADDING_MODES = ("zeros", "reflect")
UNFOLD_BUDGET_BYTES = 96 * 2**20  # largest unfolded (im2col) buffer built at once
MERGED_TAPS_BELOW = 512  # below this many output channels, all temporal taps go into one wider matmul


@op
def conv3d(x: mx.array, weight: mx.array, bias: mx.array | None, stride: tuple[int, int, int] = (1, 1, 1),
           time_pad: tuple[int, int] = (0, 0), space_pad: str | None = None,
           prologue: NormSiLU | None = None) -> mx.array:
    """3-D convolution without implicit padding: x (B, T, H, W, I), weight (O, kT, kH, kW, I) -> (B, T', H', W', O).
    ``time_pad`` (front, back) repeats the edge frames, ``space_pad`` ("zeros" or "reflect") pads H and W by 1, and
    ``prologue`` (``norm_silu``) is applied to x first."""
    if prologue is not None:
        x = norm_silu(x, prologue)
    if weight.shape[0] < MERGED_TAPS_BELOW and weight.shape[1] > 1 and stride[0] == 1:
        return _conv_merged_time_taps(x, weight, bias, stride, time_pad, space_pad)
    return _conv_per_time_tap(x, weight, bias, stride, time_pad, space_pad)


def pad_space(x: mx.array, mode: str, pad: int = 1) -> mx.array:
    """Pad H and W (axes 2, 3) by ``pad``: ``zeros``, or ``reflect`` (mirror without repeating the edge)."""
    if pad == 0:
        return x
    if mode == "zeros":
        return mx.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)])
    if mode != "reflect":
        raise ValueError(f"spatial padding mode {mode!r} is not one of {PADDING_MODES}")
    for axis in (2, 3):
        n = x.shape[axis]
        if n <= pad:
            raise ValueError(f"reflect padding by {pad} needs more than {pad} pixels on axis {axis}, got {n}")
        front = [mx.take(x, mx.array([i]), axis=axis) for i in range(pad, 0, -1)]
        back = [mx.take(x, mx.array([n - 1 - i]), axis=axis) for i in range(1, pad + 1)]
        x = mx.concatenate(front + [x] + back, axis=axis)
    return x


def _conv_per_time_tap(x, weight, bias, stride, time_pad, space_pad) -> mx.array:
    """Wide outputs: unfold a few frames at a time, one matmul per temporal tap accumulated with addmm."""
    out_ch, kt, kh, kw, in_ch = weight.shape
    st, sh, sw = stride
    front, back = time_pad
    grow = 2 if space_pad else 0
    b, t, h, w = x.shape[0], x.shape[1] + front + back, x.shape[2] + grow, x.shape[3] + grow
    t_out, h_out, w_out = (t - kt) // st + 1, (h - kh) // sh + 1, (w - kw) // sw + 1
    # (kT, kH*kW*I, O): one matmul operand per temporal tap, rows ordered (kh, kw, i) like the unfold below
    taps = weight.reshape(out_ch, kt, kh * kw * in_ch).transpose(1, 2, 0)
    frame_bytes = b * h_out * w_out * kh * kw * in_ch * x.itemsize
    step = max(1, min(t_out, UNFOLD_BUDGET_BYTES // max(1, frame_bytes * st)))
    chunks = []
    for t0 in range(0, t_out, step):
        n = min(step, t_out - t0)
        frames = _padded_frames(x, t0 * st, (t0 + n - 1) * st + kt, front)  # the frames these n outputs read
        if space_pad:
            frames = pad_space(frames, space_pad)
        cols = _unfold_space(frames, kh, kw, sh, sw, h_out, w_out)  # (B, frames, H', W', kH*kW*I)
        out = None
        for dt in range(kt):
            rows = cols[:, dt: dt + (n - 1) * st + 1: st].reshape(-1, cols.shape[-1])
            if out is None:
                out = rows @ taps[dt] if bias is None else mx.addmm(bias, rows, taps[dt])
            else:
                out = mx.addmm(out, rows, taps[dt])
        chunks.append(out.reshape(b, n, h_out, w_out, out_ch))
    return chunks[0] if len(chunks) == 1 else mx.concatenate(chunks, axis=1)


def _conv_merged_time_taps(x, weight, bias, stride, time_pad, space_pad) -> mx.array:
    """Narrow outputs (BLAS is slow for N ~ 128): one matmul computes all temporal taps side by side
    (N = kT*O) for every padded frame of a band of rows, then the taps are summed shifted in time."""
    out_ch, kt, kh, kw, in_ch = weight.shape
    _, sh, sw = stride
    front, back = time_pad
    if space_pad:
        x = pad_space(x, space_pad)
    b, t, h, w = x.shape[0], x.shape[1] + front + back, x.shape[2], x.shape[3]
    t_out, h_out, w_out = t - kt + 1, (h - kh) // sh + 1, (w - kw) // sw + 1
    merged = weight.transpose(2, 3, 4, 1, 0).reshape(kh * kw * in_ch, kt * out_ch)  # columns ordered (tap, o)
    row_bytes = b * t * w_out * kh * kw * in_ch * x.itemsize
    step = max(1, min(h_out, UNFOLD_BUDGET_BYTES // max(1, row_bytes)))
    bands = []
    for h0 in range(0, h_out, step):
        n = min(step, h_out - h0)
        band = x[:, :, h0 * sh: (h0 + n - 1) * sh + kh]
        band = _padded_frames(band, 0, t, front)
        cols = _unfold_space(band, kh, kw, sh, sw, n, w_out)  # (B, T+pad, n, W', kH*kW*I)
        taps = (cols.reshape(-1, cols.shape[-1]) @ merged).reshape(b, t, n, w_out, kt, out_ch)
        out = taps[:, :t_out, :, :, 0]
        for dt in range(1, kt):
            out = out + taps[:, dt: dt + t_out, :, :, dt]
        bands.append(out if bias is None else out + bias)
    return bands[0] if len(bands) == 1 else mx.concatenate(bands, axis=2)


def _padded_frames(x: mx.array, start: int, stop: int, front: int) -> mx.array:
    """Frames [start, stop) of ``x`` padded in time by ``front`` copies of frame 0 (and copies of the last
    frame past its end), without building the padded tensor."""
    first, last = start - front, stop - front  # in x's own frame indices
    n = x.shape[1]
    parts = [x[:, :1]] * max(0, min(0, last) - first)
    if max(first, 0) < min(last, n):
        parts.append(x[:, max(first, 0): min(last, n)])
    parts += [x[:, -1:]] * max(0, last - max(first, n))
    return parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=1)


def _unfold_space(x: mx.array, kh: int, kw: int, sh: int, sw: int, h_out: int, w_out: int) -> mx.array:
    if kh == kw == 1 and sh == sw == 1:
        return x
    shifted = [x[:, :, i: i + (h_out - 1) * sh + 1: sh, j: j + (w_out - 1) * sw + 1: sw]
               for i in range(kh) for j in range(kw)]
    return mx.concatenate(shifted, axis=-1)
