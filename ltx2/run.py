"""`python -m ltx2.run [overrides]`: compose the config groups, validate, generate, record.

    python -m ltx2.run                                   # tiny model, offline, seconds
    python -m ltx2.run model=ltx2_3_22b_dev prompts=fox_snow
    python -m ltx2.run -m guider.cfg_scale=1,3,5 'seed=range(4)'
    python -m ltx2.run --help                             # groups and their options
"""

import ltx2  # noqa: F401  (fast BLAS before mlx)

import hydra
from omegaconf import DictConfig, OmegaConf

from ltx2.schema import register

register()
OmegaConf.register_new_resolver("ltx2_pad", lambda n: f"{int(n):03d}", replace=True)


@hydra.main(version_base="1.3", config_path="conf", config_name="run")
def main(cfg: DictConfig) -> None:
    from ltx2.runner import run_job

    run_job(cfg)


if __name__ == "__main__":
    main()
