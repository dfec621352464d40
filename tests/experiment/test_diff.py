"""`python -m ltx2.diff`: only differing keys (group choices first), sweep directories in job order, --md/--json/--all."""

import json


def test_diff_of_runs_and_of_a_sweep(cli):
    for overrides in (["guider=cfg", "seed=1"], ["guider=none", "seed=2", "lora=[]"]):
        assert cli(*overrides, "debug=default").returncode == 0
    a, b = cli.run_dirs()
    proc = cli(str(a), str(b), module="ltx2.diff")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["key", a.name, b.name]
    keys = [line.split()[0] for line in lines[1:-1]]
    assert keys[0] == "@guider" and "seed" in keys and "guider.cfg_scale" in keys
    assert "width" not in keys and "prompt" not in keys  # equal values are left out
    assert lines[-1].startswith(f"{len(keys)} differing of ") and lines[-1].endswith("across 2 runs")

    data = json.loads(cli(str(a), str(b), "--json", module="ltx2.diff").stdout)
    assert data["rows"]["seed"] == [1, 2] and data["rows"]["@guider"] == ["cfg", "none"]
    everything = json.loads(cli(str(a), str(b), "--json", "--all", module="ltx2.diff").stdout)
    assert everything["rows"]["width"] == [64, 64] and len(everything["rows"]) == everything["keys"]

    assert cli("-m", "seed=3,4", "guider=none", "debug=default").returncode == 0
    sweep = next(p.parent for p in cli.runs.rglob("sweep_summary.json"))
    md = cli(str(sweep), "--md", module="ltx2.diff").stdout.splitlines()
    assert md[0].startswith("| key | 000_") and "| 001_" in md[0] and md[1].startswith("|---")
    assert md[2] == "| seed | 3 | 4 |" and len(md) == 5


def test_diff_rejects_what_is_not_a_run(cli, tmp_path):
    proc = cli(str(tmp_path), module="ltx2.diff")
    assert proc.returncode == 2 and "is neither an ltx2 run directory nor a sweep directory" in proc.stderr
    assert "Traceback" not in proc.stderr
