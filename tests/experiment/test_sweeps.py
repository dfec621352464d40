"""Sweeps: weights loaded once per process, each distinct prompt encoded once, summaries, resuming named sweeps,
override reordering, and LoRA strength sweeps that keep the base weights."""

import json

import mlx.core as mx
import numpy as np
import pytest

from ltx2.experiment.sweep import check_config_order, reloads_model, reorder

TINY = ["debug=default"]


def _summary(sweep_dir):
    return json.loads((sweep_dir / "sweep_summary.json").read_text())


def _sweep_dirs(cli):
    return sorted(p.parent for p in cli.runs.rglob("sweep_summary.json"))


def test_sweep_loads_weights_once_and_encodes_each_prompt_once(cli):
    proc = cli("-m", "seed=0,1", "prompt=a fox,a cat", "guider=cfg", "text.cache=false", *TINY)
    assert proc.returncode == 0, proc.stderr
    (sweep_dir,) = _sweep_dirs(cli)
    summary = _summary(sweep_dir)
    counts = summary["totals"]["counts_this_invocation"]
    assert counts["load:transformer"] == 1 and counts["load:video_decoder"] == 1
    assert counts["encode:text"] == 2 and counts["text:memory"] == 2  # 2 distinct prompts, 4 jobs
    jobs = summary["jobs"]
    assert [j["job"] for j in jobs] == [0, 1, 2, 3] and all(j["status"] == "completed" for j in jobs)
    assert [j["dir"][:4] for j in jobs] == ["000_", "001_", "002_", "003_"]
    assert jobs[1]["overrides"][:2] == ["seed=0", "prompt=a\\ cat"]
    assert all((sweep_dir / j["output"]).is_file() and j["seconds"] > 0 for j in jobs)
    records = [json.loads((sweep_dir / j["dir"] / "run_record.json").read_text()) for j in jobs]
    assert [r["process"]["earlier_jobs"] for r in records] == [0, 1, 2, 3]
    assert len({r["process"]["pid"] for r in records}) == 1
    assert "load:transformer" not in records[3]["process"]["counts"]
    md = (sweep_dir / "sweep_summary.md").read_text()
    assert md.startswith("| job | overrides | status | seconds | output |") and "| 3 | seed=1" in md


def test_named_sweep_resumes(cli):
    proc = cli("sweep=cfg_scale_seeds", *TINY)  # no -m: the sweep config sets hydra.mode
    assert proc.returncode == 0, proc.stderr
    sweep_dir = cli.runs / "sweeps" / "cfg_scale_seeds"
    first = _summary(sweep_dir)
    assert first["totals"]["completed"] == 6 and first["totals"]["resumed"] == 0
    # a failed job is run again, completed ones are skipped (and load nothing)
    failed = sweep_dir / first["jobs"][4]["dir"] / "run_record.json"
    failed.write_text(json.dumps({**json.loads(failed.read_text()), "status": "failed"}))
    proc = cli("sweep=cfg_scale_seeds", *TINY)
    assert proc.returncode == 0, proc.stderr
    second = _summary(sweep_dir)
    assert second["totals"]["completed"] == 6 and second["totals"]["resumed"] == 5
    assert [j["job"] for j in second["jobs"] if not j["resumed"]] == [4]
    assert second["totals"]["counts_this_invocation"]["load:transformer"] == 1
    # the same directory with another config is refused, nothing overwritten
    proc = cli("sweep=cfg_scale_seeds", *TINY, "prompt=another")  # prompts stay out of dir names
    assert proc.returncode == 2 and "already holds a completed run of another config (differs in prompt)" \
        in proc.stderr and "Traceback" not in proc.stderr


def test_lora_strength_sweep_keeps_the_base_weights(cli, cache_dir, tmp_path):
    from ltx2.loading.checkpoint import save_checkpoint

    ckpt = cache_dir / "tiny" / "tiny-ltx2.3.safetensors"
    weights = mx.load(str(ckpt))
    target = "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight"
    out_dim, in_dim = weights[target].shape
    rng = np.random.default_rng(0)
    lora = tmp_path / "lora.safetensors"
    save_checkpoint(lora, {"diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight":
                           mx.array(rng.standard_normal((2, in_dim)), mx.float32),
                           "diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight":
                           mx.array(rng.standard_normal((out_dim, 2)), mx.float32)}, {})
    proc = cli("-m", f"+lora.mine={{path:{lora},strength:1.0}}", "lora.mine.strength=0,0.5,1", *TINY)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(_sweep_dirs(cli)[0])
    counts = summary["totals"]["counts_this_invocation"]
    assert counts["load:transformer"] == 1 and counts["fuse:transformer"] == 3
    sha = [json.loads((_sweep_dirs(cli)[0] / j["dir"] / "run_record.json").read_text())["outputs"]["video"]["sha256"]
           for j in summary["jobs"]]
    assert len(set(sha)) == 3  # the strength reaches the weights


