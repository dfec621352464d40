"""One forward of the audio-video transformer at the real LTX-2 19B widths, MLX against ltx-core.

2 blocks, 32x128 video heads, 32x64 audio heads, real feed-forward sizes; ~1,500 video tokens, 120 audio tokens and
1,024 text tokens; the same fp32 weights (one synthetic checkpoint file) in both; 2 threads each; one process.
Runs are interleaved (ours with the CPU backend's ops, ``ltx2/backends/cpu``, the same with the RoPE tables rebuilt as
on a first step instead of reused from the previous call, ours without the fast paths, the reference) and
the median of each is reported, with the ratios MLX/reference, and how the MLX time splits between matrix products
and the rest (each recorded matmul / softmax / GELU shape replayed on its own and timed, through the same kernels
the model uses).

    flock /tmp/ltx2-heavy.lock python tools/bench_transformer.py [--repeats 5] [--layers 2]
"""

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)
import mlx.core as mx
import numpy as np
from _bench_common import time_it  # tools/ is on sys.path when run as a script

from ltx2 import ops
from ltx2.backends.cpu import transformer as cpu_kernels
from ltx2.models.transformer import BatchPerturbations, Modality, audio_positions, video_positions
from ltx2.models.transformer import rope as rope_module
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import write_tiny_checkpoint

WIDTHS = {"num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096, "caption_channels": 3840,
          "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048}
LATENT_GRID = (6, 16, 16)  # 1,536 video tokens: 41 frames at 512x512
AUDIO_TOKENS, TEXT_TOKENS, SIGMA = 120, 1024, 0.8


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    f, h, w = LATENT_GRID
    vt = f * h * w

    def normal(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32))

    sigma = mx.array(SIGMA)
    video = Modality(normal(1, vt, 128), sigma, mx.full((1, vt, 1), SIGMA), video_positions(f, h, w, 24.0),
                     normal(1, TEXT_TOKENS, 3840))
    audio = Modality(normal(1, AUDIO_TOKENS, 128), sigma, mx.full((1, AUDIO_TOKENS, 1), SIGMA),
                     audio_positions(AUDIO_TOKENS), normal(1, TEXT_TOKENS, 3840))
    return video, audio


def time_interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, the runs of all interleaved so that load changes hit them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def kernels(on: bool):
    """Run ``fn`` with the CPU backend's ops (``ltx2/backends/cpu``) selected, or the MLX versions alone."""
    def wrap(fn):
        def run():
            with ops.only(*(["cpu"] if on else [])):
                fn()
        return run
    return wrap


def record_shapes(model, video, audio):
    """Run one forward recording matmul, softmax and GELU shapes (through the ops the model calls)."""
    matmuls, softmaxes, gelus = Counter(), Counter(), Counter()
    linear, linear_gelu, qk_norm_rope, attention = ops.linear, ops.linear_gelu, ops.qk_norm_rope, ops.attention

    def record_linear(weight, x):
        matmuls[("linear", int(np.prod(x.shape[:-1])), weight.shape[1], weight.shape[0])] += 1

    def linear_(x, weight, bias=None):
        record_linear(weight, x)
        return linear(x, weight, bias)

    def linear_gelu_(layer, x):  # the CPU version computes the product itself
        record_linear(layer.weight, x)
        gelus[(int(np.prod(x.shape[:-1])), layer.weight.shape[0])] += 1
        return linear_gelu(layer, x)

    def qk_norm_rope_(layer, x, *args):
        record_linear(layer.weight, x)
        return qk_norm_rope(layer, x, *args)

    def attention_(q, k, v, heads, scale, mask=None):
        b, t, s, d = q.shape[0], q.shape[1], k.shape[1], q.shape[2] // heads
        matmuls[("scores", b * heads, t, d, s)] += 1  # q @ k^T per head
        matmuls[("values", b * heads, t, s, d)] += 1  # p @ v per head
        softmaxes[(b, heads, t, s)] += 1
        return attention(q, k, v, heads, scale, mask)

    ops.linear, ops.linear_gelu, ops.qk_norm_rope, ops.attention = linear_, linear_gelu_, qk_norm_rope_, attention_
    try:
        with ops.only("cpu"):  # the CPU versions call x @ W^T themselves: each product is counted once
            mx.eval(model(video, audio, BatchPerturbations.none()))
    finally:
        ops.linear, ops.linear_gelu, ops.qk_norm_rope, ops.attention = linear, linear_gelu, qk_norm_rope, attention
    return matmuls, softmaxes, gelus


