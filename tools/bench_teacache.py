"""Step caching (``sampling.cache=teacache``, ltx2/sampling/step_cache.py): for a few thresholds, the speed-up of a
guided denoising loop against the exact run and the error of its final latents (relative RMS, video and audio),
with how many transformer passes were skipped. Same seeded noise and text contexts for every run.

    python tools/bench_teacache.py                        # the tiny model (seconds)
    python tools/make_full_size_checkpoint.py --layers 2 --out /tmp/ltx2.3-2blocks.safetensors
    python tools/bench_teacache.py --checkpoint /tmp/ltx2.3-2blocks.safetensors --steps 30  # real widths, 2 blocks
    python tools/bench_teacache.py --sampler res2s --thresholds 0.02 0.05 0.1

The loop: LTX2Scheduler sigmas, multimodal guidance (CFG 3, STG 1 on the last block, modality 3, rescale 0.7: four
passes a step), ``--sampler`` euler or res2s. Time is the loop alone (best of ``--repeats``), after one warm-up
run; the latents of the runs are compared with the exact run's. Not a test: the thresholds that keep the error
acceptable depend on the model's weights (the tiny model's random weights change more per step than a trained
model's, so it skips less at a given threshold). On the tiny model a pass costs less than deciding whether to skip
it (the signal, and a host sync per pass), so it shows no speed-up; real widths are what the figures are for.

Tiny model, 30 Euler steps, 96x64x17 (2026-12-06, 2 shared CPU cores, noisy timings): 0.02-0.1: nothing skipped;
0.2: 16/120 passes skipped, rel. RMS 0.018 (video) / 0.013 (audio); 0.5: 68/120 skipped, 0.14 / 0.10.

Real widths (the synthetic 2-block LTX-2.3 file, 30 Euler steps, 128x128x9: 32 video / 64 text tokens, float32,
quiet machine, 2026-12-06; ``--thresholds 0 0.2 0.5 --repeats 2``): exact 91.12 s; 0: 0.98x, nothing skipped;
0.2: 24/120 skipped, 1.18x, rel. RMS 0.0089 / 0.0097; 0.5: 76/120 skipped, 2.41x, 0.088 / 0.076. A single-repeat
run (thresholds 0.05 0.1 0.2 0.5): 0.05 and 0.1 skip nothing (1.10x / 1.11x: the exact run's noise), 0.2 1.32x,
0.5 2.60x, same errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bench_common import append_json  # noqa: E402  (tools/ is on sys.path when run as a script)
import ltx2  # noqa: E402,F401  (fast BLAS before mlx)
import mlx.core as mx  # noqa: E402
import numpy as np  # noqa: E402

from ltx2.loading.checkpoint import read_header  # noqa: E402
from ltx2.models.transformer import X0Model  # noqa: E402
from ltx2.models.transformer.load import load_transformer  # noqa: E402
from ltx2.sampling import (  # noqa: E402
    AudioLatentShape,
    DeterministicNoiser,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    VideoLatentShape,
    euler_loop,
    initial_audio_state,
    initial_video_state,
    res2s_loop,
    seeded_res2s_noise,
)
from ltx2.sampling import step_cache  # noqa: E402


def inputs(section: dict, frames: int, height: int, width: int, text_tokens: int, dtype: mx.Dtype):
    """Noised video and audio states and (positive, negative) text contexts of the widths the model takes."""
    v2 = section.get("caption_proj_before_connector", False)
    widths = (section["cross_attention_dim"] if v2 else section["caption_channels"],
              section["audio_cross_attention_dim"] if v2 else section["caption_channels"])
    keys = mx.random.split(mx.random.key(0), 6)
    contexts = [mx.random.normal((1, text_tokens, widths[i % 2]), key=keys[i]).astype(dtype) for i in range(4)]
    v_shape, a_shape = VideoLatentShape.from_pixels(frames, height, width), AudioLatentShape.from_video(frames, 24.0)
    video = initial_video_state(v_shape, 24.0, dtype, mx.zeros(v_shape.array_shape, dtype))
    audio = initial_audio_state(a_shape, dtype, mx.zeros(a_shape.array_shape, dtype))
    noiser = DeterministicNoiser([mx.random.normal(video.latent.shape, key=keys[4]).astype(dtype),
                                  mx.random.normal(audio.latent.shape, key=keys[5]).astype(dtype)])
    return noiser(video, 1.0), noiser(audio, 1.0), contexts


def denoise(model, section: dict, states, steps: int, sampler: str, threshold: float | None):
    """Final (video, audio) latents as numpy, and the cache's stats (None: the exact run)."""
    video, audio, ctx = states
    guide = MultiModalGuiderParams(cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0,
                                   stg_blocks=[section["num_layers"] - 1])
    denoiser = MultiModalGuidedDenoiser(model, ctx[0], ctx[1], guide, guide, ctx[2], ctx[3])
    settings = step_cache.CacheSettings() if threshold is None else step_cache.CacheSettings("teacache", threshold)
    sigmas = LTX2Scheduler(steps).sigmas()
    with step_cache.attached(settings) as stats:
        wrapped = step_cache.wrap(denoiser)
        if sampler == "res2s":
            v, a = res2s_loop(sigmas, video, audio, wrapped, noise=seeded_res2s_noise(0))
        else:
            v, a = euler_loop(sigmas, video, audio, wrapped)
        mx.eval(v.latent, a.latent)
    return (np.array(v.latent.astype(mx.float32)), np.array(a.latent.astype(mx.float32))), stats


