"""The 1.2.0 reference (ltx-core / ltx-pipelines 1.2.0: LTX-2.5 and the current numerics for LTX-2/2.3).

1.0.0 (from PyPI) lives in the test venv itself and is imported in-process (the other modules here). 1.2.0 cannot
share that venv (same package names, another transformers), so it lives in a venv of its own, `.venv-oracle`
(built by ``tools/setup_env.sh --test`` from the wheels it finds or builds), and a parity test drives it through a
subprocess: it hands arrays and file paths in, a short script runs the reference there, arrays come back.

    from oracles import v12

    @v12.needed                      # skips with the reason when the 1.2.0 venv is absent
    def test_something(tmp_path):
        out = v12.run('''
            import torch
            from ltx_core.components.noisers import GaussianNoiser
            O["y"] = torch.from_numpy(I["x"]).mul(2).numpy()
        ''', x=np.ones(3, np.float32))
        assert out["y"][0] == 2

In the script, ``I`` is a dict of the numpy arrays (and str/int/float values) passed in; put numpy arrays (or
torch tensors, turned into float32 numpy) into ``O``. torch runs with 2 threads and seed 0; ``np`` and ``torch``
are imported. Each call is one process (~2-3 s of torch import): batch what one test needs into one script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = "1.2.0"


def python() -> Path:
    """The oracle venv's interpreter: $LTX2_ORACLE_PYTHON, else <repo>/.venv-oracle/bin/python."""
    return Path(os.environ.get("LTX2_ORACLE_PYTHON", ROOT / ".venv-oracle" / "bin" / "python"))


@cache
def missing() -> str | None:
    """Why the 1.2.0 oracle cannot run here, or None when it can."""
    py = python()
    if not py.exists():
        return (f"the ltx-core {VERSION} oracle venv is absent ({py}): `bash tools/setup_env.sh --test` builds it "
                "from the official repository or from wheels in $LTX2_ORACLE_WHEELS (README: Tests and oracles)")
    probe = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('ltx-core'))"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 or probe.stdout.strip() != VERSION:
        return f"{py} has no ltx-core {VERSION} ({(probe.stdout + probe.stderr).strip()[-200:]})"
    return None


def needed(fn):
    """Mark a test that runs the 1.2.0 reference: skipped, with the reason, where that venv is absent."""
    reason = missing()
    return pytest.mark.skipif(reason is not None, reason=reason or "")(fn)


_PRELUDE = """
import json, sys
import numpy as np
import torch
torch.set_num_threads(2)
torch.manual_seed(0)
_folder = sys.argv[1]
_data = np.load(_folder + "/in.npz", allow_pickle=False)
I = {k: _data[k] for k in _data.files}
I.update(json.load(open(_folder + "/in.json")))
O = {}
"""

_EPILOGUE = """
def _np(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().float().cpu().numpy()
    return np.asarray(v)
np.savez(_folder + "/out.npz", **{k: _np(v) for k, v in O.items()})
"""


def run(script: str, timeout: float = 600, **inputs) -> dict[str, np.ndarray]:
    """Run ``script`` in the 1.2.0 venv with ``I`` = inputs; return its ``O`` as numpy arrays."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    arrays = {k: np.asarray(v) for k, v in inputs.items() if isinstance(v, np.ndarray)}
    plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in inputs.items() if k not in arrays}
    with tempfile.TemporaryDirectory(prefix="ltx2-oracle12-") as folder:
        np.savez(Path(folder) / "in.npz", **arrays)
        (Path(folder) / "in.json").write_text(json.dumps(plain))
        code = _PRELUDE + textwrap.dedent(script) + _EPILOGUE
        (Path(folder) / "script.py").write_text(code)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(OMP_NUM_THREADS="2", PYTHONHASHSEED="0")
        done = subprocess.run([str(python()), str(Path(folder) / "script.py"), folder], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=folder)
        if done.returncode != 0:
            raise AssertionError(f"the {VERSION} reference script failed:\n{done.stderr[-4000:]}")
        with np.load(Path(folder) / "out.npz") as out:
            return {k: out[k] for k in out.files}


if __name__ == "__main__":  # `python tests/oracles/v12.py`: say whether the oracle is usable
    print(missing() or f"ltx-core {VERSION} oracle ready: {python()}")
    sys.exit(1 if missing() else 0)
