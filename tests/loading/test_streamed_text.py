"""Gemma streamed layer by layer (``model.offload=disk`` for the text encoder, ltx2.loading.streamed_text): the
hidden states and the final text contexts are bit-identical to the in-memory loaders' on the tiny Gemma 3 root
(model=tiny) and the tiny LTX-2.5 Gemma 4 file (model=tiny25), in float32 and bfloat16, unquantized and 8-bit;
``auto`` decides from Gemma's size; the planner counts the streamed layers instead of the whole model."""

import mlx.core as mx
import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.experiment import estimates as est
from ltx2.loading.model_set import ModelSet
from ltx2.loading.streamed_text import (
    StreamedTextLayers,
    load_streamed_gemma,
    load_streamed_text_encoder_file,
    resolve_text_offload,
    streamed_layers,
)
from ltx2.models.text.config import GemmaConfig
from ltx2.models.text.gemma import load_gemma
from ltx2.models.text.te_file import load_text_encoder_file
from ltx2.tiny.gemma4 import write_tiny_text_encoder_file
from ltx2.tiny.text import write_tiny_gemma_root

# hidden 64: its linears and embeddings quantize at group size 64 (model=tiny's Gemma, hidden 24, does not)
QUANTIZABLE_GEMMA = GemmaConfig(hidden_size=64, num_hidden_layers=6, intermediate_size=128, num_attention_heads=4,
                                num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, vocab_size=262,
                                max_position_embeddings=4096)
IDS = mx.array([[0, 0, 0, 2, 77, 9, 200, 77, 31, 5]])  # left padded, a repeated token
MASK = mx.array([[0, 0, 0, 1, 1, 1, 1, 1, 1, 1]])


@pytest.fixture(scope="module")
def gemmas(tmp_path_factory):
    folder = tmp_path_factory.mktemp("streamed_text")
    return {"gemma3": write_tiny_gemma_root(folder / "g3", seed=2),
            "gemma3-q": write_tiny_gemma_root(folder / "g3q", seed=2, config=QUANTIZABLE_GEMMA),
            "gemma4": write_tiny_text_encoder_file(folder / "te.safetensors", seed=2),
            "gemma4-bf16": write_tiny_text_encoder_file(folder / "te-bf16.safetensors", seed=2, dtype=mx.bfloat16)}


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        assert np.array_equal(np.asarray(x.astype(mx.float32)), np.asarray(y.astype(mx.float32)))


@pytest.mark.parametrize("kind,dtype,bits", [("gemma3", mx.float32, None), ("gemma3-q", mx.float32, 8),
                                             ("gemma3", mx.bfloat16, None), ("gemma4", mx.float32, None),
                                             ("gemma4", mx.float32, 8), ("gemma4-bf16", mx.float32, None),
                                             ("gemma4-bf16", mx.bfloat16, 8)])
def test_streamed_gemma_hidden_states_match_in_memory_bit_for_bit(gemmas, kind, dtype, bits):
    source = gemmas[kind]
    memory_load, streamed_load = ((load_gemma, load_streamed_gemma) if kind.startswith("gemma3")
                                  else (load_text_encoder_file, load_streamed_text_encoder_file))
    memory, streamed = memory_load(source, dtype, bits), streamed_load(source, dtype, bits)
    layers = streamed_layers(streamed)
    assert isinstance(layers, StreamedTextLayers) and streamed_layers(memory) is None
    assert streamed.quantization == memory.quantization
    if bits:
        assert memory.quantization["layers"] > 0  # really quantized
    for _ in range(2):  # the second pass starts from the layer the reader read ahead
        _same(memory.hidden_states(IDS, MASK), streamed.hidden_states(IDS, MASK))
    assert layers.stats.blocks == 2 * len(layers) and layers.stats.read_bytes > 0
    layers.release()


@pytest.mark.parametrize("model", ["tiny", "tiny25"])
def test_text_contexts_through_the_model_set_match(tiny, model):
    files = ({"checkpoint": str(tiny / "tiny-ltx2.3.safetensors"), "gemma_root": str(tiny / "tiny-gemma")}
             if model == "tiny" else
             {"transformer": str(tiny / "tiny-ltx-2.5-transformer.safetensors"),
              "text_encoder": str(tiny / "tiny-gemma4-with-proj-ltx-2.5.safetensors")})
    contexts = {}
    for offload in ("none", "disk"):
        models = ModelSet(model, dtype="float32", offload=offload, **files)
        assert models.resolved_text_offload() == offload
        encoder = models.text_encoder()
        contexts[offload] = encoder.encode(["A red fox at dusk."])
        assert encoder.fingerprint() == models.text_encoder().fingerprint()  # one cache entry for both
    for a, b in zip(contexts["none"], contexts["disk"], strict=True):
        _same([a.video, a.audio], [b.video, b.audio])


def test_auto_decides_from_gemma_size(gemmas):
    for source in (gemmas["gemma3"], gemmas["gemma4"]):
        assert resolve_text_offload("auto", source, "float32", None, available=10**12) == "none"
        assert resolve_text_offload("auto", source, "float32", None, available=10**4) == "disk"
        assert resolve_text_offload("disk", source, "float32", None) == "disk"


def test_planner_counts_one_streamed_layer_and_the_prompt_rows():
    d, vocab, tokens = 64, 1000, 16
    tensors = {"model.embed_tokens.weight": ("BF16", (vocab, d)), "model.norm.weight": ("BF16", (d,)),
               "vision_tower.x.weight": ("BF16", (d, d))}
    for i in range(4):
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = ("BF16", (d, d))
        tensors[f"model.layers.{i}.mlp.up_proj.weight"] = ("BF16", (4 * d, d))
        tensors[f"model.layers.{i}.input_layernorm.weight"] = ("BF16", (d,))
    parts = est.streamed_gemma(tensors, 4, None, ("vision_tower.",), tokens)
    assert parts["top"] == (tokens * d + d) * 4  # the rows of the prompt's tokens, the final norm
    layer = d * d + 4 * d * d + d
    assert parts["layers"] == layer * 4 + layer * 4 + 4 * d * d * 4  # built + read ahead (widened) + one tensor
    in_memory = est.tensors_bytes(tensors, ("",), 4, None, ("vision_tower.",))
    assert parts["top"] + parts["layers"] < in_memory / 2
    # quantized while reading: the layer is still built in float32 first
    assert est.streamed_gemma(tensors, 4, 8, ("vision_tower.",), tokens)["layers"] == parts["layers"]


@pytest.mark.slow  # two CLI runs (~50 s on 2 busy cores); the model-set test above covers the wiring by default
def test_a_tiny_run_with_gemma_streamed_gives_the_same_video(cli):
    from ltx2.io.media import read_video

    small = ("text.cache=false", "num_frames=9", "scheduler.steps=2")
    plain = cli(*small)
    assert plain.returncode == 0, plain.stderr
    streamed = cli(*small, "model.offload=disk")
    assert streamed.returncode == 0, streamed.stderr
    first, second = cli.run_dirs()
    phases = cli.record(second)["memory_plan"]["phases"]
    assert "streamed Gemma layers" in phases["text_encoding"]["weights_bytes"]
    assert "streamed Gemma layers" not in cli.record(first)["memory_plan"]["phases"]["text_encoding"]["weights_bytes"]
    a, _ = read_video(first / "video.mp4")
    b, _ = read_video(second / "video.mp4")
    assert np.array_equal(a, b)
