"""Peak memory and time of loading the transformer quantized (model.quantize=8|4) or from an fp8 checkpoint, at the
real LTX-2 19B widths with a few blocks: the quantizing loader must never hold the whole model unquantized.

Writes a synthetic bf16 checkpoint (random unit-scale weights, tensor by tensor) and its official-layout fp8
variant (ltx2.tiny.fp8: block linears float8 e4m3 + per-tensor scales; here no block is kept in bf16), then loads
each case in a fresh process and prints the peak RSS (minus the RSS before loading), the model's bytes and their
ratio, and the load seconds.

    flock /tmp/ltx2-heavy.lock python tools/bench_quant_load.py [--layers 2]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_WRITER = """
import json, sys
import ltx2, mlx.core as mx, numpy as np
from ltx2.loading.fp8 import write_safetensors
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.load import PREFIX
from ltx2.models.transformer.model import LTXModel
from ltx2.tiny.checkpoint import random_weights, tiny_transformer_section
from ltx2.tiny.fp8 import write_fp8_checkpoint
from mlx.utils import tree_flatten
widths = json.loads(sys.argv[3])
section = tiny_transformer_section("ltx2", **widths)
shapes = {k: tuple(v.shape) for k, v in tree_flatten(LTXModel(TransformerConfig.from_metadata(section)).parameters())}
entries = {}
for i, key in enumerate(sorted(shapes)):
    value = mx.array(random_weights({key: shapes[key]}, seed=i)[key]).astype(mx.bfloat16)
    entries[PREFIX + key] = ("BF16", shapes[key], np.array(value.view(mx.uint16)).tobytes())
write_safetensors(sys.argv[1], entries, {"config": json.dumps({"transformer": section}), "model_version": "2.0.0"})
del entries
write_fp8_checkpoint(sys.argv[1], sys.argv[2], full_precision_blocks=())
"""

_CHILD = """
import json, resource, sys, time
import ltx2, mlx.core as mx
from mlx.utils import tree_flatten
from ltx2.models.transformer.load import load_transformer
quantize = None if sys.argv[2] == "none" else int(sys.argv[2])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
model = load_transformer(sys.argv[1], "bfloat16", quantize=quantize)
seconds = time.perf_counter() - start
nbytes = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"model_bytes": nbytes, "peak_rss": peak, "rss_before_load": base, "seconds": seconds}))
"""

WIDTHS = {"num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096, "caption_channels": 3840,
          "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-quant-load-"))
    bf16, fp8 = folder / "bf16.safetensors", folder / "fp8.safetensors"
    try:
        print(f"writing {args.layers}-block checkpoints at LTX-2 19B widths in {folder} ...", flush=True)
        subprocess.run([sys.executable, "-c", _WRITER, str(bf16), str(fp8),
                        json.dumps(dict(WIDTHS, num_layers=args.layers))], check=True)
        print(f"files: bf16 {bf16.stat().st_size / 2**30:.2f} GiB, fp8 {fp8.stat().st_size / 2**30:.2f} GiB")
        print(f"{'file':5s} {'quantize':>8s} {'model GiB':>9s} {'peak RSS - before, GiB':>22s} {'x model':>8s} "
              f"{'load s':>7s}")
        for path, quantize in ((bf16, "none"), (bf16, "8"), (bf16, "4"), (fp8, "none"), (fp8, "8")):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), quantize], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            grown = r["peak_rss"] - r["rss_before_load"]
            print(f"{path.stem:5s} {quantize:>8s} {r['model_bytes'] / 2**30:9.3f} {grown / 2**30:22.3f} "
                  f"{grown / r['model_bytes']:8.2f} {r['seconds']:7.2f}", flush=True)
    finally:
        for p in (bf16, fp8):
            p.unlink(missing_ok=True)
        folder.rmdir()


if __name__ == "__main__":
    main()
