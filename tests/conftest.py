"""Shared test helpers. `import ltx2` first: it loads the fast BLAS before mlx."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ltx2  # noqa: F401


@pytest.fixture(scope="session")
def torch_cpu():
    """torch pinned to 2 threads, deterministic."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    return torch


# -- running `python -m ltx2.run` as a user would (tests/pipelines/) ------------------------------------------


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One tiny-model cache for every CLI test (the files are built by the first run)."""
    folder = tmp_path_factory.mktemp("ltx2-cache")
    from ltx2.tiny.checkpoint import write_tiny_files
    from ltx2.tiny.ltx25_model import write_tiny_ltx25_model

    write_tiny_files(folder / "tiny")  # model=tiny
    write_tiny_ltx25_model(folder / "tiny")  # model=tiny25
    return folder


@pytest.fixture(scope="session")
def tiny(cache_dir) -> Path:
    """The folder of the tiny official-format files (checkpoint, Gemma, upsamplers, distilled LoRAs; the split
    LTX-2.5 files of model=tiny25), read-only."""
    return cache_dir / "tiny"


class Cli:
    def __init__(self, cwd: Path, cache: Path):
        self.cwd, self.cache = cwd, cache
        self.runs = cwd / "runs"

    def __call__(self, *overrides: str, module: str = "ltx2.run", timeout: int = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "LTX2_CACHE_DIR": str(self.cache), "LTX2_OUTPUT_ROOT": str(self.runs),
               "PYTHONUNBUFFERED": "1"}
        env.pop("HYDRA_FULL_ERROR", None)
        return subprocess.run([sys.executable, "-m", module, *overrides], cwd=self.cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.runs.rglob("run_record.json"))

    def files(self) -> list[Path]:
        return sorted(p for p in self.runs.rglob("*") if p.is_file()) if self.runs.exists() else []

    def left_behind(self) -> list[Path]:
        """Every file and folder under the output root (the root itself may exist)."""
        return sorted(self.runs.rglob("*")) if self.runs.exists() else []

    @staticmethod
    def record(run_dir: Path) -> dict:
        return json.loads((run_dir / "run_record.json").read_text())


@pytest.fixture
def cli(tmp_path, cache_dir):
    return Cli(tmp_path, cache_dir)


@pytest.fixture(params=["mlx", "cpu"])
def op_backend(request, monkeypatch):
    """Run a parity test through both implementations of the ops in ``ltx2/ops.py``: the MLX versions alone (what
    GPUs run) and the CPU backend's (``ltx2/backends/cpu``), forced on at every size (thresholds 0)."""
    import mlx.core as mx

    from ltx2 import ops
    from ltx2.backends import cpu

    if request.param == "cpu":
        if mx.default_device() != mx.cpu or not cpu.register():
            pytest.skip("the CPU backend runs on the CPU device only, and not with LTX2_CPU_KERNELS=0")
        from ltx2.backends.cpu import conv3d, transformer

        monkeypatch.setattr(transformer, "_MIN_ELEMENTS", 0)
        monkeypatch.setattr(conv3d, "MIN_MULTIPLY_ADDS", 0)
    with ops.only(*([] if request.param == "mlx" else [cpu.NAME])):
        yield request.param
