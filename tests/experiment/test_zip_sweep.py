"""hydra/sweeper=zip: zipped lists in step, crossed with the ordinary sweep, pairs outermost."""

import json

import pytest

from ltx2.errors import ConfigError
from ltx2.experiment.zip_sweep import combine, pairs


def test_pairs_from_lists_and_sweep_strings():
    assert pairs({"width": [96, 64], "height": "64,96"}) == [["width=96", "height=64"], ["width=64", "height=96"]]
    assert pairs({"seed": "range(2)", "prompt": ["a fox", "a cat"]}) == [["seed=0", "prompt=a\\ fox"],
                                                                        ["seed=1", "prompt=a\\ cat"]]
    assert pairs({}) == []


def test_unequal_lengths_and_overlaps_are_one_line_errors():
    with pytest.raises(ConfigError) as e:
        pairs({"width": [96, 64, 128], "height": [64, 96]})
    assert str(e.value) == ("hydra.sweeper.zip.height='64,96': zipped lists must have equal lengths (width: 3, "
                            "height: 2). Fix: give height 3 values, like width, or move it to hydra.sweeper.params "
                            "to cross it")
    with pytest.raises(ConfigError, match="also swept"):
        combine([["seed=0"]], [["seed=1"]], {"seed"})


def test_pairs_are_the_outer_loop():
    jobs = combine(pairs({"width": [96, 64], "height": [64, 96]}), [["seed=0"], ["seed=1"]], {"seed"})
    assert jobs == [["width=96", "height=64", "seed=0"], ["width=96", "height=64", "seed=1"],
                    ["width=64", "height=96", "seed=0"], ["width=64", "height=96", "seed=1"]]


def test_named_zip_sweep_runs_three_pairs_by_two_seeds(cli):
    proc = cli("sweep=sizes_seeds", "debug=default")
    assert proc.returncode == 0, proc.stderr
    sweep_dir = cli.runs / "sweeps" / "sizes_seeds"
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["totals"]["completed"] == 6
    got = []
    for job in summary["jobs"]:
        record = json.loads((sweep_dir / job["dir"] / "run_record.json").read_text())
        got.append((record["request"]["width"], record["request"]["height"], record["seed"]))
        assert record["outputs"]["video"]["width"] == record["request"]["width"]
    assert got == [(96, 64, 0), (96, 64, 1), (64, 96, 0), (64, 96, 1), (128, 64, 0), (128, 64, 1)]


def test_unequal_zip_lists_on_the_command_line(cli):
    proc = cli("-m", "hydra/sweeper=zip", "hydra.sweeper.zip={width:[96,64],height:[64,96,128]}", "seed=0,1",
               "debug=default")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "ltx2: invalid config: hydra.sweeper.zip.height='64,96,128': zipped lists must have equal lengths")
    assert not list(cli.runs.rglob("run_record.json"))
