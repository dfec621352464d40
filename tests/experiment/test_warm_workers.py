"""Warm workers (hydra/launcher=warm_slurm_local on submitit's local executor, warm_ray on a local Ray): a 6-job
sweep over 2 models on 2 workers loads each model once; a worker killed inside a job fails that job only, and
running the sweep again redoes it and skips the completed ones."""

import json

import pytest
from omegaconf import OmegaConf

from ltx2.experiment.warm_workers import KILL_AT_JOB, Spec, plan

SWEEP = ["model.dtype=float32,bfloat16", "seed=0,1,2", "debug=default"]


def _spec(num, dtype, lora=None):
    config = OmegaConf.create({"model": {"checkpoint": "${paths.x}/a.safetensors", "dtype": dtype},
                               "lora": lora or {}, "seed": num})
    return Spec(num, [f"seed={num}"], config)


def test_jobs_grouped_by_weights_never_split():
    specs = [_spec(0, "f32"), _spec(1, "bf16"), _spec(2, "f32"), _spec(3, "bf16"), _spec(4, "f32"),
             _spec(5, "f32", {"x": {"path": "/l.safetensors", "strength": 0.5}}),
             _spec(6, "f32", {"x": {"path": "/l.safetensors", "strength": 1.0}})]
    chunks = plan(specs, workers=2)
    assert [[s.num for s in c] for c in chunks] == [[0, 2, 4], [1, 3, 5, 6]]  # LoRA strength: same weights
    assert [[s.num for s in c] for c in plan(specs, workers=8)] == [[0, 2, 4], [1, 3], [5, 6]]
    assert len(plan(specs, workers=1)) == 1


def _summary(sweep_dir):
    return json.loads((sweep_dir / "sweep_summary.json").read_text())


def _record(sweep_dir, job):
    return json.loads((sweep_dir / job["dir"] / "run_record.json").read_text())


def _engine(name):
    if name == "ray":
        pytest.importorskip("ray", reason="needs the cluster extra (ray)")
        return "hydra/launcher=warm_ray"
    pytest.importorskip("submitit", reason="needs the cluster extra (hydra-submitit-launcher)")
    return "hydra/launcher=warm_slurm_local"


@pytest.mark.parametrize("engine", ["submitit", pytest.param("ray", marks=pytest.mark.slow)])
def test_each_model_loads_once_and_a_killed_job_is_redone(cli, monkeypatch, engine):
    launcher = _engine(engine)
    sweep_dir = cli.runs / "warm"
    monkeypatch.setenv(KILL_AT_JOB, "2")  # the last job of the float32 group: its worker dies inside it
    proc = cli("-m", launcher, *SWEEP, f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 1 and "job 2: worker died" in proc.stderr
    summary = _summary(sweep_dir)
    jobs = summary["jobs"]
    assert [j["status"] for j in jobs] == ["completed", "completed", "failed", "completed", "completed", "completed"]
    assert jobs[2]["error"].startswith("worker died")
    assert summary["totals"]["counts_this_invocation"]["load:transformer"] == 2  # once per model, 6 jobs
    records = [_record(sweep_dir, j) for j in jobs if j["status"] == "completed"]
    pids = [r["process"]["pid"] for r in records]
    assert len(set(pids)) == 2 and pids[0] == pids[1] and pids[2] == pids[3] == pids[4]
    assert [r["process"]["earlier_jobs"] for r in records] == [0, 1, 0, 1, 2]
    assert [r["process"]["counts"].get("load:transformer", 0) for r in records] == [1, 0, 1, 0, 0]
    # again, without the fault: job 2 redone, the 5 completed ones skipped
    monkeypatch.delenv(KILL_AT_JOB)
    proc = cli("-m", launcher, *SWEEP, f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 0, proc.stderr
    again = _summary(sweep_dir)
    assert again["totals"]["completed"] == 6 and again["totals"]["resumed"] == 5
    assert [j["job"] for j in again["jobs"] if not j["resumed"]] == [2]
    assert again["totals"]["counts_this_invocation"]["load:transformer"] == 1
    assert (sweep_dir / again["jobs"][2]["output"]).is_file()


@pytest.mark.slow
def test_unstarted_jobs_of_a_dead_worker_go_to_a_fresh_worker(cli, monkeypatch):
    launcher = _engine("submitit")
    sweep_dir = cli.runs / "warm"
    monkeypatch.setenv(KILL_AT_JOB, "0")
    proc = cli("-m", launcher, *SWEEP, f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 1
    jobs = _summary(sweep_dir)["jobs"]
    assert [j["status"] for j in jobs] == ["failed", "completed", "completed", "completed", "completed", "completed"]
    first, second = _record(sweep_dir, jobs[1]), _record(sweep_dir, jobs[2])
    assert first["process"]["pid"] == second["process"]["pid"] and first["process"]["earlier_jobs"] == 0
