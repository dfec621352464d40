"""See a sweep's outcome at a glance: ``index.html`` (grid of the swept keys, synchronised players, quality
signals, config diff), the contact sheet ``sweep_grid.mp4/.png``, and the identical-outputs report.

    python -m ltx2.gallery runs/sweeps/2026-01-01/12-00-00-000000     # a sweep: its grid
    python -m ltx2.gallery runs                                       # a runs root: every run, newest first

Every sweep writes them at its end (``gallery=false`` skips the page and the sheet; ``gallery.rows=KEY``,
``gallery.cols=KEY`` choose the grid's axes).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger("ltx2")
INDEX = "index.html"


def is_sweep(directory: Path) -> bool:
    """A sweep directory holds job directories (a runs root holds only the ``latest`` link to one)."""
    from ltx2.gallery.collect import job_dirs

    return bool(job_dirs(directory))


def write_gallery(directory: Path, rows: str | None = None, cols: str | None = None, sheet: bool = False) -> dict:
    """``index.html`` for a sweep directory (and, with ``sheet``, its contact sheet) or for a runs root.
    Returns what was written: {"index", "sheet", "identical", "seconds"}."""
    from ltx2.gallery import collect, page

    directory = Path(directory)
    start = time.perf_counter()
    out: dict = {"index": str(directory / INDEX), "sheet": None, "identical": []}
    if is_sweep(directory):
        from ltx2.gallery.identical import describe, identical_outputs

        cells, swept = collect.sweep_cells(directory)
        grid = collect.layout(cells, swept, rows, cols)
        if sheet:
            from ltx2.gallery.sheet import write_contact_sheet

            out["sheet"] = write_contact_sheet(directory, cells, grid)
        out["identical"] = identical_outputs(cells)
        html = page.sweep_page(directory, cells, grid, swept, [describe(g) for g in out["identical"]])
    else:
        html = page.runs_page(directory, collect.all_runs(directory))
    tmp = directory / f".{INDEX}.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(directory / INDEX)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def sweep_end(sweep_dir: Path, settings, output_root: str | None) -> dict | None:
    """The end of a sweep (after sweep_summary.json/.md): identical outputs reported (summary and stderr), the
    gallery and contact sheet written unless ``settings`` is false, ``<output_root>/sweeps/latest`` linked."""
    from ltx2.experiment.sweep import SUMMARY_JSON, SUMMARY_MD, warn
    from ltx2.gallery.identical import describe, identical_outputs
    from ltx2.gallery.latest import link_latest

    if output_root:
        link_latest(Path(output_root) / "sweeps" / "latest", sweep_dir)
    settings = {} if settings is True or settings is None else settings
    if settings is False:
        from ltx2.gallery import collect

        result = {"identical": identical_outputs(collect.sweep_cells(sweep_dir)[0]), "seconds": 0.0}
    else:
        try:
            result = write_gallery(sweep_dir, settings.get("rows"), settings.get("cols"), sheet=True)
        except ValueError as e:  # gallery.rows/cols naming a key that was not swept (ConfigError)
            warn(f"gallery not written: {e}")
            return None
        log.info("gallery: %s (%.2f s)", result["index"], result["seconds"])
    for group in result["identical"]:
        warn(describe(group))
    summary_file = sweep_dir / SUMMARY_JSON
    if summary_file.is_file():
        from ltx2.experiment.record import write_json_atomic

        summary = json.loads(summary_file.read_text())
        summary["identical_outputs"] = result["identical"]
        summary["gallery_seconds"] = result["seconds"]
        write_json_atomic(summary_file, summary)
        if result["identical"]:
            with open(sweep_dir / SUMMARY_MD, "a") as f:
                f.write("\n" + "\n".join(f"Identical outputs: {describe(g)}." for g in result["identical"]) + "\n")
    return result
