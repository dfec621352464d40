"""``conditioning=keyframe_slots`` from the CLI on the tiny LTX-2.5 model: the slots are appended at stage 1 only,
each is written as keyframe_XX.png and listed in the record; and the refusals before loading (a model without the
keyframe embedding, a pipeline that appends no slots, count / frames rules)."""

import mlx.core as mx
import pytest
from PIL import Image

from ltx2.conditioning.keyframe_slots import KeyframeSlots, KeyframeSlotsConditioning
from ltx2.errors import ConfigError
from ltx2.sampling.latent_state import VideoLatentShape, initial_video_state

CHEAP = ("scheduler.steps=2", "guider=none", "output.save_noise=true")


def test_slots_written_beside_the_video(cli):
    proc = cli("-m", "model=tiny25", "pipeline=one_stage,distilled", "conditioning=keyframe_slots",
               "conditioning.count=1", *CHEAP, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {cli.record(d)["choices"]["pipeline"]: (d, cli.record(d)) for d in cli.run_dirs()}
    assert sorted(records) == ["distilled", "one_stage"]
    for name, (run_dir, record) in records.items():
        assert record["status"] == "completed", (name, record.get("error"))
        video, slot = record["outputs"]["video"], record["outputs"]["keyframe_00"]
        assert slot["file"] == "keyframe_00.png" and slot["frame"] == (video["frames"] - 1) // 2
        image = Image.open(run_dir / "keyframe_00.png")
        scale = 2 if name == "distilled" else 1  # the slots are stage 1's, at half size for two-stage pipelines
        assert image.size == (video["width"] // scale, video["height"] // scale) == (slot["width"], slot["height"])
        noise = mx.load(str(run_dir / "noise.safetensors"))
        h, w, f = video["height"] // 32 // scale, video["width"] // 32 // scale, (video["frames"] - 1) // 8 + 1
        assert noise["noise_0"].shape == (1, (f + 1) * h * w, 128)  # stage 1: one latent frame more
        if name == "distilled":
            assert noise["noise_2"].shape == (1, f * h * w * 4, 128)  # stage 2: no slots


def test_model_without_the_embedding_refused_before_loading(cli):
    proc = cli("model=tiny", "conditioning=keyframe_slots", "conditioning.count=1")
    fragment = "transformer config use_keyframes_abs_pos_embedding=False: generated keyframe slots need"
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not cli.files()


class _Checkpoint:
    def __init__(self, flag):
        self.flag = flag

    def config(self, section):
        return {} if self.flag is None else {"use_keyframes_abs_pos_embedding": self.flag}


def _refused(num_frames=17, checkpoint=None, pipeline=None, **options) -> str:
    with pytest.raises(ConfigError) as e:
        conditioning = KeyframeSlotsConditioning(**options)
        conditioning.validate(num_frames=num_frames, fps=24.0)
        conditioning.check_run(checkpoint or _Checkpoint(True), pipeline)
    assert "\n" not in str(e.value) and "Fix: " in str(e.value)
    return str(e.value)


def test_rules():
    from ltx2.pipelines.distilled import DistilledPipeline
    from ltx2.pipelines.ic_lora import ICLoraPipeline
    from ltx2.pipelines.keyframe_interpolation import KeyframeInterpolationPipeline
    from ltx2.pipelines.retake import RetakePipeline

    KeyframeSlotsConditioning(count=15).validate(17, 24.0)
    KeyframeSlotsConditioning(frames=[0, 16]).validate(17, 24.0)
    KeyframeSlotsConditioning(count=1).check_run(_Checkpoint(True), DistilledPipeline())
    assert "not both nor neither" in _refused(count=1, frames=[4])
    assert "not both nor neither" in _refused()
    assert "conditioning.count=0: must be a whole number" in _refused(count=0)
    assert "conditioning.count=True" in _refused(count=True)
    assert "16 interior slots need at least 18 frames" in _refused(count=16)
    assert "conditioning.frames=[8, 4]: must be non-negative and strictly increasing" in _refused(frames=[8, 4])
    assert "strictly increasing" in _refused(frames=[4, 4])
    assert "strictly increasing" in _refused(frames=[-1, 4])
    assert "conditioning.frames=[4, 17]: must be frames of the clip (0..16)" in _refused(frames=[4, 17])
    assert "non-empty list" in _refused(frames=[])
    assert "non-empty list" in _refused(frames=[1.5])
    assert "use_keyframes_abs_pos_embedding=False" in _refused(count=1, checkpoint=_Checkpoint(None))
    for pipeline in (ICLoraPipeline, KeyframeInterpolationPipeline, RetakePipeline):
        message = _refused(count=1, pipeline=pipeline.__new__(pipeline))
        assert f"{pipeline.__name__} does not append generated keyframe slots" in message


def test_the_item_refuses_frames_outside_the_stage_clip():
    shape = VideoLatentShape.from_pixels(9, 64, 96)
    state = initial_video_state(shape, 24.0, mx.float32)
    with pytest.raises(ValueError, match="do not fit a 9-frame clip"):
        KeyframeSlots(frames=(4, 9)).apply(state, shape, 24.0)
    with pytest.raises(ValueError, match="already appended"):
        item = KeyframeSlots(count=1)
        item.apply(item.apply(state, shape, 24.0), shape, 24.0)
