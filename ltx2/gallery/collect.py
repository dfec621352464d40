"""What a gallery shows, read from the run directories: each job's record, its swept values and its files, and
the grid (rows, columns, tabs) the swept keys span."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cell:
    """One run: its directory, record and the values of the swept keys (as typed on the command line)."""

    dir: Path
    record: dict
    values: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.record.get("status") or "unknown")

    @property
    def video(self) -> Path | None:
        return self._output("video")

    @property
    def audio(self) -> Path | None:
        """audio.wav when the run wrote one (an audio-only run, pipeline=t2a, or output.save_audio)."""
        return self._output("audio")

    def _output(self, name: str) -> Path | None:
        file = self.record.get("outputs", {}).get(name, {}).get("file")
        path = self.dir / file if file else None
        return path if path is not None and path.is_file() else None

    @property
    def seconds(self) -> float | None:
        from ltx2.experiment.sweep import _seconds

        return _seconds(self.record)


@dataclass
class Grid:
    rows_key: str | None
    cols_key: str | None
    tab_keys: list[str]
    rows: list[str]
    cols: list[str]
    tabs: list[tuple[str, ...]]  # one per combination of the tab keys' values (one empty tuple without tab keys)

    def cell(self, cells: list[Cell], tab: tuple[str, ...], row: str, col: str) -> Cell | None:
        for c in cells:
            if (tuple(c.values.get(k, "") for k in self.tab_keys) == tab
                    and c.values.get(self.rows_key, "") == row and c.values.get(self.cols_key, "") == col):
                return c
        return None


def read_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run_record.json").read_text())
    except (OSError, ValueError):
        return {"status": "unreadable"}


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job directories of a sweep (children holding a run record), in job order."""
    from ltx2.experiment.sweep import _job_num

    dirs = [p.parent for p in sweep_dir.glob("*/run_record.json") if not p.parent.is_symlink()]
    return sorted(dirs, key=lambda d: (_job_num(d), d.name))


def _override_values(overrides: list[str]) -> dict[str, str]:
    values = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep:
            values[key.lstrip("+~")] = value.replace("\\", "")
    return values


def sweep_cells(sweep_dir: Path) -> tuple[list[Cell], list[str]]:
    """The jobs of ``sweep_dir`` and the swept keys (those whose override values differ between jobs), in the
    order they appear on the command line."""
    cells = [Cell(d, read_record(d)) for d in job_dirs(sweep_dir)]
    typed = [_override_values(c.record.get("overrides", [])) for c in cells]
    keys: list[str] = []
    for values in typed:
        keys += [k for k in values if k not in keys]
    swept = [k for k in keys if len({v.get(k, "") for v in typed}) > 1]
    for cell, values in zip(cells, typed):
        cell.values = {k: values.get(k, "") for k in swept}
    return cells, swept


def layout(cells: list[Cell], swept: list[str], rows: str | None = None, cols: str | None = None) -> Grid:
    """Rows and columns: ``rows``/``cols`` when given (they must be swept keys), else the first two swept keys;
    the remaining swept keys become tabs."""
    from ltx2.errors import ConfigError

    for name, key in (("gallery.rows", rows), ("gallery.cols", cols)):
        if key is not None and key not in swept:
            raise ConfigError(name, key, f"must be one of the swept keys ({', '.join(swept) or 'none'})",
                              f"{name}={swept[0] if swept else 'null'}")
    free = [k for k in swept if k not in (rows, cols)]
    rows_key = rows or (free.pop(0) if free else None)
    cols_key = cols or (free.pop(0) if free else None)

    def values_of(key: str | None) -> list[str]:
        out: list[str] = []
        for c in cells:
            v = c.values.get(key, "") if key else ""
            if v not in out:
                out.append(v)
        return out or [""]

    tabs: list[tuple[str, ...]] = []
    for c in cells:
        tab = tuple(c.values.get(k, "") for k in free)
        if tab not in tabs:
            tabs.append(tab)
    return Grid(rows_key, cols_key, free, values_of(rows_key), values_of(cols_key), tabs or [()])


def all_runs(root: Path) -> list[Cell]:
    """Every run below ``root`` (a runs root), newest first."""
    cells = [Cell(p.parent, read_record(p.parent)) for p in root.rglob("run_record.json")
             if "latest" not in p.relative_to(root).parts]
    return sorted(cells, key=lambda c: str(c.record.get("started") or ""), reverse=True)
