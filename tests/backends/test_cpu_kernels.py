"""The CPU backend's transformer ops (numpy softmax / GELU / norms on buffers it owns) against torch and the MLX
versions in ltx2/ops.py."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from helpers import FP32_TOL, make_inputs
from mlx.utils import tree_flatten
from oracles.compare import max_abs_diff, to_numpy
from oracles.transformer import load_reference, reference_modality, reference_perturbations

from ltx2 import ops
from ltx2.backends.cpu import blas as _blas
from ltx2.backends.cpu import transformer as cpu_kernels
from ltx2.models.transformer import BatchPerturbations, X0Model, modality_isolation, stg, video_positions
from ltx2.models.transformer.layers import Linear
from ltx2.models.transformer.load import load_transformer
from ltx2.models.transformer.rope import cached_rope_table, rope_table
from ltx2.tiny.checkpoint import write_tiny_checkpoint


def _torch_attention(q, k, v, scale, mask):  # q, k, v: torch (B, H, T, D)
    m = None if mask is None else torch.from_numpy(np.array(mask))
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=scale).numpy()


@pytest.mark.parametrize("mask_kind", ["none", "text", "self"])
@pytest.mark.parametrize("head_chunk", [1 << 23, 700])  # whole heads per chunk; one head per chunk
@pytest.mark.parametrize("blas", ["sgemm", "numpy"])  # the loaded BLAS's sgemm on column views; numpy's matmul
def test_attention_matches_torch(monkeypatch, mask_kind, head_chunk, blas):
    if blas == "numpy":
        monkeypatch.setattr(_blas, "_sgemm", False)
    elif _blas.sgemm() is None:
        pytest.skip("no optimized BLAS with cblas_sgemm loaded")
    monkeypatch.setattr(cpu_kernels, "_HEAD_CHUNK_ELEMENTS", head_chunk)
    monkeypatch.setattr(cpu_kernels, "_BLOCK_ELEMENTS", 256)  # several numpy blocks per chunk, on the pool
    rng = np.random.default_rng(0)
    b, h, t, s, d = 2, 3, 33, 29 if mask_kind != "self" else 33, 16
    q, k, v = (rng.standard_normal(shape).astype(np.float32) * 3 for shape in ((b, t, h * d), (b, s, h * d),
                                                                              (b, s, h * d)))
    mask = None
    if mask_kind == "text":  # (B, 1, 1, L): second sample sees only the first 5 tokens
        keep = np.ones((b, 1, 1, s), np.float32)
        keep[1, ..., 5:] = 0
        mask = mx.array((keep - 1) * np.finfo(np.float32).max)
    elif mask_kind == "self":  # (B, 1, T, T) log-strengths
        mask = mx.array(np.log(rng.uniform(0.05, 1.0, (b, 1, t, s))).astype(np.float32))
    scale = d**-0.5
    out = cpu_kernels.attention(mx.array(q), mx.array(k), mx.array(v), h, scale, mask)
    assert out.shape == (b, t, h * d)
    heads = [torch.from_numpy(a.reshape(b, -1, h, d).transpose(0, 2, 1, 3).copy()) for a in (q, k, v)]
    expected = _torch_attention(*heads, scale, mask).transpose(0, 2, 1, 3).reshape(b, t, h * d)
    assert np.abs(np.array(out) - expected).max() < 2e-6 * max(1.0, np.abs(expected).max())


def test_attention_writes_a_fresh_output_and_never_its_inputs():
    q, k, v = (mx.random.normal((1, 8, 8), key=mx.random.key(i)) * 1.0 for i in range(3))
    before = [np.array(a) for a in (q, k, v)]
    out = cpu_kernels.attention(q, k, v, 2, 0.5)
    assert not any(np.shares_memory(np.asarray(out), np.asarray(a)) for a in (q, k, v))
    for a, b in zip((q, k, v), before):
        np.testing.assert_array_equal(np.array(a), b)
    with ops.only():
        np.testing.assert_allclose(np.array(ops.attention(q, k, v, 2, 0.5)), np.array(out), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rope_type", ["split", "interleaved"])
def test_qk_norm_rope_matches_the_mlx_ops(monkeypatch, rope_type):
    """Projection (+ bias), RMSNorm * weight and RoPE in one pass over the product == the MLX op."""
    monkeypatch.setattr(cpu_kernels, "_BLOCK_ELEMENTS", 100)  # several token blocks per sample, on the pool
    b, t, heads, d = 2, 13, 4, 8
    rng = np.random.default_rng(2)
    positions = mx.array(np.sort(rng.uniform(0, 40, (b, 3, t, 1)), axis=2).repeat(2, -1).astype(np.float32) + [0, 1])
    table = rope_table(positions, heads * d, heads, [20, 2048, 2048], rope_type)
    layer = Linear(32, heads * d)
    layer.bias = mx.array(rng.standard_normal(heads * d).astype(np.float32))  # folded into the pass
    x = mx.array(rng.standard_normal((b, t, 32)).astype(np.float32) * 3)
    weight = mx.array(rng.uniform(0.5, 1.5, heads * d).astype(np.float32))
    with ops.only():
        expected = np.array(ops.qk_norm_rope(layer, x, weight, 1e-6, table, heads))
        unrotated = np.array(ops.qk_norm_rope(layer, x, weight, 1e-6, None, heads))
    ours = cpu_kernels.qk_norm_rope(layer, x, weight, 1e-6, table, heads)
    np.testing.assert_allclose(np.array(ours), expected, rtol=1e-5, atol=1e-5)
    quantized = nn.QuantizedLinear.from_linear(layer, 32, 8)  # any other layer: its output, finished in place
    with ops.only():
        expected_q = np.array(ops.qk_norm_rope(quantized, x, weight, 1e-6, table, heads))
    np.testing.assert_allclose(np.array(cpu_kernels.qk_norm_rope(quantized, x, weight, 1e-6, table, heads)),
                               expected_q, rtol=1e-5, atol=1e-5)
    assert np.abs(np.array(ours) - unrotated).max() > 0.1  # rotated


@pytest.mark.parametrize("per_token", [False, True])
def test_rms_norm_modulate_matches_torch(monkeypatch, per_token):
    monkeypatch.setattr(cpu_kernels, "_BLOCK_ELEMENTS", 100)
    rng = np.random.default_rng(3)
    b, t, dim = 2, 11, 24
    x = rng.standard_normal((b, t, dim)).astype(np.float32) * 5
    scale, shift = (rng.standard_normal((b, t if per_token else 1, dim)).astype(np.float32) for _ in range(2))
    xt = torch.from_numpy(x)
    expected = (torch.nn.functional.rms_norm(xt, (dim,), eps=1e-6) * (1 + torch.from_numpy(scale))
                + torch.from_numpy(shift))
    ours = cpu_kernels.rms_norm_modulate(mx.array(x), mx.array(scale), mx.array(shift), 1e-6)
    np.testing.assert_allclose(np.array(ours), expected.numpy(), rtol=1e-6, atol=2e-6)
    plain = cpu_kernels.rms_norm_modulate(mx.array(x), eps=1e-6)
    assert not np.shares_memory(np.asarray(plain), np.asarray(ours))
    np.testing.assert_allclose(np.array(plain), torch.nn.functional.rms_norm(xt, (dim,), eps=1e-6).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.array(mx.array(x)), x)  # input untouched


def test_rope_tables_are_reused_for_equal_positions():
    if mx.default_device() != mx.cpu:
        pytest.skip("tables are cached on the CPU only")
    positions = video_positions(2, 3, 4, 24.0)
    args = (48, 2, [20, 2048, 2048], "split")
    first = cached_rope_table(positions, *args)
    assert cached_rope_table(positions * 1.0, *args) is first  # a new array with the same values
    assert cached_rope_table(positions + 1, *args) is not first
    assert cached_rope_table(positions, 48, 3, [20, 2048, 2048], "split") is not first
    np.testing.assert_array_equal(np.array(first.cos), np.array(rope_table(positions, *args).cos))


def test_gelu_matches_torch_including_extremes():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(5000) * 4, [-1e4, -120.0, -30.0, -0.0, 0.0, 30.0, 1e4]]).astype(np.float32)
    x = x.reshape(1, -1)
    expected = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    ours = np.array(cpu_kernels.linear_gelu(lambda a: a * 1.0, mx.array(x)))  # a layer that copies: GELU alone
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-7)


def test_linear_adds_its_bias_like_nn_linear(monkeypatch):
    """Our Linear (bias added in numpy, or folded into GELU) == nn.Linear's addmm, and keeps its keys."""
    monkeypatch.setattr(cpu_kernels, "_MIN_ELEMENTS", 0)
    monkeypatch.setattr(cpu_kernels, "_BLOCK_ELEMENTS", 64)
    mx.random.seed(4)
    ours, plain = Linear(24, 40), nn.Linear(24, 40)
    plain.update(ours.parameters())
    x = mx.random.normal((2, 9, 24))
    assert sorted(k for k, _ in tree_flatten(ours.parameters())) == ["bias", "weight"]
    assert cpu_kernels.linear_applies(x, ours.weight, ours.bias) == (mx.default_device() == mx.cpu)
    np.testing.assert_allclose(np.array(cpu_kernels.linear(x, ours.weight, ours.bias)), np.array(plain(x)),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(cpu_kernels.linear_gelu(ours, x)), np.array(ops.gelu_tanh(plain(x))),
                               rtol=1e-6, atol=1e-6)
    with ops.only():
        np.testing.assert_allclose(np.array(ours(x)), np.array(plain(x)), rtol=1e-6, atol=1e-6)