def replay(matmuls, softmaxes, gelus, repeats):
    """Seconds spent in each kind of op when run alone at the recorded shapes."""
    seconds, flops = {"matmul": 0.0, "softmax": 0.0, "gelu": 0.0}, 0
    for (kind, *dims), count in matmuls.items():
        if kind == "linear":  # x (m, k) @ weight (n, k)^T, as nn.Linear does
            m, k, n = dims
            a, w = mx.random.normal((m, k)), mx.random.normal((n, k))
            mx.eval(a, w)
            seconds["matmul"] += count * time_it(lambda: mx.eval(a @ w.T), repeats)
        else:  # batched over heads
            bh, m, k, n = dims
            a, w = mx.random.normal((bh, m, k)), mx.random.normal((bh, k, n))
            mx.eval(a, w)
            seconds["matmul"] += count * time_it(lambda: mx.eval(a @ w), repeats)
            m *= bh
        flops += count * 2 * m * k * n
    fast = cpu_kernels.active(mx.zeros(1), elements=1 << 30)  # the model's switch for a large softmax
    for shape, count in softmaxes.items():
        s = mx.random.normal(shape)
        mx.eval(s)
        if fast:  # in place on the (already random) buffer, as the model does with its scores
            view = np.asarray(s)
            blocks = cpu_kernels._paired_row_blocks(view, np.empty(view.shape[:-1], np.float32))
            seconds["softmax"] += count * time_it(lambda: cpu_kernels.parallel(cpu_kernels._exp_rows, blocks),
                                                  repeats)
        else:
            seconds["softmax"] += count * time_it(lambda: mx.eval(mx.softmax(s, axis=-1)), repeats)
    for shape, count in gelus.items():
        x = mx.random.normal(shape)
        mx.eval(x)
        seconds["gelu"] += count * time_it(lambda: mx.eval(ops.linear_gelu(lambda a: a * 1.0, x)), repeats)
    return seconds, flops


def load_pair(layers: int):
    """Ours and ltx-core's transformer on the same random fp32 weights at LTX-2 19B widths (2 torch threads);
    puts tests/ on sys.path for ``reference_transformer``."""
    import sys

    import torch

    torch.set_num_threads(2)
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("tests", "tests/pipelines")]
    from oracles.transformer import load_reference

    path = Path(tempfile.mkdtemp()) / "bench-19b-widths.safetensors"
    print(f"writing fp32 weights ({layers} block(s) at LTX-2 19B widths) ...", flush=True)
    write_tiny_checkpoint(path, "ltx2", seed=0, transformer=dict(WIDTHS, num_layers=layers))
    ours = load_transformer(path, "float32")
    ref = load_reference(path).velocity_model
    path.unlink()
    return ours, ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    import torch

    ours, ref = load_pair(args.layers)  # puts tests/ on sys.path
    from oracles.transformer import reference_modality, reference_perturbations

    video, audio = make_inputs()
    ref_args = (reference_modality(video, torch.float32), reference_modality(audio, torch.float32),
                reference_perturbations(BatchPerturbations.none()))
    print(f"tokens: video {video.latent.shape[1]}, audio {AUDIO_TOKENS}, text {TEXT_TOKENS}; threads: 2 (torch), "
          f"MLX CPU + MKL", flush=True)

    def run_ours():
        mx.eval(ours(video, audio, BatchPerturbations.none()))

    def run_ref():
        with torch.no_grad():
            ref(*ref_args)

    def run_ours_fresh_tables():  # as a first denoising step: RoPE tables computed, not reused from the last call
        rope_module._recent_tables.clear()
        run_ours()

    medians = time_interleaved({"ours": kernels(True)(run_ours), "fresh": kernels(True)(run_ours_fresh_tables),
                                "plain": kernels(False)(run_ours), "ref": run_ref}, args.repeats)
    t_ours, t_ref = medians["ours"], medians["ref"]
    with torch.no_grad():
        rv, ra = ref(*ref_args)
    v, a = ours(video, audio, BatchPerturbations.none())
    err = max(float(np.abs(np.array(v) - rv.numpy()).max()), float(np.abs(np.array(a) - ra.numpy()).max()))
    scale = max(float(np.abs(rv.numpy()).max()), float(np.abs(ra.numpy()).max()))
    print(f"medians of {args.repeats} interleaved runs:")
    print(f"MLX (ltx2), CPU fast paths: {t_ours:7.3f} s   ratio to reference {t_ours / t_ref:5.2f}")
    print(f"  same, RoPE tables rebuilt: {medians['fresh']:7.3f} s   ratio to reference {medians['fresh'] / t_ref:5.2f}")
    print(f"MLX (ltx2), pure MLX:       {medians['plain']:7.3f} s   ratio to reference {medians['plain'] / t_ref:5.2f}")
    print(f"ltx-core (torch):           {t_ref:7.3f} s")
    print(f"max abs difference of outputs: {err:.2e} (outputs' max abs {scale:.2f})")

    seconds, flops = replay(*record_shapes(ours, video, audio), args.repeats)
    rest = t_ours - sum(seconds.values())
    print(f"MLX time split (ops replayed alone at the recorded shapes; {flops / 1e9:.0f} GFLOP of matmuls):")
    for name, s in [*seconds.items(), ("everything else", rest)]:
        print(f"  {name:16s} {s:7.3f} s  {100 * s / t_ours:5.1f}%" + (
            f"  ({flops / s / 1e9:.0f} GFLOP/s)" if name == "matmul" else ""))


if __name__ == "__main__":
    main()
