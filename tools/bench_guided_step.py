"""Time one guided denoising step (multimodal guidance: positive, negative, STG, isolated = 4 passes).

Compares, interleaved in one process, median of ``--repeats``:
  before     pure-MLX transformer (the MLX versions of ltx2/ops.py), passes one by one (guider.batch_passes=false)
  kernels    CPU fast paths, passes one by one
  batched    CPU fast paths, the four passes as one batched forward (guider.batch_passes=true)
on a tiny LTX-2.3 model (``--width/--height/--frames`` set the latent grid), with MLX's peak memory of a step.

    flock /tmp/ltx2-heavy.lock python tools/bench_guided_step.py [--width 96 --height 64 --frames 17]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)
import mlx.core as mx

from ltx2 import ops
from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.sampling import (
    AudioLatentShape,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    VideoLatentShape,
    initial_audio_state,
    initial_video_state,
)
from ltx2.tiny.checkpoint import tiny_transformer_section, write_tiny_checkpoint

GUIDANCE = {"cfg_scale": 3.0, "stg_scale": 1.0, "rescale_scale": 0.7, "modality_scale": 3.0, "stg_blocks": [1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--text-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    path = Path(tempfile.mkdtemp()) / "tiny.safetensors"
    write_tiny_checkpoint(path, "ltx2.3", seed=0)
    model = X0Model(load_transformer(path, "float32"))
    path.unlink()
    section = tiny_transformer_section("ltx2.3")
    v_shape = VideoLatentShape.from_pixels(args.frames, args.height, args.width)
    a_shape = AudioLatentShape.from_video(args.frames, 24.0)
    keys = mx.random.split(mx.random.key(0), 6)
    video = initial_video_state(v_shape, 24.0, mx.float32, mx.random.normal(v_shape.array_shape, key=keys[0]))
    audio = initial_audio_state(a_shape, mx.float32, mx.random.normal(a_shape.array_shape, key=keys[1]))
    widths = (section["cross_attention_dim"], section["audio_cross_attention_dim"])
    v_pos, a_pos, v_neg, a_neg = (mx.random.normal((1, args.text_tokens, widths[i % 2]), key=keys[2 + i])
                                  for i in range(4))
    sigmas = LTX2Scheduler(4).sigmas()
    params = MultiModalGuiderParams(**GUIDANCE)

    def step(kernels: bool, batch: bool):
        def run():
            with ops.only(*(["cpu"] if kernels else [])):  # the CPU backend's ops, or the MLX versions alone
                denoiser = MultiModalGuidedDenoiser(model, v_pos, a_pos, params, params, v_neg, a_neg,
                                                    batch_passes=batch)
                mx.eval(denoiser(video, audio, sigmas, 1))
        return run

    variants = {"before": step(False, False), "kernels": step(True, False), "batched": step(True, True)}
    times = {name: [] for name in variants}
    peaks = {}
    for name, fn in variants.items():  # warm-up, measuring MLX's peak memory of one step
        mx.reset_peak_memory()
        fn()
        peaks[name] = mx.get_peak_memory()
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(f"guided step (4 passes), video {v_shape.tokens} tokens, audio {a_shape.tokens} tokens, "
          f"text {args.text_tokens}; median of {args.repeats}:")
    before = statistics.median(times["before"])
    for name, t in times.items():
        m = statistics.median(t)
        print(f"  {name:8s} {1000 * m:8.1f} ms   {before / m:5.2f}x faster than before   "
              f"peak MLX memory {peaks[name] / 2**20:7.1f} MiB")


if __name__ == "__main__":
    main()
