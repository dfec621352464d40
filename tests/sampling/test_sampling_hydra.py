"""The sampling classes as Hydra builds them from YAML (`_target_` + plain keys)."""

import math

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ltx2.errors import ConfigError
from ltx2.sampling import (
    APGGuider,
    CFGStarGuider,
    DistilledScheduler,
    LinearQuadraticScheduler,
    LTX2Scheduler,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
)

YAML = """
scheduler: {_target_: ltx2.sampling.LTX2Scheduler, steps: 30, terminal: 0.1}
linear_quadratic: {_target_: ltx2.sampling.LinearQuadraticScheduler, steps: 8}
distilled: {_target_: ltx2.sampling.DistilledScheduler, stage: 2}
cfg_star: {_target_: ltx2.sampling.CFGStarGuider, scale: 3.0}
apg: {_target_: ltx2.sampling.APGGuider, scale: 3.0, eta: 1.0, norm_threshold: 0.0}
video: {_target_: ltx2.sampling.MultiModalGuiderParams, cfg_scale: 3.0, stg_scale: 1.0, stg_blocks: [29],
        rescale_scale: 0.7, modality_scale: 3.0, skip_step: 0}
by_sigma:
  _target_: ltx2.sampling.MultiModalGuiderSchedule
  params_by_sigma:
    1.0: {cfg_scale: 4.0}
    0.5: {cfg_scale: 2.0, stg_scale: 1.0, stg_blocks: [29]}
"""


def test_every_class_instantiates_from_yaml():
    cfg = OmegaConf.create(YAML)
    built = {k: instantiate(v) for k, v in cfg.items()}
    assert isinstance(built["scheduler"], LTX2Scheduler) and built["scheduler"].sigmas().shape == (31,)
    assert isinstance(built["linear_quadratic"], LinearQuadraticScheduler)
    assert isinstance(built["distilled"], DistilledScheduler) and built["distilled"].steps == 3
    assert isinstance(built["cfg_star"], CFGStarGuider) and isinstance(built["apg"], APGGuider)
    assert isinstance(built["video"], MultiModalGuiderParams) and built["video"].stg_blocks == (29,)
    schedule = built["by_sigma"]
    assert isinstance(schedule, MultiModalGuiderSchedule)
    assert schedule.params(0.9).cfg_scale == 4.0 and schedule.params(0.3).stg_blocks == (29,)
    assert math.isclose(schedule.params(0.3).cfg_scale, 2.0)


def test_bad_value_reaches_the_user_as_a_named_rule():
    """Hydra wraps errors raised by the target; the message of ours is kept inside."""
    with pytest.raises(InstantiationException) as e:
        instantiate(OmegaConf.create({"_target_": "ltx2.sampling.LTX2Scheduler", "steps": -3}))
    assert isinstance(e.value.__cause__, ConfigError)
    assert "steps=-3: must be >= 1. Fix: set steps to 1 or more" in str(e.value)
