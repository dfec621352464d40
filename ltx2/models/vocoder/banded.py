"""Fixed depthwise resampling filters (the same short filter on every channel) as block-banded matmuls.

Sums of k shifted slices cost k full elementwise passes over the signal, single-threaded on MLX's CPU backend;
that dominated the BigVGAN vocoder. Here the time axis (the last: signals are ``(B, C, L)``) is cut into blocks:
output block b (``block_out`` samples) is one small dense matrix (block_out, window) times the input window that
starts at ``b * step``; all windows of all channels go through one multithreaded BLAS matmul. The matrix is a
band of the k taps (mostly zeros: flops, but no extra passes). Same products as the slice form, summed in another
order (float32 rounding ~1 ulp).
"""

from __future__ import annotations

from functools import lru_cache

import mlx.core as mx
import numpy as np

BLOCK = 32  # input samples per block of an upsampler, output samples per block of a strided low-pass


@lru_cache(maxsize=64)
def _upsample_band(k: int, ratio: int, crop: int, block: int) -> tuple[np.ndarray, int]:
    """Tap index (or -1) of each matrix entry, and the window start. Output m of the cropped transposed
    convolution is sum_t x[t] f[m + crop - ratio t]; outputs [b*ratio*block, (b+1)*ratio*block) read the inputs
    [b*block + start, b*block + start + window)."""
    start = -((k - 1 - crop) // ratio)  # ceil((crop - k + 1) / ratio)
    window = (ratio * block - 1 + crop) // ratio - start + 1
    i = np.arange(ratio * block)[:, None]
    j = i + crop - ratio * (np.arange(window)[None, :] + start)
    return np.where((j >= 0) & (j < k), j, -1).astype(np.int32), start


@lru_cache(maxsize=64)
def _lowpass_band(k: int, stride: int, block: int) -> np.ndarray:
    """Tap index (or -1): output m of the strided cross-correlation is sum_j x[m stride + j] f[j]."""
    j = np.arange((block - 1) * stride + k)[None, :] - stride * np.arange(block)[:, None]
    return np.where((j >= 0) & (j < k), j, -1).astype(np.int32)


def _band_matrix(taps: mx.array, band: np.ndarray) -> mx.array:
    """taps (k,) into the band's entries (To, W), zeros elsewhere (lazy: no host sync on the filter)."""
    index = mx.array(band)
    return mx.where(index >= 0, mx.take(taps, mx.maximum(index, 0)), mx.zeros((), taps.dtype))


def upsample_matrix(taps: mx.array, ratio: int, crop_left: int) -> tuple[mx.array, int]:
    """The block matrix of ``banded_upsample`` and its window start (build once, pass as ``matrix``)."""
    band, start = _upsample_band(taps.shape[0], ratio, crop_left, BLOCK)
    return _band_matrix(taps, band), start


def lowpass_matrix(taps: mx.array, stride: int) -> mx.array:
    """The block matrix of ``banded_lowpass`` (build once, pass as ``matrix``)."""
    return _band_matrix(taps, _lowpass_band(taps.shape[0], stride, BLOCK))


def _blocks_times(x: mx.array, matrix: mx.array, step: int, out_len: int) -> mx.array:
    """x (B, C, N), zero-extended on the right as needed: ``matrix`` (To, W) times the W-sample window at every
    ``step`` samples -> (B, C, out_len)."""
    block_out, window = matrix.shape
    b, c, n = x.shape
    blocks = -(-out_len // block_out)
    need = (blocks - 1) * step + window
    if need > n:
        x = mx.pad(x, [(0, 0), (0, 0), (0, need - n)])
        n = need
    windows = mx.as_strided(x, (b, c, blocks, window), (c * n, n, step, 1))  # (B, C, blocks, W)
    out = windows.reshape(b * c * blocks, window) @ matrix.T
    return out.reshape(b, c, blocks * block_out)[:, :, :out_len]


def banded_upsample(x: mx.array, taps: mx.array, ratio: int, crop_left: int, out_len: int,
                    matrix: tuple[mx.array, int] | None = None) -> mx.array:
    """The PyTorch transposed convolution of x (B, C, L) with ``taps`` (k,) at stride ``ratio``, outputs
    [crop_left, crop_left + out_len) -> (B, C, out_len). ``matrix``: ``upsample_matrix(taps, ratio, crop_left)``
    built earlier (a fixed filter)."""
    band, start = matrix or upsample_matrix(taps, ratio, crop_left)
    if start < 0:
        x = mx.pad(x, [(0, 0), (0, 0), (-start, 0)])
    elif start > 0:
        x = x[:, :, start:]
    return _blocks_times(x, band, BLOCK, out_len)


def banded_lowpass(x: mx.array, taps: mx.array, stride: int, matrix: mx.array | None = None) -> mx.array:
    """Cross-correlation of x (B, C, L) with ``taps`` (k,) at ``stride``, no padding -> (B, C, (L-k)//stride + 1).
    ``matrix``: ``lowpass_matrix(taps, stride)`` built earlier (a fixed filter)."""
    k = taps.shape[0]
    out_len = (x.shape[2] - k) // stride + 1
    return _blocks_times(x, lowpass_matrix(taps, stride) if matrix is None else matrix, BLOCK * stride, out_len)
