"""``hydra/launcher=warm_slurm | warm_slurm_local | warm_ray``: sweep jobs grouped by the weights they need, one
long-lived worker per group (ltx2/experiment/warm_workers.py, engines in ltx2/experiment/warm_engines.py)."""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class WarmLauncher(Launcher):
    def __init__(self, engine: str = "submitit", workers: int = 2, submitit: Optional[Any] = None,
                 ray: Optional[Any] = None) -> None:
        self.engine_name, self.workers = engine, int(workers)
        self.settings = {"submitit": submitit, "ray": ray}
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None
        self.started: Optional[float] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from ltx2.experiment import warm_engines, warm_workers

        if self.started is None:
            self.started = time.time()
        settings = self.settings.get(self.engine_name)
        settings = OmegaConf.to_container(settings, resolve=True) if isinstance(settings, DictConfig) else settings
        engines = {"submitit": warm_engines.SubmititEngine, "ray": warm_engines.RayEngine}
        if self.engine_name not in engines:
            raise ValueError(f"hydra.launcher.engine={self.engine_name}: must be submitit or ray")
        engine = engines[self.engine_name](**(settings or {}))
        return warm_workers.launch(self, job_overrides, initial_job_idx, engine)
