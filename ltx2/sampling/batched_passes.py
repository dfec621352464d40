"""Run the guidance passes of one denoising step (positive, negative, STG, isolated) as one batched forward.

The transformer takes mixed batches (per-sample perturbations), so n passes over a batch of B become one call
over n*B samples: the same latents, timesteps and positions repeated, each pass's text context and perturbations
in its own slice. The results equal the sequential passes' up to matmul rounding (~1e-6 in float32).

``batch_passes`` (``guider.batch_passes``): ``true`` always batches when the passes can share a call, ``false``
never does, ``auto`` batches when the estimated activation memory of the batched call fits in a quarter of the
memory available to the device (host RAM on the CPU backend).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import mlx.core as mx

from ltx2.models.transformer import BatchPerturbations, Modality
from ltx2.models.transformer.perturbations import Perturbation

MODES = ("auto", "true", "false")
_ACTIVATION_WIDTHS = 24  # live (T, D) activations of one block, in widths of D: x, q/k/v/out, the 4D FF hidden, ...
_MEMORY_FRACTION = 0.25


@dataclass(frozen=True)
class GuidancePass:
    """One transformer pass of a step: the text contexts it sees and its perturbations (empty: plain)."""

    video_context: mx.array | None
    audio_context: mx.array | None
    perturbations: tuple[Perturbation, ...] = ()


def batch_mode(value) -> str:
    """``guider.batch_passes`` -> one of MODES (booleans and their YAML spellings accepted)."""
    text = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
    if text not in MODES:
        raise ValueError(f"guider.batch_passes={value!r} must be one of auto, true, false: use auto (batch the "
                         "guidance passes of a step when memory allows), true or false")
    return text


def _can_share(video: Modality, audio: Modality | None, passes: Sequence[GuidancePass]) -> bool:
    """Passes can run in one call when every modality runs and contexts of a modality all have one shape."""
    for m, contexts in ((video, [p.video_context for p in passes]), (audio, [p.audio_context for p in passes])):
        if m is None:
            continue
        if not m.enabled or m.context_mask is not None or any(c is None for c in contexts):
            return False
        if len({tuple(c.shape) for c in contexts}) != 1:
            return False
    return True


def _available_bytes() -> int:
    """Memory the batched call may use: the GPU's working set on GPU backends, else the host's free RAM."""
    if mx.default_device() != mx.cpu:
        info_fn = getattr(mx, "device_info", None) or getattr(getattr(mx, "metal", None), "device_info", None)
        info = info_fn() if info_fn is not None else {}
        size = info.get("max_recommended_working_set_size") or info.get("memory_size")
        if size:
            return int(size)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def estimated_bytes(video: Modality | None, audio: Modality | None, samples: int, model_width: int) -> int:
    """Rough activation memory of one forward over ``samples`` samples (B*n) at the model's width."""
    tokens = sum(m.latent.shape[1] for m in (video, audio) if m is not None)
    return samples * tokens * model_width * _ACTIVATION_WIDTHS * (video or audio).latent.dtype.size


def should_batch(mode: str, video: Modality | None, audio: Modality | None, passes: Sequence[GuidancePass],
                 model_width: int) -> bool:
    if mode == "false" or len(passes) < 2 or not _can_share(video, audio, passes):
        return False
    if mode == "true":
        return True
    need = estimated_bytes(video, audio, (video or audio).latent.shape[0] * len(passes), model_width)
    return need <= _MEMORY_FRACTION * _available_bytes()


def _repeat(x: mx.array | None, n: int) -> mx.array | None:
    return None if x is None else mx.concatenate([x] * n, axis=0)


def _batched(m: Modality | None, contexts: list[mx.array], n: int) -> Modality | None:
    if m is None:
        return None
    sigma = m.sigma if m.sigma.size == 1 else _repeat(m.sigma.reshape(-1), n)
    return Modality(latent=_repeat(m.latent, n), sigma=sigma, timesteps=_repeat(m.timesteps, n),
                    positions=_repeat(m.positions, n), context=mx.concatenate(contexts, axis=0), enabled=m.enabled,
                    attention_mask=_repeat(m.attention_mask, n), keyframes_mask=_repeat(m.keyframes_mask, n))


def run_batched(model, video: Modality | None, audio: Modality | None,
                passes: Sequence[GuidancePass]) -> list[tuple[mx.array | None, mx.array | None]]:
    """One ``model`` call for all ``passes`` (inputs: the positive pass's modalities); per pass (x0_video, x0_audio)."""
    n, b = len(passes), (video or audio).latent.shape[0]
    per_sample = tuple(tuple(p.perturbations) for p in passes for _ in range(b))
    v_out, a_out = model(_batched(video, [p.video_context for p in passes], n),
                         _batched(audio, [p.audio_context for p in passes], n), BatchPerturbations(per_sample))
    return [tuple(None if out is None else out[i * b:(i + 1) * b] for out in (v_out, a_out)) for i in range(n)]
