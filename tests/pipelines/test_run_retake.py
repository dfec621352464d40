"""pipeline=retake / experiment=retake on the tiny model from the command line, and every refusal before loading
(its numbers: tests/pipelines/test_retake_a2v_parity.py)."""

import mlx.core as mx
import numpy as np
import pytest

from ltx2.io.media import read_video, write_video

RATE, FPS = 48000, 24.0


def _clip(path, frames=17, width=128, height=64, audio=True):
    yy, xx = np.mgrid[:height, :width]
    video = np.stack([np.stack([(2 * xx + 8 * f) % 256, (4 * yy) % 256, np.full_like(xx, 15 * f % 256)], -1)
                      for f in range(frames)]).astype(np.uint8)
    t = np.arange(round(frames / FPS * RATE)) / RATE
    sound = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    write_video(path, [video], FPS, audio=(sound, RATE) if audio else None)
    return path


def test_retake_keeps_the_source_outside_the_range(cli, tmp_path):
    clip = _clip(tmp_path / "clip.mp4")
    proc = cli("pipeline=retake", "conditioning=source_video", f"conditioning.path={clip}",
               "conditioning.start_time=0.4", "conditioning.end_time=0.7", "conditioning.regenerate_audio=false",
               "output.save_latents=true", "output.save_noise=true")
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and "encode_source" in record["phases"]
    assert record["request"] == {"width": 128, "height": 64, "num_frames": 17, "fps": 24.0}  # the source's
    frames, meta = read_video(run_dir / "video.mp4")
    assert frames.shape == (17, 64, 128, 3) and meta["fps"] == 24.0 and record["audio"]["channels"] == 2
    # latent frames 0 (pixel frame 0) and 1 (pixels 1..8, up to 0.375 s) are outside the range: they leave the
    # loop as the source's encoding; latent frame 2 (0.375..0.708 s) is regenerated
    from ltx2.conditioning.source_video import SourceVideoConditioning
    from ltx2.loading.model_set import ModelSet
    from ltx2.pipelines.retake import encode_video

    models = ModelSet(name="tiny", checkpoint=str(cli.cache / "tiny" / "tiny-ltx2.3.safetensors"), dtype="float32")
    source = np.array(encode_video(models, SourceVideoConditioning(str(clip), 0.4, 0.7).pixels(), mx.float32))
    latents = mx.load(str(run_dir / "latents.safetensors"))
    video = np.moveaxis(np.array(latents["video"]), -1, 1)  # (1, C, F', H', W')
    assert np.array_equal(video[:, :, :2], source[:, :, :2])
    assert np.abs(video[:, :, 2] - source[:, :, 2]).max() > 0.1
    # the saved noise replays the same retake whatever the seed
    proc = cli("pipeline=retake", "conditioning=source_video", f"conditioning.path={clip}",
               "conditioning.start_time=0.4", "conditioning.end_time=0.7", "conditioning.regenerate_audio=false",
               "output.save_latents=true", "seed=99", f"noise.from_file={run_dir / 'noise.safetensors'}")
    assert proc.returncode == 0, proc.stderr
    again = mx.load(str(cli.run_dirs()[-1] / "latents.safetensors"))
    assert np.array_equal(np.array(again["video"]), np.array(latents["video"]))


def test_experiment_retake_composes_and_runs(cli, tmp_path):
    clip = _clip(tmp_path / "mute.mp4", frames=9, audio=False)
    proc = cli("experiment=retake", f"conditioning.path={clip}", "conditioning.end_time=0.2", "scheduler.steps=2",
               "width=128", "fps=24")  # explicit values equal to the source's are accepted
    assert proc.returncode == 0, proc.stderr
    record = cli.record(cli.run_dirs()[-1])
    assert record["choices"]["pipeline"] == "retake" and record["choices"]["conditioning"] == "source_video"
    assert record["negative_prompt"] == "" and record["request"]["num_frames"] == 9
    assert record["audio"]["channels"] == 2  # no track in the source: the whole soundtrack was generated


