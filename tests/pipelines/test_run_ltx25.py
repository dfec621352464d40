"""The tiny LTX-2.5 model (``model=tiny25``: split files, Gemma 4 text encoder, diffusion video decoder, BWE vocoder)
runs every pipeline from the CLI; the record names the 2.5 files and version, and distilled stage 1 samples with
ancestral Euler (LTX-2.5) where the LTX-2.3 tiny model keeps plain Euler."""

import pytest
from test_run_defaults import _write_examples

CHEAP = ("scheduler.steps=2", "guider=none")
INPUTS = {
    "keyframe_interpolation": ["conditioning=keyframes",
                               "conditioning.images=[{path: first.png, frame_idx: 0}, {path: last.png, frame_idx: 16}]"],
    "ic_lora": ["conditioning=reference_video", "conditioning.path=control.mp4"],
    "a2v": ["conditioning=audio", "conditioning.path=voice.wav"],
    "retake": ["conditioning=source_video", "conditioning.path=clip.mp4", "conditioning.end_time=0.5"],
}


def test_tiny25_text_pipelines_in_one_sweep(cli):
    proc = cli("-m", "model=tiny25", "pipeline=one_stage,two_stage,two_stage_hq,distilled", *CHEAP, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {cli.record(d)["choices"]["pipeline"]: cli.record(d) for d in cli.run_dirs()}
    assert sorted(records) == ["distilled", "one_stage", "two_stage", "two_stage_hq"]
    for name, record in records.items():
        assert record["status"] == "completed", (name, record.get("error"))
        assert record["model_version"] == "2.5.0"
        assert {"transformer", "text_encoder", "video_vae", "audio_vae"} <= set(record["weights"])
        assert "checkpoint" not in record["weights"]
        assert record["video_decoder"] == "diffusion"  # the video VAE file's, as the official release
    assert records["distilled"]["samplers"]["stage_1"] == "euler_ancestral"
    assert records["distilled"]["samplers"]["stage_1_noise_seed"] == records["distilled"]["seed"] + 10000
    assert "text_encoder" not in records["one_stage"]["weights"] or records["one_stage"]["weights"]["text_encoder"][
        "path"].endswith("tiny-gemma4-with-proj-ltx-2.5.safetensors")


def test_tiny23_distilled_keeps_plain_euler(cli):
    proc = cli("pipeline=distilled", *CHEAP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = cli.record(cli.run_dirs()[-1])
    assert record["model_version"] == "2.3.0"
    assert record["samplers"] == {"stage_1": "euler", "stage_2": "euler"}


@pytest.mark.parametrize("pipeline", [pytest.param(p, marks=() if p == "ic_lora" else pytest.mark.slow)
                                      for p in INPUTS])
def test_tiny25_conditioned_pipelines(cli, pipeline):
    cli.cwd.mkdir(parents=True, exist_ok=True)
    _write_examples(cli.cwd)
    proc = cli("model=tiny25", f"pipeline={pipeline}", *INPUTS[pipeline], *CHEAP, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = cli.record(cli.run_dirs()[-1])
    assert record["status"] == "completed" and record["model_version"] == "2.5.0"
