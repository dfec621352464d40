"""Guiders against ltx-core: outputs (fp32 <= 1e-5; bf16 within a few bf16 steps), per-sigma parameters, skips;
the ``guider`` group's classes: the keys each reads and the refusal of the others."""

import math

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components import guiders as ref
from oracles.compare import max_abs_diff

from ltx2.errors import ConfigError
from ltx2.sampling import (
    APGGuider,
    CFGStarGuider,
    MultiModalGuider,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
)

TOL = 1e-5  # measured (fp32): CFG-star 4.2e-6 (sum order of its dot products), all others <= 1e-6


def tensors(seed, n=4, shape=(1, 40, 16), scale=(1.0, 0.8, 0.9, 0.7)):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(shape).astype(np.float32)
    out = [base] + [(base * s + 0.3 * rng.standard_normal(shape)).astype(np.float32) for s in scale[1:n]]
    return [mx.array(a) for a in out], [torch.from_numpy(a) for a in out]


SINGLE = [
    (CFGStarGuider(4.5), ref.CFGStarRescalingGuider(4.5)),
    (CFGStarGuider(1.0), ref.CFGStarRescalingGuider(1.0)),
    (APGGuider(3.0), ref.LtxAPGGuider(3.0)),
    (APGGuider(5.0, eta=0.5, norm_threshold=4.0), ref.LtxAPGGuider(5.0, eta=0.5, norm_threshold=4.0)),
    (APGGuider(5.0, eta=0.5, norm_threshold=1000.0), ref.LtxAPGGuider(5.0, eta=0.5, norm_threshold=1000.0)),
]


@pytest.mark.parametrize("ours,theirs", SINGLE, ids=[f"{type(o).__name__}-{i}" for i, (o, _) in enumerate(SINGLE)])
def test_single_delta_guiders_match_reference(ours, theirs):
    (c, u), (tc, tu) = tensors(0, 2)
    expected = theirs.delta(tc, tu)
    assert ours.enabled() == theirs.enabled()
    assert max_abs_diff(ours.delta(c, u), expected) <= TOL
    if ours.enabled():
        assert float(mx.abs(ours.delta(c, u)).max()) > 0.1


def test_apg_norm_threshold_really_clips():
    (c, u), _ = tensors(1, 2)
    free, clipped = APGGuider(5.0).delta(c, u), APGGuider(5.0, norm_threshold=1.0).delta(c, u)
    assert float(mx.abs(clipped).max()) < 0.5 * float(mx.abs(free).max())


MM_PARAMS = [
    dict(cfg_scale=3.0, stg_scale=1.0, stg_blocks=[29], rescale_scale=0.7, modality_scale=3.0),  # LTX-2 video
    dict(cfg_scale=7.0, stg_scale=1.0, stg_blocks=[29], rescale_scale=0.7, modality_scale=3.0),  # LTX-2 audio
    dict(cfg_scale=3.0, rescale_scale=0.45, modality_scale=3.0),  # HQ video
    dict(cfg_scale=7.0, rescale_scale=1.0, modality_scale=3.0),  # HQ audio
    dict(cfg_scale=2.0),
    dict(),
]


@pytest.mark.parametrize("params", MM_PARAMS)
@pytest.mark.parametrize("unused_as_float", [False, True])
def test_multimodal_calculate_matches_reference(params, unused_as_float):
    (c, u, p, m), (tc, tu, tp, tm) = tensors(2, 4)
    ours = MultiModalGuider(MultiModalGuiderParams(**params))
    theirs = ref.MultiModalGuider(ref.MultiModalGuiderParams(**params))
    if unused_as_float:  # what the denoiser passes for passes that did not run
        u = 0.0 if not ours.needs_negative() else u
        tu = 0.0 if not ours.needs_negative() else tu
        p, tp, m, tm = 0.0, 0.0, 0.0, 0.0
    assert max_abs_diff(ours.calculate(c, u, p, m), theirs.calculate(tc, tu, tp, tm)) <= TOL
    assert (ours.needs_negative(), ours.needs_perturbed(), ours.needs_isolated()) == (
        theirs.do_unconditional_generation(), theirs.do_perturbed_generation(),
        theirs.do_isolated_modality_generation())