def test_fast_paths_only_for_large_float32_on_cpu(monkeypatch):
    x = mx.ones((2, 3))
    assert not cpu_kernels.active(x)  # too small to pay for the host synchronisation
    assert cpu_kernels.active(x, 1 << 20) == (mx.default_device() == mx.cpu)
    monkeypatch.setattr(cpu_kernels, "_MIN_ELEMENTS", 0)
    assert cpu_kernels.active(x) == (mx.default_device() == mx.cpu)
    assert not cpu_kernels.active(x.astype(mx.bfloat16))


def test_op_backend_fixture_selects_one_implementation(op_backend):
    x, weight, bias = mx.ones((1, 2, 4)), mx.ones((3, 4)), mx.ones((3,))
    assert ops._selected == (() if op_backend == "mlx" else ("cpu",))
    assert cpu_kernels.linear_applies(x, weight, bias) == (op_backend == "cpu")  # forced on at every size


def test_registry_dispatches_by_rule_and_selection(monkeypatch):
    """An op runs a registered implementation only where its rule holds and its backend is selected."""
    calls = []
    monkeypatch.setattr(ops, "_registry", {})
    ops.register("silu", "test", lambda x: x.size > 3, lambda x: calls.append(x.size) or x * 0)
    big, small = mx.ones((5,)), mx.ones((2,))
    assert np.array(ops.silu(big)).max() == 0 and calls == [5]  # the registered one
    np.testing.assert_allclose(np.array(ops.silu(small)), np.array(small * mx.sigmoid(small)))  # rule false
    with ops.only():
        assert np.array(ops.silu(big)).min() > 0.7  # the MLX version
    with pytest.raises(ValueError, match="no op named"):
        ops.register("not_an_op", "test", lambda: True, lambda: None)


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {layout: write_tiny_checkpoint(folder / f"{layout}.safetensors", layout, seed=1)
            for layout in ("ltx2", "ltx2.3")}


