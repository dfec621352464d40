"""A tiny LTX-2.5 audio-VAE file (``vae/ltx-2.5-audio-vae``) in the official split format: ``audio_vae.encoder.*``,
``audio_vae.decoder.*``, ``audio_vae.per_channel_statistics.*`` and the BWE vocoder's ``vocoder.*`` tensors
(``vocoder.vocoder.*``, ``vocoder.bwe_generator.*``, ...), with the ``audio_vae`` and ``vocoder`` sections alone in
the metadata ``config``. The module code is LTX-2.3's, so the sections and tensors are those of the tiny 2.3 parts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.tiny.audio_vae import tiny_audio_vae_section, tiny_audio_vae_tensors
from ltx2.tiny.vocoder import tiny_vocoder_section, tiny_vocoder_tensors

MODEL_VERSION = "2.5.0"


def tiny_audio25_config(audio_vae: dict | None = None, vocoder: dict | None = None) -> dict:
    """The metadata ``config``: ``audio_vae`` (entries of ``audio_vae`` override the ddconfig) + ``vocoder``
    (nested ``vocoder`` + ``bwe``; ``vocoder`` entries replace the tiny 2.3 section's)."""
    return {"audio_vae": tiny_audio_vae_section(**(audio_vae or {})),
            "vocoder": {**tiny_vocoder_section("ltx2.3"), **(vocoder or {})}}


def write_tiny_audio_vae25(path: str | os.PathLike, seed: int = 0, dtype: mx.Dtype = mx.float32,
                           audio_vae: dict | None = None, vocoder: dict | None = None) -> Path:
    config = tiny_audio25_config(audio_vae, vocoder)
    tensors = {**tiny_audio_vae_tensors(config["audio_vae"], seed), **tiny_vocoder_tensors(config["vocoder"], seed + 3)}
    save_checkpoint(path, {k: mx.array(v).astype(dtype) for k, v in tensors.items()},
                    {"config": json.dumps(config), "model_version": MODEL_VERSION})
    return Path(path)
