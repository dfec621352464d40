"""Typed schema of the run config, registered with Hydra's ConfigStore (type errors surface at compose time)."""

from __future__ import annotations

import re
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, Dict, List, Optional, get_type_hints

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
    previews: int = 0  # every N denoising steps: x0 preview PNGs + progress.webp (ltx2/experiment/previews.py)


@dataclass
class QualitySettings:
    """Quality signals per run (ltx2/experiment/quality.py)."""

    enabled: bool = True
    fail_on: List[str] = field(default_factory=list)  # e.g. [nan, black, silent]: such a run ends failed


@dataclass
class AudioSettings:
    enabled: bool = True


@dataclass
class SamplingSettings:
    """Step caching (ltx2/sampling/step_cache.py): none, or teacache with its threshold (null: 0.05)."""

    cache: str = "none"
    cache_threshold: Optional[float] = None


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
    image_crf: int = 33  # H.264 CRF of the image-conditioning round trip (LTX-2.5: 18)


@dataclass
class ModelSettings:
    _target_: str = "ltx2.loading.model_set.ModelSet"
    name: str = MISSING
    checkpoint: Optional[str] = None  # one file (LTX-2 / LTX-2.3), or the files below, one per component (LTX-2.5)
    gemma_root: Optional[str] = None
    spatial_upsampler: Optional[str] = None
    distilled_lora: Optional[str] = None
    transformer: Optional[str] = None
    text_encoder: Optional[str] = None
    video_vae: Optional[str] = None
    audio_vae: Optional[str] = None
    temporal_upsampler: Optional[str] = None
    duration_head: Optional[str] = None
    prompt_enhancer: Optional[str] = None  # generative Gemma folder rewriting prompts (text.enhance_prompt)
    version: Optional[str] = None  # the model version of a preset ("2.5"): files of another version are refused
    dtype: str = "bfloat16"
    tiny: bool = False
    quantize: Optional[int] = None  # transformer weights: null, 8 or 4 bits (MLX affine)
    quantize_group_size: int = 64
    offload: str = "none"  # transformer blocks and Gemma layers: none, disk (streamed from the files) or auto
    video_decoder: Optional[str] = None  # null: the decoder the video-VAE file carries; diffusion | conv: required
    suggested: SuggestedSettings = field(default_factory=SuggestedSettings)


# -- guider: one schema per guider class, of exactly the keys it reads (ltx2/sampling/guidance.py) ---------------
def guider_schema(guider: type) -> type:
    """The Hydra schema of a guider class: ``_target_``, the fields of the one record (``MultiModalGuiderParams``)
    it reads for video (top level) and audio (under ``audio``), and its own keys. Any other key is refused when the
    config is composed; ``schema.guider`` leads back to the class (for the message, ``ignored_guider_key``)."""
    from ltx2.sampling.guiders import MultiModalGuiderParams

    types = get_type_hints(MultiModalGuiderParams)
    record = {f.name: f for f in fields(MultiModalGuiderParams)}

    def copy(name: str):
        f = record[name]
        return (name, types[name], field(default=f.default) if f.default is not MISSING_FIELD
                else field(default_factory=f.default_factory))

    entries = [("_target_", str, field(default=f"{guider.__module__}.{guider.__name__}"))]
    entries += [copy(k) for k in guider.video_keys]
    entries += [(k, type(default), field(default=default)) for k, default in guider.own_keys.items()]
    if guider.audio_keys:
        audio = make_dataclass(f"{guider.__name__}AudioSchema", [copy(k) for k in guider.audio_keys])
        audio.guider = guider
        entries.append(("audio", audio, field(default_factory=audio)))
    schema = make_dataclass(f"{guider.__name__}Schema", entries)
    schema.guider = guider
    return schema


def ignored_guider_key(error: Exception):
    """Hydra's refusal of an override like ``guider.stg_scale=2`` that the chosen guider's schema lacks, as our
    one-line ``ConfigError`` (None: another error, or a key that no guider reads, e.g. a typo)."""
    import yaml

    from ltx2.sampling.guidance import accepted_keys, ignored_key, readers

    guider = getattr(getattr(error.__cause__, "object_type", None), "guider", None)
    override = re.search(r"(?:use |override )\+?(guider\.[\w.]+)=(.*)", str(error))
    if guider is None or override is None or not readers(override.group(1)):
        return None
    if override.group(1) in accepted_keys(guider):  # a key it reads, refused for another reason (a type)
        return None
    key, text = override.groups()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    return ignored_key(guider, key, value)


@dataclass
class PlanSchema:
    """The ``plan`` group (conf/plan/, ltx2.experiment.planner.PlanSettings)."""

    show: bool = False
    force: bool = False
    available_gb: Optional[float] = None
    memory_gb: Optional[float] = None


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
    num_frames: Any = 121  # 8k+1, or "auto" (LTX-2.5's duration head; ltx2/experiment/duration.py)
    fps: float = 24.0
    text: TextSettings = field(default_factory=TextSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    model: ModelSettings = MISSING
    pipeline: Any = MISSING
    scheduler: Any = MISSING
    guider: Any = MISSING  # one schema per option: guider_schema
    lora: Dict[str, Any] = field(default_factory=dict)
    conditioning: Any = None
    plan: PlanSchema = field(default_factory=PlanSchema)
    quality: QualitySettings = field(default_factory=QualitySettings)
    # sweep gallery (ltx2/gallery): {rows: key, cols: key}, or false to skip it and the contact sheet
    gallery: Any = field(default_factory=lambda: {"rows": None, "cols": None})
    objective: ObjectiveSchema = field(default_factory=ObjectiveSchema)
    logger: Any = None  # the `logger` group: null / none (off) or mlflow (ltx2/experiment/tracking.py)


def register() -> None:
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunSchema)
    from ltx2.sampling.guidance import GUIDERS

    for guider in GUIDERS:  # conf/guider/<option>.yaml: defaults: [/schema/guider/<option>@_here_, _self_]
        store.store(group="schema/guider", name=guider.option, node=guider_schema(guider))
