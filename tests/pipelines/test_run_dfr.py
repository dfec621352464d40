"""``pipeline=dfr`` from the CLI on the tiny LTX-2.5 model: the video's frame count and frame rate follow the
temporal rounds (the file, the record's output and its ``dfr`` entry), and the rules refuse a bad request in one
line before any weight loads."""

import pytest

from ltx2.io.media import read_video

SIZE = ("width=128", "height=64", "num_frames=17")


def test_dfr_round_doubles_frames_and_fps(cli):
    proc = cli("model=tiny25", "pipeline=dfr", "pipeline.temporal_upsample_rounds=1", *SIZE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = cli.run_dirs()
    record = cli.record(run)
    assert record["status"] == "completed", record.get("error")
    video = record["outputs"]["video"]
    assert (video["frames"], video["fps"], video["width"], video["height"]) == (33, 48.0, 128, 64)
    assert record["dfr"] == {"canvas_frames": 25, "keyframes": [24], "frames": 33, "fps": 48.0,
                             "temporal_upsample_rounds": 1}
    assert record["request"]["num_frames"] == 17 and record["request"]["fps"] == 24.0  # what was asked
    frames, meta = read_video(run / video["file"])
    assert frames.shape[0] == 33 and meta["fps"] == 48.0


SLOW = pytest.mark.slow  # the same rules in process: test_dfr_rules


@pytest.mark.parametrize("overrides,fragment", [
    (("model=tiny25", "pipeline=dfr", "pipeline.temporal_upsample_rounds=3"), "pipeline.temporal_upsample_rounds=3"),
    pytest.param(("model=tiny25", "pipeline=dfr", "pipeline.temporal_upsample_rounds=1",
                  "model.temporal_upsampler=null"), "model.temporal_upsampler=None", marks=SLOW),
    (("model=tiny", "pipeline=dfr"), "keyframe embedding"),
    pytest.param(("model=tiny25", "pipeline=dfr", "pipeline.detailing_lora=missing.safetensors"),
                 "pipeline.detailing_lora", marks=SLOW),
    pytest.param(("model=tiny25", "pipeline=dfr", "conditioning=keyframe_slots", "conditioning.count=1"),
                 "pipeline=dfr takes", marks=SLOW),
    pytest.param(("model=tiny25", "pipeline=two_stage", "+pipeline.temporal_upsample_rounds=1"),
                 "temporal_upsample_rounds", marks=SLOW),
])
def test_dfr_refusals(cli, overrides, fragment):
    proc = cli(*overrides, *SIZE)
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not cli.files()


def test_dfr_rules(tiny):
    """The pipeline's rules in process, each one ConfigError line naming its key."""
    from test_dfr_parity import models25
    from test_pipeline_parity import models

    from ltx2.conditioning.image import NoConditioning
    from ltx2.conditioning.keyframe_slots import KeyframeSlotsConditioning
    from ltx2.errors import ConfigError
    from ltx2.pipelines.dfr import DFRPipeline

    for rounds in (-1, 3, 1.0, True):
        with pytest.raises(ConfigError, match="pipeline.temporal_upsample_rounds"):
            DFRPipeline(temporal_upsample_rounds=rounds)
    with pytest.raises(ValueError, match="detailing_lora_strength"):  # the runner makes it a ConfigError
        DFRPipeline(detailing_lora_strength=float("nan"))
    full, none = models25(tiny), NoConditioning()
    no_temporal = models25(tiny)
    no_temporal.component_files.pop("temporal_upsampler")
    DFRPipeline(temporal_upsample_rounds=2).check_job(full, none, 128, 64, 17)
    DFRPipeline().check_job(no_temporal, none, 128, 64, 17)  # rounds 0 need no temporal upsampler
    cases = [(DFRPipeline(temporal_upsample_rounds=1), no_temporal, "model.temporal_upsampler"),
             (DFRPipeline(), models(tiny), "keyframe embedding"),
             (DFRPipeline(detailing_lora=str(tiny / "nothing.safetensors")), full, "pipeline.detailing_lora")]
    for pipeline, model_set, fragment in cases:
        with pytest.raises(ConfigError, match=fragment) as error:
            pipeline.check_job(model_set, none, 128, 64, 17)
        assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="pipeline=dfr takes"):
        DFRPipeline().check_conditioning(KeyframeSlotsConditioning(count=1))


@pytest.mark.slow
def test_dfr_auto_duration(cli):
    """num_frames=auto: the duration head's length, padded to the canvas, the video cut back to it."""
    proc = cli("model=tiny25", "pipeline=dfr", "num_frames=auto", "width=128", "height=64")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = cli.record(cli.run_dirs()[-1])
    frames = record["duration"]["num_frames"]
    assert record["outputs"]["video"]["frames"] == frames == record["dfr"]["frames"]
    assert record["dfr"]["canvas_frames"] >= frames
