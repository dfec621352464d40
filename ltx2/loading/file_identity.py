"""The identity of a file on disk, under which a process keeps what it derived from it (built networks, parsed
safetensors headers, weight hashes): the same path, size, modification time and inode means the same contents."""

from __future__ import annotations

import os
from pathlib import Path


def file_identity(path: str | os.PathLike) -> tuple:
    """(resolved path, size, mtime in ns, inode, device); raises FileNotFoundError for a missing file."""
    p = Path(path).resolve()
    stat = p.stat()
    return (str(p), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev)
