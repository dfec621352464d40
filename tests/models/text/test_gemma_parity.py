"""Gemma 3 hidden states (mlx-lm layers driven by ltx2) against transformers' Gemma3 on a tiny random config
with the same weights, loading, and the tokenizer against ltx-core's. Acceptance: max abs error <= 1e-4."""

import logging

import mlx.core as mx
import numpy as np
import pytest
from oracles.text import torch

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.models.text.config import GemmaConfig
from ltx2.models.text.gemma import load_gemma
from ltx2.models.text.tokenizer import GemmaTokenizer
from ltx2.tiny.text import write_tiny_gemma_root

TOL = 1e-4
PROMPT = "A red fox jumps over the lazy dog, slowly, at dusk; the camera pans left."
# GQA (4 query / 2 kv heads), query scale != head_dim, linear RoPE scaling on the global layer, and a
# sliding window (16) shorter than the prompt so the local/global masks differ.
PARITY_GEMMA = GemmaConfig(hidden_size=64, num_hidden_layers=6, intermediate_size=128, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24, vocab_size=262,
                           sliding_window=16, max_position_embeddings=4096)


@pytest.fixture(scope="module")
def gemma_root(tmp_path_factory):
    return write_tiny_gemma_root(tmp_path_factory.mktemp("gemma"), seed=3, config=PARITY_GEMMA)


@pytest.fixture(scope="module")
def tokens(gemma_root):
    return GemmaTokenizer(gemma_root, max_length=128)(PROMPT)


def test_hidden_states_match_transformers(gemma_root, tokens):
    from transformers import Gemma3ForCausalLM

    ours = load_gemma(gemma_root, mx.float32).hidden_states(tokens.input_ids, tokens.attention_mask)
    ref = Gemma3ForCausalLM.from_pretrained(str(gemma_root), dtype=torch.float32).model.eval()
    with torch.no_grad():
        out = ref(input_ids=torch.from_numpy(np.array(tokens.input_ids)).long(),
                  attention_mask=torch.from_numpy(np.array(tokens.attention_mask)).long(), output_hidden_states=True)
    assert len(ours) == len(out.hidden_states) == PARITY_GEMMA.num_hidden_layers + 1
    n = tokens.num_tokens  # pad rows are never used downstream (and differ: they attend to nothing)
    errors = [float(np.abs(np.array(a)[:, -n:] - b.numpy()[:, -n:]).max())
              for a, b in zip(ours, out.hidden_states, strict=True)]
    print("Gemma hidden states max abs err per state:", " ".join(f"{e:.1e}" for e in errors))
    assert max(errors) <= TOL
    np.testing.assert_allclose(np.array(ours[-1])[:, -n:], out.last_hidden_state.numpy()[:, -n:], atol=TOL)
    assert all(np.isfinite(np.array(h)).all() for h in ours)


def test_multimodal_root_loads_the_same_language_model(gemma_root, tokens, tmp_path):
    mm_root = write_tiny_gemma_root(tmp_path, seed=3, config=PARITY_GEMMA, multimodal=True)
    text = load_gemma(gemma_root, mx.float32).hidden_states(tokens.input_ids, tokens.attention_mask)
    multi = load_gemma(mm_root, mx.float32).hidden_states(tokens.input_ids, tokens.attention_mask)
    for a, b in zip(text, multi, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_embedding_scale_is_rounded_to_the_compute_dtype(gemma_root, tokens):
    model = load_gemma(gemma_root, mx.bfloat16)
    embedded = model.language_model.model.embed_tokens(tokens.input_ids)
    first = model.hidden_states(tokens.input_ids, tokens.attention_mask)[0]
    scale = mx.array(8.0, mx.bfloat16)  # sqrt(64); the 12B model's sqrt(3840) becomes 62.0 in bf16
    np.testing.assert_array_equal(np.array(first.astype(mx.float32)), np.array((embedded * scale).astype(mx.float32)))


def test_tokens_are_left_padded_like_ltx_core(gemma_root):
    from ltx_core.text_encoders.gemma.tokenizer import LTXVGemmaTokenizer

    ours = GemmaTokenizer(gemma_root, max_length=128)("  a cat walks  ")
    pairs = LTXVGemmaTokenizer(str(gemma_root), 128).tokenize_with_weights("  a cat walks  ")["gemma"]
    assert np.array(ours.input_ids)[0].tolist() == [int(t) for t, _ in pairs]
    assert np.array(ours.attention_mask)[0].tolist() == [int(w) for _, w in pairs]
    ids, mask = np.array(ours.input_ids)[0], np.array(ours.attention_mask)[0]
    n = ours.num_tokens
    assert n == len("a cat walks") + 1 and ids[-n] == 2  # <bos> then one token per byte
    assert mask[:-n].sum() == 0 and (ids[:-n] == 0).all() and mask[-n:].all()


def test_long_prompt_is_truncated_with_a_warning(gemma_root, caplog):
    tokenizer = GemmaTokenizer(gemma_root, max_length=128)
    with caplog.at_level(logging.WARNING):
        tokens = tokenizer("x" * 200)
    assert tokens.dropped == 201 - 128 and tokens.num_tokens == 128
    assert "the last 73 tokens were dropped" in caplog.text
    assert np.array(tokens.input_ids)[0, 0] == 2  # <bos> kept, the end is cut


def test_bad_inputs_raise_clear_errors(gemma_root, tmp_path):
    with pytest.raises(ValueError, match="multiple of 128"):
        GemmaTokenizer(gemma_root, max_length=100)
    with pytest.raises(ConfigError, match="no config.json"):
        load_gemma(tmp_path)
    with pytest.raises(ValueError, match="bits=3"):
        load_gemma(gemma_root, quantize_bits=3)


@pytest.mark.parametrize("bits", [None, 8])
def test_stray_or_missing_tensors_are_named(tmp_path, bits):
    from ltx2.loading.checkpoint import save_checkpoint

    root = write_tiny_gemma_root(tmp_path, seed=0)
    weights = mx.load(str(root / "model.safetensors"))
    weights["model.layers.0.mlp.extra_proj.weight"] = mx.zeros((2, 2))
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_checkpoint(root / "model.safetensors", weights, {"format": "pt"})
    with pytest.raises(ConfigError, match="extra_proj|up_proj"):
        load_gemma(root, mx.float32, quantize_bits=bits)
