"""Warm workers: a sweep's jobs grouped by the weights they need, each group run by one long-lived worker that
loads those weights once (``hydra/launcher=warm_slurm`` / ``warm_slurm_local`` on submitit, ``warm_ray`` on Ray
actors; the Hydra plugin is hydra_plugins/ltx2_sweeps/warm_launcher.py).

Jobs keep the run directories, records and sweep summary of the in-process launcher: a worker runs each job
through Hydra's own ``run_job``. Each worker appends to a progress file (``<sweep_dir>/.warm/``): a job started,
a job ended. A worker that dies (killed, out of memory, node lost) fails only the job it was running (its run
record says so); the jobs it had not started go to a fresh worker. Running the sweep again with the same
``hydra.sweep.dir`` skips the completed jobs (ltx2.experiment.runner.completed_before) and redoes the rest.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("ltx2")
KILL_AT_JOB = "LTX2_FAULT_KILL_WORKER_AT_JOB"  # fault injection (tests): a worker SIGKILLs itself inside this job


@dataclass
class Spec:
    """One job of the sweep: Hydra's job number, its overrides and its composed config."""

    num: int
    overrides: list[str]
    config: DictConfig


@dataclass
class Outcome:
    """What a worker reports for one job (plain values: it travels back through pickles)."""

    num: int
    status: str  # COMPLETED | FAILED
    value: Any = None  # the task's return value (a number with objective.expr) when it pickles
    error: str | None = None


def weights_key(config: DictConfig) -> str:
    """What a job's weights depend on: the model node (unresolved: paths stay as written) and the LoRA files.
    Jobs with equal keys share warm weights."""
    model = OmegaConf.to_container(config.model, resolve=False) if "model" in config else None
    loras = {name: (entry.get("path") if isinstance(entry, DictConfig) else entry)
             for name, entry in (config.get("lora") or {}).items()}
    return json.dumps({"model": model, "lora": loras}, sort_keys=True, default=str)


def plan(specs: list[Spec], workers: int) -> list[list[Spec]]:
    """Jobs in groups of equal weights (first-seen order, job order inside a group), the groups spread over at most
    ``workers`` chunks, largest group first onto the least-loaded chunk. A group is never split: its weights load
    once. Each chunk is one worker's list of jobs."""
    groups: dict[str, list[Spec]] = {}
    for spec in specs:
        groups.setdefault(weights_key(spec.config), []).append(spec)
    chunks: list[list[Spec]] = [[] for _ in range(max(1, min(workers, len(groups))))]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(chunks, key=len).extend(group)
    return [c for c in chunks if c]


def compose(launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Spec]:
    specs = []
    for i, overrides in enumerate(job_overrides):
        num = initial_job_idx + i
        config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        with open_dict(config):
            config.hydra.job.id = f"warm_{num}"
            config.hydra.job.num = num
        specs.append(Spec(num, list(overrides), config))
    return specs


