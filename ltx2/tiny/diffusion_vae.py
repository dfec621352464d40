"""Tiny LTX-2.5 ``CausalDiffusionVAE`` files carrying the diffusion video decoder in the official file layout:
``vae.decoder.*`` (single file) or ``decoder.*`` (split file), fused ``attn.qkv.{weight,bias}``,
``t_embedder.mlp.{0,2}``, per-block static ``gate_msa`` / ``gate_mlp`` / ``gate_ctx`` and a ``coarse_head`` the
official loader drops; statistics under ``(vae.)per_channel_statistics.*``; the ``vae`` section (nested
``decoder``) as the metadata ``config``. Seeded random float32 weights, the decoder only (no encoder tensors).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder

MODEL_VERSION = "2.5.0"
TINY_DECODER = {"in_channels": 128, "out_channels": 3, "patch_size": 4, "head_dim": 16, "t_emb_dim": 32,
                "default_num_inference_steps": 2, "timestep_scale_multiplier": 1.0,
                "stage_channels": [128, 64, 32, 32, 16], "stage_depths": [1, 1, 1, 1, 2],
                "stage_kernels": [[3, 7, 7], [3, 7, 7], [3, 5, 5], [3, 5, 5], [3, 3, 3]],
                "upsamples": [[[1, 2, 2], 2], [[2, 1, 1], 2], [[2, 2, 2], 1], [[2, 2, 2], 2]],
                "stage5_kernel": [3, 7, 7], "stage5_channels": 32}
# model=tiny25's file: 3x3x3 kernels everywhere (a 3 x 3 x 3 latent minimum instead of 3 x 7 x 7), so that a
# 96 x 64 clip decodes a 96 x 96 canvas rather than a 224 x 224 one
SMALL_KERNELS = {"stage_kernels": [[3, 3, 3]] * 5, "stage5_kernel": [3, 3, 3]}
NORMS = ("norm1.weight", "norm2.weight", "norm_out.weight", "q_norm.weight", "k_norm.weight")
GATES = ("gate_msa", "gate_mlp", "gate_ctx")


def tiny_diffusion_vae_section(**decoder_overrides) -> dict:
    """The ``vae`` section of a tiny diffusion-VAE file (the 1.2.0 recipe's decoder sizes)."""
    return {"_class_name": "CausalDiffusionVAE", "latent_channels": 128, "model_output_type": "v",
            "decoder": {**TINY_DECODER, **decoder_overrides}}


def tiny_diffusion_decoder_tensors(section: dict, seed: int = 0, std: float = 0.08,
                                   root: str = "vae.") -> dict[str, np.ndarray]:
    """Random tensors in the file layout (see the module docstring), keys under ``root``."""
    config = DiffusionDecoderConfig.from_metadata(section)
    model = DiffusionVideoDecoder(config)
    rng = np.random.default_rng(seed)
    module = {}
    for key, value in sorted(tree_flatten(model.parameters())):
        if key.startswith("per_channel_statistics."):
            continue
        noise = rng.standard_normal(value.shape).astype(np.float32)
        module[key] = 1.0 + 0.1 * noise if key.endswith(NORMS) else std * noise
    tensors = {}
    for key, value in module.items():
        if ".qkv.to_k." in key or ".qkv.to_v." in key:
            continue
        if ".qkv.to_q." in key:
            base, leaf = key.split(".qkv.to_q.")
            value = np.concatenate([module[f"{base}.qkv.to_{n}.{leaf}"] for n in "qkv"], axis=0)
            key = f"{base}.qkv.{leaf}"
        key = key.replace("t_embedder.timestep_embedder.linear_1.", "t_embedder.mlp.0.")
        key = key.replace("t_embedder.timestep_embedder.linear_2.", "t_embedder.mlp.2.")
        tensors[f"{root}decoder.{key}"] = value
    for i in range(config.stage_depths[4]):
        for gate in GATES:
            tensors[f"{root}decoder.diff_blocks.{i}.{gate}"] = (
                1.0 + 0.3 * rng.standard_normal(config.stage5_dim)).astype(np.float32)
    tensors[f"{root}decoder.coarse_head.weight"] = rng.standard_normal((3, 16)).astype(np.float32)
    stats = {"std-of-means": rng.uniform(0.5, 1.5, config.in_channels),
             "mean-of-means": 0.1 * rng.standard_normal(config.in_channels)}
    tensors.update({f"{root}per_channel_statistics.{k}": v.astype(np.float32) for k, v in stats.items()})
    return tensors


def write_tiny_diffusion_vae(path: str | os.PathLike, seed: int = 0, split: bool = False,
                             dtype: mx.Dtype = mx.float32, **decoder_overrides) -> Path:
    """Write a tiny ``ltx-2.5-video-vae`` file with the diffusion decoder: single-file keys (``vae.`` root) or,
    with ``split``, the bare split-file keys."""
    section = tiny_diffusion_vae_section(**decoder_overrides)
    tensors = tiny_diffusion_decoder_tensors(section, seed, root="" if split else "vae.")
    save_checkpoint(path, {k: mx.array(v).astype(dtype) for k, v in tensors.items()},
                    {"config": json.dumps({"vae": section}), "model_version": MODEL_VERSION})
    return Path(path)


def write_tiny_video_vae25_full(path: str | os.PathLike, seed: int = 0, geometry: str = "32x32x8",
                                dtype: mx.Dtype = mx.float32, **decoder_overrides) -> Path:
    """Write a tiny ``ltx-2.5-video-vae`` file as the official release ships it (split layout, bare keys): the
    conv encoder of ``ltx2.tiny.video_vae25`` (``geometry``) and the diffusion decoder above, one set of
    per-channel statistics, the nested ``CausalDiffusionVAE`` section."""
    from ltx2.tiny.video_vae25 import tiny_vae25_section, tiny_vae25_tensors

    section = {**tiny_vae25_section(geometry, diffusion=True), "decoder": {**TINY_DECODER, **decoder_overrides}}
    tensors = tiny_vae25_tensors(section, seed)  # encoder + statistics
    decoder = tiny_diffusion_decoder_tensors(section, seed + 1, root="")
    tensors.update({k: v for k, v in decoder.items() if not k.startswith("per_channel_statistics.")})
    save_checkpoint(path, {k: mx.array(v).astype(dtype) for k, v in tensors.items()},
                    {"config": json.dumps({"vae": section}), "model_version": MODEL_VERSION})
    return Path(path)
