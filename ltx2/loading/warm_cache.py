"""The process-wide cache of built networks (what keeps a sweep's weights warm) and ``STATS``, the count of what
this process loaded, fused and encoded. ``ltx2.loading.model_set`` builds through it."""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from ltx2.loading.file_identity import file_identity

log = logging.getLogger("ltx2.loading.model_set")

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.RLock()
# what this process has done: "load:<network>" (weights read from disk), "fuse:transformer" (LoRAs fused onto the
# cached base), "encode:text" (prompts run through the text encoder)
STATS: Counter = Counter()


def _identity(path: str | os.PathLike | None) -> tuple:
    return (None,) if path is None else file_identity(path)


def cached(key: tuple, build: Callable[[], Any]) -> Any:
    """Process-wide cache of built networks."""
    with _LOCK:
        if key not in _CACHE:
            log.info("loading %s", key[0])
            STATS[f"load:{key[0]}"] += 1
            _CACHE[key] = build()
        return _CACHE[key]


def stats() -> dict[str, int]:
    with _LOCK:
        return dict(STATS)


def cached_kinds(files: tuple = ()) -> set[str]:
    """The kinds of network this process holds built (``transformer``, ``video_decoder``, ...), only those built
    from one of ``files`` when given (a network of another checkpoint does not spare loading this one's)."""
    ids = {_identity(f)[0] for f in files if f and Path(f).exists()}
    with _LOCK:
        return {k[0] for k in _CACHE if not files or (len(k) > 1 and k[1][0] in ids)}


def clear_cache(kind: str | None = None) -> None:
    with _LOCK:
        for key in [k for k in _CACHE if kind is None or k[0] == kind]:
            del _CACHE[key]
    import gc

    import mlx.core as mx

    gc.collect()
    mx.clear_cache()
