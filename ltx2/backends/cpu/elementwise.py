"""numpy versions of elementwise work that MLX's CPU backend runs slowly (scalar ``exp``/``sigmoid``/``sin``, its
RMSNorm), shared by the CPU fast paths of the video VAE (fused into its convolutions' padded copy), the audio VAE, the
vocoder and the transformer; and the backend's versions of ``ops.norm_silu``, ``ops.silu`` and ``ops.snake``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import mlx.core as mx
import numpy as np

from ltx2 import ops
from ltx2.backends.cpu.pool import numpy_path


def rms_normalize(src: np.ndarray, dst: np.ndarray, eps: float) -> None:
    """dst[...] = src / sqrt(mean(src^2) + eps) over the last axis, float32 (PixelNorm; RMSNorm without weight).
    ``dst`` may be ``src`` (in place) or a strided view."""
    mean_square = np.einsum("...c,...c->...", src, src)[..., None]
    mean_square *= np.float32(1.0 / src.shape[-1])
    mean_square += np.float32(eps)
    np.sqrt(mean_square, out=mean_square)
    np.divide(src, mean_square, out=dst)


def pixel_norm_silu(src: np.ndarray, dst: np.ndarray, eps: float,
                    modulation: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """dst[...] = SiLU(PixelNorm(src) [* (1 + scale) + shift]), over the last axis (channels), float32.
    ``modulation`` is ``(1 + scale, shift)``, each (C,). ``dst`` may be a strided view; ``src`` is only read.
    Same sums as MLX's ``rms_norm`` then ``x * sigmoid(x)``, to ~1 ulp (1 / sqrt, and exp(-h) for the sigmoid)."""
    rms_normalize(src, dst, eps)
    if modulation is not None:
        dst *= modulation[0]
        dst += modulation[1]
    denominator = np.negative(dst)  # silu(h) = h / (1 + exp(-h)); exp's overflow gives -0, as it should
    with np.errstate(over="ignore"):
        np.exp(denominator, out=denominator)
    denominator += np.float32(1.0)
    np.divide(dst, denominator, out=dst)


# -- the ops of the VAEs and the vocoder --------------------------------------------------------------------------
def _fresh(shape: tuple[int, ...]) -> tuple[mx.array, np.ndarray]:
    out = mx.empty(shape, mx.float32)
    mx.eval(out)
    return out, np.asarray(out)


def _modulation(act: ops.NormSiLU, batch: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(1 + scale, shift)`` of batch item ``batch`` as float32 (C,) rows, or None."""
    if act.scale is None:
        return None
    scale, shift = (np.array(a.astype(mx.float32)).reshape(a.shape[0], -1) for a in (act.scale, act.shift))
    return 1.0 + scale[min(batch, len(scale) - 1)], shift[min(batch, len(shift) - 1)]


def norm_silu_applies(x: mx.array, act: ops.NormSiLU) -> bool:
    return numpy_path(x)


def norm_silu(x: mx.array, act: ops.NormSiLU) -> mx.array:
    """``ops.norm_silu`` in numpy: MLX's CPU exp / sigmoid are scalar (18 ms for the tiny audio decoder's 70 x 64 x 128
    map, 2.5 ms in numpy; it was half the tiny audio decoder's time). Eager (evaluates x)."""
    mx.eval(x, *act.arrays())
    src = np.asarray(x)  # only read
    out, dst = _fresh(src.shape)
    if act.scale is None:
        pixel_norm_silu(src, dst, act.eps)
    else:
        for i in range(src.shape[0]):
            pixel_norm_silu(src[i], dst[i], act.eps, _modulation(act, i))
    return out


def activation(act: ops.NormSiLU | None, batch: int) -> Callable[[np.ndarray, np.ndarray], None] | None:
    """``fn(src, dst)``: dst[...] = ``act`` of src (..., C) of batch item ``batch`` in float32 numpy (None: none)."""
    if act is None:
        return None
    modulation = _modulation(act, batch)
    return lambda src, dst: pixel_norm_silu(src, dst, act.eps, modulation)


# SiLU as x * (1 + tanh(x/2)) / 2 with a rational tanh (Eigen's float approximation, exact to a few ulp; max abs
# deviation from x * sigmoid(x) ~3e-6 at |x| ~ 16): MLX's CPU sigmoid/exp are single-threaded and ~6x slower than a
# multiply. Compiled into one kernel it is ~2.5x faster than x * sigmoid(x). Stays lazy.
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
           -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
_TANH_CLAMP = 7.90531110763549805  # tanh rounds to +-1 in float32 beyond this


def _silu_rational(x: mx.array) -> mx.array:
    u = mx.clip(0.5 * x, -_TANH_CLAMP, _TANH_CLAMP)
    u2 = u * u
    p = _TANH_P[6]
    for c in _TANH_P[5::-1]:
        p = p * u2 + c
    q = _TANH_Q[3]
    for c in _TANH_Q[2::-1]:
        q = q * u2 + c
    return x * (0.5 + 0.5 * (u * p) / q)


silu = mx.compile(_silu_rational)


def silu_applies(x: mx.array) -> bool:
    return numpy_path(x)


_snake_params: OrderedDict = OrderedDict()  # (id(alpha), id(beta)) -> (alpha, beta, e^alpha, e^beta + eps)
SNAKE_PARAMS_KEPT = 4096  # a vocoder has a few hundred SnakeBeta layers


def _snake_host(alpha: mx.array, beta: mx.array, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """e^alpha and e^beta + eps (computed by MLX, as the MLX op does) as float32 numpy columns (C, 1), once per
    alpha / beta array instead of 4 MLX ops and a sync per call (200 calls in the tiny LTX-2.3 vocoder)."""
    key = (id(alpha), id(beta), eps)
    entry = _snake_params.get(key)
    if entry is None or entry[0] is not alpha or entry[1] is not beta:
        scale, denom = mx.exp(alpha.astype(mx.float32)), mx.exp(beta.astype(mx.float32)) + eps
        entry = _snake_params[key] = (alpha, beta, np.array(scale)[:, None], np.array(denom)[:, None])
        while len(_snake_params) > SNAKE_PARAMS_KEPT:
            _snake_params.popitem(last=False)
    return entry[2], entry[3]


def snake_applies(x: mx.array, alpha: mx.array, beta: mx.array, eps: float) -> bool:
    return numpy_path(x)


def snake(x: mx.array, alpha: mx.array, beta: mx.array, eps: float) -> mx.array:
    """``ops.snake`` with numpy's vectorised sin (MLX's CPU sin is scalar: 3-10x slower, and it was most of the
    vocoder's time); eager (evaluates x). Channels-first, the per-channel products run along whole rows."""
    scale, denom = _snake_host(alpha, beta, eps)
    mx.eval(x)
    a = np.asarray(x)  # only read
    out = np.multiply(a, scale)
    np.sin(out, out=out)
    np.square(out, out=out)
    np.divide(out, denom, out=out)
    np.add(a, out, out=out)
    return mx.array(out)
