"""Hydra callbacks registered in conf/run.yaml (``hydra.callbacks``). With remote launchers (joblib, submitit)
``on_multirun_*`` run in the submitting process, after every job has returned."""

from __future__ import annotations

import time
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


class SweepSummary(Callback):
    """Writes ``sweep_summary.json`` and ``sweep_summary.md`` into the sweep directory, then the gallery, contact
    sheet and identical-outputs report (ltx2/gallery). Also when a job failed: Hydra then raises after the last
    job instead of calling ``on_multirun_end``, so the same end runs at process exit."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.config: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        import atexit

        from ltx2.experiment.sweep import check_config_order, warn

        self.started = time.time()
        self.config = config
        atexit.register(self._end)
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        if params:
            message = check_config_order(dict(params))
            if message:
                warn(message)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self.config = config
        self._end()

    def _end(self) -> None:
        import atexit
        import logging

        from ltx2.experiment.sweep import write_summary
        from ltx2.gallery import sweep_end

        config, self.config = self.config, None
        atexit.unregister(self._end)
        if config is None:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        summary = write_summary(sweep_dir, self.started)
        t = summary["totals"]
        logging.getLogger("ltx2").info("sweep: %d jobs, %d completed, %d failed; summary in %s", t["jobs"],
                                       t["completed"], t["failed"], sweep_dir / "sweep_summary.md")
        gallery = OmegaConf.select(config, "gallery", default=None)
        settings = OmegaConf.to_container(gallery) if isinstance(gallery, DictConfig) else gallery
        sweep_end(sweep_dir, settings, OmegaConf.select(config, "paths.output_root", default=None))


class ComposeOnce(Callback):
    """Each job's config composed once instead of twice. Hydra's basic sweeper composes every job of a batch to
    validate it before any job runs, then the launcher composes each job again right before running it; a
    composition (defaults tree, YAML files, merges) costs ~0.2 s, a tenth of a warm tiny job. With the in-process
    launcher, the config loader keeps each validation's composition and hands that same config to the launcher
    (validation only reads it). Other launchers (joblib, submitit) compose in their workers: left alone."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep  # compositions held at a time (a large batch composes the rest twice, as before)
        self.loader = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from hydra.core.global_hydra import GlobalHydra

        if OmegaConf.select(config, "hydra.launcher._target_", default=None) != BASIC_LAUNCHER:
            return
        if not GlobalHydra.instance().is_initialized():
            return
        loader = GlobalHydra.instance().config_loader()
        if not callable(getattr(loader, "load_sweep_config", None)):
            return
        loader.load_sweep_config = _Composed(loader.load_sweep_config, self.keep)  # shadows the method (instance)
        self.loader = loader

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.loader is not None:
            vars(self.loader).pop("load_sweep_config", None)
            self.loader = None


class _Composed:
    """``load_sweep_config`` that keeps a first composition of a (master config, overrides) for the next call
    with the same arguments (the launcher's, after validation's) and returns it once. A config composed again
    (the launcher's, when validation's was not kept) is not kept: nothing would ask for it."""

    def __init__(self, compose, keep: int) -> None:
        self.compose, self.keep, self.kept, self.seen = compose, keep, {}, set()

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = (id(master_config), tuple(sweep_overrides))
        if key in self.kept:
            return self.kept.pop(key)
        config = self.compose(master_config, sweep_overrides)
        if key not in self.seen and len(self.kept) < self.keep:
            self.kept[key] = config
        self.seen.add(key)
        return config


class NothingLeftOnRefusal(Callback):
    """Hydra's basic sweeper writes ``multirun.yaml`` into the sweep directory, then composes every job of the batch
    before running any: a job that does not compose (e.g. a guider key the chosen guider ignores) stops the sweep
    there. This removes that file and the directories the sweep created (then empty: the sweep directory and its
    dated parent), so a refused sweep leaves nothing behind."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from hydra.core.global_hydra import GlobalHydra

        if not GlobalHydra.instance().is_initialized():
            return
        loader = GlobalHydra.instance().config_loader()
        compose = loader.load_sweep_config
        try:
            # what exists before the sweep (paths.output_root: resolving the sweep dir would create the root)
            existing = _nearest_existing(Path(str(config.paths.output_root)))
        except Exception:  # an unresolvable sweep dir: Hydra reports it itself
            return

        def composed_or_cleaned(master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
            try:
                return compose(master_config, sweep_overrides)
            except Exception:
                _remove_refused_sweep(Path(str(master_config.hydra.sweep.dir)), existing)
                raise

        loader.load_sweep_config = composed_or_cleaned  # shadows the method (instance); ComposeOnce's ends both


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _remove_refused_sweep(sweep_dir: Path, existing: Path) -> None:
    """Remove ``multirun.yaml`` and the empty directories from ``sweep_dir`` up to ``existing`` (which stays)."""
    try:
        if sorted(p.name for p in sweep_dir.iterdir()) != ["multirun.yaml"]:
            return
        (sweep_dir / "multirun.yaml").unlink()
        directory = sweep_dir.absolute()
        while directory != existing and existing in directory.parents and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent
    except OSError:
        pass
