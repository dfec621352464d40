"""The small thread pool behind the numpy CPU fast paths (transformer, VAE convolutions, audio VAE, vocoder), and the
rule every one of them starts from.

numpy releases the GIL inside ufuncs and copies, so a couple of Python threads keep both cores busy on elementwise work
that MLX's CPU backend runs single-threaded. ``LTX2_CPU_KERNEL_THREADS`` (default 2) sets the pool's size;
``LTX2_CPU_KERNELS=0`` registers none of them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx

_pool: ThreadPoolExecutor | None = None


def enabled() -> bool:
    """The CPU backend registers its ops (``LTX2_CPU_KERNELS`` is not ``0``)."""
    return os.environ.get("LTX2_CPU_KERNELS", "1") != "0"


def numpy_path(x) -> bool:
    """``x`` (an MLX array) may take a numpy fast path: float32 on the CPU device. Each op adds its own size rule;
    GPU backends and other dtypes keep MLX's lazy graph."""
    return x.dtype == mx.float32 and mx.default_device() == mx.cpu


def threads() -> int:
    return max(1, min(os.cpu_count() or 1, int(os.environ.get("LTX2_CPU_KERNEL_THREADS", "2"))))


def parallel(fn, pieces: list) -> None:
    """Run ``fn`` on each piece; on the thread pool when there are several pieces and threads."""
    global _pool
    n = threads()
    if n == 1 or len(pieces) <= 1:
        for p in pieces:
            fn(p)
        return
    if _pool is None or _pool._max_workers != n:
        _pool = ThreadPoolExecutor(n, thread_name_prefix="ltx2-cpu")
    list(_pool.map(fn, pieces))
