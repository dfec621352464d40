"""The full text encoding (Gemma's hidden states of one prompt) at the real Gemma 3 12B width with the layers
streamed from disk (``model.offload=disk``), next to the planner's prediction: peak RSS, seconds split into
waiting for reads and computing. Run it in a fresh process per configuration (peak RSS is per process):

    python tools/make_full_size_checkpoint.py --gemma3 --out /work/scratch/fullsize/gemma-3-12b        # ~23.5 GB
    python tools/bench_full_size_text.py --gemma /work/scratch/fullsize/gemma-3-12b
    python tools/bench_full_size_text.py --gemma /work/scratch/fullsize/gemma-3-12b --quantize 8
    # streaming against in memory where it fits (a real-width 2-layer Gemma):
    python tools/make_full_size_checkpoint.py --gemma3 --layers 2 --out /tmp/gemma-3-12b-2layers
    python tools/bench_full_size_text.py --gemma /tmp/gemma-3-12b-2layers --offload none
    python tools/bench_full_size_text.py --gemma /tmp/gemma-3-12b-2layers --offload disk

``--gemma`` also takes an LTX-2.5 text-encoder file (Gemma 4). Float32 compute by default (MLX's CPU bf16 matmul
is ~20x slower than float32); ``--tokens`` prompt tokens, all attended (a real run pads to 1024).

Measured (2026-12-06, this 2-core / 24 GB Linux machine shared with other work, load average ~9, MLX 0.32 CPU,
float32, 128 tokens, the synthetic 2-layer real-width Gemma 3 (2.91 GB: embedding table 2.0 GB + 2 x 0.45 GB
layers, bf16, in the page cache); two passes each:

| offload | peak RSS GiB | predicted GiB | s / pass | waiting for reads s | computing s |
|---|---|---|---|---|---|
| none (in memory) | 7.67 | 5.77 (-24.8%: the bf16 table and its float32 copy while loading) | 4.7-4.9 | - | 4.7-4.9 |
| disk | 2.37 | 2.24 (-5.5%) | 11.4-13.8 | 4.3-5.1 | 6.8-8.3 |
| disk, text 8-bit | 2.35 | 2.24 (-4.7%) | 172 (MLX CPU quantized matmul) | 4.0 | 168 |

The whole 48-layer synthetic Gemma 3 12B (23.5 GB bf16 folder, 21.5 GB of layers read per pass; quiet machine,
2026-12-06, float32, two passes each; in memory it would need 43.8 GiB, more than this machine has):

| tokens | peak RSS GiB | predicted GiB | s / pass | waiting for reads s | computing s |
|---|---|---|---|---|---|
| 128 | 2.51 | 2.26 (-9.8%) | 54-57 | 5.3-9.5 | 46-47 |
| 1024 (a real run's padded length) | 3.28 | 3.01 (-8.3%) | 205-212 | 0.0-0.8 | 204-211 |

(A first 1024-token run measured 3.93 GiB: this tool then kept the previous pass's 49 hidden states, 0.72 GiB,
while computing the next; it now drops them first, as the prediction for one prompt assumes.) The planner's
bfloat16 figure for the 48 layers: 0.95 GiB streamed against 21.9 GiB in memory. Reading 0.45 GB per layer
(pread, widening to float32, the MLX copy) took ~2 s on the two busy cores and overlaps the next layer's compute
only from the second layer on.

Prediction = the process before loading + the planner's Gemma bytes (``estimates.streamed_gemma`` streamed, else
``tensors_bytes``) + its text-encoding activations for ``--tokens`` tokens and one prompt
(``estimates.text_encode``) less the embeddings processor's float32 feature stack, which this tool does not build.
``--json`` appends the result to a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bench_common import print_and_append  # noqa: E402  (tools/ is on sys.path when run as a script)
import ltx2  # noqa: E402,F401  (fast BLAS before mlx)
import mlx.core as mx  # noqa: E402

from ltx2.experiment import estimates as est  # noqa: E402
from ltx2.experiment.planner import GIB, peak_rss, process_rss  # noqa: E402
from ltx2.loading.checkpoint import read_header  # noqa: E402
from ltx2.loading.streamed_text import (  # noqa: E402
    load_streamed_gemma,
    load_streamed_text_encoder_file,
    streamed_layers,
)
from ltx2.models.text.gemma import VISION_PREFIXES, gemma_shards, load_gemma  # noqa: E402
from ltx2.models.text.te_file import (  # noqa: E402
    TEXT_ONLY_EXCLUDED,
    is_text_encoder_file,
    load_text_encoder_file,
    read_gemma_hf_config,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gemma", required=True, help="a Gemma 3 root folder or an LTX-2.5 text-encoder file")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--quantize", type=int, default=None, help="text-encoder bits (8 or 4)")
    parser.add_argument("--offload", default="disk", choices=("disk", "none"))
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--passes", type=int, default=1, help="encodings (a run encodes the prompt and the negative)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    dtype = getattr(mx, args.dtype)
    b = est.DTYPE_BYTES[args.dtype]
    is_file = is_text_encoder_file(args.gemma)
    if is_file:
        hf, tensors, excluded = read_gemma_hf_config(args.gemma), read_header(args.gemma).tensors, TEXT_ONLY_EXCLUDED
    else:
        hf = json.loads((Path(args.gemma) / "config.json").read_text())
        tensors = {k: v for f in gemma_shards(args.gemma) for k, v in read_header(f).tensors.items()}
        excluded = VISION_PREFIXES
    config = est.gemma_config_of(hf)
    ids = mx.random.randint(0, config["vocab_size"], (1, args.tokens), key=mx.random.key(0))
    mask = mx.ones((1, args.tokens), mx.int32)
    mx.eval(ids, mask)
    before = process_rss()
    if args.offload == "disk":
        parts = est.streamed_gemma(tensors, b, args.quantize, excluded, args.tokens)
    else:
        parts = {"top": est.tensors_bytes(tensors, ("",), b, args.quantize, excluded), "layers": 0}
    features = 4 * (config["num_hidden_layers"] + 1) * args.tokens * config["hidden_size"]
    activations = est.text_encode(config, args.tokens, 1, b) - features
    predicted = before + parts["top"] + parts["layers"] + activations

    start = time.perf_counter()
    if args.offload == "disk":
        load = load_streamed_text_encoder_file if is_file else load_streamed_gemma
    else:
        load = load_text_encoder_file if is_file else load_gemma
    model = load(args.gemma, dtype, args.quantize)
    load_s = time.perf_counter() - start
    layers = streamed_layers(model)
    passes, states = [], None
    for _ in range(args.passes):
        del states  # one encoding held at a time, as the prediction (one prompt) counts
        if layers is not None:
            layers.stats.reset()
        start = time.perf_counter()
        states = model.hidden_states(ids, mask)
        mx.eval(states)
        seconds = time.perf_counter() - start
        stats = layers.stats if layers is not None else None
        passes.append({"seconds": round(seconds, 2), "read_wait_s": round(stats.read_s, 2) if stats else 0.0,
                       "compute_s": round(stats.compute_s, 2) if stats else round(seconds, 2),
                       "read_gb": round(stats.read_bytes / 1e9, 2) if stats else 0.0})
    finite = bool(mx.isfinite(states[-1]).all())
    del states
    peak = peak_rss()
    result = {"gemma": str(args.gemma), "offload": args.offload, "dtype": args.dtype, "quantize": args.quantize,
              "layers": config["num_hidden_layers"], "hidden": config["hidden_size"], "tokens": args.tokens,
              "load_s": round(load_s, 2), "passes": passes, "rss_before_load_gib": round(before / GIB, 3),
              "peak_rss_gib": round(peak / GIB, 3), "predicted_peak_gib": round(predicted / GIB, 3),
              "predicted_parts_gib": {"weights": round(parts["top"] / GIB, 3),
                                      "streamed_layers": round(parts["layers"] / GIB, 3),
                                      "activations": round(activations / GIB, 3)},
              "prediction_error": round(predicted / peak - 1, 3), "finite": finite}
    print_and_append(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
