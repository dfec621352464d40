"""Hydra callbacks registered in conf/run.yaml (``hydra.callbacks``). With remote launchers (joblib, submitit)
``on_multirun_*`` run in the submitting process, after every job has returned."""

from __future__ import annotations

import time
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


class SweepSummary(Callback):
    """Writes ``sweep_summary.json`` and ``sweep_summary.md`` into the sweep directory."""

    def __init__(self) -> None:
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from ltx2.sweep import check_config_order, warn

        self.started = time.time()
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        if params:
            message = check_config_order(dict(params))
            if message:
                warn(message)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        import logging

        from ltx2.sweep import write_summary

        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        summary = write_summary(sweep_dir, self.started)
        t = summary["totals"]
        logging.getLogger("ltx2").info("sweep: %d jobs, %d completed, %d failed; summary in %s", t["jobs"],
                                       t["completed"], t["failed"], sweep_dir / "sweep_summary.md")
