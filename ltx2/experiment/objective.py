"""The number a search sweeper optimises: ``objective.expr`` names values of the run record (dotted paths such as
``phases.denoise`` or ``quality.sharpness``) or combines them in a small arithmetic expression
(``phases.denoise + 0.1 * peak_memory_gb``). The task function returns it as a float when it is set, so Hydra's
Optuna (Nevergrad, Ax) sweepers can drive ltx2; the value is kept in the run record under ``objective``.

Names: any numeric leaf of run_record.json by its dotted path, plus ``seconds`` (wall time of the job) and
``peak_memory_gb`` (measured peak resident memory). Functions: abs, min, max, log, sqrt.
"""

from __future__ import annotations

import ast
import json
import math
from datetime import datetime
from pathlib import Path

from ltx2.errors import ConfigError

DIRECTIONS = ("minimize", "maximize")
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "log": math.log, "sqrt": math.sqrt}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


def parse(expr: str) -> ast.expr:
    """The expression's syntax tree; ConfigError for anything beyond numbers, names, + - * / **, and _FUNCTIONS."""
    try:
        tree = ast.parse(str(expr).strip(), mode="eval").body
    except SyntaxError:
        raise ConfigError("objective.expr", expr, "not an arithmetic expression",
                          "e.g. objective.expr=phases.denoise or objective.expr='audio.rms_dbfs - 0.5 * seconds'") from None
    for node in ast.walk(tree):
        allowed = (ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Constant, ast.Name, ast.Attribute, ast.Load,
                   ast.Call, *_BINARY)
        if not isinstance(node, allowed) or (isinstance(node, ast.Constant) and not _is_number(node.value)):
            raise ConfigError("objective.expr", expr, f"{type(node).__name__} is not allowed (numbers, record names, "
                              "+ - * / **, abs/min/max/log/sqrt)", "use names from run_record.json, e.g. phases.denoise")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ConfigError("objective.expr", expr, "only abs, min, max, log and sqrt can be called",
                              "rewrite the expression with those")
    return tree


def check(settings) -> None:
    """Validate ``objective`` (expr, direction) before any weights load."""
    if settings is None or settings.get("expr") in (None, ""):
        return
    parse(settings.expr)
    if settings.get("direction", "minimize") not in DIRECTIONS:
        raise ConfigError("objective.direction", settings.direction, "must be minimize or maximize",
                          "objective.direction=maximize")


def check_for_sweeper(settings) -> None:
    """``check`` plus the sweeper's side: a search sweeper (anything that reads a direction) needs an objective,
    and its direction must be the objective's."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    check(settings)
    if not HydraConfig.initialized():
        return
    sweeper = HydraConfig.get().sweeper
    direction = OmegaConf.select(sweeper, "direction", default=None)
    if direction is None:  # the basic sweeper (and the zip sweeper) have no direction: a number is optional
        return
    target = OmegaConf.select(sweeper, "_target_", default="a search sweeper")
    if not settings.get("expr"):
        raise ConfigError("objective.expr", None, f"{target.split('.')[-1]} needs a number from every job",
                          "set objective.expr=<a run-record name>, e.g. objective.expr=audio.rms_dbfs")
    want = getattr(direction, "name", direction)
    if str(want) != settings.get("direction", "minimize"):
        raise ConfigError("objective.direction", settings.get("direction"), f"the sweeper is set to {want}",
                          f"add hydra.sweeper.direction={settings.get('direction')}")


def names(record: dict) -> dict[str, float]:
    """Every numeric value of the record by dotted path, plus the derived ``seconds`` and ``peak_memory_gb``."""
    out: dict[str, float] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for k, val in node.items():
                walk(val, f"{prefix}.{k}" if prefix else str(k))
        elif _is_number(node):
            out[prefix] = float(node)

    walk(record, "")
    try:
        out["seconds"] = (datetime.fromisoformat(record["ended"]) -
                          datetime.fromisoformat(record["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    peak = record.get("memory_plan", {}).get("measured_peak_rss_bytes") if isinstance(record.get("memory_plan"),
                                                                                         dict) else None
    if _is_number(peak):
        out["peak_memory_gb"] = peak / 1e9
    return out


def evaluate(expr: str, record: dict) -> float:
    values = names(record)

    def dotted(node) -> str:
        if isinstance(node, ast.Name):
            return node.id
        return f"{dotted(node.value)}.{node.attr}"

    def ev(node) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = dotted(node)
            if name not in values:
                close = sorted(k for k in values if k.split(".")[0] == name.split(".")[0])[:6]
                raise ConfigError("objective.expr", expr, f"the run record has no number {name}",
                                  "use one of " + ", ".join(close or sorted(values)[:8]))
            return values[name]
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        if isinstance(node, ast.BinOp):
            return float(_BINARY[type(node.op)](ev(node.left), ev(node.right)))
        return float(_FUNCTIONS[node.func.id](*[ev(a) for a in node.args]))

    return ev(parse(expr))


def value_of_run(run_dir: Path, settings) -> float:
    """The objective of a finished run; also saved in its run_record.json (``objective``: expr, direction, value)."""
    from ltx2.experiment.record import RECORD_NAME, write_json_atomic

    path = Path(run_dir) / RECORD_NAME
    record = json.loads(path.read_text())
    value = evaluate(settings.expr, record)
    record["objective"] = {"expr": str(settings.expr), "direction": settings.get("direction", "minimize"),
                           "value": value}
    write_json_atomic(path, record)
    return value


def best(jobs: list[dict], sweep_dir: Path) -> dict | None:
    """The search result for the sweep summary: the sweeper's own best trial (Optuna's optimization_results.yaml)
    when there is one, and the best job among the run records that carry an objective."""
    scored = [j for j in jobs if isinstance(j.get("objective"), dict) and _is_number(j["objective"].get("value"))]
    if not scored:
        return None
    direction = scored[0]["objective"].get("direction", "minimize")
    pick = (min if direction == "minimize" else max)(scored, key=lambda j: j["objective"]["value"])
    out = {"expr": scored[0]["objective"].get("expr"), "direction": direction, "jobs_scored": len(scored),
           "best_job": {"job": pick["job"], "dir": pick["dir"], "overrides": pick["overrides"],
                        "value": pick["objective"]["value"]}}
    results = sweep_dir / "optimization_results.yaml"
    if results.is_file():
        from omegaconf import OmegaConf

        study = OmegaConf.to_container(OmegaConf.load(results))
        out["sweeper"] = {"name": study.get("name"), "best_params": study.get("best_params"),
                          "best_value": study.get("best_value")}
    return out


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
