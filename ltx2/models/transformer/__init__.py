"""The LTX-2 diffusion transformer."""

from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.model import LTXModel, Modality, X0Model, to_denoised
from ltx2.models.transformer.perturbations import (
    BatchPerturbations,
    Perturbation,
    PerturbationType,
    modality_isolation,
    stg,
)
from ltx2.models.transformer.positions import audio_positions, video_positions

__all__ = ["TransformerConfig", "LTXModel", "Modality", "X0Model", "to_denoised",
           "BatchPerturbations", "Perturbation", "PerturbationType", "modality_isolation", "stg",
           "audio_positions", "video_positions"]
