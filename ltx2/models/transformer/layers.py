"""Small layers of the LTX-2 transformer: norms, GELU, feed-forward, timestep embedding, AdaLN-single."""

from __future__ import annotations

import functools
import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2 import ops
from ltx2.ops import gelu_tanh  # noqa: F401  (part of this module's vocabulary)

NORM_EPS = 1e-6


def rms_norm(x: mx.array, eps: float = NORM_EPS) -> mx.array:
    """Parameter-free RMSNorm over the last axis (fp32 inside, one rounding, as torch's rms_norm)."""
    return mx.fast.rms_norm(x, None, eps)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same checkpoint keys) through the op ``ltx2.ops.linear``."""

    def __call__(self, x: mx.array) -> mx.array:
        return ops.linear(x, self.weight, self.bias if "bias" in self else None)


def silu(x: mx.array) -> mx.array:
    """SiLU with float32 inside and one rounding (MLX's would round twice in bf16)."""
    y = x.astype(mx.float32)
    return (y * mx.sigmoid(y)).astype(x.dtype)


class FeedForward(nn.Module):
    """``net.0.proj`` (D -> 4D) -> GELU(tanh) -> ``net.2`` (4D -> D); key names as the checkpoint's.
    ``bias=False``: both linears without bias (LTX-2.5's ``ff_bias`` / ``audio_ff_bias``)."""

    def __init__(self, dim: int, mult: int = 4, bias: bool = True):
        super().__init__()
        self.net = [_GeluProj(dim, dim * mult, bias), nn.Identity(), Linear(dim * mult, dim, bias=bias)]

    def __call__(self, x: mx.array) -> mx.array:
        return self.net[2](self.net[0](x))


class _GeluProj(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, bias: bool = True):
        super().__init__()
        self.proj = Linear(dim_in, dim_out, bias=bias)

    def __call__(self, x: mx.array) -> mx.array:
        return ops.linear_gelu(self.proj, x)


def timestep_sinusoid(t: mx.array, channels: int = 256, max_period: float = 10000.0) -> mx.array:
    """(N,) -> (N, channels) float32 ``[cos | sin]`` of ``t * exp(-ln(max_period) i / (channels/2))``."""
    args = t.astype(mx.float32)[:, None] * mx.array(_sinusoid_frequencies(channels // 2, max_period))[None]
    return mx.concatenate([mx.cos(args), mx.sin(args)], axis=-1)


@functools.lru_cache(maxsize=4)
def _sinusoid_frequencies(half: int, max_period: float) -> np.ndarray:
    """The reference's float32 ``exp(-ln(max_period) i / half)``. Torch computes it with MKL's VML exp (high
    accuracy mode), which is one ulp off the correctly rounded value at two of the 128 indices, and which two
    depends on the CPU MKL dispatches for (measured: 12 and 106 on an AMD EPYC, 44 and 92 on an AVX-512 Xeon). A
    timestep of ~1000 turns one ulp into a 5e-5 rad phase error, so we call the same VML function from the MKL that
    ltx2 loaded (``ops.reference_exp``); without MKL, the correctly rounded value (tests/models/test_transformer_layers.py
    checks it)."""
    exponent = (np.float32(-math.log(max_period)) * np.arange(half, dtype=np.float32)) / np.float32(half)
    return ops.reference_exp(exponent)


class TimestepEmbedder(nn.Module):
    """256-dim sinusoid -> ``linear_1`` -> SiLU -> ``linear_2``; the sinusoid is cast to the compute dtype first."""

    def __init__(self, dim: int, channels: int = 256):
        super().__init__()
        self.linear_1 = Linear(channels, dim)
        self.linear_2 = Linear(dim, dim)

    def __call__(self, t: mx.array, dtype: mx.Dtype) -> mx.array:
        return self.linear_2(silu(self.linear_1(timestep_sinusoid(t).astype(dtype))))


class _CombinedEmbedding(nn.Module):  # checkpoint path: <adaln>.emb.timestep_embedder
    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)


class AdaLayerNormSingle(nn.Module):
    """AdaLN-single (PixArt-alpha): ``t -> emb = TimestepEmbedder(t)``, returns ``(linear(silu(emb)), emb)``.

    ``t``: (N,) already multiplied by the timestep scale (1000). Outputs (N, coef*D) and (N, D).
    """

    def __init__(self, dim: int, coefficient: int):
        super().__init__()
        self.emb = _CombinedEmbedding(dim)
        self.linear = Linear(dim, coefficient * dim)

    def __call__(self, t: mx.array, dtype: mx.Dtype) -> tuple[mx.array, mx.array]:
        emb = self.emb.timestep_embedder(t, dtype)
        return self.linear(silu(emb)), emb


class CaptionProjection(nn.Module):
    """LTX-2 (V1) text projection inside the transformer: linear_1 -> GELU(tanh) -> linear_2."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = Linear(in_dim, dim)
        self.linear_2 = Linear(dim, dim)

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear_2(ops.linear_gelu(self.linear_1, x))
