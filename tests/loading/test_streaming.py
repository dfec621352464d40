"""Block streaming (``model.offload=disk``) and pre-quantized copies (``python -m ltx2.quantize``): the streamed
transformer gives bit-identical outputs to the in-memory one on the tiny LTX-2.3 model, for bfloat16 / float32,
float8 files, MLX 8-bit quantization (while reading, and from a pre-quantized file) and fused LoRAs."""

import mlx.core as mx
import numpy as np
import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.model_set import ModelSet
from ltx2.loading.streamed_transformer import load_offloaded_transformer
from ltx2.loading.streaming import StreamedBlocks, resolve_offload
from ltx2.models.transformer import Modality, X0Model, audio_positions, video_positions
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import tiny_transformer_section, write_tiny_checkpoint
from ltx2.tiny.fp8 import write_fp8_checkpoint
from ltx2.loading.checkpoint import read_header, save_checkpoint
from ltx2.models.transformer.load import PREFIX

WIDE = {"num_attention_heads": 4, "attention_head_dim": 16, "cross_attention_dim": 64,
        "audio_num_attention_heads": 4, "audio_attention_head_dim": 16, "audio_cross_attention_dim": 64}


def _inputs(dtype=mx.float32, seed=0):
    section = tiny_transformer_section("ltx2.3", **WIDE)
    k = mx.random.split(mx.random.key(seed), 4)
    f, h, w = 2, 3, 4
    sigma = mx.array(0.75)
    video = Modality(latent=mx.random.normal((1, f * h * w, 128), key=k[0]).astype(dtype), sigma=sigma,
                     timesteps=mx.full((1, f * h * w, 1), 0.75, dtype), positions=video_positions(f, h, w, 24.0, 1),
                     context=mx.random.normal((1, 5, section["cross_attention_dim"]), key=k[1]).astype(dtype))
    audio = Modality(latent=mx.random.normal((1, 9, 128), key=k[2]).astype(dtype), sigma=sigma,
                     timesteps=mx.full((1, 9, 1), 0.75, dtype), positions=audio_positions(9, 1),
                     context=mx.random.normal((1, 5, section["audio_cross_attention_dim"]), key=k[3]).astype(dtype))
    return video, audio


def _same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        assert np.array_equal(np.asarray(x.astype(mx.float32)), np.asarray(y.astype(mx.float32)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    full = write_tiny_checkpoint(folder / "wide.safetensors", "ltx2.3", seed=1, transformer=WIDE)
    return {"float": full, "fp8": write_fp8_checkpoint(full, folder / "wide-fp8.safetensors"),
            "bf16": write_tiny_checkpoint(folder / "wide-bf16.safetensors", "ltx2.3", seed=1, transformer=WIDE,
                                          dtype=mx.bfloat16),
            "lora": _wide_lora(full, folder / "lora.safetensors"), "folder": folder}


def _wide_lora(checkpoint, path, rank=4, seed=3):
    """A LoRA for the wide tiny model: every block's attention / feed-forward linears and patchify_proj."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, (_, shape) in read_header(checkpoint).tensors.items():
        name = key.removeprefix(PREFIX)
        if key.startswith(PREFIX) and key.endswith(".weight") and len(shape) == 2 and (
                name.startswith("patchify_proj") or (name.startswith("transformer_blocks.") and ("attn" in name or ".ff." in name))):
            module = name.removesuffix(".weight")
            a = rng.standard_normal((rank, shape[1])).astype(np.float32) / np.sqrt(shape[1])
            b = rng.standard_normal((shape[0], rank)).astype(np.float32) * 0.05
            tensors[f"diffusion_model.{module}.lora_A.weight"] = mx.array(a)
            tensors[f"diffusion_model.{module}.lora_B.weight"] = mx.array(b)
    save_checkpoint(path, tensors, {"what": "LoRA of the wide tiny model"})
    return path


@pytest.mark.parametrize("kind,dtype,bits", [("float", "float32", None), ("bf16", "bfloat16", None), ("bf16", "float32", None), ("fp8", "float32", None),
                                             ("fp8", "bfloat16", None), ("float", "float32", 8),
                                             ("fp8", "float32", 8), ("bf16", "bfloat16", 4)])
def test_streamed_blocks_match_in_memory_bit_for_bit(files, kind, dtype, bits):
    path = files[kind]
    memory = load_transformer(path, dtype, quantize=bits)
    streamed = load_offloaded_transformer(path, dtype, quantize=bits, offload="disk")
    assert isinstance(streamed.transformer_blocks, StreamedBlocks)
    inputs = _inputs(mx.float32 if dtype == "float32" else mx.bfloat16)
    _same(X0Model(memory)(*inputs), X0Model(streamed)(*inputs))
    stats = streamed.transformer_blocks.stats
    assert stats.blocks == 2 and stats.read_bytes > 0
    if bits:
        assert streamed.quantization == memory.quantization


@pytest.mark.parametrize("bits", [None, 8])
def test_loras_fuse_per_streamed_block_as_in_memory(files, bits):
    models = {offload: ModelSet("t", str(files["float"]), dtype="float32", quantize=bits, offload=offload,
                                loras=((str(files["lora"]), 0.7),)) for offload in ("none", "disk")}
    from ltx2.loading.model_set import clear_cache

    clear_cache()
    outputs = {offload: m.transformer()(*_inputs()) for offload, m in models.items()}
    _same(outputs["none"], outputs["disk"])
    clear_cache()


def test_offload_key_is_checked_and_auto_decides_from_memory(files):
    with pytest.raises(ConfigError, match="model.offload"):
        ModelSet("t", str(files["float"]), offload="swap")
    assert resolve_offload("auto", files["float"], "float32", None, available=10**12) == "none"
    assert resolve_offload("auto", files["float"], "float32", None, available=10**5) == "disk"


@pytest.mark.parametrize("kind", ["float", "fp8"])
def test_a_file_quantized_once_loads_and_streams_without_requantizing(files, kind):
    from ltx2.quantize import quantize_checkpoint

    out = quantize_checkpoint(files[kind], files["folder"] / f"wide-{kind}-q8.safetensors", bits=8, dtype="float32")
    memory = load_transformer(files[kind], "float32", quantize=8)
    inputs = _inputs()
    expected = X0Model(memory)(*inputs)
    for offload in ("none", "disk"):
        model = load_offloaded_transformer(out, "float32", offload=offload)
        assert model.quantization == memory.quantization
        _same(expected, X0Model(model)(*inputs))
    with pytest.raises(ConfigError, match="already quantized"):
        load_offloaded_transformer(out, "float32", quantize=4)


def test_quantize_command_line(files, capsys):
    from ltx2.quantize import main

    out = files["folder"] / "cli-q4.safetensors"
    assert main([f"model={files['bf16']}", "bits=4", f"out={out}"]) == 0
    assert "model.checkpoint=" in capsys.readouterr().out
    assert read_header(out).metadata["quantization"] == '{"bits": 4, "group_size": 64, "dtype": "bfloat16"}'
    assert main([f"model={files['bf16']}", "bits=3", f"out={out}"]) == 2
    assert main(["checkpoint=x"]) == 2
    assert "not an argument" in capsys.readouterr().err
