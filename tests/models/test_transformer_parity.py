"""Our MLX transformer against the official ltx-core 1.0.0 one (in-process), same weights read from the same
checkpoint file, on the inputs where 1.0.0 and 1.2.0 agree: uniform timesteps in an audio-video call (1.2.0 feeds
the AV cross-attention AdaLN per-token timesteps; 1.0.0 the other modality's sigma), any mask video-only.
Conditioned tokens at other timesteps in audio-video calls: test_transformer_parity_v12.py (against 1.2.0)."""

import itertools

import mlx.core as mx
import numpy as np
import pytest
import torch
from helpers import FP32_TOL, make_inputs
from oracles.compare import max_abs_diff, to_numpy
from oracles.transformer import load_reference, reference_modality, reference_perturbations

from ltx2.models.transformer import (
    BatchPerturbations,
    X0Model,
    modality_isolation,
    stg,
)
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import write_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    cache = {}

    def get(layout, rope, grid):
        key = (layout, rope, grid)
        if key not in cache:
            cache[key] = write_tiny_checkpoint(folder / f"{layout}-{rope}-{grid}.safetensors", layout, seed=1,
                                               transformer={"rope_type": rope, "frequencies_precision": grid})
        return cache[key]

    return get





SCENARIOS = {
    "plain": [],
    "stg": stg([1]),
    "isolation": modality_isolation(),
    "partial_mask": [],
}
CASES = [c for c in itertools.product(["ltx2", "ltx2.3"], ["split", "interleaved"], ["float32", "float64"],
                                      SCENARIOS, ["av", "video_only"])
         if not (c[3] == "isolation" and c[4] == "video_only")
         and not (c[3] == "partial_mask" and c[4] == "av")]  # 1.2.0 changed that one: test_transformer_parity_v12


@pytest.mark.parametrize("layout,rope,grid,scenario,kind", CASES, ids=["-".join(c) for c in CASES])
def test_x0_matches_reference_fp32(checkpoints, layout, rope, grid, scenario, kind):
    path = checkpoints(layout, rope, grid)
    av = kind == "av"
    ours = X0Model(load_transformer(path, "float32", audio=av))
    ref = load_reference(path, audio=av)
    video, audio = make_inputs(layout, partial_mask=scenario == "partial_mask")
    audio = audio if av else None
    perturbations = BatchPerturbations.same(SCENARIOS[scenario])
    v, a = ours(video, audio, perturbations)
    with torch.no_grad():
        rv, ra = ref(reference_modality(video, torch.float32),
                     reference_modality(audio, torch.float32) if av else None,
                     reference_perturbations(perturbations))
    assert np.abs(to_numpy(rv)).std() > 0.5  # unit-scale outputs
    assert max_abs_diff(v, rv) <= FP32_TOL
    if av:
        assert max_abs_diff(a, ra) <= FP32_TOL
    else:
        assert a is None and ra is None


def test_velocity_is_unit_scale_and_matches(checkpoints):
    """The velocity itself (not only x0 = x - v*sigma) is unit scale and matches."""
    path = checkpoints("ltx2.3", "split", "float64")
    ours, ref = load_transformer(path, "float32"), load_reference(path).velocity_model
    video, audio = make_inputs("ltx2.3")
    v, a = ours(video, audio)
    with torch.no_grad():
        rv, ra = ref(reference_modality(video, torch.float32), reference_modality(audio, torch.float32),
                     reference_perturbations(BatchPerturbations.none()))
    assert 0.3 < to_numpy(rv).std() < 3 and 0.3 < to_numpy(ra).std() < 3
    assert max_abs_diff(v, rv) <= FP32_TOL and max_abs_diff(a, ra) <= FP32_TOL


