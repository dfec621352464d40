"""Pieces of the transformer against the reference: positions, RoPE tables, timestep sinusoid."""

import math

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.model.transformer.rope import (
    LTXRopeType,
    generate_freq_grid_np,
    generate_freq_grid_pytorch,
    precompute_freqs_cis,
)
from ltx_core.model.transformer.timestep_embedding import get_timestep_embedding
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape, VideoLatentShape, VideoPixelShape
from oracles.compare import max_abs_diff, to_numpy

from ltx2.models.transformer import audio_positions, video_positions
from ltx2.models.transformer.layers import timestep_sinusoid
from ltx2.models.transformer.rope import frequency_grid, rope_table

PIXELS = VideoPixelShape(batch=1, frames=25, height=64, width=96, fps=24.0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_video_positions_equal_reference(dtype):
    shape = VideoLatentShape.from_pixel_shape(PIXELS)
    tools = VideoLatentTools(VideoLatentPatchifier(1), shape, PIXELS.fps)
    ref = tools.create_initial_state("cpu", getattr(torch, dtype)).positions
    ours = video_positions(shape.frames, shape.height, shape.width, PIXELS.fps, dtype=getattr(mx, dtype))
    assert ours.shape == tuple(ref.shape) and ours.dtype == getattr(mx, dtype)
    assert np.array_equal(to_numpy(ours), to_numpy(ref))
    if dtype == "bfloat16":  # the trap: 1/24 s is stored as 0.041748
        assert abs(float(to_numpy(ours)[0, 0, 0, 1]) - 0.041748) < 1e-6


def test_audio_positions_equal_reference():
    shape = AudioLatentShape.from_video_pixel_shape(PIXELS)
    ref = AudioLatentTools(AudioPatchifier(1), shape).create_initial_state("cpu", torch.bfloat16).positions
    ours = audio_positions(shape.frames)
    assert ours.dtype == mx.float32 and ref.dtype == torch.float32  # never cast to the compute dtype
    assert np.array_equal(to_numpy(ours), to_numpy(ref))


@pytest.mark.parametrize("n_pos,dim", [(3, 32), (1, 16), (3, 4096), (1, 2048), (1, 3840)])
def test_frequency_grids(n_pos, dim):
    assert np.array_equal(frequency_grid(1e4, n_pos, dim, True), generate_freq_grid_np(1e4, n_pos, dim).numpy())
    ours32, ref32 = frequency_grid(1e4, n_pos, dim, False), generate_freq_grid_pytorch(1e4, n_pos, dim).numpy()
    # float32 path: torch's float32 pow is not correctly rounded: rarely, and at most two ulps apart
    assert np.all(np.abs(ours32.view(np.int32) - ref32.view(np.int32)) <= 2)
    assert np.mean(ours32 != ref32) <= 0.02


@pytest.mark.parametrize("rope_type", ["split", "interleaved"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_rope_tables_full_size(rope_type, dtype):
    """Real widths (4096 over 32 heads): front padding, frequency-major layout, bf16 position arithmetic."""
    shape = VideoLatentShape.from_pixel_shape(PIXELS)
    positions = VideoLatentTools(VideoLatentPatchifier(1), shape, PIXELS.fps).create_initial_state(
        "cpu", getattr(torch, dtype)).positions
    ref_cos, ref_sin = precompute_freqs_cis(positions, dim=4096, out_dtype=torch.float32, max_pos=[20, 2048, 2048],
                                            use_middle_indices_grid=True, num_attention_heads=32,
                                            rope_type=LTXRopeType(rope_type), freq_grid_generator=generate_freq_grid_np)
    ours = rope_table(video_positions(shape.frames, shape.height, shape.width, PIXELS.fps, dtype=getattr(mx, dtype)),
                      4096, 32, (20, 2048, 2048), rope_type, float64_grid=True)
    assert ours.cos.shape == tuple(ref_cos.shape)
    assert max_abs_diff(ours.cos, ref_cos) < 2e-6 and max_abs_diff(ours.sin, ref_sin) < 2e-6


def test_timestep_sinusoid_equals_reference():
    t = torch.tensor([0.0, 1.0, 123.4, 750.0, 909.375, 1000.0])
    ref = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0)
    ours = timestep_sinusoid(mx.array(t.numpy()))
    assert max_abs_diff(ours, ref) < 2e-6  # args up to 1000 rad: float32 sin/cos are good to ~1e-7 relative


def test_sinusoid_frequency_table_is_the_reference_one():
    from ltx2.models.transformer.layers import _sinusoid_frequencies

    exponent = -math.log(10000) * torch.arange(0, 128, dtype=torch.float32) / 128
    assert np.array_equal(_sinusoid_frequencies(128, 10000.0), torch.exp(exponent).numpy())
