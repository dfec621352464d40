"""Attention perturbations (STG, modality isolation), per sample of a batch.

``SKIP_VIDEO_SELF_ATTN`` / ``SKIP_AUDIO_SELF_ATTN`` replace self-attention by its value path in the listed
blocks (STG); ``SKIP_A2V_CROSS_ATTN`` / ``SKIP_V2A_CROSS_ATTN`` drop the audio<->video cross-attention update
(``modality_isolation()`` skips both in every block).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import mlx.core as mx


class PerturbationType(Enum):
    SKIP_A2V_CROSS_ATTN = "skip_a2v_cross_attn"
    SKIP_V2A_CROSS_ATTN = "skip_v2a_cross_attn"
    SKIP_VIDEO_SELF_ATTN = "skip_video_self_attn"
    SKIP_AUDIO_SELF_ATTN = "skip_audio_self_attn"


@dataclass(frozen=True)
class Perturbation:
    type: PerturbationType
    blocks: tuple[int, ...] | None = None  # None: every block

    def hits(self, kind: PerturbationType, block: int) -> bool:
        return self.type == kind and (self.blocks is None or block in self.blocks)


@dataclass(frozen=True)
class BatchPerturbations:
    """One tuple of perturbations per batch sample."""

    per_sample: tuple[tuple[Perturbation, ...], ...]

    @staticmethod
    def none(batch: int = 1) -> BatchPerturbations:
        return BatchPerturbations(((),) * batch)

    @staticmethod
    def same(perturbations: list[Perturbation] | tuple[Perturbation, ...], batch: int = 1) -> BatchPerturbations:
        return BatchPerturbations((tuple(perturbations),) * batch)

    def _hits(self, kind: PerturbationType, block: int) -> list[bool]:
        return [any(p.hits(kind, block) for p in sample) for sample in self.per_sample]

    def all(self, kind: PerturbationType, block: int) -> bool:
        return all(self._hits(kind, block))

    def any(self, kind: PerturbationType, block: int) -> bool:
        return any(self._hits(kind, block))

    def keep(self, kind: PerturbationType, block: int) -> mx.array:
        """(B,) 1.0 where the sample runs the branch normally, 0.0 where it is perturbed."""
        return mx.array([0.0 if hit else 1.0 for hit in self._hits(kind, block)])


def stg(blocks: list[int] | tuple[int, ...], video: bool = True, audio: bool = True) -> list[Perturbation]:
    """Spatio-temporal guidance: value pass-through of self-attention in ``blocks``."""
    kinds = [PerturbationType.SKIP_VIDEO_SELF_ATTN] * video + [PerturbationType.SKIP_AUDIO_SELF_ATTN] * audio
    return [Perturbation(kind, tuple(blocks)) for kind in kinds]


def modality_isolation() -> list[Perturbation]:
    """Skip both audio<->video cross attentions in every block."""
    return [Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN), Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN)]
