"""The CPU BLAS convolution path of the video VAE against torch's conv3d (fp32), across its branches: row taps and
full unfold, several frame chunks, zero and reflect padding, causal and symmetric time padding, fused prologue,
bf16-stored weights."""

import mlx.core as mx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2 import ops
from ltx2.backends.cpu import blas as _blas
from ltx2.backends.cpu import conv3d as cpu_conv
from ltx2.models.video_vae.layout import prologue

pytestmark = pytest.mark.skipif(_blas.sgemm() is None, reason="no optimized BLAS with cblas_sgemm loaded")


def _torch_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, time_pad, space_pad) -> np.ndarray:
    """x (B, T, H, W, I), w (O, 3, 3, 3, I) -> (B, T', H, W, O) with edge frames repeated in time."""
    tx = torch.from_numpy(x).permute(0, 4, 1, 2, 3)
    front, back = time_pad
    tx = torch.cat([tx[:, :, :1]] * front + [tx] + [tx[:, :, -1:]] * back, dim=2)
    tx = F.pad(tx, (1, 1, 1, 1, 0, 0), mode="constant" if space_pad == "zeros" else "reflect")
    out = F.conv3d(tx, torch.from_numpy(w).permute(0, 4, 1, 2, 3), torch.from_numpy(b))
    return out.permute(0, 2, 3, 4, 1).numpy()


@pytest.mark.parametrize("space_pad", ["zeros", "reflect"])
@pytest.mark.parametrize("time_pad", [(2, 0), (1, 1)])
@pytest.mark.parametrize("hw", [(12, 10), (3, 2)])  # row taps; small plane -> all 27 taps unfolded
def test_cpu_conv_matches_torch(monkeypatch, space_pad, time_pad, hw):
    monkeypatch.setattr(cpu_conv, "MIN_MULTIPLY_ADDS", 0)
    monkeypatch.setattr(cpu_conv, "CHUNK_BYTES", 40_000)  # a few frames per chunk: chunk edges are exercised
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, *hw, 16)).astype(np.float32)
    w = (rng.standard_normal((24, 3, 3, 3, 16)) * 0.1).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    assert cpu_conv.applies(mx.array(x), mx.array(w), None, (1, 1, 1))
    ours = np.array(cpu_conv.conv3d(mx.array(x), mx.array(w), mx.array(b), (1, 1, 1), time_pad, space_pad))
    ref = _torch_conv(x, w, b, time_pad, space_pad)
    assert ours.shape == ref.shape == (2, 7, *hw, 24)
    assert np.abs(ours - ref).max() < 2e-5  # outputs ~|3|


def test_fused_prologue_and_bf16_weights_match_mlx_ops(monkeypatch):
    """PixelNorm -> modulation -> SiLU fused into the padded copy equals the MLX versions of the ops."""
    rng = np.random.default_rng(1)
    x = mx.array(rng.standard_normal((2, 5, 8, 6, 32)).astype(np.float32) * 3)
    w = mx.array((rng.standard_normal((16, 3, 3, 3, 32)) * 0.1).astype(np.float32)).astype(mx.bfloat16)
    b = mx.array(rng.standard_normal(16).astype(np.float32))
    scale, shift = (mx.array(rng.standard_normal((2, 1, 1, 1, 32)).astype(np.float32)) for _ in range(2))
    act = prologue(scale, shift)
    with ops.only():
        expected = ops.conv3d(x, w, b, time_pad=(2, 0), space_pad="zeros", prologue=act)
    monkeypatch.setattr(cpu_conv, "MIN_MULTIPLY_ADDS", 0)
    assert cpu_conv.applies(x, w, b, (1, 1, 1))
    ours = cpu_conv.conv3d(x, w, b, time_pad=(2, 0), space_pad="zeros", prologue=act)
    assert ours.dtype == mx.float32
    assert mx.abs(ours - expected).max().item() < 2e-5


def test_output_channel_blocks_match_one_block(monkeypatch):
    """Wide bf16 weights run a block of output channels at a time (bounded float32 copies); same numbers up to
    float32 rounding (MKL picks its sgemm kernel by the block's width: a few ulps on AVX-512 machines; a wrong
    channel mapping would differ by the outputs' size)."""
    monkeypatch.setattr(cpu_conv, "MIN_MULTIPLY_ADDS", 0)
    rng = np.random.default_rng(2)
    x = mx.array(rng.standard_normal((1, 4, 6, 5, 8)).astype(np.float32))
    w = mx.array((rng.standard_normal((20, 3, 3, 3, 8)) * 0.1).astype(np.float32))
    b = mx.array(rng.standard_normal(20).astype(np.float32))
    whole = cpu_conv.conv3d(x, w, b, (1, 1, 1), (2, 0), "zeros")
    monkeypatch.setattr(cpu_conv, "WEIGHT_BLOCK_BYTES", 27 * 8 * 4 * 6)  # blocks of 6 channels: 6, 6, 6, 2
    blocked = cpu_conv.conv3d(x, w, b, (1, 1, 1), (2, 0), "zeros")
    assert mx.abs(whole - blocked).max().item() < 1e-6 * mx.abs(whole).max().item()
    ref = _torch_conv(np.array(x), np.array(w), np.array(b), (2, 0), "zeros")
    assert np.abs(np.array(blocked) - ref).max() < 2e-5
