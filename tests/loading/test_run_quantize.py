"""`model.quantize=8|4` from the command line: runs on the tiny model, and bad values are refused before loading."""

import numpy as np
import pytest

from ltx2.io.media import read_video


def test_quantized_run_completes_close_to_the_unquantized_one(cli):
    plain = cli("model.quantize_group_size=32")
    assert plain.returncode == 0, plain.stderr
    proc = cli("model.quantize=8", "model.quantize_group_size=32")
    assert proc.returncode == 0, proc.stderr
    first, second = cli.run_dirs()
    log = (second / "run.log").read_text()
    assert "transformer quantized to 8 bits (group size 32)" in log
    record = cli.record(second)
    assert record["status"] == "completed" and record["process"]["counts"]["load:transformer"] == 1
    a, _ = read_video(first / "video.mp4")
    b, _ = read_video(second / "video.mp4")
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert 0 < diff.mean() < 8  # 8-bit weights move the tiny random model's pixels a little, not a lot


@pytest.mark.slow  # the fused-then-quantized copy itself is checked bit for bit in tests/models/test_transformer_quantize.py
def test_quantized_two_stage_run_fuses_the_distilled_lora(cli):
    proc = cli("pipeline=two_stage", "model.quantize=8", "model.quantize_group_size=32", "width=128", "height=64")
    assert proc.returncode == 0, proc.stderr
    record = cli.record(cli.run_dirs()[-1])
    assert record["process"]["counts"].get("fuse:transformer") == 1


@pytest.mark.parametrize("overrides,fragments", [
    (["model.quantize=3"], ["model.quantize=3", "8 or 4 bits", "Fix: use model.quantize=8"]),
    (["model.quantize=8", "model.quantize_group_size=48"], ["model.quantize_group_size=48", "(32, 64, 128)"]),
    (["model.quantize=eight"], ["could not be converted to Integer"]),
])
def test_bad_quantization_is_refused_before_loading(cli, overrides, fragments):
    proc = cli(*overrides)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert cli.files() == []


def test_fp8_checkpoint_runs_and_requantizes(cli, cache_dir, tmp_path):
    """The tiny model in the official fp8 layout (transformer block linears float8 + scales, the rest bf16)."""
    from ltx2.tiny.fp8 import write_fp8_checkpoint

    fp8 = write_fp8_checkpoint(cache_dir / "tiny" / "tiny-ltx2.3.safetensors", tmp_path / "tiny-ltx2.3-fp8.safetensors")
    for extra in ([], ["model.quantize=8", "model.quantize_group_size=32"]):
        proc = cli(f"model.checkpoint={fp8}", *extra)
        assert proc.returncode == 0, proc.stderr
    assert [cli.record(d)["status"] for d in cli.run_dirs()] == ["completed", "completed"]
