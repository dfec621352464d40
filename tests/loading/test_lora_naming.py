"""LoRA key naming: the official loader's LTXV_LORA_COMFY_RENAMING_MAP removes every ``diffusion_model.`` from a key
and keeps the rest, so PEFT-style keys with and without the ComfyUI prefix fuse the same; ours agrees with it."""

import mlx.core as mx
import numpy as np
import torch
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator
from mlx.utils import tree_flatten
from oracles.compare import to_numpy

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.loading.lora import fuse_loras
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import write_tiny_checkpoint

TARGET = "transformer_blocks.1.attn2.to_v"


def test_prefixed_and_plain_keys_fuse_alike_and_like_the_reference(tmp_path):
    ckpt = write_tiny_checkpoint(tmp_path / "model.safetensors", "ltx2.3", seed=3, dtype=mx.bfloat16)
    out_dim, in_dim = dict(tree_flatten(load_transformer(ckpt, "bfloat16").parameters()))[TARGET + ".weight"].shape
    rng = np.random.default_rng(4)
    a = mx.array(rng.standard_normal((4, in_dim)), mx.bfloat16)
    b = mx.array(rng.standard_normal((out_dim, 4)), mx.bfloat16)
    fused = {}
    for prefix in ("", "diffusion_model."):
        lora = tmp_path / f"lora{len(prefix)}.safetensors"
        save_checkpoint(lora, {f"{prefix}{TARGET}.lora_A.weight": a, f"{prefix}{TARGET}.lora_B.weight": b}, {})
        model = load_transformer(ckpt, "bfloat16")
        assert fuse_loras(model, [(str(lora), 0.7)]) == 1
        fused[prefix] = to_numpy(dict(tree_flatten(model.parameters()))[TARGET + ".weight"])
        builder = SingleGPUModelBuilder(model_class_configurator=LTXModelConfigurator, model_path=str(ckpt),
                                        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP)
        ref = builder.lora(str(lora), 0.7, LTXV_LORA_COMFY_RENAMING_MAP).build(device=torch.device("cpu"),
                                                                              dtype=torch.bfloat16)
        expected = ref.state_dict()[TARGET + ".weight"].float().numpy()
        assert np.abs(fused[prefix] - expected).max() <= np.abs(expected).max() * 2**-8
    np.testing.assert_array_equal(fused[""], fused["diffusion_model."])
