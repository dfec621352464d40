"""Shared helpers of the video VAE / upsampler parity tests: tiny checkpoint files written once, the ltx-core
reference built from the same file by its own loader, layout conversions and the error check."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import torch
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
from ltx_core.model.upsampler import LatentUpsamplerConfigurator
from ltx_core.model.video_vae.model_configurator import (
    VAE_DECODER_COMFY_KEYS_FILTER,
    VAE_ENCODER_COMFY_KEYS_FILTER,
    VideoDecoderConfigurator,
    VideoEncoderConfigurator,
)

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.tiny.video_vae import tiny_vae_section, tiny_vae_tensors

TOLERANCE = 1e-4
LATENT = 16  # small latent width so that the real channel multipliers stay cheap


def write_vae(path: Path, version: str, seed: int = 0, **overrides) -> Path:
    section = tiny_vae_section(version, latent_channels=LATENT, decoder_base_channels=8, **overrides)
    tensors = {k: mx.array(v) for k, v in tiny_vae_tensors(section, seed).items()}
    save_checkpoint(path, tensors, {"config": json.dumps({"vae": section})})
    return path


def reference_encoder(path: Path) -> torch.nn.Module:
    return _build(VideoEncoderConfigurator, path, VAE_ENCODER_COMFY_KEYS_FILTER)


def reference_decoder(path: Path) -> torch.nn.Module:
    return _build(VideoDecoderConfigurator, path, VAE_DECODER_COMFY_KEYS_FILTER)


def reference_upsampler(path: Path) -> torch.nn.Module:
    return _build(LatentUpsamplerConfigurator, path, None)


def _build(configurator, path: Path, sd_ops) -> torch.nn.Module:
    model = SingleGPUModelBuilder(configurator, str(path), sd_ops).build(torch.device("cpu"), torch.float32)
    meta = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    assert not meta, f"reference left without weights from {path}: {meta[:5]}"
    return model.eval()


def to_mlx(x: np.ndarray | torch.Tensor) -> mx.array:
    """(B, C, F, H, W) -> channels-last mx.array."""
    return mx.array(np.asarray(x, dtype=np.float32)).moveaxis(1, -1)


def to_torch_layout(x: mx.array) -> np.ndarray:
    return np.array(x.moveaxis(-1, 1), dtype=np.float32)


def assert_parity(ours: np.ndarray, ref: np.ndarray, what: str) -> float:
    """Assert max |ours - ref| <= TOLERANCE; print the error and the output scale (run pytest -s to see)."""
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs reference {ref.shape}"
    err = float(np.abs(ours - ref).max())
    scale = float(np.abs(ref).max())
    print(f"\nPARITY {what}: max abs err {err:.3e}, output max|x| {scale:.3f}, std {float(ref.std()):.3f}")
    assert scale > 0.1, f"{what}: reference output is degenerate (max |x| {scale})"
    assert err <= TOLERANCE, f"{what}: max abs error {err:.3e} > {TOLERANCE}"
    return err


class TorchNoiseReplay:
    """A NoiseSource drawing torch.randn from a seeded generator in the reference's layouts and order, so
    both decoders see the same noise."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, shape: tuple[int, ...], dtype: mx.Dtype) -> mx.array:
        if len(shape) == 5:  # latent-shaped: the reference draws (B, C, F, H, W)
            b, f, h, w, c = shape
            return to_mlx(torch.randn((b, c, f, h, w), generator=self.generator)).astype(dtype)
        return mx.array(torch.randn(shape, generator=self.generator).numpy()).astype(dtype)
