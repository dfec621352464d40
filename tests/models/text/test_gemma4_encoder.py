"""The LTX-2.5 text encoder without the reference: the single file end to end, its key layouts, quantization,
the encoder-version check, enhancement refusal and the embedding-cache identity."""

import json
import logging

import mlx.core as mx
import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.cache import cache_key
from ltx2.models.text.encoder import TextEncoder
from ltx2.models.text.enhance import PromptEnhancement
from ltx2.models.text.gemma import parameter_bytes
from ltx2.models.text.te_file import load_text_encoder_file, parse_model_version
from ltx2.tiny.checkpoint import tiny_transformer_section
from ltx2.tiny.gemma4 import TINY_GEMMA4, write_tiny_connector_file, write_tiny_text_encoder_file

PROMPTS = ["A cat walks along a wall at sunset.", "A dog runs on the beach in the rain."]
# bits -> (hidden-state relative max error, weight bytes vs float32): bounds ~2x the measured 9.8e-2 / 0.78
# (8 / 4 bit; Gemma 4's attention scale 1.0 on tiny random weights amplifies the error with depth) and 0.32x / 0.20x
QUANT_BOUNDS = {8: (0.2, 0.36), 4: (1.6, 0.24)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemma4")
    section = tiny_transformer_section("ltx2.3")
    return {"te": write_tiny_text_encoder_file(folder / "tiny-te.safetensors", seed=1),
            "tr": write_tiny_connector_file(folder / "tiny-tr.safetensors", section, seed=1),
            "section": section, "folder": folder}


def test_prompts_give_distinct_deterministic_contexts_of_the_transformer_widths(files):
    with TextEncoder(files["te"], files["tr"], dtype="float32") as encoder:
        assert encoder.family == "gemma4_unified"
        first, second, again = encoder.encode([PROMPTS[0], PROMPTS[1], PROMPTS[0]])
        assert encoder.loaded == {"gemma": False, "processor": True}
    assert first.video.shape == (1, 1024, 32) and first.audio.shape == (1, 1024, 16)
    assert float(mx.abs(first.video - second.video).max()) > 1e-2
    np.testing.assert_array_equal(np.array(first.video), np.array(again.video))
    assert np.isfinite(np.array(first.video)).all() and np.isfinite(np.array(first.audio)).all()


def test_hidden_states_shape_bos_and_final_norm(files):
    encoder = TextEncoder(files["te"], files["tr"], dtype="float32")
    tokens = encoder.tokenize("  a fox  ")
    ids, mask = np.array(tokens.input_ids)[0], np.array(tokens.attention_mask)[0]
    assert tokens.num_tokens == len("a fox") + 1 and ids[-tokens.num_tokens] == 2  # <bos> prepended by LTX
    assert (ids[:-tokens.num_tokens] == 0).all() and mask[:-tokens.num_tokens].sum() == 0  # left pads
    states, _ = encoder.hidden_states("a fox")
    assert len(states) == TINY_GEMMA4.num_hidden_layers + 1 and states[0].shape == (1, 1024, 64)
    gemma = encoder.gemma
    scale = mx.array(8.0)  # sqrt(64)
    np.testing.assert_array_equal(np.array(states[0]), np.array(gemma.embed_tokens(tokens.input_ids) * scale))
    h = gemma.hidden_states(tokens.input_ids, tokens.attention_mask)
    np.testing.assert_allclose(np.array(h[-1]), np.array(states[-1]), atol=0)


def test_hf_nested_names_load_the_same_model(files, tmp_path):
    weights, metadata = mx.load(str(files["te"]), return_metadata=True)
    renamed = {("model.language_model." + k.removeprefix("model.") if k.startswith("model.") else k): v
               for k, v in weights.items()}
    save_checkpoint(tmp_path / "nested.safetensors", renamed, metadata)
    flat = load_text_encoder_file(files["te"], mx.float32)
    nested = load_text_encoder_file(tmp_path / "nested.safetensors", mx.float32)
    ids, mask = mx.array([[0, 0, 2, 40, 50, 60]]), mx.array([[0, 0, 1, 1, 1, 1]])
    for a, b in zip(flat.hidden_states(ids, mask), nested.hidden_states(ids, mask), strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


@pytest.mark.parametrize("bits", [None, 8])
def test_stray_or_missing_tensors_are_named(files, tmp_path, bits):
    weights, metadata = mx.load(str(files["te"]), return_metadata=True)
    weights["model.layers.0.mlp.extra_proj.weight"] = mx.zeros((2, 2))
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_checkpoint(tmp_path / "bad.safetensors", weights, metadata)
    with pytest.raises(ConfigError, match="extra_proj|up_proj"):
        load_text_encoder_file(tmp_path / "bad.safetensors", mx.float32, quantize_bits=bits)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_gemma4_error_is_bounded(files, bits):
    full = load_text_encoder_file(files["te"], mx.float32)
    quantized = load_text_encoder_file(files["te"], mx.float32, quantize_bits=bits)
    # embeddings + q/k/v/gate/up/down of 6 layers + the full layer's o_proj (sliding o_proj input 32 < group 64)
    assert quantized.quantization == {"bits": bits, "group_size": 64, "layers": 1 + 6 * 6 + 1}
    tokenizer = TextEncoder(files["te"], files["tr"]).tokenizer
    errors = []
    for prompt in PROMPTS:
        tokens = tokenizer(prompt)
        n = tokens.num_tokens
        f = full.hidden_states(tokens.input_ids, tokens.attention_mask)
        q = quantized.hidden_states(tokens.input_ids, tokens.attention_mask)
        errors += [float(mx.abs(a[:, -n:] - b[:, -n:]).max() / mx.abs(a[:, -n:]).max()) for a, b in zip(f, q)]
    ratio = parameter_bytes(quantized) / parameter_bytes(full)
    print(f"{bits}-bit Gemma 4: hidden states rel max err {max(errors):.3e}, weights {ratio:.2f}x float32")
    assert 0 < max(errors) < QUANT_BOUNDS[bits][0] and ratio < QUANT_BOUNDS[bits][1]


def test_version_check(files, tiny_text, tmp_path, caplog):
    section = files["section"]
    wrong = write_tiny_connector_file(tmp_path / "wrong.safetensors", section, gemma_version="gemma4-12b-it")
    with pytest.raises(ConfigError, match="gemma_version='gemma4-12b-ltx-v1' but the transformer wrong.safetensors "
                                          "was trained with gemma_version='gemma4-12b-it'"):
        TextEncoder(files["te"], wrong)
    undeclared = write_tiny_connector_file(tmp_path / "undeclared.safetensors", section, gemma_version=None)
    with pytest.raises(ConfigError, match="must declare gemma_source_checkpoint"):
        TextEncoder(files["te"], undeclared)
    with pytest.raises(ConfigError, match="takes a Gemma 3 text encoder"):  # LTX-2.3 checkpoint + Gemma 4 file
        TextEncoder(files["te"], tiny_text["ltx2.3"])
    with pytest.raises(ConfigError, match="gemma_version=None but the transformer"):  # Gemma 3 root + LTX-2.5
        TextEncoder(tiny_text["gemma"], files["tr"])
    TextEncoder(tiny_text["gemma"], tiny_text["ltx2.3"])  # LTX-2.3 + Gemma 3: fine
    with caplog.at_level(logging.WARNING):  # neither side declares a version: only a warning, as the reference
        TextEncoder(tiny_text["gemma"], undeclared)
    assert "compatibility is not checked" in caplog.text
    old = write_tiny_connector_file(tmp_path / "old.safetensors", section, gemma_version=None, model_version="2.3.0")
    TextEncoder(tiny_text["gemma"], old)
    assert parse_model_version("2.5.0") == (2, 5, 0) and parse_model_version("2.3.rc1") == (2, 3)
    assert parse_model_version(None) == () and parse_model_version("2-4-1") == (2, 4, 1)


def test_bad_inputs_fail_before_loading(files, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        TextEncoder(tmp_path / "missing.safetensors", files["tr"])
    save_checkpoint(tmp_path / "plain.safetensors", {"x": mx.zeros((1,))}, {"format": "pt"})
    with pytest.raises(ConfigError, match="no 'gemma_config'"):
        TextEncoder(tmp_path / "plain.safetensors", files["tr"])
    weights, metadata = mx.load(str(files["te"]), return_metadata=True)
    config = json.loads(metadata["gemma_config"])
    config["text_config"]["hidden_activation"] = "silu"
    save_checkpoint(tmp_path / "silu.safetensors", weights, {**metadata, "gemma_config": json.dumps(config)})
    with pytest.raises(ConfigError, match="hidden_activation='silu'"):
        TextEncoder(tmp_path / "silu.safetensors", files["tr"])
    config["text_config"].update(hidden_activation="gelu_pytorch_tanh", num_kv_shared_layers=1)  # no full before
    save_checkpoint(tmp_path / "shared.safetensors", weights, {**metadata, "gemma_config": json.dumps(config)})
    with pytest.raises(ConfigError, match="num_kv_shared_layers=1: .* \\['full_attention'\\] has none"):
        TextEncoder(tmp_path / "shared.safetensors", files["tr"])
    with pytest.raises(ValueError, match="quantize_bits=2"):
        TextEncoder(files["te"], files["tr"], quantize_bits=2)


def test_enhancement_is_refused_in_one_line(files, caplog):
    encoder = TextEncoder(files["te"], files["tr"])
    with pytest.raises(ConfigError) as info:
        encoder.enhance("a cat", PromptEnhancement())
    assert "\n" not in str(info.value) and str(info.value).startswith("text.enhance_prompt=True: ")
    assert not encoder.loaded["gemma"]  # refused before loading anything


def test_gemma3_and_gemma4_never_share_a_cache_entry(files, tiny_text, tmp_path):
    gemma4 = TextEncoder(files["te"], files["tr"])
    gemma3 = TextEncoder(tiny_text["gemma"], tiny_text["ltx2.3"])
    assert gemma4.fingerprint() != gemma3.fingerprint()
    assert cache_key("a", None, gemma4.fingerprint()) != cache_key("a", None, gemma3.fingerprint())
    assert gemma4.fingerprint() == TextEncoder(files["te"], files["tr"]).fingerprint()
    assert gemma4.fingerprint() != TextEncoder(files["te"], files["tr"], quantize_bits=8).fingerprint()
    copy = tmp_path / "copy.safetensors"  # another file (other mtime / path) -> another identity
    copy.write_bytes(files["te"].read_bytes())
    assert TextEncoder(copy, files["tr"]).fingerprint() != gemma4.fingerprint()


def test_long_prompt_is_truncated_with_a_warning(files, caplog):
    tokenizer = TextEncoder(files["te"], files["tr"]).tokenizer
    with caplog.at_level(logging.WARNING):
        tokens = tokenizer("x" * 1100)
    assert tokens.num_tokens == 1024 and tokens.dropped == 1101 - 1024
    assert "the last 77 tokens were dropped" in caplog.text


def test_gemma4_system_prompts_are_stored():
    from ltx2.models.text.enhance import system_prompt

    for mode in ("t2v", "i2v"):
        assert len(system_prompt(mode, "gemma4")) > 1000 and system_prompt(mode, "gemma4") != system_prompt(mode)
