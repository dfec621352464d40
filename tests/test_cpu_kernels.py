"""The CPU fast paths (numpy softmax / GELU on MLX buffers) against torch's attention and GELU."""

import mlx.core as mx
import numpy as np
import pytest
import torch
from conftest import max_abs_diff, to_numpy
from reference_transformer import load_reference, reference_modality, reference_perturbations
from test_transformer_parity import FP32_TOL, make_inputs

from ltx2.models.transformer import BatchPerturbations, X0Model, cpu_kernels, modality_isolation, stg
from ltx2.models.transformer.layers import gelu_tanh, gelu_tanh_owned
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny import write_tiny_checkpoint


def _torch_attention(q, k, v, scale, mask):
    t = [torch.from_numpy(np.array(a)) for a in (q, k, v)]
    m = None if mask is None else torch.from_numpy(np.array(mask))
    return torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=m, scale=scale).numpy()


@pytest.mark.parametrize("mask_kind", ["none", "text", "self"])
@pytest.mark.parametrize("head_chunk", [1 << 23, 700])  # whole heads per chunk; one head per chunk
def test_attention_matches_torch(monkeypatch, mask_kind, head_chunk):
    monkeypatch.setattr(cpu_kernels, "_HEAD_CHUNK_ELEMENTS", head_chunk)
    monkeypatch.setattr(cpu_kernels, "_BLOCK_ELEMENTS", 256)  # several numpy blocks per chunk, on the pool
    rng = np.random.default_rng(0)
    b, h, t, s, d = 2, 3, 33, 29 if mask_kind != "self" else 33, 16
    q, k, v = (mx.array(rng.standard_normal(shape).astype(np.float32) * 3)
               for shape in ((b, h, t, d), (b, h, s, d), (b, h, s, d)))
    mask = None
    if mask_kind == "text":  # (B, 1, 1, L): second sample sees only the first 5 tokens
        keep = np.ones((b, 1, 1, s), np.float32)
        keep[1, ..., 5:] = 0
        mask = mx.array((keep - 1) * np.finfo(np.float32).max)
    elif mask_kind == "self":  # (B, 1, T, T) log-strengths
        mask = mx.array(np.log(rng.uniform(0.05, 1.0, (b, 1, t, s))).astype(np.float32))
    out = cpu_kernels.attention(q, k, v, d**-0.5, mask)
    assert out.shape == (b, t, h * d)
    expected = _torch_attention(q, k, v, d**-0.5, mask).transpose(0, 2, 1, 3).reshape(b, t, h * d)
    assert np.abs(np.array(out) - expected).max() < 2e-6 * max(1.0, np.abs(expected).max())


def test_attention_leaves_inputs_untouched():
    q, k, v = (mx.random.normal((1, 2, 8, 4), key=mx.random.key(i)) for i in range(3))
    before = [np.array(a) for a in (q, k, v)]
    cpu_kernels.attention(q, k, v, 0.5)
    for a, b in zip((q, k, v), before):
        np.testing.assert_array_equal(np.array(a), b)


def test_gelu_matches_torch_including_extremes():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(5000) * 4, [-1e4, -120.0, -30.0, -0.0, 0.0, 30.0, 1e4]]).astype(np.float32)
    x = x.reshape(1, -1)
    expected = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    ours = np.array(cpu_kernels.gelu_tanh_inplace(mx.array(x)))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-7)


def test_fast_paths_only_for_large_float32_on_cpu(monkeypatch):
    x = mx.ones((2, 3))
    assert not cpu_kernels.active(x)  # too small to pay for the host synchronisation
    assert cpu_kernels.active(x, 1 << 20) == (mx.default_device() == mx.cpu)
    monkeypatch.setattr(cpu_kernels, "_MIN_ELEMENTS", 0)
    assert cpu_kernels.active(x) == (mx.default_device() == mx.cpu)
    assert not cpu_kernels.active(x.astype(mx.bfloat16))
    monkeypatch.setenv("LTX2_CPU_KERNELS", "0")
    assert not cpu_kernels.active(x)
    y = mx.array([[-1.0, 0.5, 2.0]])
    np.testing.assert_array_equal(np.array(gelu_tanh_owned(y)), np.array(gelu_tanh(y)))  # the MLX path


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {layout: write_tiny_checkpoint(folder / f"{layout}.safetensors", layout, seed=1)
            for layout in ("ltx2", "ltx2.3")}


@pytest.mark.parametrize("layout", ["ltx2", "ltx2.3"])
@pytest.mark.parametrize("scenario", ["partial_mask", "mixed_stg_isolation"])
def test_transformer_with_fast_paths_matches_reference(monkeypatch, tiny_checkpoints, layout, scenario):
    """The whole transformer with the numpy paths forced on for every attention and GELU (tiny sizes)."""
    if mx.default_device() != mx.cpu:
        pytest.skip("the fast paths are CPU-only")
    monkeypatch.setattr(cpu_kernels, "_MIN_ELEMENTS", 0)
    used = []
    monkeypatch.setattr(cpu_kernels, "_softmax_rows", _recording(cpu_kernels._softmax_rows, used, "softmax"))
    monkeypatch.setattr(cpu_kernels, "_gelu_rows", _recording(cpu_kernels._gelu_rows, used, "gelu"))
    path = tiny_checkpoints[layout]
    ours, ref = X0Model(load_transformer(path, "float32")), load_reference(path)
    if scenario == "partial_mask":
        video, audio = make_inputs(layout, partial_mask=True)
        perturbations = BatchPerturbations.none()
    else:
        video, audio = make_inputs(layout, batch=2)
        perturbations = BatchPerturbations(((), tuple(stg([1]) + modality_isolation())))
    v, a = ours(video, audio, perturbations)
    with torch.no_grad():
        rv, ra = ref(reference_modality(video, torch.float32), reference_modality(audio, torch.float32),
                     reference_perturbations(perturbations))
    assert {"softmax", "gelu"} <= set(used)
    assert np.abs(to_numpy(rv)).std() > 0.5
    assert max_abs_diff(v, rv) <= FP32_TOL and max_abs_diff(a, ra) <= FP32_TOL


def _recording(fn, used, name):
    def wrapper(*args):
        used.append(name)
        return fn(*args)
    return wrapper
