"""objective.expr: run-record names and small expressions over them; the task returns the number, so the real
Optuna sweeper can drive a tiny sweep and the summary names its best trial."""

import json

import pytest

from ltx2.errors import ConfigError
from ltx2.experiment.objective import best, evaluate, names

RECORD = {"status": "completed", "started": "2026-01-01T00:00:00.000+00:00", "ended": "2026-01-01T00:00:02.500+00:00",
          "phases": {"denoise": 1.25, "text_encoding": 0.5}, "audio": {"rms_dbfs": -14.0, "warnings": []},
          "memory_plan": {"measured_peak_rss_bytes": 2_000_000_000}, "seed": 3, "flag": True}


def test_names_are_the_numeric_leaves_plus_derived_ones():
    found = names(RECORD)
    assert found["phases.denoise"] == 1.25 and found["audio.rms_dbfs"] == -14.0 and found["seed"] == 3.0
    assert found["seconds"] == pytest.approx(2.5) and found["peak_memory_gb"] == pytest.approx(2.0)
    assert "flag" not in found and "status" not in found  # booleans and text are not numbers


def test_expressions():
    assert evaluate("phases.denoise", RECORD) == 1.25
    assert evaluate("phases.denoise + 2 * peak_memory_gb - -1", RECORD) == pytest.approx(6.25)
    assert evaluate("max(phases.denoise, phases.text_encoding) / seconds", RECORD) == pytest.approx(0.5)
    assert evaluate("sqrt(abs(audio.rms_dbfs) - 5) ** 2", RECORD) == pytest.approx(9.0)


@pytest.mark.parametrize("expr, says", [
    ("phases.decode", "the run record has no number phases.decode"),
    ("__import__('os').getcwd()", "only abs, min, max, log and sqrt can be called"),
    ("phases.denoise if seed else 1", "IfExp is not allowed"),
    ("phases.denoise +", "not an arithmetic expression"),
    ("'text'", "Constant is not allowed"),
])
def test_bad_expressions_are_one_line_config_errors(expr, says):
    with pytest.raises(ConfigError) as e:
        evaluate(expr, RECORD)
    assert says in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("objective.expr=")


def test_best_job_follows_the_direction(tmp_path):
    jobs = [{"job": i, "dir": f"00{i}", "overrides": [f"x={i}"],
             "objective": {"expr": "x", "direction": "maximize", "value": v}} for i, v in enumerate([1.0, 3.0, 2.0])]
    assert best(jobs, tmp_path)["best_job"]["job"] == 1
    for j in jobs:
        j["objective"]["direction"] = "minimize"
    assert best(jobs, tmp_path)["best_job"]["job"] == 0 and best([], tmp_path) is None


def test_optuna_study_over_cfg_scale(cli):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the search extra (hydra-optuna-sweeper)")
    proc = cli("-m", "hydra/sweeper=optuna", "guider.cfg_scale=interval(1,7)", "hydra.sweeper.n_trials=8",
               "hydra.sweeper.sampler.seed=0", "objective.expr=outputs.video.bytes", "debug=default")
    assert proc.returncode == 0, proc.stderr
    (summary_file,) = cli.runs.rglob("sweep_summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["totals"]["jobs"] == 8 and summary["totals"]["completed"] == 8
    values = [j["objective"]["value"] for j in summary["jobs"]]
    assert len(set(values)) > 1  # the video (its encoded size) really depends on the guidance scale
    search = summary["search"]
    assert search["sweeper"]["name"] == "optuna" and search["sweeper"]["best_value"] == min(values)
    assert search["best_job"]["value"] == min(values) and search["direction"] == "minimize"
    scale = search["sweeper"]["best_params"]["guider.cfg_scale"]
    assert 1 <= scale <= 7 and f"guider.cfg_scale={scale}" in search["best_job"]["overrides"]
    assert "Best outputs.video.bytes (minimize)" in (summary_file.parent / "sweep_summary.md").read_text()


def test_search_sweeper_without_objective_is_refused(cli):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the search extra (hydra-optuna-sweeper)")
    proc = cli("-m", "hydra/sweeper=optuna", "guider.cfg_scale=interval(1,7)", "hydra.sweeper.n_trials=2",
               "debug=default")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ltx2: invalid config: objective.expr=None: OptunaSweeper needs a number from every job" in proc.stderr
    assert not list(cli.runs.rglob("run_record.json"))
