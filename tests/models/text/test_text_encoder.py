"""The tiny text stack end to end: prompt -> contexts the tiny transformers accept; release frees memory."""

import mlx.core as mx
import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.encoder import TextEncoder
from ltx2.models.transformer.load import load_transformer
from ltx2.models.transformer.model import Modality

PROMPTS = ["A cat walks along a wall at sunset.", "A dog runs on the beach in the rain."]


@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
def test_different_prompts_give_different_contexts_that_the_transformer_accepts(tiny_text, version):
    with TextEncoder(tiny_text["gemma"], tiny_text[version], dtype="float32") as encoder:
        first, second, again = encoder.encode([PROMPTS[0], PROMPTS[1], PROMPTS[0]])
    widths = (24, 24) if version == "ltx2" else (32, 16)
    assert first.video.shape == (1, 1024, widths[0]) and first.audio.shape == (1, 1024, widths[1])
    for a, b in ((first.video, second.video), (first.audio, second.audio)):
        assert float(mx.abs(a - b).max()) > 1e-2  # different prompts, clearly different contexts
    np.testing.assert_array_equal(np.array(first.video), np.array(again.video))  # deterministic
    assert np.isfinite(np.array(first.video)).all() and np.isfinite(np.array(first.audio)).all()

    model = load_transformer(tiny_text[version], dtype="float32")
    video = Modality(latent=mx.zeros((1, 6, 128)), sigma=mx.array(1.0), timesteps=mx.ones((1, 6)),
                     positions=mx.zeros((1, 3, 6, 2)), context=first.video)
    audio = Modality(latent=mx.zeros((1, 4, 128)), sigma=mx.array(1.0), timesteps=mx.ones((1, 4)),
                     positions=mx.zeros((1, 1, 4, 2)), context=first.audio)
    v, a = model(video, audio)
    v2, _ = model(Modality(**{**video.__dict__, "context": second.video}), Modality(**{**audio.__dict__,
                                                                                         "context": second.audio}))
    assert v.shape == (1, 6, 128) and a.shape == (1, 4, 128)
    assert float(mx.abs(v - v2).max()) > 0  # the prompt reaches the transformer's output


def test_release_frees_the_text_encoder(tiny_text):
    encoder = TextEncoder(tiny_text["gemma"], tiny_text["ltx2"], dtype="float32")
    mx.clear_cache()
    before = mx.get_active_memory()
    encoder.hidden_states("warm up")
    loaded = mx.get_active_memory()
    assert encoder.loaded["gemma"] and loaded > before
    encoder.encode(["a prompt"])  # releases Gemma before the processor runs
    assert encoder.loaded == {"gemma": False, "processor": True}
    encoder.release()
    assert encoder.loaded == {"gemma": False, "processor": False}
    assert mx.get_active_memory() <= before
    assert encoder.encode(["loads again after release"])[0].video.shape == (1, 1024, 24)


def test_bad_paths_fail_before_loading(tiny_text, tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        TextEncoder(tmp_path / "missing", tiny_text["ltx2"])
    with pytest.raises(ValueError, match="does not exist"):
        TextEncoder(tiny_text["gemma"], tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="quantize_bits=2"):
        TextEncoder(tiny_text["gemma"], tiny_text["ltx2"], quantize_bits=2)
