"""Defaults that work: on the default model (tiny) with no size given, every pipeline option runs. The model's
suggested size (96x64, 17 frames) is rounded up to the pipeline's rules and the run record says so
(request.adapted); a size the user gave is refused as before. An option that needs an input names the key with an
example value, and that example, followed literally (the files it names exist in the working folder), runs."""

import shlex
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_run

from ltx2.experiment.request import adaptations
from ltx2.io.media import read_video, read_wav, write_video, write_wav

CONF = Path(__file__).resolve().parents[2] / "conf"
PIPELINES = sorted(p.stem for p in (CONF / "pipeline").glob("*.yaml"))
TWO_STAGE = {"two_stage", "two_stage_hq", "distilled", "keyframe_interpolation", "ic_lora", "a2v",
             "dubit", "dfr", "hdr"}  # multiples of 64
NEEDS_INPUT = {"keyframe_interpolation", "ic_lora", "a2v", "retake", "dubit", "hdr"}
NEEDS_25 = {"dfr"}  # LTX-2.5 only: refused on the default model (LTX-2.3), naming model=tiny25
AUDIO_ONLY = {"t2a"}  # audio.wav, no video
CHEAP = ("scheduler.steps=2", "guider=none")
EXAMPLE_FILES = ("photo.png", "first.png", "last.png", "voice.wav", "clip.mp4", "control.mp4")


def _write_examples(folder: Path) -> None:
    """The files the error messages' examples name, made here: images 96x64, 1 s of sound, 17-frame clips."""
    import imageio.v3 as iio

    rng = np.random.default_rng(3)
    for name in ("photo.png", "first.png", "last.png"):
        iio.imwrite(folder / name, (rng.random((64, 96, 3)) * 255).astype(np.uint8))
    t = np.arange(48000) / 48000
    write_wav(folder / "voice.wav", np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (440, 660)]).astype(
        np.float32), 48000)
    sound = np.stack([0.2 * np.sin(2 * np.pi * 330 * t[:34000])] * 2).astype(np.float32)
    for name in ("clip.mp4", "control.mp4"):
        frames = (rng.random((17, 64, 96, 3)) * 255).astype(np.uint8)
        write_video(folder / name, iter([frames]), 24.0, audio=(sound, 48000))


@pytest.fixture
def examples(cli):
    cli.cwd.mkdir(parents=True, exist_ok=True)
    _write_examples(cli.cwd)
    return cli


