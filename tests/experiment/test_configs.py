"""Every option of every config group composes, resolves and instantiates (no weights are loaded)."""

from pathlib import Path

import pytest
from helpers import compose_run as _compose
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ("model", "pipeline", "scheduler", "guider", "conditioning", "prompts", "experiment", "debug", "size")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_option_composes_and_instantiates(group, option, tmp_path):
    needs_path = option in ("image", "audio", "tiny_i2v", "reference_video") or (group, option) in (
        ("experiment", "ic_lora"), ("conditioning", "dubit"), ("experiment", "dubit"), ("experiment", "hdr"))
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


# The values every preset resolved to before conf/ was deduplicated (model family bases in conf/model/family/, the
# experiments' size in conf/size/): the dedupe changed no value.
HF = "hf://Lightricks/"
GEMMA = "hf://google/gemma-3-12b-it-qat-q4_0-unquantized"
FAMILIES = {
    "ltx2_19b": {"spatial_upsampler": HF + "LTX-2/ltx-2-spatial-upscaler-x2-1.0.safetensors",
                 "distilled_lora": HF + "LTX-2/ltx-2-19b-distilled-lora-384.safetensors", "steps": 40, "stg": [29]},
    "ltx2_3_22b": {"spatial_upsampler": HF + "LTX-2.3/ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
                   "distilled_lora": HF + "LTX-2.3/ltx-2.3-22b-distilled-lora-384.safetensors", "steps": 30,
                   "stg": [28]},
}
CHECKPOINTS = {
    "ltx2_19b_dev": "LTX-2/ltx-2-19b-dev", "ltx2_19b_dev_fp8": "LTX-2/ltx-2-19b-dev-fp8",
    "ltx2_19b_distilled": "LTX-2/ltx-2-19b-distilled", "ltx2_19b_distilled_fp8": "LTX-2/ltx-2-19b-distilled-fp8",
    "ltx2_3_22b_dev": "LTX-2.3/ltx-2.3-22b-dev", "ltx2_3_22b_dev_fp8": "LTX-2.3-fp8/ltx-2.3-22b-dev-fp8",
    "ltx2_3_22b_distilled": "LTX-2.3/ltx-2.3-22b-distilled",
    "ltx2_3_22b_distilled_fp8": "LTX-2.3-fp8/ltx-2.3-22b-distilled-fp8",
}


SPLIT_FILE_KEYS = ("transformer", "text_encoder", "video_vae", "audio_vae", "temporal_upsampler", "duration_head",
                   "version", "prompt_enhancer")  # (Gemma 3 models enhance with their own Gemma)


@pytest.mark.parametrize("model", sorted(CHECKPOINTS))
def test_real_model_presets_resolve_as_before(model):
    family = FAMILIES["ltx2_19b" if "19b" in model else "ltx2_3_22b"]
    cfg = OmegaConf.to_container(_compose([f"model={model}"]).model, resolve=True)
    assert cfg == {
        "_target_": "ltx2.loading.model_set.ModelSet", "name": model,
        "checkpoint": f"{HF}{CHECKPOINTS[model]}.safetensors", "gemma_root": GEMMA,
        "spatial_upsampler": family["spatial_upsampler"],
        "distilled_lora": None if "distilled" in model else family["distilled_lora"],
        "dtype": "bfloat16", "tiny": False, "quantize": None, "quantize_group_size": 64, "offload": "none",
        "video_decoder": None,
        "suggested": {"width": 768, "height": 512, "num_frames": 121, "fps": 24.0, "steps": family["steps"],
                      "stg_blocks": family["stg"], "image_crf": 33},
        **dict.fromkeys(SPLIT_FILE_KEYS)}  # single-file models name no per-component file
    # the family bases are not options; LTX-2.5 presets: tests/loading/test_split_files.py
    assert options("model") == sorted([*CHECKPOINTS, "ltx2_5_22b_dev", "ltx2_5_22b_distilled", "tiny", "tiny25"])


EXPERIMENT_SIZES = {"two_stage": (1536, 1024), "distilled": (1536, 1024), "keyframe_interpolation": (1536, 1024),
                    "two_stage_hq": (1920, 1088)}
INPUTS = {"keyframe_interpolation": ["conditioning.images=[{path: /x.png, frame_idx: 0}]"]}


@pytest.mark.parametrize("experiment", sorted(EXPERIMENT_SIZES))
def test_experiment_sizes_resolve_as_before(experiment):
    for model in ("tiny", "ltx2_3_22b_dev"):
        cfg = _compose([f"experiment={experiment}", f"model={model}", *INPUTS.get(experiment, [])])
        assert (cfg.width, cfg.height, cfg.num_frames, cfg.fps) == (*EXPERIMENT_SIZES[experiment], 121, 24.0)
    steps = _compose([f"experiment={experiment}", "model=ltx2_3_22b_dev", *INPUTS.get(experiment, [])]).scheduler.steps
    assert steps == (15 if experiment == "two_stage_hq" else 30)
    small = _compose([f"experiment={experiment}", "size=suggested", *INPUTS.get(experiment, [])])
    assert (small.width, small.height, small.num_frames) == (96, 64, 17)  # adapted to the pipeline when run


def test_distilled_files_say_what_kind_of_thing_they_are():
    for group, kind in (("pipeline", "PIPELINE"), ("scheduler", "SCHEDULER"), ("experiment", "EXPERIMENT")):
        text = (CONF / group / "distilled.yaml").read_text()
        assert f"# {group}=distilled: a" in text and kind in text.split("\n")[1 if group == "experiment" else 0]
