"""What a pipeline receives and what it promises: the ``Job`` (everything one video needs, validated), the
``Pipeline`` protocol (callable on a job, declaring its ``Phases`` for the planner and the checks), and the
protocols of the objects a pipeline calls: the ``Guider`` (the ``guider`` group) and the ``Conditioning`` (the
``conditioning`` group), whose ``ConditioningItem``s edit the initial latent state.

A new pipeline is one module in ``ltx2/pipelines/`` with a class that satisfies ``Pipeline`` and one YAML file
in ``conf/pipeline/`` naming it as ``_target_``."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable


# -- what a pipeline receives --------------------------------------------------------------------------------------
@dataclass
class Job:
    """Everything a pipeline needs for one video, validated."""

    models: Any  # ltx2.loading.model_set.ModelSet
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    num_frames: int
    fps: float
    scheduler: Any  # the ``scheduler`` group: .sigmas()
    guidance: Guider
    conditioning: Conditioning
    pipeline: Pipeline
    text_cache_dir: Path | None = None
    enhance_prompt: bool = False
    quantize_bits: int | None = None
    noise_file: Path | None = None
    audio_enabled: bool = True
    save_audio: bool = False
    record: Any = None  # ltx2.experiment.record.RunRecord: phase timings, outputs
    info: dict = field(default_factory=dict)  # what the pipeline reports back (prompt used, noise, latents)
    plan: Any = None  # ltx2.experiment.planner.MemoryPlan: predicted peak memory per phase

    def phase(self, name: str):
        """A context that times one named phase into the run record (nothing without a record)."""
        return self.record.phase(name) if self.record else nullcontext()


# -- what a pipeline declares --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One denoising stage as the planner and the checks see it."""

    name: str  # the phase name in the run record and the memory plan
    scale: float = 1.0  # latent width and height relative to the request (0.5: half size)
    guided: bool = True  # the guider's passes per step (False: one positive-prompt pass per step)
    distilled_lora: bool = False  # the distilled LoRA (model.distilled_lora) is fused in for this stage
    upsampled: bool = False  # the spatial upsampler runs before it (and images are re-encoded at its size)


@dataclass(frozen=True)
class Phases:
    """The stages a pipeline runs, in order, and the networks it needs besides the transformer, the text
    encoder and the decoders (which every pipeline uses)."""

    stages: tuple[Stage, ...]
    encodes_video: bool = False  # the video VAE encoder runs on a source video (beyond image conditioning)
    encodes_audio: bool = False  # the audio VAE encoder runs on a source soundtrack
    audio_only: bool = False  # sound only (t2a): the audio-only transformer, no video tokens, no video decode

    @property
    def upsampler(self) -> bool:
        return any(stage.upsampled for stage in self.stages)

    @property
    def distilled_lora(self) -> bool:
        return any(stage.distilled_lora for stage in self.stages)


ONE_STAGE = Phases((Stage("denoise"),))


def two_stages(stage_1_distilled_lora: bool = False, stage_1_guided: bool = True) -> Phases:
    """Stage 1 at half size, then the x2 upsampler and a refinement at full size with the distilled LoRA
    (positive prompt only)."""
    return Phases((Stage("denoise_stage_1", 0.5, guided=stage_1_guided, distilled_lora=stage_1_distilled_lora),
                   Stage("denoise_stage_2", 1.0, guided=False, distilled_lora=True, upsampled=True)))


@runtime_checkable
class Pipeline(Protocol):
    """A workflow: ``pipeline(job)`` makes one video. Optional hooks the runner calls before any weight loads
    when present: ``CONDITIONING`` (the conditioning class it needs), ``check_conditioning(conditioning)`` and
    ``check_job(models, conditioning, width, height, num_frames)`` and ``check_request(job, cfg)`` (its own
    rules, raising ConfigError). ``PipelineResult.frames`` None: no video (an audio-only pipeline, t2a)."""

    RESOLUTION_MULTIPLE: ClassVar[int]  # width and height must be multiples of it

    def phases(self) -> Phases: ...

    def __call__(self, job: Job) -> Any: ...  # ltx2.pipelines.common.PipelineResult


# -- what a pipeline calls -----------------------------------------------------------------------------------------
@runtime_checkable
class Guider(Protocol):
    """The ``guider`` group: how the transformer's passes combine into one denoised prediction per step."""

    @property
    def needs_negative(self) -> bool: ...  # whether the negative prompt must be encoded

    def denoiser(self, model: Any, video_ctx: Any, audio_ctx: Any, video_neg: Any, audio_neg: Any) -> Any: ...

    def stg_block_lists(self) -> list[tuple[str, Any]]: ...  # (config key, perturbed blocks) to check


@runtime_checkable
class ConditioningItem(Protocol):
    """One edit of the initial latent state (replace latent frames, append keyframe or reference tokens)."""

    def apply(self, state: Any, shape: Any, fps: float) -> Any: ...  # (LatentState, VideoLatentShape) -> LatentState


@runtime_checkable
class Conditioning(Protocol):
    """The ``conditioning`` group: checked before loading, then turned into items at each stage's size.
    Optional: ``GROUP_OPTION`` (its option name), ``PIPELINE`` (the one pipeline it drives), ``request(cfg)``
    (size, frames and fps it imposes), ``ENHANCE_MODE``."""

    def validate(self, num_frames: int, fps: float) -> None: ...

    def items(self, models: Any, width: int, height: int, dtype: Any) -> list[ConditioningItem]: ...
