"""Benchmark the video VAE decoder at the real LTX-2 widths (random weights): MLX vs ltx-core, untiled and tiled.

    python tools/bench_vae.py                      # 33 frames at 256x384, tiles 128 px / 16 frames
    python tools/bench_vae.py --variants mlx-untiled --repeats 1
    python tools/bench_vae.py --frames 33 --height 384 --width 512 --mlx-weights bfloat16   # the memory target
    python tools/bench_vae.py --variants mlx-diffusion-untiled ref-diffusion-untiled --frames 9 --height 224 \
        --width 224                                # LTX-2.5's diffusion decoder (class-default widths)
    python tools/bench_vae.py --variants mlx-diffusion-untiled mlx-diffusion-tiled ref-diffusion-untiled \
        ref-diffusion-tiled --diffusion-widths tiny --frames 9 --height 224 --width 224   # a quick check that it runs

The ``*-diffusion-*`` variants run LTX-2.5's diffusion video decoder at the official class defaults (stage
widths 1024..128, head_dim 64, 8 stage-5 blocks, 2 steps; tiled: the decoder's minimum overlaps, 8 frames / 96 px,
so ``--tile-px`` must exceed 96; ``--diffusion-widths tiny``: model=tiny25's decoder widths, ltx2.tiny.diffusion_vae,
to check the variants run without the official widths' cost); the reference side is ltx-core 1.2.0's CHUNKED_EAGER
mode (eager tiled-SDPA neighborhood attention, what runs on a CPU) in the 1.2.0 oracle venv
($LTX2_ORACLE_PYTHON, else .venv-oracle/bin/python).

Each variant runs in a subprocess of its own, so that its peak RSS (``ru_maxrss`` of that child, weights
included) is measured alone, and also above that child's RSS once the weights are loaded (the "weights baseline");
both use 2 threads (torch.set_num_threads(2); MLX's BLAS is MKL with 2 threads).
Needs the test extras (torch + ltx-core) for the reference variants. MLX's time is dominated by BLAS sgemm:
``LTX2_BLAS=/path/to/libopenblas.so`` swaps MKL for OpenBLAS (on AMD Zen 5 with OpenBLAS 0.3.21 also set
``OPENBLAS_CORETYPE=SkylakeX``, which MKL's AMD code path cannot match).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONV_VARIANTS = ("mlx-untiled", "mlx-tiled", "ref-untiled", "ref-tiled")
DIFFUSION_VARIANTS = ("mlx-diffusion-untiled", "mlx-diffusion-tiled", "ref-diffusion-untiled", "ref-diffusion-tiled")
VARIANTS = CONV_VARIANTS + DIFFUSION_VARIANTS
DIFFUSION_VAE = {"_class_name": "CausalDiffusionVAE", "latent_channels": 128, "model_output_type": "v",
                 "decoder": {}}  # every decoder field at the class default
THREADS = 2
# The LTX-2 decoder section (diffusers' converter / ltx-core defaults; see the codecs spec).
LTX2_DECODER = {
    "dims": 3, "latent_channels": 128, "out_channels": 3, "patch_size": 4, "norm_layer": "pixel_norm",
    "causal_decoder": False, "timestep_conditioning": False, "decoder_base_channels": 128,
    "decoder_blocks": [["res_x", {"num_layers": 5, "inject_noise": False}],
                       ["compress_all", {"residual": True, "multiplier": 2}],
                       ["res_x", {"num_layers": 5, "inject_noise": False}],
                       ["compress_all", {"residual": True, "multiplier": 2}],
                       ["res_x", {"num_layers": 5, "inject_noise": False}],
                       ["compress_all", {"residual": True, "multiplier": 2}],
                       ["res_x", {"num_layers": 5, "inject_noise": False}]],
}


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 2**20


def run_variant(variant: str, frames: int, height: int, width: int, tile_px: int, tile_frames: int,
                repeats: int, mlx_weights: str = "float32", diffusion_vae: dict | None = None) -> dict:
    """Runs in the child: build the decoder, decode ``repeats`` times, return the best time."""
    import numpy as np

    shape = (1, 128, 1 + (frames - 1) // 8, height // 32, width // 32)  # (B, C, F', H', W')
    latent = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if "diffusion" in variant:
        build = _mlx_diffusion_decoder if variant.startswith("mlx") else _ref_diffusion_decoder
    else:
        build = _mlx_decoder if variant.startswith("mlx") else _ref_decoder
    kwargs = {"weights_dtype": mlx_weights} if variant.startswith("mlx") else {}
    if "diffusion" in variant:
        kwargs["section"] = diffusion_vae or DIFFUSION_VAE
    decode = build(latent, tile_px, tile_frames, tiled=variant.endswith("-tiled"), **kwargs)
    baseline = _rss_gb()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frames_out, finite = decode()
        times.append(time.perf_counter() - start)
    blas = sys.modules["ltx2.backends.cpu.blas"].status if "ltx2.backends.cpu.blas" in sys.modules else "torch's own"
    return {"variant": variant, "seconds": min(times), "all_seconds": times, "frames": frames_out, "finite": finite,
            "blas": blas, "weights_rss_gb": baseline}


def _mlx_decoder(latent, tile_px: int, tile_frames: int, tiled: bool, weights_dtype: str):
    import ltx2  # noqa: F401  (fast BLAS before mlx: first)
    import mlx.core as mx
    import numpy as np

    from ltx2.models.video_vae import DecoderConfig, VideoDecoder
    from ltx2.models.video_vae.tiled import tiled_decode
    from ltx2.models.video_vae.tiling import SpatialTiling, TemporalTiling, TilingConfig

    mx.random.seed(0)
    decoder = VideoDecoder(DecoderConfig.from_metadata(LTX2_DECODER))
    # bfloat16: stored as the official checkpoints are, computed in float32 (each conv casts its weight on use)
    decoder.set_dtype(getattr(mx, weights_dtype))
    mx.eval(decoder.parameters())
    x = mx.array(latent).moveaxis(1, -1)
    tiling = TilingConfig(SpatialTiling(tile_px, 32), TemporalTiling(tile_frames, 8))

    def decode():
        if tiled:
            chunks = [np.array(c) for c in tiled_decode(decoder, x, tiling)]
        else:
            chunks = [np.array(decoder(x))]
        return sum(c.shape[1] for c in chunks), all(bool(np.isfinite(c).all()) for c in chunks)

    return decode


def _mlx_diffusion_decoder(latent, tile_px: int, tile_frames: int, tiled: bool, weights_dtype: str,
                           section: dict = DIFFUSION_VAE):
    import ltx2  # noqa: F401  (fast BLAS before mlx: first)
    import mlx.core as mx
    import numpy as np

    from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
    from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
    from ltx2.models.video_vae.tiling import SpatialTiling, TemporalTiling, TilingConfig

    mx.random.seed(0)
    decoder = DiffusionVideoDecoder(DiffusionDecoderConfig.from_metadata(section))
    decoder.set_dtype(getattr(mx, weights_dtype))
    mx.eval(decoder.parameters())
    x = mx.array(latent).moveaxis(1, -1)
    noise = mx.random.normal(decoder.canvas_shape(x.shape))
    overlap_frames, overlap_px = decoder.config.min_tile_overlaps  # the stage-4/5 halos (96 px at the defaults)
    tiling = TilingConfig(SpatialTiling(tile_px, overlap_px), TemporalTiling(tile_frames, overlap_frames))
    tiling = tiling if tiled else None

    def decode():
        out = np.array(decoder.decode(x, noise, tiling))
        return out.shape[1], bool(np.isfinite(out).all())

    return decode


def _ref_diffusion_decoder(latent, tile_px: int, tile_frames: int, tiled: bool, section: dict = DIFFUSION_VAE):
    import torch
    from ltx_core.model.video_vae.diffusion_tiling import recommended_pixel_overlaps, stage4_to_pixel_scale_factors
    from ltx_core.model.video_vae.model_configurator import VideoDecoderConfigurator
    from ltx_core.model.video_vae.transformer import DiffVAEMode
    from ltx_core.model.video_vae.transformer.apply import apply_diffvae_mode
    from ltx_core.tiling import DimensionSizeConfig, TileSizeConfig

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    decoder = VideoDecoderConfigurator.from_metadata({"config": {"vae": section}})
    decoder = apply_diffvae_mode(decoder, DiffVAEMode.CHUNKED_EAGER).eval()
    x = torch.from_numpy(latent)
    overlap_frames, overlap_px = recommended_pixel_overlaps(
        decoder.tile_halos, stage4_to_pixel_scale_factors(tuple(decoder.upsamples[3].stride), decoder.patch_size))
    tiling = TileSizeConfig(frames=DimensionSizeConfig(tile_frames, overlap_frames),
                            height=DimensionSizeConfig(tile_px, overlap_px),
                            width=DimensionSizeConfig(tile_px, overlap_px))

    def decode():
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            chunks = list(decoder.tiled_decode(x, tiling, generator=gen)) if tiled else [decoder(x, generator=gen)]
        return sum(c.shape[2] for c in chunks), all(bool(torch.isfinite(c).all()) for c in chunks)

    return decode


def _ref_decoder(latent, tile_px: int, tile_frames: int, tiled: bool):
    import torch
    from ltx_core.model.video_vae import SpatialTilingConfig, TemporalTilingConfig, TilingConfig
    from ltx_core.model.video_vae.model_configurator import VideoDecoderConfigurator

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    decoder = VideoDecoderConfigurator.from_config({"vae": LTX2_DECODER}).eval()
    with torch.no_grad():
        decoder.per_channel_statistics.get_buffer("std-of-means").fill_(1.0)
        decoder.per_channel_statistics.get_buffer("mean-of-means").zero_()
    x = torch.from_numpy(latent)
    tiling = TilingConfig(SpatialTilingConfig(tile_px, 32), TemporalTilingConfig(tile_frames, 8))

    def decode():
        with torch.no_grad():
            chunks = list(decoder.tiled_decode(x, tiling)) if tiled else [decoder(x)]
        return sum(c.shape[2] for c in chunks), all(bool(torch.isfinite(c).all()) for c in chunks)

    return decode


def _child_main(args) -> None:
    section = json.loads(args.diffusion_section) if args.diffusion_section else None
    result = run_variant(args.child, args.frames, args.height, args.width, args.tile_px, args.tile_frames,
                         args.repeats, args.mlx_weights, section)
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(variant: str, args) -> dict:
    python = sys.executable
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    if variant.startswith("ref-diffusion"):  # ltx-core 1.2.0 lives in the oracle venv
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        python = os.environ.get("LTX2_ORACLE_PYTHON", os.path.join(root, ".venv-oracle", "bin", "python"))
        env.pop("PYTHONPATH", None)
    cmd = [python, __file__, "--child", variant, "--frames", str(args.frames), "--height",
           str(args.height), "--width", str(args.width), "--tile-px", str(args.tile_px), "--tile-frames",
           str(args.tile_frames), "--repeats", str(args.repeats), "--mlx-weights", args.mlx_weights]
    if "diffusion" in variant and args.diffusion_widths == "tiny":  # the section travels as JSON (no ltx2 there)
        from ltx2.tiny.diffusion_vae import tiny_diffusion_vae_section

        cmd += ["--diffusion-section", json.dumps(tiny_diffusion_vae_section())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: ru_maxrss in KiB on Linux
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}):\n{out}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["peak_rss_gb"] = usage.ru_maxrss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--tile-px", type=int, default=128, help="spatial tile (overlap 32 px)")
    parser.add_argument("--tile-frames", type=int, default=16, help="temporal tile (overlap 8 frames)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mlx-weights", choices=("float32", "bfloat16"), default="float32",
                        help="storage dtype of MLX's decoder weights (computation is float32 either way)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(CONV_VARIANTS))
    parser.add_argument("--diffusion-widths", choices=("official", "tiny"), default="official",
                        help="the diffusion variants' decoder: the class defaults (official) or model=tiny25's widths")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--diffusion-section", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child_main(args)
    model = "LTX-2.5 diffusion" if any("diffusion" in v for v in args.variants) else "LTX-2"
    model += " (tiny widths)" if "diffusion" in model and args.diffusion_widths == "tiny" else ""
    print(f"{model} video decoder, latent for {args.frames} frames at {args.height}x{args.width}; tiled: "
          f"{args.tile_px} px / {args.tile_frames} frames (overlap 32 px / 8 frames); {THREADS} threads each; MLX weights stored in {args.mlx_weights}")
    results = {}
    for variant in args.variants:
        results[variant] = r = _run_child(variant, args)
        print(f"{variant:12s} {r['seconds']:7.2f} s   peak RSS {r['peak_rss_gb']:5.2f} GB "
              f"({r['peak_rss_gb'] - r['weights_rss_gb']:5.2f} GB above the {r['weights_rss_gb']:.2f} GB with weights)   "
              f"{r['frames']} frames, finite: {r['finite']}, BLAS: {r['blas']}", flush=True)
    for mode in ("untiled", "tiled", "diffusion-untiled", "diffusion-tiled"):
        ours, ref = results.get(f"mlx-{mode}"), results.get(f"ref-{mode}")
        if ours and ref:
            print(f"{mode:8s} MLX / reference time: {ours['seconds'] / ref['seconds']:.2f}   "
                  f"peak RSS MLX {ours['peak_rss_gb']:.2f} GB vs reference {ref['peak_rss_gb']:.2f} GB")
    for side in ("mlx", "ref", "mlx-diffusion", "ref-diffusion"):
        untiled, tiled = results.get(f"{side}-untiled"), results.get(f"{side}-tiled")
        if untiled and tiled:
            above = [r["peak_rss_gb"] - r["weights_rss_gb"] for r in (tiled, untiled)]
            print(f"{side}: tiled / untiled peak RSS {tiled['peak_rss_gb'] / untiled['peak_rss_gb']:.2f} "
                  f"({tiled['peak_rss_gb']:.2f} / {untiled['peak_rss_gb']:.2f} GB); above the weights "
                  f"{above[0] / max(above[1], 1e-9):.2f} ({above[0]:.2f} / {above[1]:.2f} GB)")


if __name__ == "__main__":
    main()
