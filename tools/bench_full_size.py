"""One real-width transformer step (a denoising forward, video + audio) with the blocks streamed from disk
(``model.offload=disk``), next to the planner's prediction: peak RSS, seconds split into waiting for reads and
computing. Run it in a fresh process per configuration (peak RSS is per process):

    python tools/make_full_size_checkpoint.py --out /work/scratch/fullsize/22b-bf16.safetensors
    python tools/bench_full_size.py --checkpoint /work/scratch/fullsize/22b-bf16.safetensors
    python -m ltx2.quantize model=/work/scratch/fullsize/22b-bf16.safetensors bits=8
    python tools/bench_full_size.py --checkpoint /work/scratch/fullsize/22b-bf16-q8.safetensors
    # streaming against in memory where it fits (a real-width 2-block model):
    python tools/bench_full_size.py --checkpoint 2blocks.safetensors --offload none --steps 3
    python tools/bench_full_size.py --checkpoint 2blocks.safetensors --offload disk --steps 3

Measured (2026-12-06, this 2-core / 24 GB Linux machine, MLX 0.32 CPU, shared with other benchmarks: load
average ~6; float32 compute, since MLX's CPU bf16 matmul is ~20x slower than float32; 64x64, 9 frames: 8 video,
9 audio, 16 text tokens; synthetic 22B files from tools/make_full_size_checkpoint.py):

| file | peak RSS GiB | predicted GiB | s/step | waiting for reads s | computing s |
|---|---|---|---|---|---|
| 22B bf16 (38.0 GB) | 4.74 | 4.78 (+0.8%) | 235 | 147 | 81 |
| 22B q8 (20.6 GB, python -m ltx2.quantize) | 2.70 | 2.53 (-6.4%) | 409 | 0.5 | 407 (MLX CPU quantized matmul) |
| 22B fp8 (21.8 GB), decoded by the reader thread | 5.00 | 4.78 (-4.3%) | 311 | 237 | 65 |
| 22B fp8, decoded on the main thread (before) | 4.92 | - | 291 | 15 | 267 |

Streaming against in memory, real-width 2-block model (1.55 GB of blocks read per step from the page cache):
- 768x512, 25 frames (1536 video, 26 audio, 128 text tokens), quiet machine (2026-12-06, 3 steps each):
  in memory 13.62 / 12.71 / 12.63 s, peak 4.92 GiB (predicted 5.52); streamed 17.95 / 16.17 / 14.91 s (read wait
  1.41 s in step 1, 0 after), peak 4.98 GiB (predicted 5.77): 1.26x over the 3 steps (1.18-1.32x per step).
- 32 video tokens, 128 text, busy machine (load ~6): in memory 2.1-2.4 s/step, streamed 10.5-17.8 s (read wait
  2.9-5.6 s): the reader's copies (pread, widening to float32, the MLX array) cost more than such a small forward.

Prediction = the process before loading + the planner's streamed-transformer bytes (or the in-memory weights)
+ its transformer-forward activations for these token counts (ltx2.experiment.estimates). ``--json`` appends the
result to a file.
"""

from __future__ import annotations

import argparse
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
from ltx2.loading.streamed_transformer import load_offloaded_transformer  # noqa: E402
from ltx2.loading.streaming import file_quantization  # noqa: E402
from ltx2.models.transformer import Modality, X0Model, audio_positions, video_positions  # noqa: E402
from ltx2.models.transformer.load import PREFIX, load_transformer  # noqa: E402
from ltx2.models.text.processor import AUDIO_CONNECTOR_PREFIX, VIDEO_CONNECTOR_PREFIX  # noqa: E402


