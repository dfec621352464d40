"""Benchmark suite: each component and the end-to-end runs, MLX (ltx2) against the reference (ltx-core /
transformers, torch CPU) on the same machine, the same weights and 2 threads each; a markdown table and JSON.

    python tools/bench.py --quick                       # a short version (minutes)
    python tools/bench.py --out bench-results           # the full suite
    python tools/bench.py --components transformer vae  # some of: transformer vae text vocoder pipeline e2e sweep

Every measured side runs in a child process of its own (``python tools/bench.py --child NAME``), so its time
and its peak RSS (VmHWM of that child: weights, activations, libraries) are its own. Components time whatever the
code does at run time (best of ``--repeats`` after a warm-up); weights are random, written once to a temporary
folder and loaded by both sides:

- transformer: one audio-video forward at the LTX-2 19B widths with few blocks (tools/bench_transformer.py inputs)
- vae: the LTX-2 video decoder at its real widths, untiled (tools/bench_vae.py)
- text: Gemma 3 at the 12B widths with 2 layers over 1,024 tokens (the padded prompt), every hidden state kept
  (ltx2 vs transformers' Gemma3)
- vocoder: the LTX-2.3 vocoder (BigVGAN-v2 + bandwidth extension) with wider stages, mel for some seconds
- pipeline: the default tiny generation in-process with warm weights (denoising + decodes), ltx2 vs ltx-pipelines'
  own denoising loop and ltx-core's decoders on the same files
- e2e: ``python -m ltx2.run`` (the default tiny run) as a user runs it: wall time of the process; no reference
  (ltx-pipelines has no runner for these tiny files)
- sweep: one ``python -m ltx2.run -m guider.cfg_scale=... seed=...`` invocation of 8 jobs against 8 separate
  invocations of the same jobs; the ratio is sweep / separate (target <= 0.35)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import THREADS, child_env, machine, report, run_child, time_it

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("transformer", "vae", "text", "vocoder", "pipeline", "e2e", "sweep")
SWEEP_SCALES, SWEEP_SEEDS = (1.0, 3.0, 5.0, 7.0), (0, 1)
SIZES = {  # full / quick
    "transformer_layers": (2, 1), "vae": ((33, 256, 384), (17, 128, 192)), "text_tokens": (1024, 256),
    "text_layers": (2, 1), "vocoder_seconds": (5.0, 1.0), "vocoder_width": (1024, 512),
}


def size(key: str, quick: bool):
    return SIZES[key][1 if quick else 0]


# -- the measured sides (each runs in a child) -------------------------------------------------------------------
def transformer_side(side: str, files: Path, quick: bool, repeats: int) -> dict:
    import ltx2  # noqa: F401
    import mlx.core as mx
    from bench_transformer import make_inputs

    from ltx2.models.transformer import BatchPerturbations

    path = files / "transformer.safetensors"
    video, audio = make_inputs()
    if side == "mlx":
        from ltx2.models.transformer.load import load_transformer

        model = load_transformer(path, "float32")
        seconds = time_it(lambda: mx.eval(model(video, audio, BatchPerturbations.none())), repeats)
    else:
        import torch

        torch.set_num_threads(THREADS)
        sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "pipelines")]
        from oracles.transformer import load_reference, reference_modality, reference_perturbations

        model = load_reference(path).velocity_model
        args = (reference_modality(video, torch.float32), reference_modality(audio, torch.float32),
                reference_perturbations(BatchPerturbations.none()))

        def forward():
            with torch.no_grad():
                model(*args)

        seconds = time_it(forward, repeats)
    return {"seconds": seconds, "what": f"video {video.latent.shape[1]} + audio {audio.latent.shape[1]} tokens, "
                                       f"{size('transformer_layers', quick)} blocks at 19B widths, fp32"}


def vae_side(side: str, files: Path, quick: bool, repeats: int) -> dict:
    from bench_vae import run_variant

    frames, height, width = size("vae", quick)
    result = run_variant(f"{'mlx' if side == 'mlx' else 'ref'}-untiled", frames, height, width, 128, 16, repeats)
    return {"seconds": result["seconds"], "what": f"LTX-2 decoder, {frames} frames at {height}x{width}, untiled, fp32"}


def text_side(side: str, files: Path, quick: bool, repeats: int) -> dict:
    import ltx2  # noqa: F401
    import mlx.core as mx
    import numpy as np


    root, tokens = files / "gemma", size("text_tokens", quick)
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 200, (1, tokens))
    mask = np.ones((1, tokens), np.int64)
    mask[:, : tokens // 2] = 0  # left padding, as a short prompt has
    if side == "mlx":
        from ltx2.models.text.gemma import load_gemma

        model = load_gemma(root, mx.float32)
        a, m = mx.array(ids), mx.array(mask)
        seconds = time_it(lambda: mx.eval(model.hidden_states(a, m)), repeats)
    else:
        import torch
        from transformers import Gemma3ForCausalLM

        torch.set_num_threads(THREADS)
        model = Gemma3ForCausalLM.from_pretrained(str(root), dtype=torch.float32).model.eval()
        a, m = torch.from_numpy(ids).long(), torch.from_numpy(mask).long()

        def forward():
            with torch.no_grad():
                model(input_ids=a, attention_mask=m, output_hidden_states=True)

        seconds = time_it(forward, repeats)
    return {"seconds": seconds, "what": f"Gemma 3 12B widths, {size('text_layers', quick)} layers, {tokens} tokens, "
                                       "fp32"}


def vocoder_side(side: str, files: Path, quick: bool, repeats: int) -> dict:
    import ltx2  # noqa: F401
    import mlx.core as mx
    import numpy as np


    path, seconds_audio = files / "vocoder.safetensors", size("vocoder_seconds", quick)
    mel = np.random.default_rng(1).standard_normal((1, 2, int(100 * seconds_audio), 64)).astype(np.float32)
    if side == "mlx":
        from ltx2.models.vocoder import load_vocoder

        model = load_vocoder(path)
        x = mx.array(mel.transpose(0, 2, 3, 1))
        seconds = time_it(lambda: mx.eval(model(x)), repeats)
    else:
        import torch
        from ltx_core.model.audio_vae.model_configurator import VOCODER_COMFY_KEYS_FILTER, VocoderConfigurator
        from oracles.vae import _build

        torch.set_num_threads(THREADS)
        model = _build(VocoderConfigurator, path, VOCODER_COMFY_KEYS_FILTER)
        x = torch.from_numpy(mel)

        def forward():
            with torch.no_grad():
                model(x)

        seconds = time_it(forward, repeats)
    return {"seconds": seconds, "what": f"LTX-2.3 vocoder + BWE, width {size('vocoder_width', quick)}, "
                                       f"{seconds_audio:g} s of mel -> 48 kHz stereo"}


def _tiny_job(tiny: Path):
    """The job of tests/pipelines/test_pipeline_parity.py (official multimodal guidance, STG on block 1), 4 steps; built
    here so that the MLX side does not import torch."""
    from ltx2.conditioning.image import NoConditioning
    from ltx2.loading.model_set import ModelSet
    from ltx2.pipelines.contract import Job
    from ltx2.pipelines.one_stage import OneStagePipeline
    from ltx2.sampling.guidance import MultiModal
    from ltx2.sampling.schedulers import LTX2Scheduler

    video = {"cfg_scale": 3.0, "stg_scale": 1.0, "stg_blocks": [1], "rescale_scale": 0.7, "modality_scale": 3.0,
             "skip_step": 0}
    audio = dict(video, cfg_scale=7.0)
    models = ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"),
                      gemma_root=str(tiny / "tiny-gemma"),
                      dtype="float32")
    return Job(models=models, prompt="a red fox in the snow", negative_prompt="blurry, low quality", seed=10,
               width=96, height=64, num_frames=17, fps=24.0, scheduler=LTX2Scheduler(4),
               guidance=MultiModal(**video, audio=audio), conditioning=NoConditioning(),
               pipeline=OneStagePipeline())


def pipeline_side(side: str, files: Path, quick: bool, repeats: int) -> dict:
    """The default tiny generation in-process with warm weights: one-stage guided denoising (the official
    multimodal guidance: CFG + STG + modality isolation, 4 Euler steps), then the video, audio VAE and vocoder
    decodes. Prompt contexts come from ltx2's text encoder (untimed) for both sides."""
    import ltx2  # noqa: F401
    import mlx.core as mx
    import numpy as np


    job = _tiny_job(files / "tiny")
    if side == "mlx":
        def generate():
            result = job.pipeline(job)
            frames = [np.asarray(f) for f in result.frames()]
            return frames, result.audio

        seconds = time_it(generate, repeats)
    else:
        import torch
        from ltx_core.components.diffusion_steps import EulerDiffusionStep
        from ltx_core.components.noisers import GaussianNoiser
        from ltx_core.model.audio_vae import decode_audio
        from ltx_core.model.audio_vae.model_configurator import (
            AUDIO_VAE_DECODER_COMFY_KEYS_FILTER,
            VOCODER_COMFY_KEYS_FILTER,
            AudioDecoderConfigurator,
            VocoderConfigurator,
        )
        from ltx_core.types import VideoPixelShape
        from ltx_pipelines.utils.helpers import denoise_audio_video
        from ltx_pipelines.utils.types import PipelineComponents
        from oracles.transformer import load_reference
        from oracles.vae import _build, reference_decoder
        from test_pipeline_parity import contexts, guided_loop

        torch.set_num_threads(THREADS)
        ctx = contexts(job, negative=True)
        mx.clear_cache()
        transformer = load_reference(job.models.checkpoint)
        path = Path(job.models.checkpoint)
        video_decoder = reference_decoder(path)
        audio_decoder = _build(AudioDecoderConfigurator, path, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
        vocoder = _build(VocoderConfigurator, path, VOCODER_COMFY_KEYS_FILTER)
        shape = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height, width=job.width, fps=job.fps)
        sigmas = torch.from_numpy(np.array(job.scheduler.sigmas()))
        cpu, f32 = torch.device("cpu"), torch.float32

        def generate():
            with torch.no_grad():
                noiser = GaussianNoiser(torch.Generator().manual_seed(job.seed))
                video, audio = denoise_audio_video(shape, [], noiser, sigmas, EulerDiffusionStep(),
                                                   guided_loop(job, transformer, ctx),
                                                   PipelineComponents(dtype=f32, device=cpu), f32, cpu)
                frames = video_decoder(video.latent)
                wave = decode_audio(audio.latent, audio_decoder, vocoder)
            return frames, wave

        seconds = time_it(generate, repeats)
    return {"seconds": seconds, "what": f"tiny one-stage generation in-process, warm weights: {job.num_frames} "
                                       f"frames {job.width}x{job.height}, 4 guided steps, video + audio decode"}


