"""`python -m ltx2.rerun RUN_DIR [overrides]`: compose a new run from a saved one.

The saved run's overrides (``RUN_DIR/.hydra/overrides.yaml``) are applied again, then yours (yours win for the
same key); the result goes to a new run directory. With no overrides, the new video is bit-identical to the old
one on the same machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def merged_overrides(saved: list[str], new: list[str]) -> list[str]:
    replaced = {_key(o) for o in new}
    return [o for o in saved if _key(o) not in replaced] + list(new)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if argv else 2)
    run_dir, new = Path(argv[0]), argv[1:]
    saved_file = run_dir / ".hydra" / "overrides.yaml"
    if not saved_file.is_file():
        print(f"ltx2: {run_dir} is not an ltx2 run directory (no .hydra/overrides.yaml)", file=sys.stderr)
        sys.exit(2)
    saved = [str(o) for o in OmegaConf.load(saved_file)]
    overrides = merged_overrides([o for o in saved if not o.startswith("hydra.")], new)
    print(f"ltx2: re-running {run_dir} with: {' '.join(overrides) or '(no overrides)'}", file=sys.stderr)
    sys.argv = [sys.argv[0], *overrides]
    from ltx2.run import main as run_main

    run_main()


if __name__ == "__main__":
    main()
