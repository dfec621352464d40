"""Tiny checkpoints in the layout of the official float8 variants (``ltx-2-19b-dev-fp8.safetensors``,
``ltx-2.3-22b-dev-fp8.safetensors``), made from a tiny full-precision checkpoint (ltx2.tiny.checkpoint).

The official files: the attention and feed-forward linear weights of the transformer blocks (``to_q``, ``to_k``,
``to_v``, ``to_out.0``, ``ff.net.0.proj``, ``ff.net.2`` of the video, audio and cross-modal attentions and both
feed-forwards) are ``F8_E4M3`` in (out, in) layout with an F32 scalar ``weight_scale`` (max|W| / 448) and an F32
scalar ``input_scale`` beside each; the first block and the last five (of 48) stay full precision; every other
tensor (biases, norms, gates, adaLN, VAE, vocoder) is bf16. Same metadata (``config``, ``model_version``).
"""

from __future__ import annotations

import os
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.loading.checkpoint import read_header
from ltx2.loading.fp8 import E4M3_MAX, INPUT_SCALE, WEIGHT_SCALE, encode_e4m3, write_safetensors
from ltx2.models.transformer.load import PREFIX

FP8_LINEARS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")


def is_fp8_target(key: str, full_precision_blocks: tuple[int, ...]) -> bool:
    """A transformer block linear weight that the official fp8 files store as float8."""
    if not key.startswith(PREFIX + "transformer_blocks.") or not key.endswith(".weight"):
        return False
    block = int(key[len(PREFIX + "transformer_blocks."):].split(".", 1)[0])
    return block not in full_precision_blocks and key.removesuffix(".weight").endswith(FP8_LINEARS)


def write_fp8_checkpoint(src: str | os.PathLike, dst: str | os.PathLike,
                         full_precision_blocks: tuple[int, ...] = (0,), input_scale: float = 1.0,
                         scaled: bool = True) -> Path:
    """``src`` rewritten as the official fp8 variant: float8 e4m3 block linears with per-tensor scales, the rest
    bf16. ``full_precision_blocks``: blocks left unquantized (the official 48-block files: 0 and 43..47; a tiny
    2-block model keeps block 0). ``scaled=False``: weight_scale 1 (plain casts, as ltx-core's fp8-cast makes them
    from a bf16 file; its loader ignores the scales, so only such a file can be compared with it)."""
    header = read_header(src)
    tensors = mx.load(str(src))
    entries = {}
    for key, value in tensors.items():
        if is_fp8_target(key, full_precision_blocks):
            weight = np.array(value.astype(mx.float32))
            scale = (np.float32(np.abs(weight).max() / E4M3_MAX) if scaled else np.float32(0)) or np.float32(1.0)
            entries[key] = ("F8_E4M3", weight.shape, encode_e4m3(weight / scale).tobytes())
            module = key.removesuffix(".weight")
            entries[f"{module}.{WEIGHT_SCALE}"] = ("F32", (), np.float32(scale).tobytes())
            entries[f"{module}.{INPUT_SCALE}"] = ("F32", (), np.float32(input_scale).tobytes())
        else:
            bits = np.array(value.astype(mx.bfloat16).view(mx.uint16))
            entries[key] = ("BF16", tuple(value.shape), bits.astype("<u2").tobytes())
    return write_safetensors(dst, entries, header.metadata)