@pytest.mark.parametrize("layout", ["ltx2", "ltx2.3"])
@pytest.mark.parametrize("scenario", ["partial_mask", "mixed_stg_isolation"])
def test_transformer_through_each_backend_matches_reference(monkeypatch, op_backend, tiny_checkpoints, layout,
                                                              scenario):
    """The whole transformer through the MLX ops, and through the CPU backend forced on for every attention, norm
    and GELU (tiny sizes): the CPU kernels really ran in the second."""
    used = []
    monkeypatch.setattr(cpu_kernels, "_exp_rows", _recording(cpu_kernels._exp_rows, used, "softmax"))
    monkeypatch.setattr(cpu_kernels, "_gelu_rows", _recording(cpu_kernels._gelu_rows, used, "gelu"))
    monkeypatch.setattr(cpu_kernels, "_host_rope", _recording(cpu_kernels._host_rope, used, "rope"))
    monkeypatch.setattr(cpu_kernels, "rms_normalize", _recording(cpu_kernels.rms_normalize, used, "norm"))
    path = tiny_checkpoints[layout]
    ours, ref = X0Model(load_transformer(path, "float32")), load_reference(path)
    if scenario == "partial_mask":  # video alone: with audio, 1.0.0 (the oracle here) and 1.2.0 differ on it
        video, _ = make_inputs(layout, partial_mask=True)
        audio, perturbations = None, BatchPerturbations.none()
    else:
        video, audio = make_inputs(layout, batch=2)
        perturbations = BatchPerturbations(((), tuple(stg([1]) + modality_isolation())))
    v, a = ours(video, audio, perturbations)
    with torch.no_grad():
        rv, ra = ref(reference_modality(video, torch.float32),
                     reference_modality(audio, torch.float32) if audio is not None else None,
                     reference_perturbations(perturbations))
    assert {"softmax", "gelu", "norm", "rope"} <= set(used) if op_backend == "cpu" else not used
    assert np.abs(to_numpy(rv)).std() > 0.5
    assert max_abs_diff(v, rv) <= FP32_TOL and (audio is None or max_abs_diff(a, ra) <= FP32_TOL)


def _recording(fn, used, name):
    def wrapper(*args):
        used.append(name)
        return fn(*args)
    return wrapper
