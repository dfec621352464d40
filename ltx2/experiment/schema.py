"""Typed schema of the run config, registered with Hydra's ConfigStore (type errors surface at compose time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TextSettings:
    cache: bool = True
    enhance_prompt: bool = False
    quantize_bits: Optional[int] = None


@dataclass
class OutputSettings:
    name: str = "video.mp4"
    save_latents: bool = False
    save_noise: bool = False
    save_audio: bool = False


@dataclass
class AudioSettings:
    enabled: bool = True


@dataclass
class NoiseSettings:
    from_file: Optional[str] = None


@dataclass
class PathSettings:
    output_root: str = "runs"
    cache_dir: str = MISSING
    model_dir: str = MISSING


@dataclass
class SuggestedSettings:
    width: int = 768
    height: int = 512
    num_frames: int = 121
    fps: float = 24.0
    steps: int = 40
    stg_blocks: List[int] = field(default_factory=lambda: [29])


@dataclass
class ModelSettings:
    _target_: str = "ltx2.loading.model_set.ModelSet"
    name: str = MISSING
    checkpoint: str = MISSING
    gemma_root: Optional[str] = None
    spatial_upsampler: Optional[str] = None
    distilled_lora: Optional[str] = None
    dtype: str = "bfloat16"
    tiny: bool = False
    quantize: Optional[int] = None  # transformer weights: null, 8 or 4 bits (MLX affine)
    quantize_group_size: int = 64
    suggested: SuggestedSettings = field(default_factory=SuggestedSettings)


@dataclass
class GuiderSettings:
    """One modality's guidance scales (the official CLI's --video-* / --audio-* flags)."""

    cfg_scale: float = 1.0
    stg_scale: float = 0.0
    stg_blocks: List[int] = field(default_factory=list)
    rescale_scale: float = 0.0
    modality_scale: float = 1.0
    skip_step: int = 0


@dataclass
class GuiderSchema(GuiderSettings):
    _target_: str = "ltx2.sampling.guidance.Guidance"
    kind: str = "multimodal"  # multimodal | cfg | cfg_star | stg | apg | none
    apg_eta: float = 1.0
    apg_norm_threshold: float = 0.0
    batch_passes: str = "auto"  # auto | true | false: a step's guidance passes as one batched forward
    audio: GuiderSettings = field(default_factory=GuiderSettings)


@dataclass
class PlanSchema:
    """The ``plan`` group (conf/plan/, ltx2.experiment.planner.PlanSettings)."""

    show: bool = False
    force: bool = False
    available_gb: Optional[float] = None


@dataclass
class ObjectiveSchema:
    """``objective``: the number the task returns for search sweepers (ltx2/experiment/objective.py)."""

    expr: Optional[str] = None  # a run-record name (phases.denoise) or an expression over them; null: no number
    direction: str = "minimize"  # minimize | maximize (must match hydra.sweeper.direction)


@dataclass
class RunSchema:
    prompt: str = MISSING
    negative_prompt: str = ""
    seed: int = 10
    width: int = 768
    height: int = 512
    num_frames: int = 121
    fps: float = 24.0
    text: TextSettings = field(default_factory=TextSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    model: ModelSettings = MISSING
    pipeline: Any = MISSING
    scheduler: Any = MISSING
    guider: GuiderSchema = MISSING
    lora: Dict[str, Any] = field(default_factory=dict)
    conditioning: Any = None
    plan: PlanSchema = field(default_factory=PlanSchema)
    objective: ObjectiveSchema = field(default_factory=ObjectiveSchema)
    logger: Any = None  # the `logger` group: null / none (off) or mlflow (ltx2/experiment/tracking.py)


def register() -> None:
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunSchema)
