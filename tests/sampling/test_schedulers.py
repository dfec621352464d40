"""Sigma schedules against ltx-core (<= 1e-6) and their parameter validation."""

import math

import numpy as np
import pytest
import torch
from ltx_core.components.schedulers import LinearQuadraticScheduler as RefLinearQuadratic
from ltx_core.components.schedulers import LTX2Scheduler as RefLTX2
from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES

from ltx2.errors import ConfigError
from ltx2.sampling import (
    DistilledScheduler,
    FixedScheduler,
    LinearQuadraticScheduler,
    LTX2Scheduler,
)

TOL = 1e-6  # measured: <= 1.8e-7 (1-2 float32 ulps; torch's vectorised reciprocal), exact for most schedules


@pytest.mark.parametrize("steps", [2, 3, 8, 15, 20, 30, 40, 50, 100])
@pytest.mark.parametrize("tokens", [None, 1000, 4096, 8160])
def test_ltx2_scheduler_matches_reference(steps, tokens):
    latent = None if tokens is None else torch.empty(1, 128, 1, 1, tokens)
    ref = RefLTX2().execute(steps=steps, latent=latent).numpy()
    ours = np.array(LTX2Scheduler(steps, tokens=tokens).sigmas())
    assert ours.dtype == np.float32 and ours.shape == (steps + 1,)
    assert np.abs(ours - ref).max() <= TOL
    assert ours[-1] == 0 and abs(ours[-2] - 0.1) < 1e-6 and np.all(np.diff(ours) < 0)


@pytest.mark.parametrize("kwargs", [dict(max_shift=3.0, base_shift=0.5), dict(stretch=False), dict(terminal=0.05)])
def test_ltx2_scheduler_options_match_reference(kwargs):
    ref = RefLTX2().execute(steps=12, **kwargs).numpy()
    assert np.abs(np.array(LTX2Scheduler(12, **kwargs).sigmas()) - ref).max() <= TOL


def test_ltx2_scheduler_token_override_and_40_step_values():
    assert np.allclose(np.array(LTX2Scheduler(15).sigmas(tokens=8160)),
                       np.array(LTX2Scheduler(15, tokens=8160).sigmas()))
    s = np.array(LTX2Scheduler(40).sigmas())
    assert np.allclose(s[[1, 19, 20, 38]], [0.99645, 0.88741, 0.87691, 0.23394], atol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 5, 8, 9, 30])
@pytest.mark.parametrize("linear_steps", [None, 1, 2])
def test_linear_quadratic_matches_reference(steps, linear_steps):
    if linear_steps is not None and linear_steps > steps:
        return
    ref = RefLinearQuadratic().execute(steps, linear_steps=linear_steps).numpy()
    ours = np.array(LinearQuadraticScheduler(steps, linear_steps=linear_steps).sigmas())
    assert ours.shape == ref.shape and np.abs(ours - ref).max() <= TOL


def test_distilled_schedules_equal_reference_constants():
    assert np.array_equal(np.array(DistilledScheduler().sigmas()), np.array(DISTILLED_SIGMA_VALUES, np.float32))
    assert np.array_equal(np.array(DistilledScheduler(stage=2).sigmas()),
                          np.array(STAGE_2_DISTILLED_SIGMA_VALUES, np.float32))
    # the 8-step linear-quadratic schedule is the distilled one
    assert np.abs(np.array(LinearQuadraticScheduler(8).sigmas()) - np.array(DISTILLED_SIGMA_VALUES)).max() <= TOL


@pytest.mark.parametrize("make,fragment", [
    (lambda: LTX2Scheduler(0), "steps=0: must be >= 1"),
    (lambda: LTX2Scheduler(2.5), "steps=2.5: must be an integer"),
    (lambda: LTX2Scheduler(True), "steps=True: must be an integer"),
    (lambda: LTX2Scheduler(10, terminal=1.0), "terminal=1.0: must lie in (0.0, 1.0)"),
    (lambda: LTX2Scheduler(10, stretch="yes"), "stretch='yes': must be true or false"),
    (lambda: LTX2Scheduler(10, max_shift=math.nan), "max_shift=nan: must be a finite number"),
    (lambda: LTX2Scheduler(10, tokens=0), "tokens=0: must be >= 1"),
    (lambda: LinearQuadraticScheduler(4, linear_steps=5), "linear_steps=5: must be <= steps (4)"),
    (lambda: DistilledScheduler(stage=3), "stage=3: must be 1 or 2"),
    (lambda: DistilledScheduler(steps=30), "steps=30: the distilled stage-1 schedule has exactly 8 steps"),
    (lambda: FixedScheduler([1.0, 0.5, 0.5, 0.0]), "must be strictly decreasing"),
    (lambda: FixedScheduler([1.0]), "needs at least two sigmas"),
    (lambda: FixedScheduler([1.5, 0.0]), "values[0]=1.5: must lie in [0.0, 1.0]"),
])
def test_invalid_parameters_name_value_rule_and_fix(make, fragment):
    with pytest.raises(ConfigError) as e:
        make()
    assert fragment in str(e.value) and ". Fix: " in str(e.value)  # "<name>=<value>: <rule>. Fix: <fix>"
