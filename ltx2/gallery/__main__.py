"""`python -m ltx2.gallery DIR [--rows KEY] [--cols KEY] [--sheet]`: write DIR/index.html (see ltx2/gallery)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from ltx2.errors import ConfigError
    from ltx2.gallery import write_gallery
    from ltx2.gallery.identical import describe as describe_identical

    parser = argparse.ArgumentParser(prog="python -m ltx2.gallery",
                                     description="Write a self-contained index.html for a sweep or a runs root.")
    parser.add_argument("dir", type=Path, metavar="DIR", help="a sweep directory or a runs root (runs/)")
    parser.add_argument("--rows", help="the swept key laid out as rows (default: the first swept key)")
    parser.add_argument("--cols", help="the swept key laid out as columns (default: the second)")
    parser.add_argument("--sheet", action="store_true", help="also write sweep_grid.mp4 / sweep_grid.png")
    args = parser.parse_args(argv)
    if not args.dir.is_dir() or not any(args.dir.rglob("run_record.json")):
        print(f"ltx2: {args.dir} holds no ltx2 runs (no run_record.json in it or below it). Fix: pass a sweep "
              "directory or a runs root that `python -m ltx2.run` wrote", file=sys.stderr)
        return 2
    try:
        result = write_gallery(args.dir, args.rows, args.cols, sheet=args.sheet)
    except ConfigError as e:
        print(f"ltx2: {e}", file=sys.stderr)
        return 2
    for group in result["identical"]:
        print(f"ltx2: {describe_identical(group)}", file=sys.stderr)
    print(result["index"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
