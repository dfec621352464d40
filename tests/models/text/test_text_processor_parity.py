"""Feature extractors V1/V2, the Embeddings1DConnectors and the whole embeddings processor against ltx-core
(float32, tiny official-format checkpoints, same weights in both). Acceptance: max abs error <= 1e-4."""

import mlx.core as mx
import numpy as np
import pytest
from oracles.text import reference_processor, to_numpy, to_torch, torch

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.loading.checkpoint import load_tensors, read_header
from ltx2.models.text.config import TextProcessorConfig
from ltx2.models.text.processor import load_embeddings_processor, sanitize
from ltx2.tiny.checkpoint import write_tiny_checkpoint
from ltx2.tiny.text import TINY_GEMMA

T = 256  # two register tilings; the real stack uses 1024
TOL = 1e-4


@pytest.fixture(scope="module", params=["ltx2", "ltx2.3"])
def stack(request, tmp_path_factory):
    """(ours, reference, version) for one tiny checkpoint."""
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", request.param, seed=4)
    ours = load_embeddings_processor(path, TINY_GEMMA, dtype=mx.float32)
    section = read_header(path).config["transformer"]
    state = sanitize(load_tensors(path, ""))
    ref = reference_processor(section, TINY_GEMMA.hidden_size, TINY_GEMMA.num_hidden_layers, state)
    return ours, ref, request.param


def hidden_states(n_valid: int, seed: int = 0) -> tuple[list[mx.array], mx.array]:
    """Gemma-like states: one (1, T, D) per layer with growing scale, and a left-padding mask."""
    rng = np.random.default_rng(seed)
    states = [mx.array((1 + 3 * i) * rng.standard_normal((1, T, TINY_GEMMA.hidden_size)).astype(np.float32))
              for i in range(TINY_GEMMA.num_hidden_states)]
    mask = np.zeros((1, T), np.int32)
    mask[0, T - n_valid:] = 1
    return states, mx.array(mask)


def max_err(ours: mx.array, ref) -> float:
    return float(np.abs(np.array(ours) - to_numpy(ref)).max())


@pytest.mark.parametrize("n_valid", [37, 1, T])
def test_feature_extractor_matches_ltx_core(stack, n_valid):
    ours, ref, version = stack
    states, mask = hidden_states(n_valid)
    video, audio = ours.feature_extractor(states, mask)
    with torch.no_grad():
        ref_video, ref_audio = ref.feature_extractor(tuple(to_torch(s) for s in states), to_torch(mask).long(), "left")
    errors = max_err(video, ref_video), max_err(audio, ref_audio)
    print(f"{version} features n={n_valid}: max abs err video {errors[0]:.2e} audio {errors[1]:.2e}")
    assert max(errors) <= TOL
    assert video.shape[-1] == (24 if version == "ltx2" else 32) and audio.shape[-1] == (24 if version == "ltx2" else 16)


@pytest.mark.parametrize("n_valid", [37, 1, T])
def test_connectors_match_ltx_core(stack, n_valid):
    """Connectors alone, on the same features (registers, RoPE, gating, final norm)."""
    ours, ref, version = stack
    c = ours.config
    rng = np.random.default_rng(n_valid)
    _, mask = hidden_states(n_valid)
    additive = (to_torch(mask).float() - 1).reshape(1, 1, 1, T) * torch.finfo(torch.float32).max
    for name, width in (("video_connector", c.video.dim), ("audio_connector", c.audio.dim)):
        features = mx.array(rng.standard_normal((1, T, width)).astype(np.float32))
        out = getattr(ours, name)(features, mask, c.rope_type, c.max_pos, c.rope_theta, c.float64_rope)
        with torch.no_grad():
            expected, _ = getattr(ref, name)(to_torch(features), additive)
        err = max_err(out, expected)
        print(f"{version} {name} n={n_valid}: max abs err {err:.2e}")
        assert err <= TOL


@pytest.mark.parametrize("n_valid", [37, 200])
def test_processor_matches_ltx_core(stack, n_valid):
    ours, ref, version = stack
    states, mask = hidden_states(n_valid, seed=n_valid)
    context = ours(states, mask)
    with torch.no_grad():
        expected = ref.process_hidden_states(tuple(to_torch(s) for s in states), to_torch(mask).long(), "left")
    errors = max_err(context.video, expected.video_encoding), max_err(context.audio, expected.audio_encoding)
    print(f"{version} processor n={n_valid}: max abs err video {errors[0]:.2e} audio {errors[1]:.2e}")
    assert max(errors) <= TOL
    assert bool(expected.attention_mask.all())  # every position (prompt + registers) is attended to


def test_registers_fill_the_padded_tail(stack):
    ours, _, _ = stack
    width = ours.config.video.dim
    features = mx.arange(T * width, dtype=mx.float32).reshape(1, T, width)
    mask = mx.array((np.arange(T) >= T - 5).astype(np.int32)[None])
    filled = np.array(ours.video_connector.fill_with_registers(features, mask))
    registers = np.array(ours.video_connector.learnable_registers)
    np.testing.assert_array_equal(filled[0, :5], np.array(features)[0, -5:])
    np.testing.assert_array_equal(filled[0, 5:128], registers[5:128])
    np.testing.assert_array_equal(filled[0, 128:], registers[: T - 128])


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="caption_proj_input_norm"):
        TextProcessorConfig.from_metadata({"caption_proj_before_connector": True})
    with pytest.raises(ValueError, match="multiple of the connector's 128 registers"):
        from ltx2.models.text.config import ConnectorConfig
        from ltx2.models.text.connector import Embeddings1DConnector

        Embeddings1DConnector(ConnectorConfig(2, 4, 1, False)).fill_with_registers(mx.zeros((1, 100, 8)),
                                                                                    mx.ones((1, 100)))
