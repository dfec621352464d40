"""Defaults that work: what a run fills in where the user left the choice to the model, before any check.

- An option that needs an input (an image, a sound, a video) and has none is refused first, naming the key to set
  with an example value.
- The size conf/run.yaml takes from the model (``width: ${model.suggested.width}``, height, num_frames) is rounded
  up to what the chosen pipeline takes (two-stage pipelines: multiples of 64; the VAE: 8k+1 frames). A value the
  user gave (command line, experiment, size preset) is never changed: it is checked as given.
- On a tiny model, LoRA presets naming official hf:// files use tiny stand-ins (a real LoRA cannot fit a tiny
  model), and pipeline=ic_lora (dubit) without a LoRA takes the ``ic_pose_control`` (``dubit``) preset's stand-in.

Each change is logged in one line and recorded in the run record as ``request.adapted``.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ltx2.errors import ConfigError

log = logging.getLogger("ltx2")

SIZE_KEYS = ("width", "height", "num_frames")
DEFAULT_IC_LORA = "ic_pose_control"  # the IC-LoRA preset a tiny model's pipeline=ic_lora uses when none is given
DEFAULT_IC_LORAS = {"reference_video": DEFAULT_IC_LORA, "dubit": "dubit"}  # by the conditioning a pipeline needs
DEFAULT_MULTIPLE = 32  # the video VAE's spatial factor: every pipeline takes at least this


@dataclass(frozen=True)
class Adaptation:
    key: str
    suggested: Any
    used: Any
    rule: str

    def as_dict(self) -> dict:
        return {"suggested": self.suggested, "used": self.used, "rule": self.rule}


def fill_in(cfg: DictConfig) -> DictConfig:
    """``cfg`` with the suggested size fitted to the pipeline and tiny LoRA stand-ins in place (files written on
    first use); refuses an option whose input is missing. Raises ConfigError."""
    check_inputs(cfg)
    changes = adaptations(cfg)
    if not changes:
        return cfg
    update: dict = {}
    for change in changes:
        if change.key == "lora":  # the default IC-LoRA: a new entry
            update.setdefault("lora", {})[_default_ic_lora(cfg)] = {"path": str(_write_stand_in(cfg, change.used)),
                                                                    "strength": 1.0}
        elif change.key.startswith("lora."):
            name = change.key.split(".")[1]
            update.setdefault("lora", {})[name] = {"path": str(_write_stand_in(cfg, change.used))}
        else:
            update[change.key] = change.used
    log.info("request adapted: %s", "; ".join(f"{c.key} {_short(c.suggested)} -> {_short(c.used)} ({c.rule})"
                                            for c in changes))
    adapted = copy.deepcopy(cfg)
    with open_dict(adapted):  # the default IC-LoRA is a new key under `lora`
        adapted.merge_with(update)
    return adapted


def recorded(cfg: DictConfig) -> dict:
    """For the run record's ``request``: {"adapted": {key: {suggested, used, rule}}}, or {} when nothing was."""
    try:
        changes = adaptations(cfg)
    except (ConfigError, OmegaConfBaseException):
        return {}
    return {"adapted": {c.key: c.as_dict() for c in changes}} if changes else {}


def adaptations(cfg: DictConfig) -> list[Adaptation]:
    """What :func:`fill_in` changes, computed from the config alone (nothing written)."""
    raw = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    pipeline = _pipeline_class(raw)
    changes = []
    if pipeline is not None:
        multiple = getattr(pipeline, "RESOLUTION_MULTIPLE", DEFAULT_MULTIPLE)
        name = _choice("pipeline", pipeline.__name__)
        for key in ("width", "height"):
            value = _suggested_value(cfg, raw, key)
            if isinstance(value, int) and value > 0 and value % multiple:
                changes.append(Adaptation(key, value, math.ceil(value / multiple) * multiple,
                                          f"pipeline={name} takes multiples of {multiple}"))
    frames = _suggested_value(cfg, raw, "num_frames")
    if isinstance(frames, int) and frames > 0 and (frames - 1) % 8:
        changes.append(Adaptation("num_frames", frames, math.ceil((frames - 1) / 8) * 8 + 1,
                                  "the video VAE takes 8k+1 frames"))
    if _is_tiny(cfg):
        changes += _tiny_lora_changes(cfg, raw, pipeline)
    return changes


