"""Before/after of a change, from one run: the MLX side of each component measured from two source trees (this one
and ``--before``, e.g. a ``git worktree`` of the commit before a refactor) and the reference, in interleaved rounds
so that both trees see the same machine load; the best time of each side over the rounds.

    git worktree add --detach /tmp/before <commit>
    python tools/bench_ab.py --before /tmp/before --components transformer vae sweep --rounds 3

transformer / vae: the children of ``tools/bench.py`` (each tree runs its own bench.py child on the same weight
files); sweep: the 8-job ``python -m ltx2.run -m`` of ``tools/bench.py`` run by each tree's code (``--run-overrides`` go to
the after tree's runs only, e.g. ``gallery=false quality.enabled=false`` for a like-for-like sweep when the after
tree does more per job than the before tree knows of). Prints a markdown table: before / after / reference seconds and the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import machine, run_child

import bench
from bench import SWEEP_SCALES, SWEEP_SEEDS, child_env, ltx2_run, write_files

ROOT = Path(__file__).resolve().parents[1]


def child(tree: Path, name: str, side: str, files: Path, repeats: int) -> float:
    cmd = [sys.executable, str(tree / "tools" / "bench.py"), "--child", name, "--side", side, "--files", str(files),
           "--repeats", str(repeats)]
    return run_child(cmd, f"{name} {side} ({tree})", env={"PYTHONPATH": str(tree)})["seconds"]


def sweep(tree: Path, work: Path, overrides: list[str]) -> float:
    env = {**child_env(), "LTX2_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(tree), "BENCH_CWD": str(work),
           "LTX2_OUTPUT_ROOT": str(work / f"runs-{time.time_ns()}")}
    return ltx2_run(["-m", "guider.cfg_scale=" + ",".join(map(str, SWEEP_SCALES)),
                     "seed=" + ",".join(map(str, SWEEP_SEEDS)), *overrides], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other source tree (the 'before')")
    parser.add_argument("--components", nargs="+", choices=("transformer", "vae", "sweep"),
                        default=["transformer", "vae", "sweep"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per child (best of)")
    parser.add_argument("--run-overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="appended to the after tree's sweep runs")
    parser.add_argument("--out", type=Path, default=None, help="write bench_ab.json there")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": ROOT}
    info = machine()
    print(f"machine: {info}", flush=True)
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ltx2-bench-ab-") as tmp:
        files = Path(tmp)
        write_files([c for c in args.components if c in bench.SIDES], files, quick=False)
        for r in range(args.rounds):
            for name in args.components:
                sides = ["before", "after", "reference"] if name != "sweep" else ["before", "after"]
                if r % 2:
                    sides = sides[::-1]  # alternate the order between rounds
                for side in sides:
                    if name == "sweep":
                        work = files / f"sweep-{side}"
                        work.mkdir(exist_ok=True)
                        seconds = sweep(trees[side], work, args.run_overrides if side == "after" else [])
                    else:
                        tree = trees["after"] if side == "reference" else trees[side]
                        seconds = child(tree, name, "reference" if side == "reference" else "mlx", files,
                                        args.repeats)
                    cell = best.setdefault(name, {})
                    cell[side] = min(cell.get(side, float("inf")), seconds)
                    print(f"  round {r + 1} {name} {side}: {seconds:.2f} s", flush=True)
    lines = ["| component | before s | after s | after / before | reference s | before / ref | after / ref |",
             "|---|---|---|---|---|---|---|"]
    for name, cell in best.items():
        ref = cell.get("reference")
        rel = (lambda side: f"{cell[side] / ref:.2f}") if ref else (lambda side: "n/a")
        lines.append(f"| {name} | {cell['before']:.2f} | {cell['after']:.2f} | {cell['after'] / cell['before']:.2f} | "
                     f"{f'{ref:.2f}' if ref else 'n/a'} | {rel('before')} | {rel('after')} |")
    print("\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_ab.json").write_text(json.dumps({"machine": info, "best": best, "rounds": args.rounds,
                                                            "before": str(trees["before"]),
                                                            "run_overrides": args.run_overrides}, indent=2) + "\n")


if __name__ == "__main__":
    main()
