"""Peak memory while loading a transformer: the loader must not hold two copies of the weights.

Writes a synthetic official-format checkpoint with the real LTX-2 19B widths and a few blocks (>= 1 GB),
then loads it in a fresh process and compares the process's peak RSS with the transformer's bytes.

    python tools/bench_load_rss.py [--layers 2] [--dtype bfloat16] [--keep PATH]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LTX2_19B_WIDTHS = {
    "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096, "caption_channels": 3840,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048,
}

_WRITER = """
import json, sys
import ltx2, mlx.core as mx
from ltx2.tiny.checkpoint import write_tiny_checkpoint
write_tiny_checkpoint(sys.argv[1], "ltx2", seed=0, dtype=getattr(mx, sys.argv[2]), transformer=json.loads(sys.argv[3]))
"""

_CHILD = """
import json, resource, sys, time
import ltx2, mlx.core as mx
from mlx.utils import tree_flatten
from ltx2.models.transformer.load import load_transformer
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
model = load_transformer(sys.argv[1], sys.argv[2])
seconds = time.perf_counter() - start
nbytes = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"model_bytes": nbytes, "peak_rss": peak, "rss_before_load": base, "seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dtype", default="bfloat16", help="file and compute dtype")
    parser.add_argument("--keep", type=Path, help="write the checkpoint here and keep it")
    args = parser.parse_args()

    path = args.keep or Path(tempfile.mkdtemp()) / "synthetic-19b-widths.safetensors"
    start = time.perf_counter()
    # Each step in its own process: Linux keeps a parent's peak RSS across fork+exec, so this process stays small.
    subprocess.run([sys.executable, "-c", _WRITER, str(path), args.dtype,
                    json.dumps(dict(LTX2_19B_WIDTHS, num_layers=args.layers))], check=True)
    size = path.stat().st_size
    print(f"wrote {path}: {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), args.dtype], capture_output=True, text=True,
                         check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    gb = 1e9
    print(f"transformer weights: {r['model_bytes'] / gb:.2f} GB ({args.dtype}), loaded in {r['seconds']:.1f} s")
    print(f"peak RSS while loading: {r['peak_rss'] / gb:.2f} GB (process before loading: {r['rss_before_load'] / gb:.2f} GB)")
    print(f"peak RSS / weight bytes: {r['peak_rss'] / r['model_bytes']:.2f}x (acceptance: <= 1.3x)")
    if not args.keep:
        path.unlink()


if __name__ == "__main__":
    main()
