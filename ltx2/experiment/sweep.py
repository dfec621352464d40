"""Sweep helpers: the order of swept overrides (model reloads) and the sweep summary.

Hydra runs the Cartesian product of the swept overrides in command-line order, the first one outermost. Networks
are cached per process keyed on their files, so a sweep over the model (or its files, dtype or LoRA selection)
placed after e.g. ``seed=0,1`` would load the model once per job; ``reorder`` moves such sweeps first.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

SUMMARY_JSON, SUMMARY_MD = "sweep_summary.json", "sweep_summary.md"


def reloads_model(key: str) -> bool:
    """Does changing ``key`` between jobs rebuild cached weights (beyond re-fusing a LoRA)?"""
    key = key.lstrip("+~")
    if key in ("model", "lora"):
        return True
    if key.startswith("model."):
        return not key.startswith(("model.suggested.", "model.name"))
    return key.startswith("lora.") and key.endswith(".path")


def _parse(override: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([override])[0]
    except Exception:  # noqa: BLE001 - Hydra reports malformed overrides itself, with its own message
        return None


def reorder(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` of a multirun with the swept overrides that reload the model moved before the other swept ones
    (each keeps its relative order; nothing else moves), and a note saying what moved (None: nothing did)."""
    if not any(a in ("-m", "--multirun") for a in argv):
        return argv, None
    slots, sweeps = [], []
    for i, arg in enumerate(argv):
        if arg.startswith("-") or "=" not in arg or arg.startswith("hydra."):
            continue
        parsed = _parse(arg)
        if parsed is not None and parsed.is_sweep_override():
            slots.append(i)
            sweeps.append((arg, reloads_model(parsed.key_or_group)))
    ordered = [a for a, heavy in sweeps if heavy] + [a for a, heavy in sweeps if not heavy]
    if ordered == [a for a, _ in sweeps]:
        return argv, None
    out = list(argv)
    for i, arg in zip(slots, ordered):
        out[i] = arg
    moved = [a for a, heavy in sweeps if heavy]
    return out, (f"sweep order: {', '.join(moved)} moved first (outermost), so the model loads once per value "
                 "instead of once per job; jobs run and are numbered in this order")


def check_config_order(params: dict) -> str | None:
    """Warning for ``hydra.sweeper.params`` (named sweeps) where a model-reloading key follows another one."""
    keys = list(params)
    heavy = [i for i, k in enumerate(keys) if reloads_model(k)]
    light = [i for i, k in enumerate(keys) if not reloads_model(k)]
    if heavy and light and min(light) < max(heavy):
        return (f"hydra.sweeper.params lists {keys[max(heavy)]} after {keys[min(light)]}: the model will reload "
                f"for every job; list {', '.join(keys[i] for i in heavy)} first")
    return None


# -- summary ------------------------------------------------------------------------------------------------------
def _seconds(record: dict) -> float | None:
    try:
        start, end = datetime.fromisoformat(record["started"]), datetime.fromisoformat(record["ended"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((end - start).total_seconds(), 3)


def _job_num(job_dir: Path) -> int:
    from omegaconf import OmegaConf

    try:
        return int(OmegaConf.load(job_dir / ".hydra" / "hydra.yaml").hydra.job.num)
    except Exception:  # noqa: BLE001 - fall back to the zero-padded directory name
        head = job_dir.name.split("_", 1)[0]
        return int(head) if head.isdigit() else -1


def summarize(sweep_dir: Path, started: float | None = None) -> dict:
    """Every job directory of ``sweep_dir`` (sorted by job number): job, overrides, status, seconds, output;
    ``resumed`` marks jobs completed before this invocation started (skipped now). Totals add up the per-job
    load/encode counts of the run records."""
    jobs, totals = [], {}
    for record_file in sorted(sweep_dir.glob("*/run_record.json")):
        job_dir = record_file.parent
        try:
            record = json.loads(record_file.read_text())
        except (OSError, ValueError):
            record = {"status": "unreadable"}
        outputs = record.get("outputs", {})
        video = (outputs.get("video") or outputs.get("audio") or {}).get("file")  # audio: an audio-only run (t2a)
        ended = record.get("ended")
        resumed = bool(started and ended and datetime.fromisoformat(ended).timestamp() < started)
        counts = record.get("process", {}).get("counts", {})
        if not resumed:
            for k, n in counts.items():
                totals[k] = totals.get(k, 0) + n
        jobs.append({"job": _job_num(job_dir), "dir": job_dir.name, "overrides": record.get("overrides", []),
                     "status": record.get("status"), "seconds": _seconds(record),
                     "output": f"{job_dir.name}/{video}" if video else None, "resumed": resumed,
                     "error": record.get("error"), "counts": counts})
        if "objective" in record:  # objective.expr set: the job's number (ltx2/experiment/objective.py)
            jobs[-1]["objective"] = record["objective"]
    jobs.sort(key=lambda j: (j["job"], j["dir"]))
    statuses = [j["status"] for j in jobs]
    from ltx2.experiment.objective import best

    search = best(jobs, sweep_dir)
    return {"sweep_dir": str(sweep_dir), "jobs": jobs, **({"search": search} if search else {}),
            "totals": {"jobs": len(jobs), "completed": statuses.count("completed"),
                       "failed": statuses.count("failed"), "resumed": sum(j["resumed"] for j in jobs),
                       "counts_this_invocation": dict(sorted(totals.items()))}}


def write_summary(sweep_dir: Path, started: float | None = None) -> dict:
    from ltx2.experiment.record import write_json_atomic

    summary = summarize(sweep_dir, started)
    write_json_atomic(sweep_dir / SUMMARY_JSON, summary)
    lines = ["| job | overrides | status | seconds | output |", "|---|---|---|---|---|"]
    for j in summary["jobs"]:
        status = j["status"] + (" (earlier)" if j["resumed"] else "")
        cell = " ".join(j["overrides"]).replace("|", "\\|") or "(none)"
        seconds = "" if j["seconds"] is None else f"{j['seconds']:.1f}"
        lines.append(f"| {j['job']} | {cell} | {status} | {seconds} | {j['output'] or ''} |")
    t = summary["totals"]
    lines += ["", f"{t['jobs']} jobs: {t['completed']} completed ({t['resumed']} from an earlier invocation), "
              f"{t['failed']} failed. Loads and encodings this invocation: "
              + (", ".join(f"{k} x{n}" for k, n in t["counts_this_invocation"].items()) or "none")]
    if "search" in summary:
        b = summary["search"]["best_job"]
        lines.append(f"Best {summary['search']['expr']} ({summary['search']['direction']}): {b['value']:.6g}, "
                     f"job {b['job']} ({' '.join(b['overrides'])})")
    (sweep_dir / SUMMARY_MD).write_text("\n".join(lines) + "\n")
    return summary


def warn(message: str) -> None:
    print(f"ltx2: {message}", file=sys.stderr)