# -- inputs -----------------------------------------------------------------------------------------------------
# conditioning option -> (key, example value, what it is); the first missing key of the option is named
INPUTS = {
    "image": {"conditioning.path": ("photo.png", "the image the video starts from (PNG or JPEG)")},
    "audio": {"conditioning.path": ("voice.wav", "the sound the video follows (WAV; other formats via ffmpeg)")},
    "reference_video": {"conditioning.path": ("control.mp4", "the control video (pose, depth, edges) to follow")},
    "source_video": {"conditioning.path": ("clip.mp4", "the clip to retake"),
                     "conditioning.end_time": ("0.5", "the end of the range to retake, in seconds")},
    "keyframes": {"conditioning.images": (None, "the images the video passes through, each at its frame")},
    "dubit": {"conditioning.path": ("clip.mp4", "the clip of someone speaking to re-voice (video with sound)")},
}
CONDITIONING_OPTIONS = {"NoConditioning": "none", "ImageConditioning": "image", "AudioConditioning": "audio",
                        "ReferenceVideoConditioning": "reference_video", "SourceVideoConditioning": "source_video",
                        "KeyframesConditioning": "keyframes", "KeyframeSlotsConditioning": "keyframe_slots",
                        "DubItConditioning": "dubit"}
NEEDED_BY = {"KeyframeInterpolationPipeline": "keyframes"}  # pipelines with a rule but no CONDITIONING class


def check_inputs(cfg: DictConfig) -> None:
    """A pipeline that needs a conditioning and has none, or a conditioning whose input is ``???``: one line that
    names the key and an example value that works."""
    raw = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    option = _conditioning_option(raw)
    pipeline = _pipeline_class(raw)
    needed = _needed_conditioning(pipeline)
    if needed and option == "none":
        name = _choice("pipeline", pipeline.__name__)
        what = next(iter(INPUTS[needed].values()))[1]
        raise ConfigError("conditioning", "none", f"pipeline={name} needs conditioning={needed}: {what}",
                          f"add conditioning={needed} {example(needed, cfg)}")
    only = getattr(_class(raw.get("conditioning")), "PIPELINE", None)  # audio, reference_video, source_video
    with_pipeline = f" pipeline={only}" if only and needed != option else ""
    for key, (_, what) in INPUTS.get(option, {}).items():
        if OmegaConf.is_missing(cfg.conditioning, key.split(".", 1)[1]):
            raise ConfigError(key, "???", f"is required by conditioning={option}: {what}",
                              f"set {example(option, cfg, only=key)}{with_pipeline}")


def example(option: str, cfg: DictConfig, only: str | None = None) -> str:
    """Overrides that give conditioning ``option`` its inputs, e.g. ``conditioning.path=photo.png``."""
    parts = []
    for key, (value, _) in INPUTS[option].items():
        if only and key != only:
            continue
        if key == "conditioning.images":
            last = _frames(cfg) - 1
            parts.append(f"'{key}=[{{path: first.png, frame_idx: 0}}, {{path: last.png, frame_idx: {last}}}]'")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _needed_conditioning(pipeline: type | None) -> str | None:
    if pipeline is None:
        return None
    needed = getattr(pipeline, "CONDITIONING", None)
    if needed is not None:
        return getattr(needed, "GROUP_OPTION", None) or CONDITIONING_OPTIONS.get(needed.__name__)
    return next((opt for cls in pipeline.__mro__ for name, opt in NEEDED_BY.items() if cls.__name__ == name), None)


