"""numpy versions of elementwise work that MLX's CPU backend runs slowly (scalar ``exp``/``sigmoid``, its RMSNorm),
shared by the CPU fast paths of the video VAE (fused into its convolutions' padded copy), the audio VAE and the
transformer."""

from __future__ import annotations

import numpy as np


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
