"""The shapes of the official files, kept as data, so that ``plan=true`` can plan a preset before its files are
downloaded.

A file's *digest* is what a plan reads from its safetensors header: the metadata (the ``config`` JSON,
``model_version``, ...) and every tensor's dtype and shape, its keys folded on their first index
(``...transformer_blocks.{}.attn1.to_q.weight`` with ``"0-47"``), plus, for a Gemma folder, its ``config.json``.
The digests of each release live in ``ltx2/loading/releases/<release>.json`` (written by
``tools/make_release_shapes.py``), keyed by the ``hf://`` reference the presets name.

``stand_in(ref, folder)`` writes a *shape-only* copy of a known file: the same header with empty byte ranges and no
tensor data; the memory planner and the config checks read it as they would read the real file. Such a copy
cannot be loaded (no reader takes empty ranges for tensors; its metadata says ``ltx2_shapes_only``), and only
``plan=true`` makes them, in a folder removed when the process exits. ``digest_path`` makes the digest of a real file or Gemma folder, and ``differences``
checks a real file against the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path

from ltx2.loading.checkpoint import read_header

RELEASES = Path(__file__).with_name("releases")
SHAPES_ONLY = "ltx2_shapes_only"
_INDEX = re.compile(r"\.(\d+)\.")


# -- digests ------------------------------------------------------------------------------------------------------
def fold(tensors: dict[str, tuple[str, tuple[int, ...]]]) -> list[list]:
    """Header tensors -> ``[key template, dtype, shape, indices]`` rows: keys that differ only in their first index
    (with the same dtype and shape) share a row; ``indices`` are ranges (``"0-42,44"``), None for a key with no
    index."""
    groups: dict[tuple, list[int]] = {}
    for key, (dtype, shape) in tensors.items():
        match = _INDEX.search(key)
        if match is None:
            groups.setdefault((key, dtype, tuple(shape)), [])
            continue
        template = key[:match.start(1)] + "{}" + key[match.end(1):]
        groups.setdefault((template, dtype, tuple(shape)), []).append(int(match.group(1)))
    rows = []
    for (template, dtype, shape), indices in sorted(groups.items()):
        rows.append([template, dtype, list(shape), _ranges(sorted(indices)) if indices else None])
    return rows


def unfold(rows: list[list]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The inverse of ``fold``."""
    tensors = {}
    for template, dtype, shape, indices in rows:
        if indices is None:
            tensors[template] = (dtype, tuple(shape))
            continue
        for i in _expand(indices):
            tensors[template.replace("{}", str(i), 1)] = (dtype, tuple(shape))
    return tensors


def _ranges(indices: list[int]) -> str:
    out, start = [], indices[0]
    for prev, cur in zip(indices, indices[1:] + [None]):
        if cur != prev + 1:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ",".join(out)


def _expand(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out += list(range(int(low), int(high or low) + 1))
    return out


def digest(metadata: dict[str, str], tensors: dict) -> dict:
    return {"metadata": dict(metadata), "tensors": fold(tensors)}


def digest_path(path: str | os.PathLike) -> dict:
    """The digest of a safetensors file, or of a Gemma folder (its ``config.json`` and the tensors of all its
    safetensors files)."""
    path = Path(path)
    if path.is_dir():
        tensors: dict = {}
        for file in sorted(path.glob("*.safetensors")):
            tensors.update(read_header(file).tensors)
        return {"config.json": json.loads((path / "config.json").read_text()), "tensors": fold(tensors)}
    header = read_header(path)
    return digest({k: v for k, v in header.metadata.items() if k != SHAPES_ONLY}, header.tensors)


def differences(path: str | os.PathLike, known: dict, limit: int = 3) -> list[str]:
    """How a real file (or Gemma folder) differs from its known digest: keys missing or extra, shapes or dtypes
    that differ, the ``config`` metadata (empty: they agree)."""
    real = digest_path(path)
    ours, theirs = unfold(known["tensors"]), unfold(real["tensors"])
    out = [f"missing {k}" for k in sorted(set(ours) - set(theirs))[:limit]]
    out += [f"extra {k}" for k in sorted(set(theirs) - set(ours))[:limit]]
    changed = [k for k in sorted(set(ours) & set(theirs)) if ours[k] != theirs[k]]
    out += [f"{k}: {theirs[k]} (known {ours[k]})" for k in changed[:limit]]
    for name in ("config.json",):
        if name in known and known[name] != real.get(name):
            out.append(f"{name} differs")
    if "metadata" in known and known["metadata"].get("config") is not None:
        if json.loads(known["metadata"]["config"]) != json.loads(real["metadata"].get("config", "null") or "null"):
            out.append("the metadata config differs")
    return out


# -- the data -----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def releases(folder: str | None = None) -> dict[str, dict]:
    """``hf://`` reference -> ``{"release": name, "digest": ...}`` over every release file in ``folder``
    (default: ltx2/loading/releases, or ``$LTX2_RELEASE_SHAPES``)."""
    root = Path(folder or os.environ.get("LTX2_RELEASE_SHAPES") or RELEASES)
    out = {}
    for file in sorted(root.glob("*.json")):
        data = json.loads(file.read_text())
        for ref, name in data["files"].items():
            out[ref] = {"release": data["release"], "source": data.get("source", ""), "digest": data["digests"][name]}
    return out


def known(ref: str) -> dict | None:
    return releases(os.environ.get("LTX2_RELEASE_SHAPES")).get(str(ref))


# -- shape-only copies --------------------------------------------------------------------------------------------
def stand_in(ref: str, folder: str | os.PathLike) -> Path:
    """A shape-only copy of the known file ``ref`` under ``folder`` (written once per digest): a safetensors
    header with no data behind it, or a Gemma folder of ``config.json`` and one such file."""
    entry = known(ref)
    if entry is None:
        raise KeyError(ref)
    data = entry["digest"]
    name = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    base = Path(folder) / name
    if "config.json" in data:  # a Gemma folder
        target = base / "model.safetensors"
        if not target.is_file():
            base.mkdir(parents=True, exist_ok=True)
            (base / "config.json").write_text(json.dumps(data["config.json"], indent=1))
            _write_header_only(target, {}, unfold(data["tensors"]))
        return base
    target = base / (ref.rstrip("/").rsplit("/", 1)[-1] or "file.safetensors")
    if not target.is_file():
        base.mkdir(parents=True, exist_ok=True)
        _write_header_only(target, data["metadata"], unfold(data["tensors"]))
    return target


def _write_header_only(path: Path, metadata: dict, tensors: dict) -> None:
    """The header alone: every tensor's byte range empty (``[0, 0]``), so that the file is small, passes the
    completeness check, and no safetensors reader could take it for weights."""
    header = {"__metadata__": {**metadata, SHAPES_ONLY: "true"}}
    header.update({key: {"dtype": dtype, "shape": list(shape), "data_offsets": [0, 0]}
                   for key, (dtype, shape) in tensors.items()})
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
    partial.replace(path)
