"""The run record: ``run_record.json`` in every run directory, written atomically and updated as phases end."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ltx2.loading.file_identity import file_identity

RECORD_NAME = "run_record.json"
_SAMPLE = 16 << 20  # bytes hashed from each end of a large weight file


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_fingerprint(path: str | os.PathLike) -> dict:
    """Identity of a weight file or folder: size and sha256 (of the whole file up to 64 MiB; above that, of the
    safetensors header plus the first and last 16 MiB, marked ``sampled``). A file is hashed once per process
    while its size, mtime and inode stay the same (the identity under which model_set keeps loaded weights):
    sweep jobs reuse the hash instead of reading the checkpoint again."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for p in files:
            digest.update(f"{p.relative_to(path)}:{weight_fingerprint(p)['sha256']}".encode())
        return {"path": str(path), "files": len(files), "sha256": digest.hexdigest()}
    key = (str(path), file_identity(path))
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = _file_fingerprint(path, key[1][1])
    return dict(_FINGERPRINTS[key])


_FINGERPRINTS: dict[tuple, dict] = {}


def _file_fingerprint(path: Path, size: int) -> dict:
    if size <= 4 * _SAMPLE:
        return {"path": str(path), "bytes": size, "sha256": file_sha256(path)}
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(_SAMPLE))
        f.seek(size - _SAMPLE)
        digest.update(f.read(_SAMPLE))
    digest.update(str(size).encode())
    return {"path": str(path), "bytes": size, "sha256": digest.hexdigest(), "sampled": True}


def git_state(cwd: Path | None = None) -> dict:
    """Commit and dirty flag of the ltx2 source tree (None outside a git checkout); asked once per process and
    folder (two git calls, ~15 ms: sweep jobs reuse the answer; the code a process runs is what it imported)."""
    cwd = cwd or Path(__file__).resolve().parent
    if cwd not in _GIT_STATES:
        _GIT_STATES[cwd] = _ask_git(cwd)
    return dict(_GIT_STATES[cwd])


_GIT_STATES: dict[Path, dict] = {}


def _ask_git(cwd: Path) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}


def environment() -> dict:
    import mlx.core as mx

    from ltx2 import __version__
    from ltx2.backends.cpu import blas as _blas

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(), "mlx": mx.__version__, "ltx2": __version__, "hydra": v("hydra-core"),
        "omegaconf": v("omegaconf"), "platform": platform.platform(), "machine": platform.machine(),
        "device": str(mx.default_device()), "blas": _blas.status, "argv": sys.argv,
    }


class RunRecord:
    """Builds ``run_record.json``: status, timings per phase, inputs and outputs. Saved after every change."""

    def __init__(self, run_dir: Path, **fields: Any):
        self.path = Path(run_dir) / RECORD_NAME
        self.data: dict[str, Any] = {"status": "running", "started": _now(), "ended": None, "phases": {},
                                     **fields, "outputs": {}}
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.data["phases"][name] = round(self.data["phases"].get(name, 0.0) + time.perf_counter() - start, 3)
            self.save()

    def set(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def add_output(self, name: str, path: Path, **info: Any) -> None:
        self.data["outputs"][name] = {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size,
                                      **info}
        self.save()

    def finish(self, status: str, error: str | None = None) -> None:
        self.data.update(status=status, ended=_now(), error=error)
        self.save()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
