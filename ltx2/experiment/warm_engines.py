"""The engines that host warm workers (ltx2/experiment/warm_workers.py): submitit (SLURM, or its local executor)
and Ray (actors on a local or an existing cluster). Each runs one call of ``warm_workers.work`` per worker and
returns, per worker, its outcomes or the exception that ended it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("ltx2")


class SubmititEngine:
    """One submitit job per worker: ``cluster: local`` (processes on this machine) or ``slurm``."""

    name = "submitit"

    def __init__(self, cluster: str = "slurm", folder: str = ".submitit/%j", parameters: dict | None = None):
        self.cluster, self.folder, self.parameters = cluster, folder, dict(parameters or {})

    def run(self, calls: list[tuple]) -> list[Any]:
        import submitit

        from ltx2.experiment.warm_workers import work

        Path(self.folder.replace("%j", "")).mkdir(parents=True, exist_ok=True)
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.parameters)
        jobs = [executor.submit(work, *call) for call in calls]
        log.info("warm workers: submitit jobs %s", ", ".join(str(j.job_id) for j in jobs))
        results: list[Any] = []
        for job in jobs:
            try:
                results.append(job.result())
            except Exception as e:  # noqa: BLE001 - a dead worker: reported per job by the caller
                results.append(e)
        return results


class RayEngine:
    """One Ray actor per worker. ``init`` goes to ``ray.init`` when Ray is not running yet (``address: auto`` joins
    an existing cluster); ``worker`` holds each actor's resources (num_cpus, num_gpus)."""

    name = "ray"

    def __init__(self, init: dict | None = None, worker: dict | None = None):
        self.init, self.worker = dict(init or {}), dict(worker or {})

    def run(self, calls: list[tuple]) -> list[Any]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            local_only = ("num_cpus", "num_gpus") if self.init.get("address") else ()
            ray.init(**{k: v for k, v in self.init.items() if v is not None and k not in local_only})
        actor_class = ray.remote(max_restarts=0, max_task_retries=0)(_Worker)
        actors = [actor_class.options(**self.worker).remote() for _ in calls]
        refs = [actor.run.remote(*call) for actor, call in zip(actors, calls)]
        results: list[Any] = []
        for ref in refs:
            try:
                results.append(ray.get(ref))
            except Exception as e:  # noqa: BLE001 - RayActorError when the worker process died
                results.append(e)
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
        return results


class _Worker:
    """A Ray actor: one process that runs its list of jobs with warm weights."""

    def run(self, *call) -> list:
        from ltx2.experiment.warm_workers import work

        return work(*call)
