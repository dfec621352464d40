"""text.enhance_prompt=true on LTX-2.5 (model=tiny25): the prompt is rewritten by the separate enhancer named by
model.prompt_enhancer (a tiny dense Gemma 4 instruct folder) and the record says so; without an enhancer, or with
a folder that cannot generate, the run is refused in one line before any weight loads."""

import json
import shutil

import pytest

from ltx2.tiny.gemma4_dense import write_tiny_gemma4_dense_root

FAST = ("model=tiny25", "scheduler.steps=2", "guider=none", "text.enhance_prompt=true")


@pytest.mark.slow
def test_tiny25_enhances_with_the_separate_enhancer(cli, tmp_path):
    root = write_tiny_gemma4_dense_root(tmp_path / "tiny-gemma-4-e2b-it")
    proc = cli(*FAST, f"model.prompt_enhancer={root}", "prompt=a cat on a wall", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = cli.record(cli.run_dirs()[-1])
    assert record["prompt_enhanced"] is True and record["prompt_used"] not in ("", "a cat on a wall")


@pytest.mark.parametrize("enhancer, says", [
    ("null", "text.enhance_prompt=True: the LTX-2.5 text encoder"),
    pytest.param("NOT_GENERATIVE", "model.prompt_enhancer=", marks=pytest.mark.slow),  # (unit-tested too)
])
def test_enhancement_without_a_generative_enhancer_is_refused(cli, tmp_path, enhancer, says):
    if enhancer == "NOT_GENERATIVE":
        root = shutil.copytree(write_tiny_gemma4_dense_root(tmp_path / "src"), tmp_path / "unified")
        config = json.loads((root / "config.json").read_text())
        (root / "config.json").write_text(json.dumps({**config, "model_type": "gemma4_unified"}))
        enhancer = str(root)
    proc = cli(*FAST, f"model.prompt_enhancer={enhancer}")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ltx2: invalid config: " + says)]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr[-2000:]
    assert not cli.run_dirs()
