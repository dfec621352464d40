"""Builders shared by tests in several folders (configs composed as the CLI does, a fake Hugging Face cache,
transformer inputs). The reference itself is driven from tests/oracles/."""

import shutil

import mlx.core as mx
import numpy as np
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from ltx2.experiment.schema import register
from ltx2.models.transformer import Modality, audio_positions, video_positions
from ltx2.tiny.checkpoint import tiny_transformer_section

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"
FP32_TOL = 1e-5
SIGMA = 0.75
LATENT_GRID = (3, 2, 3)  # latent frames, rows, columns: 17 frames of 64x96 pixels
AUDIO_TOKENS, TEXT_TOKENS = 18, 7


def compose_run(overrides, hydra=False):
    register()
    OmegaConf.register_new_resolver("ltx2_pad", lambda n: f"{int(n):03d}", replace=True)
    OmegaConf.register_new_resolver("ltx2_output_root", lambda r: r, replace=True)
    OmegaConf.register_new_resolver("ltx2_dirname", lambda r: r, replace=True)
    with initialize_config_module(version_base="1.3", config_module="ltx2.conf"):
        return compose("run", overrides=overrides, return_hydra_config=hydra)


def place_in_hub(hub, repo, files):
    folder = hub / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(HUB_COMMIT)
    snap = folder / "snapshots" / HUB_COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        (shutil.copytree if src.is_dir() else shutil.copy)(src, snap / name)


def make_inputs(layout, partial_mask=False, batch=1, dtype=mx.float32, seed=0):
    section = tiny_transformer_section(layout)
    v_ctx = 24 if layout == "ltx2" else section["cross_attention_dim"]
    a_ctx = 24 if layout == "ltx2" else section["audio_cross_attention_dim"]
    key = mx.random.key(seed)
    k = mx.random.split(key, 4)
    f, h, w = LATENT_GRID
    v_tokens = f * h * w
    v_mask = np.ones((batch, v_tokens), np.float32)
    if partial_mask:  # first latent frame given (image conditioning), second half-denoised
        v_mask[:, : h * w] = 0.0
        v_mask[:, h * w : 2 * h * w] = 0.5
    sigma = mx.array(SIGMA) if batch == 1 else mx.full((batch,), SIGMA)  # the reference wants (B,) for B > 1
    video = Modality(latent=mx.random.normal((batch, v_tokens, 128), key=k[0]).astype(dtype), sigma=sigma,
                     timesteps=mx.array(v_mask)[..., None] * sigma.reshape(-1, 1, 1), positions=video_positions(f, h, w, 24.0, batch, dtype),
                     context=mx.random.normal((batch, TEXT_TOKENS, v_ctx), key=k[1]).astype(dtype))
    audio = Modality(latent=mx.random.normal((batch, AUDIO_TOKENS, 128), key=k[2]).astype(dtype), sigma=sigma,
                     timesteps=mx.ones((batch, AUDIO_TOKENS, 1)) * sigma.reshape(-1, 1, 1), positions=audio_positions(AUDIO_TOKENS, batch),
                     context=mx.random.normal((batch, TEXT_TOKENS, a_ctx), key=k[3]).astype(dtype))
    return video, audio
