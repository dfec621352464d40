"""Pieces shared by the 1.2.0 parity tests: script text run in the oracle venv (``v12.run(HEAD + script, ...)``)
and, on our side, the conversions of our states into the arrays those scripts read.

In a script, after ``HEAD``:
  ``load_x0(path, dtype, loras)``     the 1.2.0 X0Model built by its own loader from our tiny file (LoRAs fused in
                                      float32 at float32, ``delta + W`` as the bf16 rule does; bf16: its bf16 rule)
  ``stage(path, loras)``              a 1.2.0 ``DiffusionStage`` (what its pipelines run) on that file, float32
  ``state(prefix, dtype)``            a 1.2.0 LatentState from the arrays ``state_arrays(prefix, ours)`` passed in
  ``ReplayNoiser(prefix)``            1.2.0's GaussianNoiser with the noise arrays ``<prefix>0, <prefix>1, ...``
  ``items(prefix)``                   conditioning items (latent index, keyframe, IC-LoRA reference) passed by
                                      ``item_arrays``
  ``params(d)``                       MultiModalGuiderParams from a dict
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

HEAD = '''
from dataclasses import replace
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams, create_multimodal_guider_factory
from ltx_core.components.noisers import GaussianNoiser
from ltx_core.conditioning import VideoConditionByKeyframeIndex, VideoConditionByLatentIndex
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.loader.fuse_loras import FuseRule, bf16_fuse_rule
from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator, Modality, X0Model
from ltx_core.types import LatentState
CPU, F32, BF16 = torch.device("cpu"), torch.float32, torch.bfloat16


def _fuse_f32(key, weight, deltas, model_sd):
    return {key: (deltas + weight).to(weight.dtype)}


def builder(path, loras=(), dtype=F32):
    b = SingleGPUModelBuilder(model_class_configurator=LTXModelConfigurator, model_path=str(path),
                              model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP)
    for lora, strength in loras:
        b = b.lora(str(lora), float(strength), LTXV_LORA_COMFY_RENAMING_MAP)
    return b.with_fuse_rule(FuseRule(aggregation_dtype=F32, fuse_fn=_fuse_f32) if dtype == F32 else bf16_fuse_rule)


def load_x0(path, dtype=F32, loras=()):
    return X0Model(builder(path, loras, dtype).build(device=CPU, dtype=dtype)).eval()


def stage(path, loras=()):
    from ltx_pipelines.utils.blocks import DiffusionStage
    return DiffusionStage(builder(path, loras), F32, CPU)


def t(name, dtype=None):
    x = torch.from_numpy(np.ascontiguousarray(I[name]))
    return x.to(dtype) if dtype is not None else x


def state(prefix, dtype=F32):
    return LatentState(latent=t(prefix + "_latent", dtype), denoise_mask=t(prefix + "_mask"),
                       positions=t(prefix + "_positions"), clean_latent=t(prefix + "_clean", dtype),
                       frozen=bool(I.get(prefix + "_frozen", 0)))


class ReplayNoiser(GaussianNoiser):
    """1.2.0's noising formula with the given noise in place of torch.randn."""

    def __init__(self, prefix="noise_"):
        super().__init__(torch.Generator())
        count = len([k for k in I if k.startswith(prefix)])
        self.queue = [t(prefix + str(i)) for i in range(count)]

    def _sample_noise(self, latent_state):
        noise = self.queue.pop(0)
        assert tuple(noise.shape) == tuple(latent_state.latent.shape), (noise.shape, latent_state.latent.shape)
        return noise.to(latent_state.latent.dtype)


def items(prefix):
    out = []
    for i, (kind, index, strength) in enumerate(I.get(prefix, [])):
        latent = t(f"{prefix}_{i}")
        if kind == "latent":
            out.append(VideoConditionByLatentIndex(latent=latent, strength=strength, latent_idx=index))
        elif kind == "keyframe":
            out.append(VideoConditionByKeyframeIndex(keyframes=latent, frame_idx=index, strength=strength))
        else:  # an IC-LoRA reference: index = downscale factor; attention: a scalar or per-token strengths
            from ltx_core.conditioning import ConditioningItemAttentionStrengthWrapper, VideoConditionByReferenceLatent
            item = VideoConditionByReferenceLatent(latent=latent, downscale_factor=index, strength=strength)
            attention = I.get(f"{prefix}_{i}_attention")
            if attention is not None:
                item = ConditioningItemAttentionStrengthWrapper(
                    item, attention if isinstance(attention, float) else torch.from_numpy(attention))
            out.append(item)
    return out


def params(d):
    return MultiModalGuiderParams(**d)
'''


def np32(x) -> np.ndarray:
    return np.array(x.astype(mx.float32))


def state_arrays(prefix: str, state) -> dict:
    """Our LatentState -> the arrays ``state(prefix)`` reads (float32; the script casts to its dtype)."""
    return {f"{prefix}_latent": np32(state.latent), f"{prefix}_mask": np32(state.denoise_mask),
            f"{prefix}_positions": np32(state.positions), f"{prefix}_clean": np32(state.clean_latent),
            f"{prefix}_frozen": int(state.frozen)}


def noise_arrays(noise: dict[str, mx.array], prefix: str = "noise_") -> dict:
    """A run's recorded noise (``noise_0``, ``noise_1``, ...) -> the arrays ``ReplayNoiser(prefix)`` replays."""
    names = sorted(noise, key=lambda k: int(k.split("_")[-1]))
    return {f"{prefix}{i}": np32(noise[k]) for i, k in enumerate(names)}


def item_arrays(prefix: str, items: list) -> dict:
    """Our conditioning items (LatentAtIndex / KeyframeAtFrame) -> what ``items(prefix)`` rebuilds."""
    from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex
    from ltx2.conditioning.reference_latent import ReferenceLatent

    out, spec = {}, []
    for i, item in enumerate(items):
        if isinstance(item, LatentAtIndex):
            spec.append(["latent", item.index, item.strength])
        elif isinstance(item, KeyframeAtFrame):
            spec.append(["keyframe", item.frame_idx, item.strength])
        elif isinstance(item, ReferenceLatent):
            spec.append(["reference", item.downscale_factor, item.strength])
            if item.attention is not None:
                out[f"{prefix}_{i}_attention"] = (float(item.attention) if isinstance(item.attention, (int, float))
                                                  else np32(item.attention))
        else:
            raise TypeError(item)
        out[f"{prefix}_{i}"] = np32(item.latent)
    out[prefix] = spec
    return out


def figures(what: str, ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(cosine, max abs error) of two arrays, printed (run pytest -s to see)."""
    o64, r64 = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    assert o64.shape == r64.shape, f"{what}: {np.shape(ours)} vs reference {np.shape(ref)}"
    cosine = float(o64 @ r64 / (np.linalg.norm(o64) * np.linalg.norm(r64)))
    err = float(np.abs(o64 - r64).max())
    print(f"\nPARITY-1.2.0 {what}: 1 - cosine {1 - cosine:.1e}, max abs err {err:.2e}, max|x| {np.abs(r64).max():.2f}")
    return cosine, err
