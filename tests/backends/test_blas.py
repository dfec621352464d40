"""The fast BLAS is really in use, and doctor reports it."""

import subprocess
import sys

import pytest

from ltx2.backends.cpu import blas as _blas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="macOS uses Accelerate")
def test_import_ltx2_loads_an_optimized_blas():
    assert "libmkl_rt" in _blas.status, _blas.status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="macOS uses Accelerate")
def test_doctor_reports_blas_and_speed():
    out = subprocess.run([sys.executable, "-m", "ltx2.doctor"], capture_output=True, text=True, check=True).stdout
    assert "BLAS: " in out and "libmkl_rt" in out
    gflops = float(out.split("fp32 matmul 2048x2048: ")[1].split()[0])
    assert gflops > 30  # the reference BLAS gives ~5-8 here; MKL 100-200 (acceptance figure: >= 60)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="macOS uses Accelerate")
def test_mlx_imported_first_warns():
    code = "import mlx.core; import warnings; warnings.simplefilter('error'); import ltx2"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "import ltx2 first" in proc.stderr