# -- in the worker ------------------------------------------------------------------------------------------------
def work(hydra_context, task_function: Callable, singleton_state: dict, jobs: list[tuple[int, DictConfig]],
         progress: str) -> list[Outcome]:
    """A worker's loop: each job through Hydra's ``run_job`` in this process (weights stay warm between them)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import JobStatus, run_job, setup_globals

    import ltx2.run  # noqa: F401 - registers ltx2's resolvers and schema in this process

    Singleton.set_state(singleton_state)
    setup_globals()
    outcomes = []
    for num, config in jobs:
        _append(progress, {"event": "start", "job": num, "pid": os.getpid()})
        HydraConfig.instance().set_config(config)
        if os.environ.get(KILL_AT_JOB) == str(num):
            _kill_when_running(_run_dir(config))
        ret = run_job(hydra_context=hydra_context, task_function=task_function, config=config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        if ret.status == JobStatus.COMPLETED:
            value = ret.return_value if isinstance(ret.return_value, (int, float, str, type(None))) else None
            outcome = Outcome(num, "COMPLETED", value)
        else:
            outcome = Outcome(num, "FAILED", error=f"{type(ret._return_value).__name__}: {ret._return_value}")
        _append(progress, {"event": "end", **vars(outcome)})
        outcomes.append(outcome)
    return outcomes


def _run_dir(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


def _kill_when_running(run_dir: Path) -> None:
    """Fault injection: SIGKILL this process once the job's run record exists (the job is in flight)."""
    import signal
    import threading

    def watch() -> None:
        while not (run_dir / "run_record.json").is_file():
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _append(progress: str, event: dict) -> None:
    with open(progress, "a") as f:
        f.write(json.dumps(event, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_progress(progress: Path) -> tuple[set[int], dict[int, Outcome]]:
    """(jobs started, outcomes of the jobs that ended) from a worker's progress file."""
    started, ended = set(), {}
    if progress.is_file():
        for line in progress.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut by the worker's death
            if event.get("event") == "start":
                started.add(event["job"])
            elif event.get("event") == "end":
                ended[event["num"]] = Outcome(event["num"], event["status"], event.get("value"), event.get("error"))
    return started, ended


# -- in the submitting process ------------------------------------------------------------------------------------
def launch(launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, engine) -> list:
    """Run the jobs on warm workers of ``engine`` (``run(chunks) -> list of list[Outcome] | Exception``); returns
    Hydra JobReturns in job order. Workers that die are replaced for the jobs they had not started."""
    from hydra.core.singleton import Singleton

    specs = compose(launcher, job_overrides, initial_job_idx)
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    progress_dir = sweep_dir / ".warm"
    progress_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{initial_job_idx}"
    by_num = {s.num: s for s in specs}
    outcomes: dict[int, Outcome] = {}
    pending = plan(specs, launcher.workers)
    log.info("warm workers: %d jobs in %d weight groups on %d workers (%s)", len(specs),
             len({weights_key(s.config) for s in specs}), len(pending), engine.name)
    attempt = 0
    while pending:
        progress = [progress_dir / f"{stamp}-{attempt}-{i}.jsonl" for i in range(len(pending))]
        calls = [(launcher.hydra_context, launcher.task_function, Singleton.get_state(),
                  [(s.num, s.config) for s in chunk], str(path)) for chunk, path in zip(pending, progress)]
        results = engine.run(calls)
        retry = []
        for chunk, path, result in zip(pending, progress, results):
            if not isinstance(result, Exception):
                outcomes.update({o.num: o for o in result})
                continue
            started, ended = read_progress(path)
            outcomes.update(ended)
            died = f"worker died: {type(result).__name__}: {str(result).splitlines()[0] if str(result) else ''}"
            for spec in chunk:
                if spec.num in ended:
                    continue
                if spec.num in started or not started:  # in flight (or the worker never started a job)
                    outcomes[spec.num] = Outcome(spec.num, "FAILED", error=died)
                    mark_failed(spec, died)
                    log.error("job %d failed: %s", spec.num, died)
                else:
                    retry.append(spec)
        pending = plan(retry, launcher.workers) if retry else []
        attempt += 1
    returns = [job_return(by_num[n], outcomes[n]) for n in sorted(outcomes)]
    if any(o.status == "FAILED" for o in outcomes.values()):
        # Hydra's sweepers stop at a failed job before their on_multirun_end: write the summary now
        from ltx2.experiment.sweep import write_summary

        write_summary(sweep_dir, launcher.started)
    return returns


def mark_failed(spec: Spec, error: str) -> None:
    """The run record of a job whose worker died: failed, with the reason (written if the job had none yet)."""
    from hydra.core.hydra_config import HydraConfig

    from ltx2.experiment.record import RECORD_NAME, RunRecord

    HydraConfig.instance().set_config(spec.config)
    run_dir = _run_dir(spec.config)
    path = run_dir / RECORD_NAME
    if path.is_file():
        record = RunRecord.__new__(RunRecord)
        record.path, record.data = path, json.loads(path.read_text())
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        record = RunRecord(run_dir, overrides=spec.overrides)
    record.finish("failed", error)


def job_return(spec: Spec, outcome: Outcome):
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn(overrides=spec.overrides, cfg=spec.config, hydra_cfg=None,
                    working_dir=str(_run_dir(spec.config)), task_name=str(spec.config.hydra.job.name))
    if outcome.status == "COMPLETED":
        ret.status, ret.return_value = JobStatus.COMPLETED, outcome.value
    else:
        ret.status, ret.return_value = JobStatus.FAILED, RuntimeError(f"job {spec.num}: {outcome.error}")
    return ret
