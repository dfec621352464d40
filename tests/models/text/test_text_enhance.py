"""Prompt enhancement with the tiny Gemma: a real generation run, the reference's system prompts and chat
format, the raw-prompt fallback on failure, and the prompt actually used flowing into the cache."""

import json
import logging
import shutil

import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.cache import EmbeddingCache, encode_prompts
from ltx2.models.text.encoder import TextEncoder
from ltx2.models.text.enhance import PromptEnhancement, chat_messages, clean_response, system_prompt

PROMPT = "a cat on a wall"
OPTIONS = PromptEnhancement(seed=3, max_new_tokens=24)


@pytest.fixture
def encoder(tiny_text):
    return TextEncoder(tiny_text["gemma"], tiny_text["ltx2"], dtype="float32", max_length=128)


def test_system_prompts_and_messages_are_the_references():
    assert system_prompt("t2v").startswith("You are a Creative Assistant.")
    assert "image" in system_prompt("i2v").lower()
    assert chat_messages("x", "t2v")[1]["content"] == "user prompt: x"
    assert chat_messages("x", "i2v")[1]["content"] == "User Raw Input Prompt: x."
    assert clean_response("\u201c 1. A \u2018big\u2019 dog \u2014 runs") == "A 'big' dog - runs"
    with pytest.raises(ValueError, match="'v2v' is not one of"):
        PromptEnhancement(mode="v2v")


def test_enhancement_generates_a_seeded_rewrite(encoder):
    first, ok = encoder.enhance(PROMPT, OPTIONS)
    again, _ = encoder.enhance(PROMPT, OPTIONS)
    assert ok and first != PROMPT and first[0].isalpha()  # random tiny weights: gibberish, but generated
    assert first == again  # the seed fixes the sampling


def test_failure_falls_back_to_the_raw_prompt_with_a_warning(tiny_text, tmp_path, caplog):
    root = shutil.copytree(tiny_text["gemma"], tmp_path / "no-template")
    config = json.loads((root / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    encoder = TextEncoder(root, tiny_text["ltx2"], dtype="float32", max_length=128)
    with caplog.at_level(logging.WARNING):
        used, ok = encoder.enhance(PROMPT, OPTIONS)
    assert (used, ok) == (PROMPT, False) and "prompt enhancement failed" in caplog.text
    with caplog.at_level(logging.WARNING):
        encoded = encode_prompts(encoder, PROMPT, None, EmbeddingCache(tmp_path / "cache"), OPTIONS)
    assert encoded.prompt == PROMPT and not encoded.enhanced
    assert not list((tmp_path / "cache").rglob("*.safetensors"))  # a failed enhancement is not cached


def test_encode_prompts_returns_and_caches_the_enhanced_prompt(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    encoded = encode_prompts(encoder, PROMPT, "ugly", cache, OPTIONS)
    expected, _ = encoder.enhance(PROMPT, OPTIONS)
    assert encoded.enhanced and encoded.prompt == expected and encoded.negative_prompt == "ugly"
    plain = encode_prompts(encoder, expected, "ugly", None)  # the contexts are those of the enhanced text
    assert float(abs(plain.positive.video - encoded.positive.video).max()) == 0
    hit = encode_prompts(encoder, PROMPT, "ugly", cache, OPTIONS)
    assert hit.from_cache and hit.enhanced and hit.prompt == expected
