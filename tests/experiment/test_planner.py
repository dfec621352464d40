"""The memory planner (ltx2.experiment.planner): its prediction against the measured peak RSS of real runs (the tiny model
and a mid-size synthetic transformer), the table of plan=true, the refusal when over budget, plan.force."""

import json

import pytest

TOLERANCE = 0.25


def _plan(cli, run_dir):
    record = cli.record(run_dir)
    assert record["status"] == "completed", record.get("error")
    return record["memory_plan"]


def _check_close(plan):
    predicted, measured = plan["predicted_peak_bytes"], plan["measured_peak_rss_bytes"]
    error = predicted / measured - 1
    assert abs(error) <= TOLERANCE, f"predicted {predicted / 2**20:.0f} MiB, measured {measured / 2**20:.0f} MiB"
    print(f"planner: predicted {predicted / 2**20:.0f} MiB, measured {measured / 2**20:.0f} MiB ({error:+.1%})")
    return error


def test_tiny_run_prediction_within_25_percent(cli):
    result = cli()
    assert result.returncode == 0, result.stderr
    (run_dir,) = cli.run_dirs()
    plan = _plan(cli, run_dir)
    assert set(plan["phases"]) == {"text_encoding", "denoise", "decode"}
    _check_close(plan)


@pytest.fixture(scope="module")
def mid_size_checkpoint(tmp_path_factory):
    """A ~400 MB float32 LTX-2.3 checkpoint: the tiny VAE / vocoder / text connectors, a wider transformer."""
    from ltx2.tiny.checkpoint import write_tiny_checkpoint

    path = tmp_path_factory.mktemp("mid") / "mid-ltx2.3.safetensors"
    write_tiny_checkpoint(path, "ltx2.3", seed=0, transformer={
        "num_attention_heads": 16, "attention_head_dim": 64, "cross_attention_dim": 1024, "num_layers": 4,
        "audio_num_attention_heads": 16, "audio_attention_head_dim": 32, "audio_cross_attention_dim": 512})
    assert path.stat().st_size > 300e6
    return path


def test_mid_size_model_prediction_within_25_percent(cli, mid_size_checkpoint):
    result = cli(f"model.checkpoint={mid_size_checkpoint}", "width=256", "height=192", "num_frames=25")
    assert result.returncode == 0, result.stderr
    (run_dir,) = cli.run_dirs()
    plan = _plan(cli, run_dir)
    assert plan["phases"]["denoise"]["weights_bytes"]["transformer"] > 300e6
    _check_close(plan)


def test_plan_true_prints_the_phases_and_writes_nothing(cli):
    result = cli("plan=true", "pipeline=two_stage", "width=128", "height=128")
    assert result.returncode == 0, result.stderr
    for phase in ("text_encoding", "denoise_stage_1", "denoise_stage_2", "decode"):
        assert f"| {phase} |" in result.stdout
    assert "predicted peak" in result.stdout
    assert cli.left_behind() == []


def test_over_budget_is_refused_before_loading_and_force_runs(cli):
    result = cli("plan.available_gb=0.05")
    assert result.returncode == 2
    assert "ltx2: invalid config: plan=" in result.stderr and "plan.force=true" in result.stderr
    assert cli.left_behind() == []
    result = cli("plan.available_gb=0.05", "plan.force=true")
    assert result.returncode == 0, result.stderr
    (run_dir,) = cli.run_dirs()
    assert json.loads((run_dir / "run_record.json").read_text())["memory_plan"]["available_bytes"] == int(0.05 * 2**30)


def test_refusal_names_the_options_that_fit(cli):
    """A budget between the full-size and the smaller-size predictions: the message offers a smaller size."""
    full = cli("plan=true", "width=512", "height=512", "num_frames=49")
    assert full.returncode == 0, full.stderr
    peak = float(full.stdout.split("predicted peak ")[1].split(" GiB")[0])
    result = cli("width=512", "height=512", "num_frames=49", f"plan.available_gb={peak - 0.02:.2f}")
    assert result.returncode == 2
    assert "these would fit: " in result.stderr and ("width=" in result.stderr or "num_frames=" in result.stderr)


def test_quantized_weights_shrink_the_plan_and_are_offered_when_they_fit(mid_size_checkpoint, cache_dir):
    """Bytes per weight are a parameter (model.quantize, when the model group has it): 8-bit linears take ~1/4 of
    float32, and a budget between the two predictions offers model.quantize=8 (in-process, nothing loaded)."""
    from ltx2.experiment.plan_fit import alternatives
    from ltx2.experiment.planner import Request, plan_run
    from ltx2.loading.model_set import ModelSet
    from ltx2.pipelines.one_stage import OneStagePipeline

    models = ModelSet(name="mid", checkpoint=str(mid_size_checkpoint),
                      gemma_root=str(cache_dir / "tiny" / "tiny-gemma"),
                      dtype="float32")
    request = Request(width=256, height=192, num_frames=25, fps=24.0, dtype="float32")
    full = plan_run(models, OneStagePipeline(), request, base=0)
    eight = plan_run(models, OneStagePipeline(), Request(**{**request.__dict__, "quantize_bits": 8}), base=0)
    weights = full.phases[1].weights["transformer"], eight.phases[1].weights["transformer"]
    assert 0.25 < weights[1] / weights[0] < 0.32, weights
    budget = (full.peak + eight.peak) // 2
    over = plan_run(models, OneStagePipeline(), request, available=budget, base=0)
    assert not over.fits
    offered = alternatives(over, models, OneStagePipeline(), supports_quantize=True, multiple=32)
    assert any(o.startswith("model.quantize=8") for o in offered), offered
    assert not any(o.startswith("model.quantize") for o in
                   alternatives(over, models, OneStagePipeline(), supports_quantize=False, multiple=32))
