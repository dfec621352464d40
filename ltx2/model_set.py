"""The ``model`` config group: the files of one LTX-2 model and the networks built from them.

Networks are built on first use and kept in a process-wide cache keyed on the file identity, dtype and LoRAs,
so that the jobs of a sweep (Hydra runs them in one process) reuse warm weights.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def _identity(path: str | os.PathLike | None) -> tuple:
    if path is None:
        return (None,)
    p = Path(path)
    stat = p.stat()
    return (str(p.resolve()), stat.st_size, stat.st_mtime_ns)


def cached(key: tuple, build: Callable[[], Any]) -> Any:
    """Process-wide cache of built networks."""
    with _LOCK:
        if key not in _CACHE:
            log.info("loading %s", key[0])
            _CACHE[key] = build()
        return _CACHE[key]


def clear_cache(kind: str | None = None) -> None:
    with _LOCK:
        for key in [k for k in _CACHE if kind is None or k[0] == kind]:
            del _CACHE[key]
    import gc

    import mlx.core as mx

    gc.collect()
    mx.clear_cache()


@dataclass
class ModelSet:
    """Files of a model (mirroring the official CLI's flags) and lazy accessors for its networks."""

    name: str
    checkpoint: str
    gemma_root: str | None = None
    spatial_upsampler: str | None = None
    distilled_lora: str | None = None
    dtype: str = "bfloat16"
    tiny: bool = False
    suggested: dict = field(default_factory=dict)
    loras: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        self.loras = tuple((str(path), float(strength)) for path, strength in self.loras)

    def ensure_files(self, seed: int = 0) -> None:
        """``tiny``: write the tiny official-format files on first use (no download)."""
        if not self.tiny:
            return
        from ltx2.tiny import write_tiny_files

        folder = Path(self.checkpoint).parent
        needed = [self.checkpoint, self.gemma_root, self.spatial_upsampler]
        if not all(p is None or Path(p).exists() for p in needed):
            log.info("building the tiny model files in %s", folder)
            write_tiny_files(folder, seed)

    # -- networks -------------------------------------------------------------------------------------------------
    def transformer(self):
        """X0 model (velocity model wrapped to return denoised latents), LoRAs fused."""
        from ltx2.lora import fuse_loras
        from ltx2.models.transformer import X0Model
        from ltx2.models.transformer.load import load_transformer

        def build():
            model = load_transformer(self.checkpoint, self.dtype)
            if self.loras:
                fuse_loras(model, self.loras)
            return X0Model(model)

        return cached(("transformer", _identity(self.checkpoint), self.dtype, self.loras), build)

    def video_encoder(self):
        from ltx2.models.video_vae.load import load_video_encoder

        return cached(("video_encoder", _identity(self.checkpoint), self.dtype),
                      lambda: load_video_encoder(self.checkpoint, self.dtype))

    def video_decoder(self):
        from ltx2.models.video_vae.load import load_video_decoder

        return cached(("video_decoder", _identity(self.checkpoint), self.dtype),
                      lambda: load_video_decoder(self.checkpoint, self.dtype))

    def has_audio(self) -> bool:
        """Whether the checkpoint carries an audio VAE decoder and a vocoder (audio-video model)."""
        from ltx2.loading.checkpoint import read_header

        header = read_header(self.checkpoint)
        config = header.config
        return (isinstance(config.get("audio_vae"), dict) and isinstance(config.get("vocoder"), dict)
                and bool(header.keys_with_prefix("audio_vae.decoder.")) and bool(header.keys_with_prefix("vocoder.")))

    def audio_encoder(self):
        from ltx2.models.audio_vae.load import load_audio_encoder

        return cached(("audio_encoder", _identity(self.checkpoint), self.dtype),
                      lambda: load_audio_encoder(self.checkpoint, self.dtype))

    def audio_decoder(self):
        from ltx2.models.audio_vae.load import load_audio_decoder

        return cached(("audio_decoder", _identity(self.checkpoint), self.dtype),
                      lambda: load_audio_decoder(self.checkpoint, self.dtype))

    def vocoder(self):
        """Float32 always: the vocoder is small and bf16 costs ~1e-3 of waveform accuracy."""
        from ltx2.models.vocoder.load import load_vocoder

        return cached(("vocoder", _identity(self.checkpoint)), lambda: load_vocoder(self.checkpoint, "float32"))

    def upsampler(self):
        from ltx2.models.upsampler.load import load_upsampler

        if not self.spatial_upsampler:
            raise ValueError(f"model {self.name} has no spatial upsampler: set model.spatial_upsampler=/path/to/file")
        return cached(("upsampler", _identity(self.spatial_upsampler), self.dtype),
                      lambda: load_upsampler(self.spatial_upsampler, self.dtype))

    def text_encoder(self, quantize_bits: int | None = None):
        """Text encoder (Gemma + embeddings processor). Not cached: it frees itself after encoding."""
        from ltx2.models.text.encoder import TextEncoder

        if not self.gemma_root:
            raise ValueError(f"model {self.name} has no Gemma root: set model.gemma_root=/path/to/gemma-3-12b-it")
        return TextEncoder(self.gemma_root, self.checkpoint, self.dtype, quantize_bits=quantize_bits)

    def weight_files(self) -> dict[str, str]:
        files = {"checkpoint": self.checkpoint, "gemma_root": self.gemma_root,
                 "spatial_upsampler": self.spatial_upsampler, "distilled_lora": self.distilled_lora}
        files.update({f"lora:{Path(p).name}": p for p, _ in self.loras})
        return {k: v for k, v in files.items() if v}