@pytest.mark.parametrize("params,theirs", [
    (dict(cfg_scale=3.0), lambda c, u, p: c + ref.CFGGuider(3.0).delta(c, u)),
    (dict(cfg_scale=3.0, stg_scale=1.5, stg_blocks=[1]),
     lambda c, u, p: c + ref.CFGGuider(3.0).delta(c, u) + ref.STGGuider(1.5).delta(c, p)),
], ids=["cfg", "stg"])
def test_cfg_and_stg_options_compute_the_reference_deltas(params, theirs):
    """guider=cfg and guider=stg run the multimodal guider with only their terms on (the passes that did not run
    give 0.0): the result is ltx-core's CFG (+ STG) delta added to c."""
    (c, u, p), (tc, tu, tp) = tensors(5, 3)
    ours = MultiModalGuider(MultiModalGuiderParams(**params)).calculate(c, u, p if "stg_scale" in params else 0.0,
                                                                        0.0)
    assert max_abs_diff(ours, theirs(tc, tu, tp)) <= TOL


def test_rescale_pulls_std_towards_positive():
    (c, u, p, m), _ = tensors(3, 4)
    params = dict(cfg_scale=5.0, stg_scale=1.0, stg_blocks=[0], modality_scale=3.0)
    raw = MultiModalGuider(MultiModalGuiderParams(**params)).calculate(c, u, p, m)
    full = MultiModalGuider(MultiModalGuiderParams(**params, rescale_scale=1.0)).calculate(c, u, p, m)
    assert abs(float(mx.std(full)) - float(mx.std(c))) < 1e-4 < abs(float(mx.std(raw)) - float(mx.std(c)))


def test_multimodal_calculate_bf16_close_to_reference():
    """bf16 in both: each op rounds to bf16; the std is accumulated in fp32 by both. Measured: identical; bound: one
    bf16 step at the largest magnitude."""
    (c, u, p, m), (tc, tu, tp, tm) = tensors(4, 4)
    args = [x.astype(mx.bfloat16) for x in (c, u, p, m)]
    targs = [x.to(torch.bfloat16) for x in (tc, tu, tp, tm)]
    params = MM_PARAMS[0]
    ours = MultiModalGuider(MultiModalGuiderParams(**params)).calculate(*args)
    theirs = ref.MultiModalGuider(ref.MultiModalGuiderParams(**params)).calculate(*targs)
    assert ours.dtype == mx.bfloat16 and theirs.dtype == torch.bfloat16
    scale = float(torch.abs(theirs.float()).max())
    assert max_abs_diff(ours, theirs) <= scale * 2**-7  # at most one bf16 step at the largest magnitude


def test_schedule_bins_match_reference_factory():
    table = {1.0: dict(cfg_scale=5.0), 0.5: dict(cfg_scale=2.0), 0.2: dict(cfg_scale=1.5, skip_step=1)}
    ours = MultiModalGuiderSchedule({k: MultiModalGuiderParams(**v) for k, v in table.items()})
    theirs = ref.MultiModalGuiderFactory.from_dict({k: ref.MultiModalGuiderParams(**v) for k, v in table.items()})
    for sigma in [1.2, 1.0, 0.99, 0.7, 0.5, 0.4999, 0.3, 0.2, 0.1, 0.0]:
        assert ours.params(sigma).cfg_scale == theirs.params(sigma).cfg_scale, sigma
    assert ours.params(0.1).skip_step == 1
    # YAML-style: mapping of plain dicts, string keys
    yaml_like = MultiModalGuiderSchedule({"0.9": {"cfg_scale": 4.0}, "0.3": {"cfg_scale": 2.0}})
    assert yaml_like.params(0.5).cfg_scale == 4.0 and yaml_like.params(0.25).cfg_scale == 2.0
    constant = MultiModalGuiderSchedule.constant(MultiModalGuiderParams(cfg_scale=3.0))
    assert constant.params(0.0).cfg_scale == constant.params(1.0).cfg_scale == 3.0


@pytest.mark.parametrize("skip_step", [0, 1, 2, 3])
def test_skip_steps_match_reference(skip_step):
    ours = MultiModalGuider(MultiModalGuiderParams(skip_step=skip_step))
    theirs = ref.MultiModalGuider(ref.MultiModalGuiderParams(skip_step=skip_step))
    assert [ours.skips(i) for i in range(12)] == [theirs.should_skip_step(i) for i in range(12)]


@pytest.mark.parametrize("make,fragment", [
    (lambda: MultiModalGuiderParams(cfg_scale="3"), "cfg_scale='3': must be a finite number"),
    (lambda: MultiModalGuiderParams(rescale_scale=1.5), "rescale_scale=1.5: must lie in [0.0, 1.0]"),
    (lambda: MultiModalGuiderParams(skip_step=-1), "skip_step=-1: must be >= 0"),
    (lambda: MultiModalGuiderParams(stg_blocks=[1, "x"]), "stg_blocks[1]='x': must be an integer"),
    (lambda: MultiModalGuiderParams(stg_blocks=5), "stg_blocks=5: must be a list of integers"),
    (lambda: MultiModalGuiderParams(stg_scale=1.0), "stg_blocks=[]: STG is on but no block is perturbed"),
    (lambda: CFGStarGuider(math.inf), "scale=inf: must be a finite number"),
    (lambda: APGGuider(3.0, norm_threshold=-1.0), "norm_threshold=-1.0: must lie in [0.0, inf]"),
    (lambda: MultiModalGuiderSchedule({}), "must be a non-empty mapping"),
    (lambda: MultiModalGuiderSchedule({"high": MultiModalGuiderParams()}), "must be a sigma >= 0"),
])
def test_invalid_guider_parameters(make, fragment):
    with pytest.raises(ConfigError) as e:
        make()
    assert fragment in str(e.value)


