"""Jobs whose configs differ but whose videos are byte-identical: the keys that differ between them had no effect
(a LoRA at strength 0, a key the pipeline never reads, a caching switch)."""

from __future__ import annotations

from ltx2.gallery.collect import Cell


def identical_outputs(cells: list[Cell]) -> list[dict]:
    """Groups of completed jobs with the same video sha256 (recorded by the runner): their directories and the
    config keys that differ between them (``python -m ltx2.diff``'s rows)."""
    from ltx2.diff import table

    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        digest = cell.record.get("outputs", {}).get("video", {}).get("sha256")
        if cell.status == "completed" and digest:
            groups.setdefault(digest, []).append(cell)
    found = []
    for digest, members in groups.items():
        if len(members) < 2:
            continue
        _, rows, _ = table([c.dir for c in members])
        keys = [key for key, _ in rows]
        if keys:
            found.append({"jobs": [c.dir.name for c in members], "keys": keys, "sha256": digest})
    return found


def describe(group: dict) -> str:
    return (f"jobs {', '.join(group['jobs'])} wrote byte-identical videos although their configs differ in "
            f"{', '.join(group['keys'])}: these keys had no effect")
