"""`python -m ltx2.run [overrides]`: compose the config groups, validate, generate, record.

    python -m ltx2.run                                   # tiny model, offline, seconds
    python -m ltx2.run model=ltx2_3_22b_dev prompts=fox_snow
    python -m ltx2.run -m guider.cfg_scale=1,3,5 'seed=range(4)'
    python -m ltx2.run --help                             # groups and their options
"""

import sys

import hydra
from hydra._internal import utils as hydra_utils
from omegaconf import DictConfig, OmegaConf

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.experiment.schema import register


def _writable_root(root: str) -> str:
    """Resolver for hydra.run.dir / hydra.sweep.dir: Hydra creates the run directory before the job starts, so an
    unwritable output root is refused here, with the same one-line message as every other config error."""
    from ltx2.errors import ConfigError
    from ltx2.experiment.validation import check_output_root

    try:
        check_output_root("paths.output_root", root)
    except ConfigError as e:
        print(f"ltx2: invalid config: {e}", file=sys.stderr)
        sys.exit(2)
    return root


def _dirname(overrides: str) -> str:
    """A job directory name from ``hydra.job.override_dirname``: paths in values (``lora.x.path=/a/b``) would nest
    directories, so separators become ``:``; names stay below the 255-byte filesystem limit."""
    name = overrides.replace("/", ":").replace("\\", ":")
    return name if len(name.encode()) <= 200 else name.encode()[:200].decode(errors="ignore") + "..."


def _say_ignored_guider_keys_in_one_line(report):
    """Hydra's ``run_and_report`` (which prints compose errors in several lines, exit 1), except that an override of
    a ``guider.*`` key the chosen guider does not read, refused by its schema when a config is composed (the run's,
    or each job's of a sweep before any runs), is said as our one line (exit 2)."""
    from hydra.errors import ConfigCompositionException

    from ltx2.experiment.schema import ignored_guider_key

    def run(func):
        def translated():
            try:
                return func()
            except ConfigCompositionException as e:
                error = ignored_guider_key(e)
                if error is None:
                    raise
                print(f"ltx2: invalid config: {error}", file=sys.stderr)
                sys.exit(2)

        return report(translated)

    return run


register()
hydra_utils.run_and_report = _say_ignored_guider_keys_in_one_line(hydra_utils.run_and_report)
OmegaConf.register_new_resolver("ltx2_pad", lambda n: f"{int(n):03d}", replace=True)
OmegaConf.register_new_resolver("ltx2_output_root", _writable_root, replace=True)
OmegaConf.register_new_resolver("ltx2_dirname", lambda name: _dirname(str(name)), replace=True)


@hydra.main(version_base="1.3", config_path="conf", config_name="run")
def main(cfg: DictConfig) -> float | None:
    """One job. With ``objective.expr`` set it returns that number of the finished run (search sweepers need it)."""
    from ltx2.errors import ConfigError
    from ltx2.experiment import objective
    from ltx2.experiment.runner import run_job

    try:
        objective.check_for_sweeper(cfg.objective)
    except ConfigError as e:
        print(f"ltx2: invalid config: {e}", file=sys.stderr)
        sys.exit(2)
    result = run_job(cfg)
    if cfg.objective.expr and "plan" not in result:
        from hydra.core.hydra_config import HydraConfig

        return objective.value_of_run(HydraConfig.get().runtime.output_dir, cfg.objective)
    return None


def cli() -> None:
    from ltx2.experiment.planner import cli_aliases
    from ltx2.experiment.sweep import reorder, warn

    sys.argv[1:], note = reorder(cli_aliases(sys.argv[1:]))
    if note:
        warn(note)
    main()


if __name__ == "__main__":
    cli()
