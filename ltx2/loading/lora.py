"""LoRA fusion into the transformer's weights, as the official loader does it.

For each model weight ``K.weight`` with ``K.lora_A.weight`` (r, in) and ``K.lora_B.weight`` (out, r) in a LoRA
file (keys may carry the ComfyUI ``diffusion_model.`` prefix): ``delta = (B * strength) @ A`` in the LoRA's dtype,
cast to the weight's dtype, summed over LoRAs, then ``W' = delta + W`` in the weight's dtype. No alpha/rank
scaling (an ``alpha`` tensor in the file is ignored, as by the reference). Only ``.weight`` tensors get deltas.
A LoRA none of whose modules match a model weight is an error (wrong model); modules that match nothing in an
otherwise matching LoRA (e.g. layers this checkpoint lacks) are skipped, as by the reference, with a warning naming them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from ltx2.errors import ConfigError

log = logging.getLogger("ltx2")
_A, _B = ".lora_A.weight", ".lora_B.weight"


def read_lora(path: str | os.PathLike) -> dict[str, tuple[mx.array, mx.array]]:
    """{model module name: (A, B)} of a LoRA file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("lora", str(path), "the LoRA file does not exist", "point it at an existing .safetensors")
    pairs: dict[str, dict[str, mx.array]] = {}
    unknown = []
    for key, value in mx.load(str(path)).items():
        name = key.replace("diffusion_model.", "")
        if name.endswith(_A):
            pairs.setdefault(name[: -len(_A)], {})["A"] = value
        elif name.endswith(_B):
            pairs.setdefault(name[: -len(_B)], {})["B"] = value
        elif not name.endswith(".alpha"):
            unknown.append(key)
    incomplete = sorted(k for k, v in pairs.items() if set(v) != {"A", "B"})
    if incomplete:
        raise ConfigError("lora", str(path), f"{len(incomplete)} modules lack their lora_A or lora_B weight "
                          f"({', '.join(incomplete[:5])}); the file is incomplete or not a LoRA",
                          "download the LoRA again, or use a LoRA file")
    if unknown:
        log.warning("LoRA %s: %d tensors that are not lora_A/lora_B weights are ignored (%s)", path.name,
                    len(unknown), ", ".join(unknown[:5]))
    return {k: (v["A"], v["B"]) for k, v in pairs.items()}


def fuse_loras(model: nn.Module, loras: tuple[tuple[str, float], ...] | list) -> int:
    """Fuse ``(path, strength)`` LoRAs into ``model`` in place; returns the number of weights changed."""
    fused = fused_weights(dict(tree_flatten(model.parameters())), loras)
    model.load_weights(fused, strict=False)
    mx.eval(model.parameters())
    return len(fused)


def fused_weights(params: dict[str, mx.array], loras) -> list[tuple[str, mx.array]]:
    """``(key, W + deltas)`` for each weight of ``params`` (model keys -> full-precision weights, may be lazy) that
    the ``(path, strength)`` LoRAs touch; only those weights are read."""
    deltas: dict[str, list[mx.array]] = {}
    for path, strength in loras:
        pairs = read_lora(path)
        matched = matched_modules(path, pairs, params)
        for module, (a, b) in pairs.items():
            if module not in matched:
                continue
            weight = params[f"{module}.weight"]
            delta = lora_delta(a, b, strength, weight.dtype)
            if delta.shape != weight.shape:
                raise ConfigError("lora", str(path), f"{module} gives a {tuple(delta.shape)} delta for a "
                                  f"{tuple(weight.shape)} weight", "use a LoRA trained for this model")
            deltas.setdefault(f"{module}.weight", []).append(delta)
    return [(key, add_deltas(params[key], parts)) for key, parts in deltas.items()]


def matched_modules(path, modules, weight_keys) -> set[str]:
    """The LoRA's ``modules`` that have a ``.weight`` among ``weight_keys``; none is an error (wrong model), some
    unmatched a warning naming them (skipped, as by the reference)."""
    unmatched = sorted(m for m in modules if f"{m}.weight" not in weight_keys)
    if len(unmatched) == len(modules):
        raise ConfigError("lora", str(path), f"none of its {len(modules)} modules match a transformer weight "
                          f"({', '.join(unmatched[:5])})", "use a LoRA trained for this model")
    if unmatched:
        log.warning("LoRA %s: %d of its %d modules match no transformer weight and are skipped (%s)",
                    Path(path).name, len(unmatched), len(modules), ", ".join(unmatched[:5]))
    return set(modules) - set(unmatched)


def lora_delta(a: mx.array, b: mx.array, strength: float, dtype: mx.Dtype) -> mx.array:
    """``(B * strength) @ A`` in ``dtype``. B * strength is computed in float32 and rounded to the LoRA's dtype, as
    torch does (MLX would round the strength itself to bf16 first); the product accumulates in float32 and rounds
    once (as torch's CPU bf16 matmul; MLX's own bf16 matmul rounds more often)."""
    scaled = (b.astype(mx.float32) * strength).astype(b.dtype)
    return (scaled.astype(mx.float32) @ a.astype(mx.float32)).astype(b.dtype).astype(dtype)


def add_deltas(weight: mx.array, parts: list[mx.array]) -> mx.array:
    """``W + sum(deltas)`` in the weight's dtype (several LoRAs' deltas are summed in float32 first)."""
    total = parts[0] if len(parts) == 1 else mx.stack(parts).astype(mx.float32).sum(0).astype(weight.dtype)
    return (total + weight).astype(weight.dtype)