def inputs(section: dict, frames: int, height: int, width: int, text_tokens: int, dtype: mx.Dtype):
    f, h, w = (frames - 1) // 8 + 1, height // 32, width // 32
    audio_tokens = max(1, round(frames / 24.0 * 25))
    video_ctx = section["cross_attention_dim"] if section.get("caption_proj_before_connector") else \
        section["caption_channels"]
    audio_ctx = section["audio_cross_attention_dim"] if section.get("caption_proj_before_connector") else \
        section["caption_channels"]
    k = mx.random.split(mx.random.key(0), 4)
    sigma = mx.array(0.9)
    video = Modality(latent=mx.random.normal((1, f * h * w, 128), key=k[0]).astype(dtype), sigma=sigma,
                     timesteps=mx.full((1, f * h * w, 1), 0.9, dtype), positions=video_positions(f, h, w, 24.0, 1),
                     context=mx.random.normal((1, text_tokens, video_ctx), key=k[1]).astype(dtype))
    audio = Modality(latent=mx.random.normal((1, audio_tokens, 128), key=k[2]).astype(dtype), sigma=sigma,
                     timesteps=mx.full((1, audio_tokens, 1), 0.9, dtype), positions=audio_positions(audio_tokens, 1),
                     context=mx.random.normal((1, text_tokens, audio_ctx), key=k[3]).astype(dtype))
    return video, audio, f * h * w, audio_tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--quantize", type=int, default=None, help="quantize while reading (8 or 4)")
    parser.add_argument("--offload", default="disk", choices=("disk", "none"))
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--text-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    dtype = getattr(mx, args.dtype)
    header = read_header(args.checkpoint)
    section = header.section("transformer")
    video, audio, video_tokens, audio_tokens = inputs(section, args.frames, args.height, args.width,
                                                      args.text_tokens, dtype)
    mx.eval(video.latent, audio.latent, video.context, audio.context)
    before = process_rss()
    b = est.DTYPE_BYTES[args.dtype]
    connectors = (VIDEO_CONNECTOR_PREFIX, AUDIO_CONNECTOR_PREFIX)
    if args.offload == "disk":
        weights = est.streamed_transformer(header.tensors, PREFIX, b, args.quantize, connectors)
    else:
        weights = {"top": est.tensors_bytes(header.tensors, (PREFIX,), b, args.quantize, connectors), "blocks": 0}
    activations = est.transformer_forward(section, video_tokens, audio_tokens, args.text_tokens, b)
    predicted = before + weights["top"] + weights["blocks"] + activations

    start = time.perf_counter()
    if args.offload == "disk" or file_quantization(args.checkpoint):
        model = load_offloaded_transformer(args.checkpoint, dtype, args.quantize, offload=args.offload)
    else:
        model = load_transformer(args.checkpoint, dtype, quantize=args.quantize)
    load_s = time.perf_counter() - start
    x0 = X0Model(model)
    steps = []
    for _ in range(args.steps):
        stats = getattr(model.transformer_blocks, "stats", None)
        if stats:
            stats.reset()
        start = time.perf_counter()
        v, a = x0(video, audio)
        mx.eval(v, a)
        seconds = time.perf_counter() - start
        steps.append({"seconds": round(seconds, 2), "read_wait_s": round(stats.read_s, 2) if stats else 0.0,
                      "compute_s": round(stats.compute_s, 2) if stats else round(seconds, 2),
                      "read_gb": round(stats.read_bytes / 1e9, 2) if stats else 0.0})
    peak = peak_rss()
    result = {"checkpoint": str(args.checkpoint), "offload": args.offload, "dtype": args.dtype,
              "quantize": args.quantize or (file_quantization(args.checkpoint) or {}).get("bits"),
              "blocks": section["num_layers"], "video_tokens": video_tokens, "audio_tokens": audio_tokens,
              "text_tokens": args.text_tokens, "load_s": round(load_s, 2), "steps": steps,
              "rss_before_load_gib": round(before / GIB, 3), "peak_rss_gib": round(peak / GIB, 3),
              "predicted_peak_gib": round(predicted / GIB, 3),
              "predicted_parts_gib": {"top": round(weights["top"] / GIB, 3),
                                      "blocks": round(weights["blocks"] / GIB, 3),
                                      "activations": round(activations / GIB, 3)},
              "prediction_error": round(predicted / peak - 1, 3), "finite": bool(mx.isfinite(v).all())}
    print_and_append(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