CASES = {  # name: (conditioning arguments, explicit top-level values, the refusal's words)
    "missing file": ({"path": "{missing}"}, {}, "the source video does not exist"),
    "not a video": ({"path": "{text}"}, {}, "cannot be decoded as a video"),
    "16 frames": ({"path": "{frames16}"}, {}, "has 16 frames; the VAE needs 8k+1"),
    "80 px wide": ({"path": "{narrow}"}, {}, "must be a multiple of 32"),
    "start >= end": ({"start_time": 0.5, "end_time": 0.5}, {}, "needs 0 <= start_time < end_time <= 0.7083"),
    "end past the clip": ({"end_time": 2.0}, {}, "the clip's duration"),
    "negative start": ({"start_time": -1.0}, {}, "needs 0 <= start_time"),
    "nothing to regenerate": ({"regenerate_video": False, "regenerate_audio": False}, {}, "nothing would be regenerated"),
    "other width": ({}, {"width": 256}, "keeps the source video's size"),
    "other fps": ({}, {"fps": 25.0}, "keeps the source video's size, frames and fps"),
    "no end": ({"end_time": None}, {}, "needs an end"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retake-inputs")
    (folder / "notes.mp4").write_text("not a video")
    return {"missing": folder / "nope.mp4", "text": folder / "notes.mp4", "clip": _clip(folder / "clip.mp4"),
            "frames16": _clip(folder / "f16.mp4", frames=16, audio=False),
            "narrow": _clip(folder / "narrow.mp4", width=80, audio=False)}


@pytest.mark.parametrize("case", list(CASES))
def test_source_video_checks(inputs, case):
    """Every rule of conditioning=source_video, in process (the CLI path of a few is below)."""
    from omegaconf import OmegaConf

    from ltx2.conditioning.source_video import REQUEST_KEYS, SourceVideoConditioning
    from ltx2.errors import ConfigError

    arguments, explicit, expected = CASES[case]
    arguments = {"path": "{clip}", "start_time": 0.0, "end_time": 0.3, **arguments}
    arguments["path"] = arguments["path"].format(**inputs)
    cfg = OmegaConf.create({"model": {"suggested": {"width": 96, "height": 64, "num_frames": 17, "fps": 24.0}},
                            **{k: f"${{model.suggested.{k}}}" for k in REQUEST_KEYS}, **explicit})
    source = SourceVideoConditioning(**arguments)
    with pytest.raises(ConfigError) as error:
        request = source.request(cfg)
        source.validate(request["num_frames"], request["fps"])
    assert expected in str(error.value) and "Fix:" in str(error.value)


def test_source_video_request_follows_the_source(inputs):
    from omegaconf import OmegaConf

    from ltx2.conditioning.source_video import SourceVideoConditioning

    cfg = OmegaConf.create({"model": {"suggested": {"width": 96}}, "width": "${model.suggested.width}", "height": 64,
                            "num_frames": 17, "fps": 24})
    source = SourceVideoConditioning(str(inputs["clip"]), 0.0, 0.3)
    assert source.request(cfg) == {"width": 128, "height": 64, "num_frames": 17, "fps": 24.0}
    assert source.facts.audio_rate == RATE and source.waveform()[0].shape == (2, round(17 / FPS * RATE))


@pytest.mark.parametrize("overrides,expected", [
    (["conditioning.path={frames16}", "conditioning.end_time=0.3"], "has 16 frames"),
    (["conditioning.path={clip}", "conditioning.end_time=0.3", "height=128"], "keeps the source video's size"),
    (["conditioning.path={clip}", "conditioning.end_time=0.9"], "the clip's duration"),
])
def test_retake_refusals_before_loading(cli, inputs, overrides, expected):
    proc = cli("pipeline=retake", "conditioning=source_video", *[o.format(**inputs) for o in overrides])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "ltx2: invalid config:" in proc.stderr and expected in proc.stderr and "Fix:" in proc.stderr, proc.stderr
    assert cli.files() == []


@pytest.mark.parametrize("overrides,expected", [
    (["pipeline=retake"], "needs conditioning=source_video"),
    (["conditioning=source_video", "conditioning.path={clip}", "conditioning.end_time=0.3"],
     "pipeline=retake only"),
])
def test_retake_and_source_video_go_together(cli, inputs, overrides, expected):
    proc = cli(*[o.format(**inputs) for o in overrides])
    assert proc.returncode == 2 and expected in proc.stderr and "Fix:" in proc.stderr, proc.stderr
    assert cli.files() == []
