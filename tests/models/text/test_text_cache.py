"""The on-disk embedding cache: hits skip Gemma, keys separate what must differ, bad entries are recomputed."""

import logging
import os

import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.cache import EmbeddingCache, cache_key, encode_prompts
from ltx2.models.text.encoder import TextEncoder

PROMPT, NEGATIVE = "A paper boat drifts down a gutter.", "blurry, low quality"


@pytest.fixture
def encoder(tiny_text):
    return TextEncoder(tiny_text["gemma"], tiny_text["ltx2.3"], dtype="float32", max_length=256)


def assert_same(a, b):
    for x, y in ((a.positive.video, b.positive.video), (a.positive.audio, b.positive.audio),
                 (a.negative.video, b.negative.video), (a.negative.audio, b.negative.audio)):
        np.testing.assert_array_equal(np.array(x), np.array(y))


def test_second_encode_comes_from_the_cache_without_gemma(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = encode_prompts(encoder, PROMPT, NEGATIVE, cache)
    assert not first.from_cache and first.prompt == PROMPT and first.negative_prompt == NEGATIVE
    assert encoder.loaded == {"gemma": False, "processor": False}  # released after encoding
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1
    second = encode_prompts(encoder, PROMPT, NEGATIVE, cache)
    assert second.from_cache and encoder._gemma is None and second.prompt == PROMPT
    assert_same(first, second)
    uncached = encode_prompts(encoder, PROMPT, NEGATIVE, None)
    assert_same(first, uncached)


def test_key_covers_prompt_negative_prompt_and_encoder(encoder, tiny_text):
    fingerprint = encoder.fingerprint()
    keys = {cache_key(PROMPT, NEGATIVE, fingerprint), cache_key(PROMPT + " ", NEGATIVE, fingerprint),
            cache_key(PROMPT, None, fingerprint), cache_key(PROMPT, NEGATIVE, fingerprint[::-1])}
    assert len(keys) == 4
    other = TextEncoder(tiny_text["gemma"], tiny_text["ltx2.3"], dtype="bfloat16", max_length=256)
    assert other.fingerprint() != fingerprint
    stat = os.stat(tiny_text["ltx2.3"])
    os.utime(tiny_text["ltx2.3"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # "a replaced checkpoint"
    try:
        assert encoder.fingerprint() != fingerprint
    finally:
        os.utime(tiny_text["ltx2.3"], ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_disabled_cache_stores_nothing(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path, enabled=False)
    encode_prompts(encoder, PROMPT, None, cache)
    assert not encode_prompts(encoder, PROMPT, None, cache).from_cache
    assert not list(tmp_path.rglob("*"))


@pytest.mark.parametrize("damage", ["flip_a_data_byte", "truncate", "garbage", "wrong_key"])
def test_bad_entries_are_detected_and_recomputed(encoder, tmp_path, caplog, damage):
    cache = EmbeddingCache(tmp_path)
    good = encode_prompts(encoder, PROMPT, NEGATIVE, cache)
    path = cache.path(cache_key(PROMPT, NEGATIVE, encoder.fingerprint()))
    data = bytearray(path.read_bytes())
    if damage == "flip_a_data_byte":
        data[-5] ^= 0x40  # inside the last tensor's bytes; the header still parses
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "garbage":
        path.write_bytes(b"not a safetensors file")
    else:  # a valid entry of another key copied over this one
        other = encode_prompts(encoder, "another prompt", NEGATIVE, cache)
        assert not other.from_cache
        path.write_bytes(cache.path(cache_key("another prompt", NEGATIVE, encoder.fingerprint())).read_bytes())
    with caplog.at_level(logging.WARNING):
        again = encode_prompts(encoder, PROMPT, NEGATIVE, cache)
    assert not again.from_cache and "deleting it and encoding again" in caplog.text
    assert_same(good, again)
    assert encode_prompts(encoder, PROMPT, NEGATIVE, cache).from_cache  # rewritten, valid again


def test_bfloat16_entries_round_trip(tmp_path):
    import mlx.core as mx

    from ltx2.models.text.cache import EncodedPrompts
    from ltx2.models.text.processor import TextContext

    video, audio = (mx.random.normal((1, 128, w)).astype(mx.bfloat16) for w in (32, 16))
    cache = EmbeddingCache(tmp_path)
    cache.store("ab" * 32, EncodedPrompts(TextContext(video, audio), None, "p", None))
    loaded = cache.load("ab" * 32)
    assert loaded.from_cache and loaded.negative is None and loaded.positive.video.dtype == mx.bfloat16
    assert bool(mx.array_equal(loaded.positive.video, video)) and bool(mx.array_equal(loaded.positive.audio, audio))
