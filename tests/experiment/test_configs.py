"""Every option of every config group composes, resolves and instantiates (no weights are loaded)."""

from pathlib import Path

import pytest
from helpers import compose_run as _compose
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ("model", "pipeline", "scheduler", "guider", "conditioning", "prompts", "experiment", "debug")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_option_composes_and_instantiates(group, option, tmp_path):
    needs_path = option in ("image", "audio", "tiny_i2v", "reference_video") or (group, option) == ("experiment",
                                                                                                     "ic_lora")
    extra = ["conditioning.path=/some/input.file"] if needs_path else []
    if (group, option) in (("conditioning", "keyframes"), ("experiment", "keyframe_interpolation")):
        extra = ["conditioning.images=[{path: /some/input.png, frame_idx: 0}]"]
    if group in ("conditioning", "experiment") and option in ("source_video", "retake", "a2v"):
        extra = ["conditioning.path=/some/input.file"] + (["conditioning.end_time=1.0"] if option != "a2v" else [])
    cfg = _compose([f"{group}={option}", *extra])
    assert OmegaConf.missing_keys(cfg) == set()
    OmegaConf.resolve(cfg)
    for node in ("model", "pipeline", "scheduler", "guider", "conditioning"):
        obj = instantiate(cfg[node], _convert_="all")
        assert type(obj).__module__.startswith("ltx2.")


def test_every_group_has_options():
    for group in GROUPS + ("lora", "sweep"):
        assert options(group), group


def test_lora_multi_select_and_sweep_compose():
    cfg = _compose(["lora=[example_camera_dolly_in]", "lora.example_camera_dolly_in.strength=0.6"])
    assert cfg.lora.example_camera_dolly_in.strength == 0.6
    cfg = _compose(["sweep=cfg_scale_seeds"], hydra=True)
    assert cfg.hydra.mode.name == "MULTIRUN" and "guider.cfg_scale" in cfg.hydra.sweeper.params


def test_model_defaults_follow_the_model():
    tiny, dev = _compose([]), _compose(["model=ltx2_3_22b_dev"])
    assert (tiny.width, tiny.num_frames, tiny.scheduler.steps) == (96, 17, 4)
    assert (dev.width, dev.height, dev.num_frames, dev.scheduler.steps) == (768, 512, 121, 30)
    assert list(dev.guider.stg_blocks) == [28] and list(_compose(["model=ltx2_19b_dev"]).guider.stg_blocks) == [29]
