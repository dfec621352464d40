"""Load an optimized BLAS before MLX on Linux.

MLX's Linux CPU wheel links the reference BLAS (~5 GFLOP/s on a 2048^2 fp32 matmul). Loading MKL's
``libmkl_rt`` (from the ``mkl`` wheel that ``pip install ltx2`` brings on Linux x86-64) with
``RTLD_GLOBAL`` before ``mlx`` is first imported makes MLX's ``cblas_*``/``*gemm`` calls resolve to MKL
(100-200 GFLOP/s). ``LTX2_BLAS`` overrides: a path to a shared library, or ``reference`` to skip.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import warnings

# What was loaded, for `python -m ltx2.doctor`: a path, "reference", or "system" (not Linux).
status: str = "not attempted"

_FIX = "pip install mkl (or set LTX2_BLAS=/path/to/libopenblas.so)"


def _candidates() -> list[str]:
    prefixes = dict.fromkeys([sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX", "")])
    found: list[str] = []
    for prefix in filter(None, prefixes):
        found += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")), reverse=True)
    try:  # a --user or --target install puts the wheel's lib/ elsewhere: ask its file list
        from importlib.metadata import PackageNotFoundError, files

        for f in files("mkl") or []:
            if os.path.basename(str(f)).startswith("libmkl_rt.so"):
                found.append(str(f.locate()))
    except (PackageNotFoundError, ImportError):
        pass
    return list(dict.fromkeys(found))


def ensure_fast_blas() -> str:
    """Load the fast BLAS once; return what is in use. Warns (one line, with the fix) on failure."""
    global status
    if status != "not attempted":
        return status
    if not sys.platform.startswith("linux"):
        status = "system (Accelerate/Metal on macOS)" if sys.platform == "darwin" else "system"
        return status
    override = os.environ.get("LTX2_BLAS", "")
    if override == "reference":
        status = "reference (LTX2_BLAS=reference)"
        return status
    if "mlx.core" in sys.modules:
        status = "reference (mlx was imported before ltx2)"
        warnings.warn("ltx2: mlx was imported before ltx2, so MLX uses its slow reference BLAS; "
                      "import ltx2 first", stacklevel=3)
        return status
    # torch (imported by transformers, hence by mlx-lm, when installed) brings GNU OpenMP, whose idle threads spin
    # and whose binding pins MKL's threads: every small MLX matmul then waited ~15 ms for a time slice
    # (measured: 0.1 ms -> 15 ms for 64x256x256; the tiny transformer 14 ms -> 1.3 s per call).
    os.environ.setdefault("GOMP_SPINCOUNT", "0")
    os.environ.setdefault("OMP_PROC_BIND", "false")
    for path in [override] if override else _candidates():
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        status = path
        return status
    status = "reference (no optimized BLAS found)"
    warnings.warn(f"ltx2: no optimized BLAS found, MLX matmuls will be ~30x slower; fix: {_FIX}", stacklevel=3)
    return status


def function(name: str):
    """A C function of the loaded optimized BLAS (``cblas_sgemm``, ``vmsExp``...) by ctypes, or None (reference BLAS,
    macOS, or the library lacks it)."""
    if os.path.sep not in status or not os.path.exists(status):
        return None
    try:
        return getattr(ctypes.CDLL(status, mode=ctypes.RTLD_GLOBAL), name)
    except (OSError, AttributeError):
        return None


ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enum values
_sgemm = None


def sgemm():
    """``cblas_sgemm`` of the loaded BLAS (MKL or OpenBLAS) with its argument types set, or None (reference BLAS,
    macOS, not found). Call as ``sgemm()(ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a_ptr, lda, b_ptr, ldb, beta,
    c_ptr, ldc)`` with pointers as ints (``ndarray.ctypes.data``)."""
    global _sgemm
    if _sgemm is None:
        fn = function("cblas_sgemm")
        _sgemm = False
        if fn is not None:
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
            _sgemm = fn
    return _sgemm or None


def gemm(a, b, out, transpose_b: bool = False, beta: float = 0.0, alpha: float = 1.0) -> None:
    """``out = alpha * a @ (b^T if transpose_b else b) + beta * out`` for 2-D float32 numpy views with unit column
    stride and any row stride (a head's columns inside a (T, H*D) projection, a slice of a padded buffer): the loaded
    BLAS's sgemm reads them in place; numpy's matmul (copying) where there is none."""
    fn = sgemm()
    if fn is None:
        product = a @ (b.T if transpose_b else b)
        if alpha != 1.0:
            product *= product.dtype.type(alpha)
        if beta:
            out *= beta
            out += product
        else:
            out[...] = product
        return
    fn(ROW_MAJOR, NO_TRANS, TRANS if transpose_b else NO_TRANS, a.shape[0], out.shape[1], a.shape[1], alpha,
       a.ctypes.data, a.strides[0] // 4, b.ctypes.data, b.strides[0] // 4, beta, out.ctypes.data, out.strides[0] // 4)


def mkl_exp(x):
    """float32 ``exp`` by MKL's VML in high-accuracy mode (``vmsExp``, what torch's CPU ``exp`` calls), or None
    when the loaded BLAS is not MKL. x: a float32 numpy array."""
    import numpy as np

    vms_exp = function("vmsExp") if "mkl" in os.path.basename(status) else None
    if vms_exp is None:
        return None
    vml_ha = 0x2
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    vms_exp(ctypes.c_int(x.size), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(out.ctypes.data),
            ctypes.c_longlong(vml_ha))
    return out
