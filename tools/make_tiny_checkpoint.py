"""Write the tiny official-format files (deterministic from a seed): LTX-2 and LTX-2.3 single-file checkpoints
(transformer, text connectors, video VAE, audio VAE, vocoder), a tiny Gemma 3 root, and the latent upsamplers.

    python tools/make_tiny_checkpoint.py --out runs/tiny
    python tools/make_tiny_checkpoint.py --seed 3 --out /tmp/t
    python tools/make_tiny_checkpoint.py --fp8      # also tiny-<version>-fp8.safetensors (official float8 layout)
"""

import argparse
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.tiny.checkpoint import VERSIONS, write_tiny_files
from ltx2.tiny.fp8 import write_fp8_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/tiny"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp8", action="store_true", help="also write the checkpoints in the layout of the official "
                        "*-fp8.safetensors (float8 e4m3 block linears with per-tensor scales, the rest bf16)")
    args = parser.parse_args()
    written = write_tiny_files(args.out, args.seed)
    if args.fp8:
        written += [write_fp8_checkpoint(args.out / f"tiny-{v}.safetensors", args.out / f"tiny-{v}-fp8.safetensors")
                    for v in sorted(VERSIONS)]
    for path in written:
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        print(f"wrote {path}{'/' if path.is_dir() else ''} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