def _conditioning_option(raw: dict) -> str | None:
    target = (raw.get("conditioning") or {}).get("_target_")
    return CONDITIONING_OPTIONS.get(str(target).rsplit(".", 1)[-1]) if target else None


def _frames(cfg: DictConfig) -> int:
    try:
        frames = int(cfg.num_frames)
    except (OmegaConfBaseException, TypeError, ValueError):
        return 121
    return math.ceil((frames - 1) / 8) * 8 + 1 if frames > 0 else 121


# -- the suggested size -----------------------------------------------------------------------------------------
def _suggested_value(cfg: DictConfig, raw: dict, key: str) -> Any:
    """The value of ``key`` if it is still the model's suggestion (the unresolved ``${model.suggested.<key>}``),
    else None: a value given anywhere else is the user's."""
    if raw.get(key) != f"${{model.suggested.{key}}}":
        return None
    try:
        return cfg[key]
    except OmegaConfBaseException:
        return None


def _pipeline_class(raw: dict) -> type | None:
    return _class(raw.get("pipeline"))


def _class(node: dict | None) -> type | None:
    target = (node or {}).get("_target_")
    if not isinstance(target, str) or not target.startswith("ltx2."):
        return None  # check_raw refuses it
    from hydra.utils import get_class

    try:
        return get_class(target)
    except Exception:  # noqa: BLE001 - an unknown target is reported when the pipeline is built
        return None


def _choice(group: str, fallback: str) -> str:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return fallback


# -- tiny LoRA stand-ins ----------------------------------------------------------------------------------------
def _is_tiny(cfg: DictConfig) -> bool:
    try:
        return bool(cfg.model.get("tiny", False))
    except OmegaConfBaseException:
        return False


def _tiny_lora_changes(cfg: DictConfig, raw: dict, pipeline: type | None) -> list[Adaptation]:
    from ltx2.loading.hub import parse

    changes = []
    loras = raw.get("lora") or {}
    for name, entry in loras.items():
        try:
            ref = parse(entry.get("path")) if isinstance(entry, dict) else None
        except ValueError:
            ref = None  # refused with its own message when the LoRAs are resolved
        if ref is not None and ref.filename:
            changes.append(Adaptation(f"lora.{name}.path", str(ref), _stand_in_path(cfg, ref.filename),
                                      "a tiny model uses tiny stand-ins for the official LoRA files"))
    default = _default_ic_lora(cfg)
    if not loras and default:
        from ltx2.loading.hub import parse as parse_ref

        preset = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "lora" / f"{default}.yaml")
        filename = parse_ref(preset[default].path).filename
        changes.append(Adaptation("lora", [], _stand_in_path(cfg, filename),
                                  f"pipeline={_choice('pipeline', pipeline.__name__)} needs an IC-LoRA: a tiny "
                                  f"model uses the tiny stand-in of lora=[{default}]"))
    return changes


def _default_ic_lora(cfg: DictConfig) -> str | None:
    """The IC-LoRA preset a tiny model's pipeline takes when none is given (ic_lora, dubit), else None."""
    pipeline = _pipeline_class(OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False))
    return DEFAULT_IC_LORAS.get(_needed_conditioning(pipeline)) if pipeline is not None else None


def _tiny_version(cfg: DictConfig) -> str:
    return "ltx2.3" if "ltx2.3" in Path(str(cfg.model.checkpoint)).name else "ltx2"


def _stand_in_path(cfg: DictConfig, filename: str) -> str:
    return str(Path(str(cfg.model.checkpoint)).parent / f"loras-{_tiny_version(cfg)}" / filename)


def _write_stand_in(cfg: DictConfig, path: str) -> Path:
    from ltx2.tiny.loras import stand_in

    name = Path(path).name
    return stand_in(Path(path).parent.parent, name, _tiny_version(cfg), ic_lora="ic-lora" in name.lower())


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else "..." + text[-57:]
