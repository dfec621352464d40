"""Write tiny official-format LTX-2 / LTX-2.3 checkpoints (deterministic from a seed).

    python tools/make_tiny_checkpoint.py --out runs/tiny            # both versions
    python tools/make_tiny_checkpoint.py --version ltx2.3 --seed 3 --out /tmp/t
"""

import argparse
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.upsampler.tiny import KINDS as UPSAMPLER_KINDS
from ltx2.models.upsampler.tiny import write_tiny_upsampler
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
    for kind in UPSAMPLER_KINDS:  # latent upsamplers live in files of their own
        path = write_tiny_upsampler(args.out / f"tiny-upsampler-{kind}.safetensors", kind, args.seed)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
