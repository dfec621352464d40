"""Pieces shared by the benchmarks in tools/: best-of timing, running one measured side in a child process (its
own time and peak RSS), and a description of the machine."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

THREADS = 2
RESULT = "RESULT "


def time_it(fn, repeats: int, warmup: bool = True) -> float:
    """Best of ``repeats`` calls of ``fn`` (after one warm-up call)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_bytes() -> int:
    """This process's peak RSS: VmHWM (Linux; ru_maxrss would include a forking parent's peak), else ru_maxrss."""
    status = Path("/proc/self/status")
    if status.is_file():
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def report(result: dict) -> None:
    """A child's last line: its result plus its own peak RSS."""
    print(RESULT + json.dumps({**result, "peak_rss_bytes": peak_rss_bytes()}), flush=True)


def print_and_append(result: dict, path: Path | None) -> None:
    """Print ``result`` as indented JSON; with ``path``, also append it to that file as one line (a JSON-lines log
    of runs, one process per configuration)."""
    print(json.dumps(result, indent=1))
    append_json(result, path)


def append_json(result: dict, path: Path | None) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(result) + "\n")


def child_env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))


def run_child(cmd: list[str], what: str, timeout: float = 3600, env: dict | None = None) -> dict:
    """Run ``cmd`` (which ends by calling ``report``) and return its result; a failure raises with its output.
    ``env``: added to the child's environment."""
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**child_env(), **(env or {})},
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode or not lines:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT):])


def machine() -> dict:
    """CPU model, cores, RAM, OS, MLX version and the BLAS MLX uses."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = match.group(1).strip() if match else cpu
    elif sys.platform == "darwin":
        cpu = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], check=False, capture_output=True,
                             text=True).stdout.strip()
    ram = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        match = re.search(r"^MemTotal:\s+(\d+) kB", meminfo.read_text(), re.MULTILINE)
        ram = int(match.group(1)) * 1024 if match else None
    import ltx2  # noqa: F401  (fast BLAS before mlx)
    import mlx.core as mx

    from ltx2.backends.cpu import blas as _blas

    versions = {"mlx": mx.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram / 2**30, 1) if ram else None,
            "os": platform.platform(), "python": platform.python_version(), **versions,
            "blas": str(_blas.status), "threads": THREADS}
