"""Quantized transformer at the real LTX-2 19B widths: forward time, weight bytes, resident memory and error,
for float32, bfloat16, 8-bit and 4-bit (MLX affine, group 64) weights, in one process.

2 blocks (--layers), 32x128 video heads, 32x64 audio heads, real feed-forward sizes; random unit-scale weights (N(0,
1/fan_in), as ltx2.tiny.checkpoint draws them, the same for every variant) built tensor by tensor in memory (no file); 64 video
tokens, 30 audio tokens, 128 text tokens by default (a small latent, the weight-bound regime; MLX's CPU bf16 and
quantized matmuls are slow: at 400 video tokens a q8 forward took 167 s against 3.5 s in float32). Each variant is
built from float32 and converted in place, one part at a time, after the previous one is freed (peak: the float32
model plus one block). q8/q4 quantize the block linears as ``model.quantize`` does (top-level layers and gates stay
float32, activations float32); bf16 casts every weight and computes in bf16. Prints per variant: forward seconds
(min of --repeats) and the ratio to float32 (same process), weight bytes and ratio, the resident memory the model
holds (RSS after building minus before: exact for the first variant, an underestimate for later ones, whose pages
partly reuse memory the previous variant freed without returning it to the OS; peak RSS of loading quantized in
fresh processes: tools/bench_quant_load.py), and the relative RMS / max error of the video and audio velocities against
float32. The float32 MLX model is the baseline; against ltx-core itself see tools/bench_transformer.py (its weights
would not fit beside these in ~6 GB).

    flock /tmp/ltx2-heavy.lock python tools/bench_quant.py [--repeats 2] [--layers 2] [--grid 1 8 8]
"""

import argparse
import gc
import os

import ltx2  # noqa: F401  (fast BLAS before mlx)
import mlx.core as mx
import numpy as np
from _bench_common import time_it  # tools/ is on sys.path when run as a script
from mlx.utils import tree_flatten

from ltx2.models.transformer import BatchPerturbations, Modality, audio_positions, video_positions
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.model import LTXModel
from ltx2.models.transformer.quantize import parameter_bytes, quantize_transformer
from ltx2.tiny.checkpoint import random_weights, tiny_transformer_section

WIDTHS = {"num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096, "caption_channels": 3840,
          "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048}
SIGMA = 0.8


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> int:
    gc.collect()
    mx.clear_cache()
    return rss_bytes()


def build_float32(layers: int) -> LTXModel:
    config = TransformerConfig.from_metadata(tiny_transformer_section("ltx2", **WIDTHS, num_layers=layers))
    model = LTXModel(config)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    for i, key in enumerate(sorted(shapes)):  # one tensor at a time: the peak is the model plus one tensor
        value = mx.array(random_weights({key: shapes[key]}, seed=i)[key])
        mx.eval(value)
        model.load_weights([(key, value)], strict=False)
    model.eval()
    return model


def convert(model: LTXModel, name: str) -> LTXModel:
    """``model`` (float32) turned into the variant in place, one tensor (bf16) or block (q8/q4) at a time, so the
    peak is the float32 model plus one converted part."""
    if name == "bf16":
        for key, value in tree_flatten(model.parameters()):
            cast = value.astype(mx.bfloat16)
            mx.eval(cast)
            model.load_weights([(key, cast)], strict=False)
    elif name in ("q8", "q4"):
        for i in range(len(model.transformer_blocks)):
            quantize_transformer(model, int(name[1]), 64, under=f"transformer_blocks.{i}")
            mx.eval(model.transformer_blocks[i].parameters())
    elif name != "fp32":
        raise ValueError(f"unknown variant {name!r}: fp32, bf16, q8 or q4")
    return model


def make_inputs(grid, audio_tokens, text_tokens, dtype, seed=0):
    rng = np.random.default_rng(seed)
    f, h, w = grid
    vt = f * h * w

    def normal(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32)).astype(dtype)

    sigma = mx.array(SIGMA)
    video = Modality(normal(1, vt, 128), sigma, mx.full((1, vt, 1), SIGMA), video_positions(f, h, w, 24.0, 1, dtype),
                     normal(1, text_tokens, 3840))
    audio = Modality(normal(1, audio_tokens, 128), sigma, mx.full((1, audio_tokens, 1), SIGMA),
                     audio_positions(audio_tokens, 1), normal(1, text_tokens, 3840))
    return video, audio


def relative_errors(ref: mx.array, x: mx.array) -> tuple[float, float]:
    ref, x = ref.astype(mx.float32), x.astype(mx.float32)
    return (float(mx.sqrt(mx.mean((ref - x) ** 2)) / mx.sqrt(mx.mean(ref**2))),
            float(mx.abs(ref - x).max() / mx.abs(ref).max()))


HEADER = (f"{'weights':8s} {'forward s':>9s} {'x fp32':>7s} {'weight GiB':>10s} {'x fp32':>7s} {'RSS GiB':>8s}"
          f"  {'video rel RMS / max':>20s}  {'audio rel RMS / max':>20s}")


def _print_row(name, results, total) -> None:
    """One variant's row, printed as soon as it is measured (a long run that is stopped keeps what it had)."""
    if name == "fp32":
        print(HEADER)
    seconds, nbytes, resident, (vr, vm), (ar, am) = results[name]
    print(f"{name:8s} {seconds:9.3f} {seconds / results['fp32'][0]:7.2f} {nbytes / 2**30:10.3f} {nbytes / total:7.2f} "
          f"{resident / 2**30:8.3f}  {vr:9.2e} / {vm:8.2e}  {ar:9.2e} / {am:8.2e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--grid", type=int, nargs=3, default=(1, 8, 8), help="latent frames, rows, columns")
    parser.add_argument("--audio-tokens", type=int, default=30)
    parser.add_argument("--text-tokens", type=int, default=128)
    parser.add_argument("--variants", nargs="+", default=["bf16", "q8", "q4"])
    args = parser.parse_args()

    print(f"{args.layers} blocks at LTX-2 19B widths; tokens: video {np.prod(args.grid)}, audio "
          f"{args.audio_tokens}, text {args.text_tokens}; MLX {mx.__version__} on {mx.default_device()}", flush=True)
    results, reference = {}, None
    for name in ["fp32", *args.variants]:
        before = settle()
        model = convert(build_float32(args.layers), name)
        resident = settle() - before
        if name == "fp32":
            total = parameter_bytes(model)
            per_block = sum(v.nbytes for k, v in tree_flatten(model.parameters())
                            if k.startswith("transformer_blocks.")) / args.layers
            top = total - per_block * args.layers
            print(f"float32 weights: {total / 2**30:.2f} GiB ({per_block / 2**30:.2f} GiB per block, "
                  f"{top / 2**30:.2f} GiB outside the blocks; at 48 blocks "
                  f"{100 * 48 * per_block / (top + 48 * per_block):.1f}% of the weights are in the blocks)", flush=True)
        dtype = mx.bfloat16 if name == "bf16" else mx.float32
        video, audio = make_inputs(args.grid, args.audio_tokens, args.text_tokens, dtype)

        def forward(model=model, video=video, audio=audio):
            mx.eval(model(video, audio, BatchPerturbations.none()))

        seconds = time_it(forward, args.repeats)
        v, a = model(video, audio, BatchPerturbations.none())
        mx.eval(v, a)
        if reference is None:
            reference = (v, a)
        results[name] = (seconds, parameter_bytes(model), resident, relative_errors(reference[0], v),
                         relative_errors(reference[1], a))
        _print_row(name, results, total)
        del model, v, a


if __name__ == "__main__":
    main()
