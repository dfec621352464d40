"""logger=mlflow against a real local MLflow store: what a 2-job tiny sweep logged, read back through MLflow's
own client (one job completes, one fails at run time)."""

import json

import pytest

from ltx2.experiment.tracking import flat_params, metrics_of


def test_flat_params_and_metrics():
    assert flat_params({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": True}) == {"a.b": "1", "a.c": "[1, 2]",
                                                                           "d": "null", "e": "true"}
    record = {"phases": {"denoise": 1.5}, "seed": 3, "process": {"counts": {"load:transformer": 1}},
              "memory_plan": {"measured_peak_rss_bytes": 10**9, "predicted_peak_bytes": 5}}
    assert metrics_of(record) == {"phases.denoise": 1.5, "process.counts.load:transformer": 1.0,
                                  "memory_plan.measured_peak_rss_bytes": 1e9, "peak_memory_gb": 1.0}


def test_mlflow_logs_a_sweep_and_its_jobs(cli, tmp_path):
    pytest.importorskip("mlflow", reason="needs the tracking extra (mlflow-skinny)")
    from mlflow.tracking import MlflowClient

    bad_noise = tmp_path / "bad-noise.safetensors"
    bad_noise.write_text("not a safetensors file")  # passes validation (it exists), fails when the job reads it
    proc = cli("-m", "logger=mlflow", f"noise.from_file=null,{bad_noise}", "guider.cfg_scale=2.5", "debug=default")
    assert proc.returncode == 1 and "job 1" not in proc.stdout  # the failed job stops the sweep, as without MLflow
    client = MlflowClient(f"sqlite:///{(cli.runs / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("ltx2")
    assert experiment.artifact_location == (cli.runs / "mlartifacts").resolve().as_uri()
    runs = client.search_runs([experiment.experiment_id])
    sweeps = [r for r in runs if r.data.tags.get("ltx2.kind") == "sweep"]
    jobs = sorted((r for r in runs if "ltx2.job" in r.data.tags), key=lambda r: int(r.data.tags["ltx2.job"]))
    assert len(sweeps) == 1 and len(jobs) == 2
    assert all(j.data.tags["mlflow.parentRunId"] == sweeps[0].info.run_id for j in jobs)
    assert sweeps[0].info.status == "FAILED"  # closed at exit: a job failed
    done, failed = jobs
    assert done.info.status == "FINISHED" and failed.info.status == "FAILED"
    assert "RuntimeError" in failed.data.tags["ltx2.error"]
    # params: the resolved config, flattened
    run_dir = cli.runs.glob("sweeps/*/*/000_*").__next__()
    resolved = (run_dir / "resolved_config.yaml").read_text()
    assert done.data.params["guider.cfg_scale"] == "2.5" and done.data.params["seed"] == "10"
    assert done.data.params["model.name"] == "tiny" and done.data.params["noise.from_file"] == "null"
    assert failed.data.params["noise.from_file"] == str(bad_noise) and len(done.data.params) > 50
    assert "cfg_scale: 2.5" in resolved
    # metrics: the run record's numbers
    record = json.loads((run_dir / "run_record.json").read_text())
    metrics = done.data.metrics
    assert metrics["phases.denoise"] == record["phases"]["denoise"] and metrics["counts.load:transformer"] == 1
    assert metrics["peak_memory_gb"] == record["memory_plan"]["measured_peak_rss_bytes"] / 1e9
    assert metrics["audio.rms_dbfs"] == record["audio"]["rms_dbfs"] and metrics["seconds"] > 0
    # artifacts: the video, the record and the resolved config, byte for byte
    artifacts = {a.path for a in client.list_artifacts(done.info.run_id)}
    assert {"video.mp4", "run_record.json", "resolved_config.yaml"} <= artifacts
    local = client.download_artifacts(done.info.run_id, "video.mp4", str(tmp_path))
    assert open(local, "rb").read() == (run_dir / "video.mp4").read_bytes()
    assert "video.mp4" not in {a.path for a in client.list_artifacts(failed.info.run_id)}
