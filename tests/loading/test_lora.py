"""LoRA fusion against the official loader (same checkpoint and LoRA files)."""

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator
from mlx.utils import tree_flatten
from oracles.compare import to_numpy

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.loading.lora import fuse_loras
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import write_tiny_checkpoint

TARGETS = ["transformer_blocks.0.attn1.to_q", "transformer_blocks.1.ff.net.0.proj", "audio_patchify_proj"]


def _write_lora(path, model_params, seed, rank=4):
    rng = np.random.default_rng(seed)
    tensors = {}
    for t in TARGETS:
        out_dim, in_dim = model_params[t + ".weight"].shape
        tensors[f"diffusion_model.{t}.lora_A.weight"] = mx.array(rng.standard_normal((rank, in_dim)), mx.bfloat16)
        tensors[f"diffusion_model.{t}.lora_B.weight"] = mx.array(rng.standard_normal((out_dim, rank)), mx.bfloat16)
        tensors[f"diffusion_model.{t}.alpha"] = mx.array(8.0)
    save_checkpoint(path, tensors, {})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora")
    ckpt = write_tiny_checkpoint(folder / "model.safetensors", "ltx2", seed=5, dtype=mx.bfloat16)
    params = dict(tree_flatten(load_transformer(ckpt, "bfloat16").parameters()))
    return ckpt, _write_lora(folder / "a.safetensors", params, 1), _write_lora(folder / "b.safetensors", params, 2)


def test_two_loras_fuse_like_the_reference(files):
    ckpt, lora_a, lora_b = files
    loras = [(str(lora_a), 0.6), (str(lora_b), -0.3)]
    ours = load_transformer(ckpt, "bfloat16")
    assert fuse_loras(ours, loras) == len(TARGETS)
    builder = SingleGPUModelBuilder(model_class_configurator=LTXModelConfigurator, model_path=str(ckpt),
                                    model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP)
    for path, strength in loras:
        builder = builder.lora(path, strength, LTXV_LORA_COMFY_RENAMING_MAP)
    ref = builder.build(device=torch.device("cpu"), dtype=torch.bfloat16).state_dict()
    base = dict(tree_flatten(load_transformer(ckpt, "bfloat16").parameters()))
    ours_params = dict(tree_flatten(ours.parameters()))
    for key, value in ours_params.items():
        diff = np.abs(to_numpy(value) - to_numpy(ref[key])).max()
        if any(key == t + ".weight" for t in TARGETS):
            assert np.abs(to_numpy(value) - to_numpy(base[key])).max() > 0.1  # really changed
            # bf16 results: at most one bf16 step (2^-8 relative) of the largest |W'|, from summation order
            assert diff <= np.abs(to_numpy(ref[key])).max() * 2**-8, key
        else:
            assert diff == 0, key


def test_a_lora_matching_nothing_is_an_error(files, tmp_path):
    ckpt, _, _ = files
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, {"diffusion_model.nope.lora_A.weight": mx.zeros((2, 4)),
                          "diffusion_model.nope.lora_B.weight": mx.zeros((4, 2))}, {})
    with pytest.raises(ConfigError, match="none of its 1 modules match a transformer weight"):
        fuse_loras(load_transformer(ckpt, "bfloat16"), [(str(bad), 1.0)])


def test_modules_the_model_lacks_are_skipped_with_a_warning(files, tmp_path, caplog):
    """As the reference: a LoRA trained on layers this checkpoint lacks still applies to the layers it has."""
    ckpt, lora_a, _ = files
    tensors = dict(mx.load(str(lora_a)))
    tensors |= {"diffusion_model.nope.lora_A.weight": mx.zeros((2, 4)),
                "diffusion_model.nope.lora_B.weight": mx.zeros((4, 2))}
    extra = tmp_path / "extra.safetensors"
    save_checkpoint(extra, tensors, {})
    plain, with_extra = load_transformer(ckpt, "bfloat16"), load_transformer(ckpt, "bfloat16")
    assert fuse_loras(plain, [(str(lora_a), 0.5)]) == fuse_loras(with_extra, [(str(extra), 0.5)]) == len(TARGETS)
    assert "1 of its" in caplog.text and "nope" in caplog.text
    for (key, a), (_, b) in zip(tree_flatten(plain.parameters()), tree_flatten(with_extra.parameters())):
        assert mx.array_equal(a, b), key


def test_shape_mismatch_is_an_error(files, tmp_path):
    ckpt, _, _ = files
    module = TARGETS[0]
    bad = tmp_path / "shape.safetensors"
    save_checkpoint(bad, {f"{module}.lora_A.weight": mx.zeros((2, 3)), f"{module}.lora_B.weight": mx.zeros((5, 2))}, {})
    with pytest.raises(ConfigError, match="delta for a"):
        fuse_loras(load_transformer(ckpt, "bfloat16"), [(str(bad), 1.0)])
