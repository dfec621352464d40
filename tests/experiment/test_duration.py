"""num_frames=auto: the duration head (LTX-2.5) predicts the length from the prompt; refused, with one line and
nothing written, where the model has no head or the pipeline takes no predicted length."""

import pytest

from ltx2.io.media import read_video
from ltx2.models.duration_head import seconds_to_frames


def test_auto_duration_predicts_and_records(cli):
    proc = cli("model=tiny25", "num_frames=auto", "scheduler.steps=2", "guider=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    predicted = record["duration"]
    assert 1.0 <= predicted["predicted_seconds"] or predicted["num_frames"] == seconds_to_frames(1.0, 24.0)
    assert predicted["num_frames"] == seconds_to_frames(predicted["predicted_seconds"], 24.0)
    assert "duration" in record["phases"]
    frames, _ = read_video(run_dir / "video.mp4")
    assert len(frames) == predicted["num_frames"]


@pytest.mark.parametrize("overrides, says", [
    (("num_frames=auto",), "model=tiny has no duration head"),
    (("model=tiny25", "num_frames=auto", "pipeline=keyframe_interpolation", "conditioning=keyframes",
      "conditioning.images=[{path: a.png, frame_idx: 0}]"), "does not predict its length"),
])
def test_auto_duration_refused(cli, overrides, says):
    proc = cli(*overrides)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ltx2: invalid config: num_frames='auto'")]
    assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr[-2000:]
    assert cli.left_behind() == []
