"""Prompt enhancement for LTX-2.5 with a separate dense Gemma 4 instruct model (``model.prompt_enhancer``) against
ltx-core / ltx-pipelines 1.2.0: the reference loads OUR tiny dense Gemma 4 root (HF layout, written by
ltx2.tiny.gemma4_dense) with its official enhancer loader and generates greedily with the official Gemma 4 system
prompt; the prompt token ids (left padding to a multiple of 8 included) and every generated token must be equal.

The tiny root exercises what E2B-it uses: per-layer input embeddings, two KV-shared layers with double-wide MLPs,
logit soft-capping, a 16-token sliding window (the ~3.8k-token system prompt crosses it many times) and a stop
token; random weights repeat themselves, so the 5-gram ban acts on most steps.

Measured (float32, CPU): the default test's 16 tokens and the slow test's full run (517 tokens, then the stop
token, of the 600 allowed) equal the reference's token for token, and the cleaned texts are identical.
"""

import json
import random
import shutil

import mlx.core as mx
import pytest
from oracles import v12
from oracles.v12_enhance import ENHANCE

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.models.text.cache import cache_key
from ltx2.models.text.enhance import PromptEnhancement
from ltx2.models.text.enhancer import PromptEnhancer, build_tokenizer
from ltx2.models.text.gemma4_dense import Gemma4DenseConfig
from ltx2.models.text.generate import NgramBan, left_pad
from ltx2.tiny.gemma4_dense import dense_hf_config, write_tiny_gemma4_dense_root

PROMPT = "a cat on a wall"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_tiny_gemma4_dense_root(tmp_path_factory.mktemp("enhancer") / "tiny-gemma-4-e2b-it", seed=0)


def _reference(root, max_new_tokens):
    out = v12.run(ENHANCE, root=root, prompt=PROMPT, seed=42, max_new_tokens=max_new_tokens)
    return out, out["text"].tobytes().decode()


def _check_prompt(ours_ids, ref):
    pads = int((ref["attention_mask"] == 0).sum())
    assert pads == -len(ours_ids) % 8 and (ref["attention_mask"][pads:] == 1).all()  # left padded to 8
    assert ref["input_ids"][pads:].tolist() == ours_ids


@v12.needed
def test_greedy_enhancement_tokens_equal_the_reference(root):
    enhancer = PromptEnhancer(root, mx.float32)
    ids, ours = enhancer.generate_ids(PROMPT, PromptEnhancement(seed=42, max_new_tokens=16))
    ref, _ = _reference(root, 16)
    _check_prompt(ids, ref)
    assert len(ours) == 16 and ours == ref["generated"].tolist()


@pytest.mark.slow
@v12.needed
def test_full_enhancement_equals_the_reference(root):
    """The reference's defaults (600 tokens, stop token), through ``generate_enhanced_prompt`` as its pipelines."""
    enhancer = PromptEnhancer(root, mx.float32)
    options = PromptEnhancement(seed=42)
    ids, ours = enhancer.generate_ids(PROMPT, options)
    ref, text = _reference(root, 0)
    _check_prompt(ids, ref)
    generated = ref["generated"].tolist()
    assert generated[-1] in (1, 5) and ours == generated[:-1]  # we stop before the stop token
    assert enhancer.enhance(PROMPT, options) == (text, True)


def test_ngram_ban_matches_transformers():
    from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor
    import torch

    rng = random.Random(0)
    for n in (2, 3, 5):
        tokens = [rng.randrange(4) for _ in range(60)]
        processor = NoRepeatNGramLogitsProcessor(n)
        ban = NgramBan(n, tokens[:1])
        for t in range(1, len(tokens)):
            scores = processor(torch.tensor([tokens[:t]]), torch.zeros(1, 4))
            assert ban.banned() == torch.isinf(scores[0]).nonzero().flatten().tolist()
            ban.append(tokens[t])


def test_left_padding_to_a_multiple_of_8():
    assert left_pad([5, 6, 7], 0) == ([0] * 5 + [5, 6, 7], [0] * 5 + [1] * 3)
    assert left_pad(list(range(16)), 0)[1] == [1] * 16


def test_settings_family_defaults_and_cache_identity(root, tmp_path):
    enhancer = PromptEnhancer(root)
    options = enhancer.settings(PromptEnhancement(mode="i2v", seed=7))
    assert (options.family, options.max_new_tokens, options.temperature, options.no_repeat_ngram_size) == (
        "gemma4", 600, 0.0, 5)
    assert enhancer.settings(PromptEnhancement(max_new_tokens=9)).max_new_tokens == 9
    copy = PromptEnhancer(shutil.copytree(root, tmp_path / "copy"))  # another enhancer -> another cache entry
    keys = {cache_key("a", None, "fp", e.settings(PromptEnhancement())) for e in (enhancer, copy)}
    assert len(keys) == 2
    assert PromptEnhancement().resolved("gemma3").describe()["max_new_tokens"] == 512
    chat = build_tokenizer(root).apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                                     add_generation_prompt=True)
    assert chat.endswith("<start_of_turn>model\n")


def test_bad_enhancer_roots_are_refused_in_one_line(root, tmp_path):
    not_generative = shutil.copytree(root, tmp_path / "unified")
    config = json.loads((not_generative / "config.json").read_text())
    (not_generative / "config.json").write_text(json.dumps({**config, "model_type": "gemma4_unified"}))
    moe = dense_hf_config()
    moe["text_config"]["enable_moe_block"] = True
    for make in (lambda: PromptEnhancer(tmp_path / "absent"), lambda: PromptEnhancer(not_generative),
                 lambda: Gemma4DenseConfig.from_hf(moe)):
        with pytest.raises(ConfigError) as info:
            make()
        assert "\n" not in str(info.value) and str(info.value).startswith("model.prompt_enhancer=")


def test_failure_keeps_the_raw_prompt(root, tmp_path, caplog):
    broken = shutil.copytree(root, tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    assert PromptEnhancer(broken, mx.float32).enhance(PROMPT, PromptEnhancement(max_new_tokens=4)) == (PROMPT, False)
    assert "prompt enhancement failed" in caplog.text


def test_a_gemma3_enhancer_root_samples_with_the_gemma3_settings(tiny_text):
    """A Gemma 3 instruct folder as model.prompt_enhancer (the reference accepts both families): sampling at
    T 0.7 with the Gemma 3 system prompts, seeded."""
    enhancer = PromptEnhancer(tiny_text["gemma"], mx.float32)
    options = PromptEnhancement(seed=3, max_new_tokens=8)
    resolved = enhancer.settings(options)
    assert (resolved.family, resolved.temperature, resolved.top_k, resolved.no_repeat_ngram_size) == (
        "gemma3", 0.7, 50, 0)
    first, ok = enhancer.enhance(PROMPT, options)
    assert ok and first != PROMPT and enhancer.enhance(PROMPT, options) == (first, True)
