"""pipeline=two_stage_hq (and experiment=two_stage_hq) on the tiny model from the command line (its numbers:
tests/pipelines/test_pipeline_parity_hq_keyframes.py)."""

import mlx.core as mx
import numpy as np

from ltx2.io.media import read_video

TINY = ("model=tiny", "width=128", "height=64", "num_frames=9", "scheduler.steps=2")


def _run(cli, *overrides):
    proc = cli("experiment=two_stage_hq", *TINY, "output.save_latents=true", *overrides)
    assert proc.returncode == 0, proc.stderr
    return cli.run_dirs()[-1]


def test_two_stage_hq_experiment_runs_with_both_lora_strengths(cli):
    run_dir = _run(cli)
    record = cli.record(run_dir)
    assert record["status"] == "completed"
    assert record["choices"]["pipeline"] == "two_stage_hq" and record["choices"]["guider"] == "hq"
    assert {"denoise_stage_1", "upsample", "load_transformer_stage_2", "denoise_stage_2"} <= set(record["phases"])
    assert record["process"]["counts"].get("fuse:transformer") == 2  # the distilled LoRA at 0.25, then at 0.5
    frames, _ = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 64, 128, 3)
    assert record["audio"]["channels"] == 2
    latents = mx.load(str(run_dir / "latents.safetensors"))
    assert latents["video"].shape == (1, 2, 2, 4, 128) and latents["audio"].shape == (1, 8, 9, 16)
    assert np.isfinite(np.array(latents["video"])).all()

    # the stage-1 LoRA matters (stage 2's strength: the parity test)
    other = mx.load(str(_run(cli, "pipeline.distilled_lora_strength_stage_1=0.0") / "latents.safetensors"))
    assert np.abs(np.array(other["video"]) - np.array(latents["video"])).max() > 1e-3


def test_experiment_defaults_are_the_official_hq_ones():
    from hydra import compose, initialize_config_module

    from ltx2.experiment.schema import register

    register()
    with initialize_config_module(version_base="1.3", config_module="ltx2.conf"):
        cfg = compose("run", overrides=["experiment=two_stage_hq", "model=ltx2_3_22b_dev"])
    assert (cfg.width, cfg.height, cfg.num_frames, cfg.scheduler.steps) == (1920, 1088, 121, 15)
    assert (cfg.pipeline.distilled_lora_strength_stage_1, cfg.pipeline.distilled_lora_strength_stage_2) == (0.25, 0.5)
    g = cfg.guider
    assert (g.cfg_scale, g.stg_scale, g.rescale_scale, g.modality_scale) == (3.0, 0.0, 0.45, 3.0)
    assert (g.audio.cfg_scale, g.audio.stg_scale, g.audio.rescale_scale, g.audio.modality_scale) == (7.0, 0.0, 1.0, 3.0)


def test_two_stage_hq_refusals_before_loading(cli):
    proc = cli("pipeline=two_stage_hq", "width=96", "height=64")
    assert proc.returncode == 2 and "64" in proc.stderr and "width" in proc.stderr, proc.stderr
    proc = cli("experiment=two_stage_hq", *TINY, "model.distilled_lora=null")
    assert proc.returncode == 2 and "model.distilled_lora" in proc.stderr, proc.stderr
    proc = cli("experiment=two_stage_hq", *TINY, "pipeline.distilled_lora_strength_stage_1=.nan")
    assert proc.returncode == 2 and "distilled_lora_strength_stage_1" in proc.stderr, proc.stderr
    assert not cli.files()