SIDES = {"transformer": transformer_side, "vae": vae_side, "text": text_side, "vocoder": vocoder_side,
         "pipeline": pipeline_side}


def write_files(components: list[str], folder: Path, quick: bool) -> None:
    """The random weights both sides load."""
    import ltx2  # noqa: F401
    import mlx.core as mx


    if "transformer" in components:
        from bench_transformer import WIDTHS

        from ltx2.tiny.checkpoint import write_tiny_checkpoint

        write_tiny_checkpoint(folder / "transformer.safetensors", "ltx2", seed=0,
                              transformer=dict(WIDTHS, num_layers=size("transformer_layers", quick)))
    if "text" in components:
        from ltx2.models.text.config import GemmaConfig
        from ltx2.tiny.text import write_tiny_gemma_root

        write_tiny_gemma_root(folder / "gemma", seed=0, config=GemmaConfig(
            num_hidden_layers=size("text_layers", quick), vocab_size=262, max_position_embeddings=4096))
    if "pipeline" in components:
        from ltx2.tiny.checkpoint import write_tiny_files

        write_tiny_files(folder / "tiny")
    if "vocoder" in components:
        from ltx2.loading.checkpoint import save_checkpoint
        from ltx2.tiny.vocoder import tiny_vocoder_section, tiny_vocoder_tensors

        width = size("vocoder_width", quick)
        section = tiny_vocoder_section("ltx2.3", width=width, bwe_width=width // 2)
        tensors = {k: mx.array(v) for k, v in tiny_vocoder_tensors(section, 3).items()}
        save_checkpoint(folder / "vocoder.safetensors", tensors, {"config": json.dumps({"vocoder": section})})


def component(name: str, files: Path, args) -> dict:
    row = {"component": name}
    for side in ("mlx", "reference"):
        cmd = [sys.executable, __file__, "--child", name, "--side", side, "--files", str(files), "--repeats",
               str(args.repeats)] + (["--quick"] if args.quick else [])
        result = run_child(cmd, f"{name} ({side})")
        row["what"] = result["what"]
        row[side] = {"seconds": result["seconds"], "peak_rss_bytes": result["peak_rss_bytes"]}
        print(f"  {name} {side}: {result['seconds']:.3f} s, peak RSS {result['peak_rss_bytes'] / 2**30:.2f} GiB",
              flush=True)
    row["ratio"] = row["mlx"]["seconds"] / row["reference"]["seconds"]
    return row


# -- end to end ----------------------------------------------------------------------------------------------------
RUN_OVERRIDES: list[str] = []  # --run-overrides: appended to every `python -m ltx2.run` of e2e and sweep


def ltx2_run(overrides: list[str], env: dict) -> float:
    """Wall seconds of one ``python -m ltx2.run`` process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ltx2.run", *overrides, *RUN_OVERRIDES], check=False, capture_output=True,
                          text=True, env=env, cwd=env["BENCH_CWD"])
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"ltx2.run {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def _records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("run_record.json"))]


def _peak(records: list[dict]) -> int:
    return max((r.get("memory_plan") or {}).get("measured_peak_rss_bytes", 0) for r in records)


def e2e_rows(components: list[str], work: Path) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    env = {**child_env(), "LTX2_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(ROOT), "BENCH_CWD": str(work)}
    ltx2_run(["plan=true"], {**env, "LTX2_OUTPUT_ROOT": str(work / "warm")})  # build the tiny files first
    rows = []
    if "e2e" in components:
        out = work / "e2e"
        times = []
        for i in range(2):  # the first also writes the text cache: report the best
            times.append(ltx2_run([], {**env, "LTX2_OUTPUT_ROOT": str(out / str(i))}))
        records = _records(out)
        rows.append({"component": "e2e", "what": "`python -m ltx2.run` (tiny model, 17 frames 96x64, 4 steps), "
                     "process wall time", "mlx": {"seconds": min(times), "peak_rss_bytes": _peak(records)},
                     "reference": None, "ratio": None})
        print(f"  e2e mlx: {min(times):.2f} s", flush=True)
    if "sweep" in components:
        jobs = [[f"guider.cfg_scale={s}", f"seed={seed}"] for s in SWEEP_SCALES for seed in SWEEP_SEEDS]
        out = work / "separate"
        separate = sum(ltx2_run(job, {**env, "LTX2_OUTPUT_ROOT": str(out)}) for job in jobs)
        separate_peak = _peak(_records(out))
        sweep_out = work / "sweep"
        sweep = ltx2_run(["-m", "guider.cfg_scale=" + ",".join(map(str, SWEEP_SCALES)),
                             "seed=" + ",".join(map(str, SWEEP_SEEDS))], {**env, "LTX2_OUTPUT_ROOT": str(sweep_out)})
        records = _records(sweep_out)
        if len(records) != len(jobs) or any(r["status"] != "completed" for r in records):
            raise RuntimeError(f"the sweep left {len(records)} completed records, expected {len(jobs)}")
        rows.append({"component": "sweep", "what": f"{len(jobs)} jobs (cfg_scale x seed, tiny model): one `-m` "
                     "invocation (mlx column) vs 8 separate invocations (reference column)",
                     "mlx": {"seconds": sweep, "peak_rss_bytes": _peak(records)},
                     "reference": {"seconds": separate, "peak_rss_bytes": separate_peak},
                     "ratio": sweep / separate})
        print(f"  sweep: {sweep:.2f} s vs separate {separate:.2f} s", flush=True)
    return rows


# -- output --------------------------------------------------------------------------------------------------------
def markdown(rows: list[dict], info: dict, quick: bool) -> str:
    gib = 2**30

    def cell(side, key):
        if not side:
            return "n/a"
        return f"{side['seconds']:.2f}" if key == "seconds" else f"{side['peak_rss_bytes'] / gib:.2f}"

    machine_line = (f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, {info['os']}; MLX "
                    f"{info['mlx']}, torch {info.get('torch', 'n/a')}, BLAS {info['blas']}; {info['threads']} "
                    f"threads each{' (--quick)' if quick else ''}.")
    lines = [machine_line, "",
             "| component | what | MLX s | reference s | MLX / reference | MLX peak RSS GiB | reference peak RSS GiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "n/a"
        lines.append(f"| {r['component']} | {r['what']} | {cell(r['mlx'], 'seconds')} | "
                     f"{cell(r['reference'], 'seconds')} | {ratio} | {cell(r['mlx'], 'rss')} | "
                     f"{cell(r['reference'], 'rss')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", nargs="+", choices=COMPONENTS, default=list(COMPONENTS))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per side (best of; default 2, 1 quick)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for bench.md / bench.json")
    parser.add_argument("--run-overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="appended to every `python -m ltx2.run` of e2e and sweep (e.g. gallery=false)")
    parser.add_argument("--child", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("mlx", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 2)
    RUN_OVERRIDES.extend(args.run_overrides)
    if args.child:
        sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "pipelines")]
        return report(SIDES[args.child](args.side, args.files, args.quick, args.repeats))
    info = machine()
    print(f"machine: {info}", flush=True)
    rows: list[dict] = []
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> str:  # after every row, so that a later failure keeps what was measured
        table = markdown(rows, info, args.quick)
        (args.out / "bench.md").write_text(table)
        (args.out / "bench.json").write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows,
                                                          "pid": os.getpid()}, indent=2) + "\n")
        return table

    with tempfile.TemporaryDirectory(prefix="ltx2-bench-") as tmp:
        files = Path(tmp)
        chosen = [c for c in COMPONENTS if c in args.components]
        write_files(chosen, files, args.quick)
        for name in chosen:
            if name in SIDES:
                rows.append(component(name, files, args))
                save()
        if "e2e" in chosen or "sweep" in chosen:
            rows += e2e_rows(chosen, files / "runs")
    print(save())
    print(f"wrote {args.out / 'bench.md'} and {args.out / 'bench.json'}")


if __name__ == "__main__":
    main()
