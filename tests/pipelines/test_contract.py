"""Every pipeline and guider option of conf/ builds an object that satisfies its protocol
(ltx2/pipelines/contract.py), and the phases a pipeline declares are the ones it records when it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import compose_run
from hydra.utils import instantiate

from ltx2.pipelines.contract import ConditioningItem, Guider, Phases, Pipeline

CONF = Path(__file__).resolve().parents[2] / "conf"


def _build(group: str, option: str):
    """The group's object as the CLI builds it (composed with the defaults, so interpolations resolve)."""
    return instantiate(compose_run([f"{group}={option}"])[group], _convert_="all")


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "pipeline").glob("*.yaml")))
def test_every_pipeline_satisfies_the_contract(option):
    pipeline = _build("pipeline", option)
    assert isinstance(pipeline, Pipeline)
    phases = pipeline.phases()
    assert isinstance(phases, Phases) and phases.stages
    names = [stage.name for stage in phases.stages]
    assert len(set(names)) == len(names) and all(name.startswith("denoise") for name in names)
    # the upsampler runs between a half-size stage and a full-size one, never first
    assert not phases.stages[0].upsampled
    for before, after in zip(phases.stages, phases.stages[1:]):
        assert after.upsampled and after.scale == 2 * before.scale
    assert pipeline.RESOLUTION_MULTIPLE % 32 == 0


def test_declared_phases_say_what_differs_between_pipelines():
    def flags(option, **overrides):
        pipeline = _build("pipeline", option) if not overrides else type(_build("pipeline", option))(**overrides)
        p = pipeline.phases()
        return p.upsampler, p.distilled_lora, [s.scale for s in p.stages]

    assert flags("one_stage") == (False, False, [1.0])
    assert flags("two_stage") == (True, True, [0.5, 1.0])
    assert flags("distilled") == (True, False, [0.5, 1.0])  # no distilled LoRA: the model is distilled
    assert flags("ic_lora", skip_stage_2=True) == (False, False, [0.5])  # the half-size result is the output
    hq = _build("pipeline", "two_stage_hq").phases()
    assert hq.stages[0].distilled_lora and hq.stages[0].guided  # stage 1: distilled LoRA at 0.25, guided
    assert _build("pipeline", "a2v").phases().encodes_audio
    assert _build("pipeline", "t2a").phases().audio_only  # sound only: no video tokens, no video decode
    assert not any(_build("pipeline", p).phases().audio_only for p in ("one_stage", "two_stage", "a2v"))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "guider").glob("*.yaml")))
def test_every_guider_satisfies_the_contract(option):
    guider = _build("guider", option)
    assert isinstance(guider, Guider)
    assert isinstance(guider.needs_negative, bool)
    for key, blocks in guider.stg_block_lists():
        assert key.startswith("guider.") and (blocks is None or all(isinstance(b, int) for b in blocks))


def test_conditioning_items_satisfy_the_contract():
    import mlx.core as mx

    from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex

    assert isinstance(LatentAtIndex(mx.zeros((1, 8, 1, 2, 2)), 1.0), ConditioningItem)
    assert issubclass(KeyframeAtFrame, ConditioningItem)
