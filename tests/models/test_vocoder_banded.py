"""The block-banded resampling filters (ltx2/models/vocoder/banded.py) against numpy's direct sums, across lengths
that do and do not fill whole blocks, crops on both sides of the filter length, and batch > 1. The oracles work
channels-last (B, L, C); the banded ops take and return channels-first (B, C, L)."""

import mlx.core as mx
import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.vocoder.banded import BLOCK, banded_lowpass, banded_upsample, lowpass_matrix, upsample_matrix


def _transposed_conv(x: np.ndarray, taps: np.ndarray, ratio: int) -> np.ndarray:
    """PyTorch ConvTranspose1d with one filter per channel, float64: x (B, L, C) -> (B, (L-1) ratio + k, C)."""
    b, n, c = x.shape
    out = np.zeros((b, (n - 1) * ratio + len(taps), c))
    for t in range(n):
        out[:, t * ratio: t * ratio + len(taps)] += x[:, t, None, :] * taps[None, :, None]
    return out


@pytest.mark.parametrize("length", [9, BLOCK, 3 * BLOCK + 5])
@pytest.mark.parametrize("taps,ratio,crop", [(12, 2, 15), (12, 2, 0), (43, 3, 42), (43, 3, 60)])
def test_banded_upsample_matches_direct_sum(length, taps, ratio, crop):
    rng = np.random.default_rng(length + taps + crop)
    x = rng.standard_normal((2, length, 5)).astype(np.float32)
    f = rng.standard_normal(taps).astype(np.float32)
    full = _transposed_conv(x.astype(np.float64), f.astype(np.float64), ratio)
    keep = full.shape[1] - crop - 2
    cf = mx.array(x.transpose(0, 2, 1))
    ours = np.array(banded_upsample(cf, mx.array(f), ratio, crop, keep)).transpose(0, 2, 1)
    assert ours.shape == (2, keep, 5)
    np.testing.assert_allclose(ours, full[:, crop: crop + keep], atol=5e-6 * np.sqrt(taps))
    prebuilt = banded_upsample(cf, mx.array(f), ratio, crop, keep, upsample_matrix(mx.array(f), ratio, crop))
    np.testing.assert_array_equal(np.array(prebuilt).transpose(0, 2, 1), ours)


@pytest.mark.parametrize("length", [12, 13, 2 * BLOCK + 11, 5 * BLOCK + 3])
def test_banded_lowpass_matches_direct_sum(length):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((3, length, 4)).astype(np.float32)
    f = rng.standard_normal(12).astype(np.float32)
    n_out = (length - 12) // 2 + 1
    expected = np.stack([np.tensordot(x[:, 2 * m: 2 * m + 12].astype(np.float64), f, axes=([1], [0]))
                         for m in range(n_out)], axis=1)
    cf = mx.array(x.transpose(0, 2, 1))
    ours = np.array(banded_lowpass(cf, mx.array(f), 2)).transpose(0, 2, 1)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=2e-5)
    prebuilt = banded_lowpass(cf, mx.array(f), 2, lowpass_matrix(mx.array(f), 2))
    np.testing.assert_array_equal(np.array(prebuilt).transpose(0, 2, 1), ours)