@pytest.mark.parametrize("layout", ["ltx2", "ltx2.3"])
def test_mixed_batch_stg_matches_reference(checkpoints, layout):
    """Batch of 2 where only the second sample is perturbed: the blended value path."""
    path = checkpoints(layout, "split", "float64")
    ours, ref = X0Model(load_transformer(path, "float32")), load_reference(path)
    video, audio = make_inputs(layout, batch=2)
    perturbations = BatchPerturbations(((), tuple(stg([0, 1]) + modality_isolation())))
    v, a = ours(video, audio, perturbations)
    with torch.no_grad():
        rv, ra = ref(reference_modality(video, torch.float32), reference_modality(audio, torch.float32),
                     reference_perturbations(perturbations))
    assert max_abs_diff(v, rv) <= FP32_TOL and max_abs_diff(a, ra) <= FP32_TOL
    # and the two samples really differ only through the perturbation
    v_plain, _ = ours(video, audio)
    assert max_abs_diff(v[0], v_plain[0]) <= 1e-6 and max_abs_diff(v[1], v_plain[1]) > 1e-2


def test_attention_mask_matches_reference(checkpoints):
    """Self-attention strengths in [0, 1] (conditioning items) become log-space biases."""
    path = checkpoints("ltx2", "split", "float64")
    ours, ref = X0Model(load_transformer(path, "float32")), load_reference(path)
    video, audio = make_inputs("ltx2")
    t = video.latent.shape[1]
    strengths = np.ones((1, t, t), np.float32)
    strengths[:, :6, 6:] = 0.0
    strengths[:, 6:, :6] = 0.3
    from dataclasses import replace

    video = replace(video, attention_mask=mx.array(strengths))
    v, a = ours(video, audio)
    ref_video = replace(reference_modality(video, torch.float32), attention_mask=torch.from_numpy(strengths))
    with torch.no_grad():
        rv, ra = ref(ref_video, reference_modality(audio, torch.float32),
                     reference_perturbations(BatchPerturbations.none()))
    assert max_abs_diff(v, rv) <= FP32_TOL and max_abs_diff(a, ra) <= FP32_TOL


def test_video_only_call_on_av_model_equals_isolation(checkpoints):
    path = checkpoints("ltx2", "split", "float64")
    model = X0Model(load_transformer(path, "float32"))
    video, audio = make_inputs("ltx2")
    alone, none = model(video, None)
    isolated, _ = model(video, audio, BatchPerturbations.same(modality_isolation()))
    assert none is None
    assert max_abs_diff(alone, isolated) <= 1e-6


# bf16: both implementations run the reference pipelines' dtype flow (weights, latents and video positions in
# bf16). Each op rounds to 8 mantissa bits (relative step 2^-8 = 0.0039), and the two implementations order
# and fuse a few ops differently (attention kernels, addcmul in RoPE), so single-ulp differences appear and
# propagate through 2 blocks. So the bound is relative to the reference's own bf16 error on the same inputs:
# our bf16 output must be as close to the fp32 reference as the reference's bf16 output is (within 1.5x), and
# within 0.05 (about 1.5% of the largest output, i.e. a few bf16 steps) of the reference's bf16 output.
@pytest.mark.parametrize("layout", ["ltx2", "ltx2.3"])
def test_bf16_within_reference_bf16_error(checkpoints, layout):
    path = checkpoints(layout, "split", "float64")
    ours, ref = X0Model(load_transformer(path, "bfloat16")), load_reference(path, dtype=torch.bfloat16)
    ref32 = load_reference(path)
    video, audio = make_inputs(layout, dtype=mx.bfloat16)
    v, a = ours(video, audio, BatchPerturbations.same(stg([1])))
    with torch.no_grad():
        args = (reference_modality(video, torch.bfloat16), reference_modality(audio, torch.bfloat16),
                reference_perturbations(BatchPerturbations.same(stg([1]))))
        rv, ra = ref(*args)
        rv32, ra32 = ref32(*(reference_modality(m, torch.float32) for m in (video, audio)), args[2])
    assert v.dtype == mx.bfloat16
    ref_own_error = max(max_abs_diff(rv, rv32), max_abs_diff(ra, ra32))
    ours_vs_fp32 = max(max_abs_diff(v, rv32), max_abs_diff(a, ra32))
    ours_error = max(max_abs_diff(v, rv), max_abs_diff(a, ra))
    print(f"bf16 {layout}: ours vs reference bf16 {ours_error:.4f}; ours bf16 vs reference fp32 {ours_vs_fp32:.4f}; "
          f"reference bf16 vs fp32 {ref_own_error:.4f}")
    assert ours_vs_fp32 <= 1.5 * ref_own_error  # as accurate as the reference's own bf16 run
    assert ours_error <= 0.05
