"""`python -m ltx2.diff RUN_OR_SWEEP_DIR... [--md | --json] [--all]`: what differs between runs.

Rows are dotted config keys (from each run's resolved_config.yaml), preceded by the group choices (``@model``,
``@guider``, ``@lora`` ...); columns are runs (a sweep directory contributes its jobs in job order). Only the rows
whose values differ are shown unless ``--all``; a key a run lacks shows as ``<absent>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

ABSENT = "<absent>"


def run_dirs(path: Path) -> list[Path]:
    """A run directory, or the job directories of a sweep directory (in job order)."""
    if (path / "resolved_config.yaml").is_file():
        return [path]
    from ltx2.experiment.sweep import _job_num

    jobs = [p.parent for p in path.rglob("resolved_config.yaml")]
    return sorted(jobs, key=lambda d: (_job_num(d), str(d)))


def _flatten(node, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out if out or not prefix else {prefix: {}}
    return {prefix: node}


def run_values(run_dir: Path) -> dict[str, object]:
    """``@group`` choices first, then the resolved config's leaves."""
    values: dict[str, object] = {}
    record_file = run_dir / "run_record.json"
    choices = json.loads(record_file.read_text()).get("choices", {}) if record_file.is_file() else {}
    if not choices and (run_dir / ".hydra" / "hydra.yaml").is_file():
        hydra = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml")
        choices = {k: v for k, v in OmegaConf.to_container(hydra.hydra.runtime.choices).items()
                   if not k.startswith("hydra/")}
    for group, choice in sorted(choices.items()):
        values[f"@{group}"] = ",".join(choice) if isinstance(choice, list) else choice
    values.update(_flatten(OmegaConf.to_container(OmegaConf.load(run_dir / "resolved_config.yaml"))))
    return values


def _label(run_dir: Path, all_dirs: list[Path]) -> str:
    names = [d.name for d in all_dirs]
    if names.count(run_dir.name) == 1:
        return run_dir.name
    return f"{run_dir.parent.name}/{run_dir.name}"


def table(dirs: list[Path], show_all: bool = False) -> tuple[list[str], list[tuple[str, list[str]]], int]:
    """(column labels, rows of (key, cells), number of keys)."""
    values = [run_values(d) for d in dirs]
    keys: list[str] = []
    for v in values:
        keys += [k for k in v if k not in keys]
    keys.sort(key=lambda k: (not k.startswith("@"),))  # choices first, then config order
    rows = []
    for key in keys:
        raw = [v.get(key, ABSENT) for v in values]
        if show_all or len({_show(c) for c in raw}) > 1:
            rows.append((key, raw))
    return [_label(d, dirs) for d in dirs], rows, len(keys)


def _show(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _clip(text: str, width: int = 48) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def render_text(labels, rows, n_keys, n_runs, show_all) -> str:
    header = ["key", *labels]
    body = [[key, *(_clip(_show(c)) for c in cells)] for key, cells in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *body]]
    what = "keys" if show_all else f"differing of {n_keys} keys"
    return "\n".join([*lines, f"{len(rows)} {what} across {n_runs} runs"])


def render_md(labels, rows, n_keys, n_runs, show_all) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| key | " + " | ".join(esc(x) for x in labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += ["| " + " | ".join(esc(x) for x in [key, *map(_show, cells)]) + " |" for key, cells in rows]
    what = "keys" if show_all else f"differing of {n_keys} keys"
    return "\n".join([*lines, "", f"{len(rows)} {what} across {n_runs} runs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltx2.diff", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path, metavar="RUN_OR_SWEEP_DIR")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--md", action="store_true", help="a Markdown table")
    fmt.add_argument("--json", action="store_true", help="{runs: [...], rows: {key: [value per run]}}")
    parser.add_argument("--all", action="store_true", help="every key, not only the differing ones")
    args = parser.parse_args(argv)
    dirs: list[Path] = []
    for path in args.dirs:
        found = run_dirs(path) if path.is_dir() else []
        if not found:
            print(f"ltx2: {path} is neither an ltx2 run directory nor a sweep directory (no resolved_config.yaml "
                  "in it or below it). Fix: pass a directory that `python -m ltx2.run` wrote", file=sys.stderr)
            return 2
        dirs += [d for d in found if d not in dirs]
    labels, rows, n_keys = table(dirs, args.all)
    if args.json:
        print(json.dumps({"runs": [str(d) for d in dirs], "labels": labels, "keys": n_keys,
                          "rows": {key: cells for key, cells in rows}}, indent=2))
    elif args.md:
        print(render_md(labels, rows, n_keys, len(dirs), args.all))
    else:
        print(render_text(labels, rows, n_keys, len(dirs), args.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