def test_stg_blocks_none_means_every_block_as_in_reference():
    assert MultiModalGuiderParams(stg_scale=1.0, stg_blocks=None).stg_blocks is None
    assert ref.MultiModalGuiderParams(stg_scale=1.0, stg_blocks=None).stg_blocks is None


def test_params_accept_hydra_list_config():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"cfg_scale": 3.0, "stg_scale": 1.0, "stg_blocks": [28], "rescale_scale": 0.7})
    params = MultiModalGuiderParams(**cfg)
    assert params.stg_blocks == (28,) and isinstance(params.stg_blocks, tuple)


# -- the guider group's classes ----------------------------------------------------------------------------------
def test_each_option_reads_its_keys_and_leaves_the_rest_off():
    from ltx2.sampling.guidance import APG, CFG, STG, CFGStar, MultiModal, NoGuidance

    cfg = CFG(cfg_scale=3.0, audio={"cfg_scale": 7.0})
    assert (cfg.video.cfg_scale, cfg.audio.cfg_scale, cfg.video.stg_scale, cfg.video.modality_scale) == (3, 7, 0, 1)
    assert cfg.needs_negative and not NoGuidance().needs_negative and not CFG(cfg_scale=1.0).needs_negative
    stg = STG(cfg_scale=1.0, stg_scale=2.0, stg_blocks=[1], audio={"stg_scale": 1.0, "stg_blocks": [0]})
    assert stg.stg_block_lists() == [("guider.stg_blocks", (1,)), ("guider.audio.stg_blocks", (0,))]
    assert not stg.needs_negative and stg.video.rescale_scale == 0.0
    apg = APG(cfg_scale=4.0, apg_eta=0.5, apg_norm_threshold=2.0)
    assert apg.single_delta() == APGGuider(4.0, 0.5, 2.0) and CFGStar(cfg_scale=2.0).single_delta().scale == 2.0
    assert MultiModal(batch_passes=True).batch_passes == "true"


@pytest.mark.parametrize("make,line", [
    (lambda g: g.CFG(cfg_scale=3.0, stg_scale=2.0),
     ("guider.stg_scale=2.0: guider=cfg has no STG term, so this key would have no effect. Fix: use guider=stg or "
      "guider=multimodal")),
    (lambda g: g.APG(cfg_scale=3.0, audio={"cfg_scale": 5}),
     "guider.audio.cfg_scale=5: guider=apg applies its video values to both modalities"),
    (lambda g: g.CFGStar(cfg_scale=3.0, audio={"cfg_scale": 5}), "guider.audio.cfg_scale=5: guider=cfg_star"),
    (lambda g: g.STG(audio={"rescale_scale": 0.5}),
     ("guider.audio.rescale_scale=0.5: guider=stg has no rescale, so this key would have no effect. Fix: use "
      "guider=multimodal")),
    (lambda g: g.NoGuidance(cfg_scale=3.0), "guider.cfg_scale=3.0: guider=none has no CFG term"),
    (lambda g: g.CFG(apg_eta=0.5), "Fix: use guider=apg"),
])
def test_a_key_the_guider_ignores_is_refused(make, line):
    from ltx2 import errors
    from ltx2.sampling import guidance

    with pytest.raises(errors.ConfigError) as e:
        make(guidance)
    assert line in str(e.value) and "\n" not in str(e.value)


def test_schemas_hold_exactly_the_keys_each_guider_reads():
    from dataclasses import fields

    from ltx2.experiment.schema import guider_schema
    from ltx2.sampling.guidance import GUIDERS, accepted_keys

    for guider in GUIDERS:
        schema = guider_schema(guider)
        top = {f.name: f.type for f in fields(schema)}
        keys = {f"guider.{name}" for name in top if name not in ("_target_", "audio")}
        keys |= {f"guider.audio.{f.name}" for f in fields(top["audio"])} if "audio" in top else set()
        assert keys == accepted_keys(guider), guider.option
    assert accepted_keys(GUIDERS[0]) == set()  # none: not even batch_passes