def _refusal(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ltx2: invalid config: ")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


def _fix(line: str) -> list[str]:
    """The overrides a refusal's `Fix: add ...` / `Fix: set ...` names."""
    fix = line.split(". Fix: ", 1)[1]
    verb, rest = fix.split(" ", 1)
    assert verb in ("add", "set"), line
    return shlex.split(rest)


def _video_and_record(cli):
    run_dir = cli.run_dirs()[-1]
    frames, _ = read_video(run_dir / "video.mp4")
    return frames, cli.record(run_dir)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_pipeline_runs_with_defaults(examples, pipeline):
    cli = examples
    overrides = [f"pipeline={pipeline}", *CHEAP]
    if pipeline in NEEDS_INPUT:  # refused first, naming the input; its example, as printed, then runs
        line = _refusal(cli(*overrides))
        assert f"conditioning='none': pipeline={pipeline} needs conditioning=" in line, line
        overrides += _fix(line)
        assert any(name in " ".join(overrides) for name in EXAMPLE_FILES), line
    if pipeline in NEEDS_25:
        line = _refusal(cli(*overrides))
        assert f"pipeline={pipeline} generates keyframe slots" in line and line.endswith("Fix: set model=tiny25"), line
        overrides += _fix(line)
    proc = cli(*overrides)
    assert proc.returncode == 0, proc.stderr
    if pipeline in AUDIO_ONLY:
        run_dir = cli.run_dirs()[-1]
        assert not (run_dir / "video.mp4").exists()
        sound, rate = read_wav(run_dir / "audio.wav")
        assert rate > 0 and sound.shape[-1] >= rate * 17 / 24 * 0.9 and np.abs(sound).max() > 0
        assert "request adapted" not in proc.stderr
        return
    frames, record = _video_and_record(cli)
    adapted = record["request"].get("adapted", {})  # present when something was adapted
    if pipeline in TWO_STAGE:
        assert frames.shape == (17, 64, 128, 3)
        assert adapted["width"] == {"suggested": 96, "used": 128, "rule": f"pipeline={pipeline} takes multiples of 64"}
        assert (record["request"]["width"], record["request"]["height"]) == (128, 64) and "height" not in adapted
    else:  # one_stage (multiples of 32) and retake (the clip's size) take 96x64 as it is
        assert frames.shape == (17, 64, 96, 3) and adapted == {}
    assert "request adapted: width 96 -> 128" in proc.stderr if pipeline in TWO_STAGE else "request adapted" not in (
        proc.stderr)


def test_headline_command_as_typed(cli):
    proc = cli("pipeline=two_stage", "guider=stg")
    assert proc.returncode == 0, proc.stderr
    frames, record = _video_and_record(cli)
    assert frames.shape == (17, 64, 128, 3) and record["choices"]["guider"] == "stg"
    assert record["request"]["adapted"] == {"width": {"suggested": 96, "used": 128,
                                                      "rule": "pipeline=two_stage takes multiples of 64"}}


@pytest.mark.parametrize("overrides,message", [
    (("pipeline=two_stage", "width=96"), "width=96: must be a positive multiple of 64 for this pipeline"),
    (("pipeline=distilled", "num_frames=16"), "num_frames=16: the VAE needs 8k+1 frames"),
    (("experiment=two_stage", "width=100"), "width=100: must be a positive multiple of 64"),
])
def test_a_given_size_is_never_changed(cli, overrides, message):
    assert message in _refusal(cli(*overrides)) and not cli.files()


INPUT_MESSAGES = {
    "image": (("conditioning=image",), "conditioning.path='???': is required by conditioning=image: the image",
              "Fix: set conditioning.path=photo.png"),
    "audio": (("conditioning=audio",), "conditioning.path='???': is required by conditioning=audio: the sound",
              "Fix: set conditioning.path=voice.wav pipeline=a2v"),
    "reference_video": (("conditioning=reference_video",), "conditioning.path='???'",
                        "Fix: set conditioning.path=control.mp4 pipeline=ic_lora"),
    "source_video": (("conditioning=source_video",), "conditioning.path='???'",
                     "Fix: set conditioning.path=clip.mp4 pipeline=retake"),
    "source_video end": (("pipeline=retake", "conditioning=source_video", "conditioning.path=clip.mp4"),
                         "conditioning.end_time='???'", "Fix: set conditioning.end_time=0.5"),
    "keyframes": (("conditioning=keyframes",), "conditioning.images='???'",
                  "Fix: set 'conditioning.images=[{path: first.png, frame_idx: 0}, {path: last.png, frame_idx: 16}]'"),
    "a2v": (("pipeline=a2v",), "pipeline=a2v needs conditioning=audio: the sound",
            "Fix: add conditioning=audio conditioning.path=voice.wav"),
    "retake": (("pipeline=retake",), "pipeline=retake needs conditioning=source_video: the clip",
               "Fix: add conditioning=source_video conditioning.path=clip.mp4 conditioning.end_time=0.5"),
    "ic_lora": (("pipeline=ic_lora",), "pipeline=ic_lora needs conditioning=reference_video: the control",
                "Fix: add conditioning=reference_video conditioning.path=control.mp4"),
    "keyframe_interpolation": (("pipeline=keyframe_interpolation",),
                               "pipeline=keyframe_interpolation needs conditioning=keyframes: the images",
                               ("Fix: add conditioning=keyframes 'conditioning.images=[{path: first.png, frame_idx: "
                                "0}, {path: last.png, frame_idx: 16}]'")),
}


@pytest.mark.parametrize("case", sorted(INPUT_MESSAGES))
def test_inputs_are_named_with_an_example(cli, case):
    overrides, rule, fix = INPUT_MESSAGES[case]
    line = _refusal(cli(*overrides))
    assert rule in line and line.endswith(fix), line
    assert not cli.files()


def test_image_example_runs(examples):
    line = _refusal(examples("conditioning=image", *CHEAP))
    proc = examples("conditioning=image", *CHEAP, *_fix(line))
    assert proc.returncode == 0, proc.stderr
    frames, record = _video_and_record(examples)
    assert frames.shape == (17, 64, 96, 3) and record["choices"]["conditioning"] == "image"


def test_ic_lora_on_tiny_uses_a_tiny_ic_lora(examples):
    proc = examples("pipeline=ic_lora", "conditioning=reference_video", "conditioning.path=clip.mp4")
    assert proc.returncode == 0, proc.stderr
    frames, record = _video_and_record(examples)
    assert frames.shape == (17, 64, 128, 3)
    lora = record["request"]["adapted"]["lora"]
    assert lora["suggested"] == [] and lora["used"].endswith("loras-ltx2.3/ltx-2-19b-ic-lora-pose-control.safetensors")
    assert "lora=[ic_pose_control]" in lora["rule"]
    assert record["weights"]["lora:ltx-2-19b-ic-lora-pose-control.safetensors"]["path"] == lora["used"]
    assert record["process"]["counts"]["fuse:transformer"] == 1  # the IC-LoRA in stage 1, none in stage 2


# -- what is adapted, from the composed config alone ------------------------------------------------------------
def _changes(*overrides):
    return {c.key: (c.suggested, c.used) for c in adaptations(compose_run(list(overrides)))
            if not c.key.startswith("lora")}


def test_adaptations_follow_the_pipeline_and_never_a_given_value():
    assert _changes() == {}  # one_stage takes 96x64x17
    assert _changes("pipeline=two_stage") == {"width": (96, 128)}
    assert _changes("pipeline=two_stage", "width=96") == {}  # given: checked as given (refused)
    odd = ("model.suggested.width=200", "model.suggested.height=100", "model.suggested.num_frames=20")
    assert _changes("pipeline=two_stage", *odd) == {"width": (200, 256), "height": (100, 128), "num_frames": (20, 25)}
    assert _changes("experiment=two_stage") == {}  # the experiment's size preset: given
    assert _changes("experiment=two_stage", "size=suggested") == {"width": (96, 128)}
    for model in ("ltx2_19b_dev", "ltx2_3_22b_distilled"):  # real models' suggestions fit every pipeline
        assert all(_changes(f"model={model}", f"pipeline={p}") == {} for p in PIPELINES)
