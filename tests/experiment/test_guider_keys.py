"""A guider key that the chosen guider would ignore is refused before anything runs: exit 2, one line naming the
key, its value, why it has no effect with this guider and the fix; nothing written (also for a sweep)."""

import pytest

CASES = {
    "cfg_stg_scale": (["guider=cfg", "guider.stg_scale=2"],
                      ("guider.stg_scale=2: guider=cfg has no STG term, so this key would have no effect. "
                       "Fix: use guider=stg or guider=multimodal")),
    "cfg_stg_scale_sweep": (["-m", "guider=cfg", "guider.stg_scale=0,2"],
                            "guider.stg_scale=0: guider=cfg has no STG term"),
    "apg_audio_cfg_scale": (["guider=apg", "guider.audio.cfg_scale=5"],
                            "guider.audio.cfg_scale=5: guider=apg applies its video values to both modalities"),
    "cfg_star_audio_cfg_scale": (["guider=cfg_star", "guider.audio.cfg_scale=5"],
                                 "guider.audio.cfg_scale=5: guider=cfg_star applies its video values"),
    "stg_rescale_sweep": (["-m", "guider=stg", "guider.rescale_scale=0.5,0.7"],
                          "guider.rescale_scale=0.5: guider=stg has no rescale"),
    "none_cfg_scale": (["guider=none", "guider.cfg_scale=3"], "guider.cfg_scale=3: guider=none has no CFG term"),
    "appended_key": (["guider=cfg", "+guider.stg_scale=2"], "guider.stg_scale=2: guider=cfg has no STG term"),
}


@pytest.mark.parametrize("case", CASES)
def test_ignored_guider_key_is_refused(cli, case):
    overrides, line = CASES[case]
    proc = cli(*overrides)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("ltx2: invalid config:")]
    assert len(errors) == 1 and line in errors[0], proc.stderr
    assert "Fix: use guider=" in errors[0] or "Fix: set guider." in errors[0]
    assert cli.left_behind() == [], f"left behind: {cli.left_behind()}"


def test_a_sweep_over_guiders_is_refused_before_any_job_runs(cli):
    """guider=stg,cfg with stg_scale: the stg job alone would run; the cfg job refuses the sweep, before the stg job."""
    proc = cli("-m", "guider=stg,cfg", "guider.stg_scale=2")
    assert proc.returncode == 2 and "guider.stg_scale=2: guider=cfg has no STG term" in proc.stderr, proc.stderr
    assert cli.left_behind() == [] and "loading transformer" not in proc.stderr


def test_a_typo_keeps_hydras_message(cli):
    proc = cli("guider=cfg", "guider.cfg_scal=3")
    assert proc.returncode != 0 and "Could not override 'guider.cfg_scal'" in proc.stderr
    assert "ltx2: invalid config" not in proc.stderr and cli.left_behind() == []