def rel_rms(ours: np.ndarray, exact: np.ndarray) -> float:
    return float(np.sqrt(np.mean((ours - exact) ** 2) / max(np.mean(exact ** 2), 1e-30)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="an LTX-2 / 2.3 transformer file (default: the tiny model, written "
                                             "to a temporary folder)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--sampler", default="euler", choices=("euler", "res2s"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2, 0.5])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    checkpoint = args.checkpoint
    if checkpoint is None:
        import tempfile

        from ltx2.tiny.checkpoint import write_tiny_checkpoint

        checkpoint = write_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny.safetensors", "ltx2.3", seed=3)
    section = read_header(checkpoint).section("transformer")
    model = X0Model(load_transformer(checkpoint, args.dtype))
    dtype = getattr(mx, args.dtype)
    states = inputs(section, args.frames, args.height, args.width, args.text_tokens, dtype)

    def timed(threshold):
        best, out = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = denoise(model, section, states, args.steps, args.sampler, threshold)
            best = min(best, time.perf_counter() - start)
        return best, out

    denoise(model, section, states, args.steps, args.sampler, None)  # warm-up (kernels, RoPE tables)
    exact_s, ((exact_v, exact_a), _) = timed(None)
    rows = []
    for threshold in args.thresholds:
        seconds, ((v, a), stats) = timed(threshold)
        rows.append({"threshold": threshold, "seconds": round(seconds, 3), "speedup": round(exact_s / seconds, 3),
                     "skipped": stats.skipped, "passes": stats.passes,
                     "rel_rms_video": round(rel_rms(v, exact_v), 5), "rel_rms_audio": round(rel_rms(a, exact_a), 5)})
    result = {"checkpoint": str(checkpoint), "blocks": section["num_layers"],
              "width": section["num_attention_heads"] * section["attention_head_dim"], "dtype": args.dtype,
              "sampler": args.sampler, "steps": args.steps, "size": [args.width, args.height, args.frames],
              "exact_seconds": round(exact_s, 3), "runs": rows}
    print(f"{Path(checkpoint).name}: {section['num_layers']} blocks, width {result['width']}, {args.sampler}, "
          f"{args.steps} steps, exact {exact_s:.2f} s")
    print("| threshold | skipped / passes | speed-up | rel. RMS video | rel. RMS audio |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threshold']} | {r['skipped']} / {r['passes']} | {r['speedup']:.2f}x | {r['rel_rms_video']:.4f} "
              f"| {r['rel_rms_audio']:.4f} |")
    append_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
