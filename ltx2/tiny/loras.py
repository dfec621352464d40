"""Tiny stand-ins for the official LoRA files (camera-control LoRAs, IC-LoRAs) of the tiny models, for tests and
examples: rank-``rank`` pairs for every attention / feed-forward linear of every block (as
``ltx2.tiny.checkpoint.write_tiny_distilled_lora``, other numbers per seed), ComfyUI key naming. An IC-LoRA carries
``reference_downscale_factor`` in its safetensors metadata, as the released IC-LoRAs do."""

from __future__ import annotations

import os
from pathlib import Path

import mlx.core as mx

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.tiny.checkpoint import write_tiny_distilled_lora


def write_tiny_lora(path: str | os.PathLike, version: str = "ltx2.3", seed: int = 1, rank: int = 4,
                    metadata: dict[str, str] | None = None) -> Path:
    """A tiny LoRA for the tiny ``version`` model; ``metadata`` is added to the file's header."""
    path = Path(path)
    write_tiny_distilled_lora(path, version, seed, rank)
    tensors = mx.load(str(path))
    mx.eval(list(tensors.values()))
    save_checkpoint(path, tensors, {"what": f"tiny LoRA for the tiny {version} model", "rank": str(rank),
                                    **(metadata or {})})
    return path


def write_tiny_ic_lora(path: str | os.PathLike, version: str = "ltx2.3", seed: int = 7, rank: int = 4,
                       reference_downscale_factor: int | None = 1) -> Path:
    """A tiny IC-LoRA; ``reference_downscale_factor=None`` leaves the metadata entry out (read as 1)."""
    extra = {} if reference_downscale_factor is None else {
        "reference_downscale_factor": str(reference_downscale_factor)}
    return write_tiny_lora(path, version, seed, rank, extra)


def stand_in(folder: str | os.PathLike, filename: str, version: str = "ltx2.3", ic_lora: bool = False) -> Path:
    """The tiny stand-in a tiny model uses for the official LoRA file ``filename`` (a camera-control LoRA, or an
    IC-LoRA with ``reference_downscale_factor`` 1), written under ``folder`` on first use. Its numbers follow from
    the file name, so two presets get two different LoRAs and a second run gets the same one."""
    import zlib

    path = Path(folder) / f"loras-{version}" / filename
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = zlib.crc32(filename.encode()) % 10_000
        partial = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # atomic: sweeps may race
        if ic_lora:
            write_tiny_ic_lora(partial, version, seed=seed)
        else:
            write_tiny_lora(partial, version, seed=seed)
        os.replace(partial, path)
    return path
