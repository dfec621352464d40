"""``runs/latest`` (newest run) and ``runs/sweeps/latest`` (newest sweep): relative symlinks, replaced atomically
(a new link under a temporary name, then renamed over the old one)."""

from __future__ import annotations

import os
from pathlib import Path


def link_latest(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (relative when both share a root); errors are ignored (a read-only or
    link-less filesystem must not stop a run)."""
    link, target = Path(link), Path(target)
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(target.resolve(), link.parent.resolve())
        tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(relative, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        pass
