"""Tiny checkpoints in the official single-file format, deterministic from a seed.

They carry the same metadata (``config`` JSON with ``transformer``, ``vae``, ``audio_vae`` and ``vocoder``
sections, ``model_version``) and key
layout (``model.diffusion_model.`` prefix) as the real LTX-2 / LTX-2.3 files, with tiny widths, so that every
loader and parity test runs here in seconds, and the default run needs no download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.transformer.config import FIXED_AV_VALUES, FIXED_VALUES, TransformerConfig
from ltx2.models.transformer.load import PREFIX
from ltx2.models.transformer.model import LTXModel
from ltx2.tiny.audio_vae import tiny_audio_vae_section, tiny_audio_vae_tensors
from ltx2.tiny.text import fits_tiny_gemma, tiny_connector_section, tiny_processor_tensors
from ltx2.tiny.video_vae import tiny_vae_section, tiny_vae_tensors
from ltx2.tiny.vocoder import tiny_vocoder_section, tiny_vocoder_tensors
from ltx2.tiny.weights import random_weights

# Values of the real headers that the configurator insists on, plus tiny widths.
_TINY_TRANSFORMER = {
    **FIXED_VALUES, **FIXED_AV_VALUES,
    "num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 128, "out_channels": 128, "num_layers": 2,
    "cross_attention_dim": 32, "caption_channels": 24, "norm_eps": 1e-6,
    "audio_num_attention_heads": 2, "audio_attention_head_dim": 8, "audio_in_channels": 128,
    "audio_out_channels": 128, "audio_cross_attention_dim": 16,
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_positional_embedding_max_pos": [20], "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000.0, "rope_type": "split", "frequencies_precision": "float64",
}
_LTX23_EXTRA = {
    "apply_gated_attention": True, "cross_attention_adaln": True, "caption_proj_before_connector": True,
    "caption_projection_first_linear": False, "caption_projection_second_linear": False,
    "caption_proj_input_norm": False,
}
VERSIONS = {"ltx2": "2.0.0", "ltx2.3": "2.3.0"}


def tiny_transformer_section(version: str = "ltx2", **overrides) -> dict:
    """The ``transformer`` metadata section of a tiny LTX-2 ("ltx2") or LTX-2.3 ("ltx2.3") model."""
    if version not in VERSIONS:
        raise ValueError(f"tiny model version {version!r} is not one of {sorted(VERSIONS)}")
    section = dict(_TINY_TRANSFORMER, **(_LTX23_EXTRA if version == "ltx2.3" else {}))
    section.update(overrides)
    return {**tiny_connector_section(section), **section}  # text connector entries; explicit ones win


def write_tiny_checkpoint(path: str | os.PathLike, version: str = "ltx2", seed: int = 0,
                          transformer: dict | None = None, dtype: mx.Dtype = mx.float32) -> Path:
    """Write a tiny official-format checkpoint; ``transformer`` overrides entries of its section."""
    section = tiny_transformer_section(version, **(transformer or {}))
    config = TransformerConfig.from_metadata(section)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(LTXModel(config).parameters())}
    tensors = {PREFIX + k: mx.array(v).astype(dtype) for k, v in random_weights(shapes, seed).items()}
    if fits_tiny_gemma(section):  # text feature extractor + connectors, fed by the tiny Gemma (ltx2.tiny.text)
        tensors.update({k: v.astype(dtype) for k, v in tiny_processor_tensors(section, seed).items()})
    vae = tiny_vae_section(version)  # the video VAE: vae.encoder./vae.decoder./vae.per_channel_statistics.
    tensors.update({k: mx.array(v).astype(dtype) for k, v in tiny_vae_tensors(vae, seed).items()})
    # audio: audio_vae.* (same for both generations) and the generation's vocoder (HiFi-GAN / BigVGAN-v2 + BWE)
    audio_vae, vocoder = tiny_audio_vae_section(), tiny_vocoder_section(version)
    for part in (tiny_audio_vae_tensors(audio_vae, seed), tiny_vocoder_tensors(vocoder, seed + 3)):
        tensors.update({k: mx.array(v).astype(dtype) for k, v in part.items()})
    config = {"transformer": section, "vae": vae, "audio_vae": audio_vae, "vocoder": vocoder}
    metadata = {"config": json.dumps(config), "model_version": VERSIONS[version]}
    save_checkpoint(path, tensors, metadata)
    return Path(path)


def write_tiny_distilled_lora(path: str | os.PathLike, version: str = "ltx2", seed: int = 0, rank: int = 4,
                              dtype: mx.Dtype = mx.float32) -> Path:
    """A tiny stand-in for the official distilled LoRA of a tiny model (``version``)."""
    return write_tiny_lora_for(path, tiny_transformer_section(version), seed, rank, dtype,
                               what=f"tiny distilled LoRA for the tiny {version} model")


def write_tiny_lora_for(path: str | os.PathLike, section: dict, seed: int = 0, rank: int = 4,
                        dtype: mx.Dtype = mx.float32, what: str = "tiny LoRA") -> Path:
    """Rank-``rank`` pairs for the attention and feed-forward linears of every block of the transformer that
    ``section`` describes, ComfyUI key naming (``diffusion_model.`` prefix) as the released files. Deltas are about
    a tenth of the weights."""
    config = TransformerConfig.from_metadata(section)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(LTXModel(config).parameters())}
    targets = sorted(k[: -len(".weight")] for k, shape in shapes.items()
                     if k.startswith("transformer_blocks.") and k.endswith(".weight") and len(shape) == 2
                     and any(f".{part}" in k for part in ("attn", "ff.")))
    rng = np.random.default_rng(seed + 101)
    tensors = {}
    for module in targets:
        out_dim, in_dim = shapes[module + ".weight"]
        a = rng.standard_normal((rank, in_dim)).astype(np.float32) / np.sqrt(in_dim)
        b = rng.standard_normal((out_dim, rank)).astype(np.float32) * (0.1 / np.sqrt(rank))
        tensors[f"diffusion_model.{module}.lora_A.weight"] = mx.array(a).astype(dtype)
        tensors[f"diffusion_model.{module}.lora_B.weight"] = mx.array(b).astype(dtype)
    save_checkpoint(path, tensors, {"what": what, "rank": str(rank)})
    return Path(path)


def write_tiny_files(folder: str | os.PathLike, seed: int = 0) -> list[Path]:
    """Every tiny file the default run needs: both checkpoints, their distilled LoRAs, the tiny Gemma root and the
    latent upsamplers (``model=tiny``; ``model=tiny25``'s split files: ``ltx2.tiny.ltx25_model``).
    Each is written atomically, so a folder is either complete or rebuilt."""
    from ltx2.tiny.text import write_tiny_gemma_root
    from ltx2.tiny.upsampler import KINDS as UPSAMPLER_KINDS
    from ltx2.tiny.upsampler import write_tiny_upsampler

    folder = Path(folder)
    written = [write_tiny_checkpoint(folder / f"tiny-{v}.safetensors", v, seed) for v in sorted(VERSIONS)]
    written += [write_tiny_distilled_lora(folder / f"tiny-{v}-distilled-lora.safetensors", v, seed)
                for v in sorted(VERSIONS)]
    written.append(write_tiny_gemma_root(folder / "tiny-gemma", seed))
    written += [write_tiny_upsampler(folder / f"tiny-upsampler-{kind}.safetensors", kind, seed)
                for kind in UPSAMPLER_KINDS]
    return written
