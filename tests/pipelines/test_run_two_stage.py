"""pipeline=two_stage on the tiny model from the command line (its numbers: tests/pipelines/test_pipeline_parity.py)."""

import mlx.core as mx
import numpy as np

from ltx2.io.media import read_video


def _run(cli, *overrides):
    proc = cli("pipeline=two_stage", "width=128", "height=64", "num_frames=9", "output.save_latents=true", *overrides)
    assert proc.returncode == 0, proc.stderr
    return cli.run_dirs()[-1]


def test_two_stage_run_and_distilled_lora_strength(cli):
    run_dir = _run(cli)
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "two_stage"
    assert {"denoise_stage_1", "upsample", "load_transformer_stage_2", "denoise_stage_2"} <= set(record["phases"])
    assert record["weights"]["distilled_lora"]["path"].endswith("tiny-ltx2.3-distilled-lora.safetensors")
    assert record["process"]["counts"].get("fuse:transformer") == 1  # the distilled LoRA, for stage 2
    frames, _ = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 64, 128, 3)
    assert record["audio"]["channels"] == 2  # the audio is refined and decoded too
    latents = mx.load(str(run_dir / "latents.safetensors"))
    assert latents["video"].shape == (1, 2, 2, 4, 128) and latents["audio"].shape == (1, 8, 9, 16)

    half = mx.load(str(_run(cli, "pipeline.distilled_lora_strength=0.5") / "latents.safetensors"))
    assert np.abs(np.array(half["video"]) - np.array(latents["video"])).max() > 1e-2


def test_two_stage_refusals_before_loading(cli):
    proc = cli("pipeline=two_stage", "width=96", "height=64")
    assert proc.returncode == 2 and "64" in proc.stderr and "width" in proc.stderr, proc.stderr
    proc = cli("pipeline=two_stage", "width=128", "height=64", "model.distilled_lora=null")
    assert proc.returncode == 2 and "model.distilled_lora" in proc.stderr, proc.stderr
    proc = cli("pipeline=two_stage", "width=128", "height=64", "pipeline.distilled_lora_strength=.nan")
    assert proc.returncode == 2 and "distilled_lora_strength" in proc.stderr, proc.stderr
    assert not cli.files()


def test_two_stage_and_distilled_experiments_run_on_tiny(cli):
    """The workflow bundles select what they say and run on the tiny model with the size overridden."""
    for experiment, guider in (("two_stage", "multimodal"), ("distilled", "none")):
        proc = cli(f"experiment={experiment}", "width=128", "height=64", "num_frames=9", "scheduler.steps=2")
        assert proc.returncode == 0, proc.stderr
        record = cli.record(cli.run_dirs()[-1])
        assert record["choices"]["pipeline"] == experiment and record["choices"]["guider"] == guider
        assert record["status"] == "completed"
