"""Write tiny official-format LTX-2 / LTX-2.3 checkpoints and a tiny Gemma root (deterministic from a seed).

    python tools/make_tiny_checkpoint.py --out runs/tiny            # both versions
    python tools/make_tiny_checkpoint.py --version ltx2.3 --seed 3 --out /tmp/t
"""

import argparse
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.tiny import write_tiny_gemma_root
from ltx2.tiny import VERSIONS, write_tiny_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/tiny"), help="output folder")
    parser.add_argument("--version", choices=sorted(VERSIONS), action="append", help="default: all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for version in args.version or sorted(VERSIONS):
        path = write_tiny_checkpoint(args.out / f"tiny-{version}.safetensors", version, args.seed)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    gemma = write_tiny_gemma_root(args.out / "tiny-gemma", args.seed)  # text encoder for both versions
    print(f"wrote {gemma}/ (tiny Gemma 3 root: config, weights, byte-level tokenizer)")


if __name__ == "__main__":
    main()