def test_model_sweeps_move_first(cli):
    proc = cli("-m", "seed=0,1", "model.dtype=float32,bfloat16", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "model.dtype=float32,bfloat16 moved first" in proc.stderr
    summary = _summary(_sweep_dirs(cli)[0])
    assert [j["overrides"][:2] for j in summary["jobs"]] == [["model.dtype=float32", "seed=0"],
                                                              ["model.dtype=float32", "seed=1"],
                                                              ["model.dtype=bfloat16", "seed=0"],
                                                              ["model.dtype=bfloat16", "seed=1"]]
    assert summary["totals"]["counts_this_invocation"]["load:transformer"] == 2  # once per dtype, not per job


def test_reorder_rules():
    argv = ["-m", "seed=0,1", "guider=cfg", "model=tiny,ltx2_19b_dev", "prompt=x"]
    out, note = reorder(argv)
    assert out == ["-m", "model=tiny,ltx2_19b_dev", "guider=cfg", "seed=0,1", "prompt=x"] and "model=" in note
    assert reorder(["-m", "model=a,b", "seed=0,1"]) == (["-m", "model=a,b", "seed=0,1"], None)
    assert reorder(["seed=0", "model=a"]) == (["seed=0", "model=a"], None)  # not a multirun
    assert reloads_model("model") and reloads_model("model.checkpoint") and reloads_model("lora")
    assert reloads_model("lora.x.path") and not reloads_model("lora.x.strength")
    assert not reloads_model("guider.cfg_scale") and not reloads_model("model.suggested.steps")
    assert check_config_order({"seed": "0,1", "model": "a,b"}) and not check_config_order({"model": "a", "seed": "1"})


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_cluster_launcher_presets(cli, launcher):
    preset = {"joblib": "local_processes", "submitit_local": "slurm_local"}[launcher]
    proc = cli("-m", f"hydra/launcher={preset}", "seed=0,1", "guider=none", *TINY)
    assert proc.returncode == 0, proc.stderr
    (sweep_dir,) = _sweep_dirs(cli)
    summary = _summary(sweep_dir)
    assert summary["totals"]["completed"] == 2
    assert all((sweep_dir / j["output"]).is_file() for j in summary["jobs"])


_COUNT_COMPOSITIONS = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl

calls = []
compose = ConfigLoaderImpl.load_configuration


def counted(self, *args, **kwargs):
    calls.append(1)
    return compose(self, *args, **kwargs)


ConfigLoaderImpl.load_configuration = counted
sys.argv = ["ltx2.run", *sys.argv[1:]]
from ltx2 import run

try:
    run.cli()
finally:
    print("COMPOSITIONS", len(calls))
"""


def test_in_process_sweep_composes_each_job_once(cli):
    """Hydra validates a batch by composing every job, then the basic launcher composes each again: ComposeOnce
    hands validation's composition to the launcher (2 primary + 3 jobs, not 2 + 2 x 3)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LTX2_CACHE_DIR": str(cli.cache), "LTX2_OUTPUT_ROOT": str(cli.runs)}
    proc = subprocess.run([sys.executable, "-c", _COUNT_COMPOSITIONS, "-m", "seed=0,1,2", "plan=true", *TINY],
                          cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "COMPOSITIONS 5" in proc.stdout, proc.stdout[-2000:]  # Hydra composes the primary config twice


def test_composed_once_keeps_at_most_keep():
    from ltx2.experiment.callbacks import _Composed

    made = []

    def compose(master, overrides):
        made.append(tuple(overrides))
        return {"overrides": list(overrides)}

    composed, master = _Composed(compose, keep=2), object()
    validated = [composed(master_config=master, sweep_overrides=[f"seed={i}"]) for i in range(3)]
    launched = [composed(master, [f"seed={i}"]) for i in range(3)]
    assert [v is launch for v, launch in zip(validated, launched)] == [True, True, False]
    assert made == [("seed=0",), ("seed=1",), ("seed=2",), ("seed=2",)]  # the third was not kept
    assert not composed.kept and composed(master, ["seed=0"]) is not validated[0]  # each kept config is handed once
