"""``logger=mlflow``: every job an MLflow run, every sweep a parent run (a Hydra callback, registered by
conf/logger/mlflow.yaml). A job's run gets the resolved config flattened as params, the run record's numbers as
metrics (phase seconds, peak memory, audio facts, quality signals, the objective, load counts), and the video, the
run record and the resolved config as artifacts; a failed job is a FAILED run. The store is local by default
(``sqlite:///<paths.output_root>/mlflow.db``, artifacts in ``<paths.output_root>/mlartifacts``);
``logger.tracking_uri=http://host:5000`` logs to a server. Needs the ``tracking`` extra (mlflow-skinny)."""

from __future__ import annotations

import atexit
import json
import logging
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("ltx2")
SWEEP_TAG = "ltx2.sweep_dir"
METRIC_PREFIXES = ("phases.", "audio.", "quality.", "process.counts.", "objective.value", "outputs.video.bytes",
                   "memory_plan.measured_peak_rss_bytes", "seconds", "peak_memory_gb")


def store_of(config: DictConfig) -> tuple[str, str]:
    """(tracking URI, artifact location) for the config: the logger's settings or the local defaults."""
    root = Path(str(config.paths.output_root)).expanduser().resolve()
    uri = OmegaConf.select(config, "logger.tracking_uri", default=None) or f"sqlite:///{root / 'mlflow.db'}"
    artifacts = OmegaConf.select(config, "logger.artifact_location", default=None) or (root / "mlartifacts").as_uri()
    return str(uri), str(artifacts)


def flat_params(node: Any, prefix: str = "") -> dict[str, str]:
    """A resolved config as MLflow params: dotted keys, lists as their JSON text, values cut to MLflow's limit."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, val in node.items():
            out.update(flat_params(val, f"{prefix}.{k}" if prefix else str(k)))
        return out
    text = json.dumps(node) if isinstance(node, (list, bool)) or node is None else str(node)
    return {prefix: text[:6000]}


def metrics_of(record: dict) -> dict[str, float]:
    from ltx2.experiment.objective import names

    return {k: v for k, v in names(record).items() if k.startswith(METRIC_PREFIXES)}


class MlflowTracker(Callback):
    def __init__(self) -> None:
        self.parent_id: str | None = None
        self.job_started = 0.0

    # -- the sweep (submitting process) ---------------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        client, experiment_id = _client(config)
        sweep_dir = str(Path(str(config.hydra.sweep.dir)).resolve())
        run = client.create_run(experiment_id, run_name=Path(sweep_dir).name,
                                tags={SWEEP_TAG: sweep_dir, "ltx2.kind": "sweep",
                                      "ltx2.overrides": " ".join(config.hydra.overrides.task)})
        self.parent_id = run.info.run_id
        # a sweep that stops on a failed job never reaches on_multirun_end: close the parent run as failed then
        atexit.register(_close_if_running, client, self.parent_id)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from ltx2.experiment.sweep import summarize

        if self.parent_id is None:
            return
        client, _ = _client(config)
        summary = summarize(Path(str(config.hydra.sweep.dir)))
        totals = summary["totals"]
        client.log_batch(self.parent_id, metrics=_metric_entities(
            {"jobs": totals["jobs"], "completed": totals["completed"], "failed": totals["failed"],
             **{f"counts.{k}": n for k, n in totals["counts_this_invocation"].items()}}))
        client.log_dict(self.parent_id, summary, "sweep_summary.json")
        client.set_terminated(self.parent_id, "FAILED" if totals["failed"] else "FINISHED")

    # -- each job (the process that runs it) ----------------------------------------------------------------------
    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        self.job_started = time.time()

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs) -> None:
        from hydra.core.utils import JobStatus

        from ltx2.experiment.record import RECORD_NAME

        run_dir = Path(str(config.hydra.runtime.output_dir))
        record_file = run_dir / RECORD_NAME
        if not record_file.is_file():
            return  # rejected before anything ran (or plan=true): nothing to track
        record = json.loads(record_file.read_text())
        if _ended_before(record, self.job_started):
            return  # completed by an earlier invocation of this sweep (resume): logged then
        client, experiment_id = _client(config)
        tags = {"ltx2.run_dir": str(run_dir.resolve()), "ltx2.status": str(record.get("status")),
                "ltx2.overrides": " ".join(config.hydra.overrides.task)}
        if str(OmegaConf.select(config, "hydra.mode", default="")).endswith("MULTIRUN"):
            parent = _parent_run(client, experiment_id, str(Path(str(config.hydra.sweep.dir)).resolve()))
            if parent:
                tags["mlflow.parentRunId"] = parent
            tags["ltx2.job"] = str(config.hydra.job.num)
        run = client.create_run(experiment_id, run_name=run_dir.name, tags=tags)
        run_id = run.info.run_id
        try:
            saved = run_dir / "resolved_config.yaml"
            params = flat_params(OmegaConf.to_container(OmegaConf.load(saved))) if saved.is_file() else {}
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in params.items()]
            for i in range(0, len(items), 100):
                client.log_batch(run_id, params=items[i:i + 100])
            client.log_batch(run_id, metrics=_metric_entities(metrics_of(record)))
            video = record.get("outputs", {}).get("video", {}).get("file")
            for path in [run_dir / video if video else None, record_file, saved, run_dir / "run.log"]:
                if path is not None and path.is_file():
                    client.log_artifact(run_id, str(path))
            if record.get("error"):
                client.set_tag(run_id, "ltx2.error", str(record["error"])[:5000])
        finally:
            failed = record.get("status") != "completed" or (
                job_return is not None and job_return.status == JobStatus.FAILED)
            client.set_terminated(run_id, "FAILED" if failed else "FINISHED")


def _client(config: DictConfig):
    from mlflow.tracking import MlflowClient

    uri, artifacts = store_of(config)
    name = OmegaConf.select(config, "logger.experiment", default=None) or "ltx2"
    key = (uri, name)
    if key not in _CLIENTS:
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                experiment_id = client.create_experiment(name, artifact_location=artifacts)
            except Exception:  # noqa: BLE001 - another job created it first
                experiment_id = client.get_experiment_by_name(name).experiment_id
        else:
            experiment_id = experiment.experiment_id
        _CLIENTS[key] = (client, experiment_id)
    return _CLIENTS[key]


_CLIENTS: dict[tuple, tuple] = {}


def _parent_run(client, experiment_id: str, sweep_dir: str) -> str | None:
    """The newest sweep run of this sweep directory (a resumed sweep has one per invocation)."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_dir}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def _metric_entities(values: dict[str, float]) -> list:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k.replace("process.counts.", "counts."), float(v), now, 0) for k, v in sorted(values.items())]


def _ended_before(record: dict, started: float) -> bool:
    from datetime import datetime

    try:
        return datetime.fromisoformat(record["ended"]).timestamp() < started
    except (KeyError, TypeError, ValueError):
        return False


def _close_if_running(client, run_id: str) -> None:
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED")
    except Exception:  # noqa: BLE001 - at exit, the store may be gone: nothing to close
        pass
