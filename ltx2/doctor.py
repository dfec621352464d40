"""`python -m ltx2.doctor`: what ltx2 runs on, and how fast its matrix products are."""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version

import ltx2  # noqa: F401  (loads the fast BLAS before mlx)
import mlx.core as mx

from ltx2 import ops
from ltx2.backends.cpu import blas as _blas

KEY_PACKAGES = ("mlx", "mkl", "numpy", "hydra-core", "omegaconf", "safetensors", "huggingface_hub",
                "imageio", "imageio-ffmpeg", "tqdm")


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured fp32 (n x n) @ (n x n) throughput on the default device."""
    a = mx.random.normal((n, n))
    b = mx.random.normal((n, n))
    mx.eval(a, b, a @ b)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        mx.eval(a @ b)
    seconds = (time.perf_counter() - start) / repeats
    return 2 * n**3 / seconds / 1e9


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    print(f"ltx2 {ltx2.__version__} on {platform.system()} {platform.machine()}, Python {platform.python_version()}")
    print(f"MLX {mx.__version__}, default device: {mx.default_device()}")
    print(f"BLAS: {_blas.status}")
    by_backend: dict[str, list[str]] = {}
    for name, backends in ops.registered().items():
        for backend in backends:
            by_backend.setdefault(backend, []).append(name)
    print("ops: MLX versions" + "".join(f"; {b} backend for {', '.join(names)}" for b, names in by_backend.items())
          + ("" if by_backend else " only (LTX2_CPU_KERNELS=0, or no backend registered)"))
    print(f"fp32 matmul 2048x2048: {matmul_gflops():.1f} GFLOP/s")
    for name in KEY_PACKAGES:
        print(f"  {name:16s} {_version(name)}")


if __name__ == "__main__":
    main()
