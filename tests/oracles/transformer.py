"""Drive the official ltx-core transformer (the oracle) from one of our checkpoint files."""

from __future__ import annotations

import torch
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)
from ltx_core.loader import SingleGPUModelBuilder
from ltx_core.model.transformer import (
    LTXV_MODEL_COMFY_RENAMING_MAP,
    LTXModelConfigurator,
    Modality,
    X0Model,
)
from ltx_core.model.transformer.model_configurator import LTXVideoOnlyModelConfigurator

import ltx2.models.transformer as ours


def load_reference(path, audio: bool = True, dtype=torch.float32, loras=()) -> X0Model:
    """``loras``: (path, strength) pairs, ComfyUI key naming as the reference pipelines load them. In bf16 the
    reference loader fuses them; it refuses float32 weights ("Unsupported dtype"), so at float32 the deltas come
    from ltx-core's own ``_prepare_deltas`` (``(B * strength) @ A``, summed) and are added to the weights as its
    bf16 path does (``delta + W``)."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP

    configurator = LTXModelConfigurator if audio else LTXVideoOnlyModelConfigurator
    builder = SingleGPUModelBuilder(model_class_configurator=configurator, model_path=str(path),
                                    model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP)
    if dtype == torch.bfloat16:
        for lora, strength in loras:
            builder = builder.lora(str(lora), strength, LTXV_LORA_COMFY_RENAMING_MAP)
    model = builder.build(device=torch.device("cpu"), dtype=dtype)
    if loras and dtype != torch.bfloat16:
        _add_lora_deltas(model, loras)
    return X0Model(model).eval()


def _add_lora_deltas(model: torch.nn.Module, loras) -> None:
    from ltx_core.loader.fuse_loras import _prepare_deltas
    from ltx_core.loader.primitives import LoraStateDictWithStrength, StateDict
    from safetensors.torch import load_file

    states = []
    for lora, strength in loras:
        sd = {k.replace("diffusion_model.", ""): v for k, v in load_file(str(lora)).items()}
        states.append(LoraStateDictWithStrength(StateDict(sd, torch.device("cpu"), 0, set()), strength))
    changed = 0
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if not name.endswith(".weight"):
                continue
            delta = _prepare_deltas(states, name, weight.dtype, weight.device)
            if delta is not None:
                weight.copy_(delta + weight)
                changed += 1
    assert changed, "no LoRA tensor matched the reference model"


def to_torch(x, dtype=None):
    import mlx.core as mx
    import numpy as np

    t = torch.from_numpy(np.array(x.astype(mx.float32)))
    return t.to(dtype) if dtype is not None else t


def reference_modality(m: ours.Modality, dtype) -> Modality:
    """The same inputs for the reference; positions keep the dtype our caller chose (bf16 trap)."""
    import mlx.core as mx

    pos_dtype = torch.bfloat16 if m.positions.dtype == mx.bfloat16 else torch.float32
    return Modality(latent=to_torch(m.latent, dtype), sigma=to_torch(m.sigma), timesteps=to_torch(m.timesteps),
                    positions=to_torch(m.positions, pos_dtype), context=to_torch(m.context, dtype),
                    enabled=m.enabled)


_TYPES = {t.value: getattr(PerturbationType, t.name) for t in ours.PerturbationType}


def reference_perturbations(p: ours.BatchPerturbations) -> BatchedPerturbationConfig:
    return BatchedPerturbationConfig([
        PerturbationConfig([Perturbation(_TYPES[q.type.value], list(q.blocks) if q.blocks is not None else None)
                            for q in sample]) for sample in p.per_sample])
