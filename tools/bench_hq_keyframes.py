"""Time pipeline=two_stage_hq and pipeline=keyframe_interpolation against ltx-pipelines' own helpers, one process,
tiny official-format files (ltx2.tiny.checkpoint), fp32, 2 threads each; same contexts, noise and (for keyframes) images.

What is timed on each side: stage 1 + x2 upsampling + stage 2 (denoising, conditioning encoding at both sizes,
our LoRA fusing; the reference's transformers are built before the clock starts), no decoding. Prints the seconds
of each and the ratio MLX / reference, and the process's peak RSS.

    flock /tmp/ltx2-heavy.lock python tools/bench_hq_keyframes.py [--width 384 --height 256 --frames 33 --steps 4]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("tests", "tests/pipelines")]  # the reference loaders for tiny files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    import imageio.v3 as iio
    import numpy as np
    import torch
    from test_pipeline_parity import make_job
    from test_pipeline_parity_hq_keyframes import HQ_AUDIO, HQ_VIDEO, keyframes

    from ltx2.pipelines.keyframe_interpolation import KeyframeInterpolationPipeline
    from ltx2.pipelines.two_stage_hq import TwoStageHQPipeline
    from ltx2.sampling.guidance import MultiModal
    from ltx2.tiny.checkpoint import write_tiny_files

    torch.set_num_threads(2)
    folder = Path(tempfile.mkdtemp(prefix="bench-hq-"))
    write_tiny_files(folder)
    images = []
    for seed in (1, 2):
        path = folder / f"image{seed}.png"
        iio.imwrite(path, (np.random.default_rng(seed).random((90, 120, 3)) * 255).astype("uint8"))
        images.append(path)
    size = dict(width=args.width, height=args.height, num_frames=args.frames, steps=args.steps)
    conditioning = keyframes(*images)
    conditioning.raw[1]["frame_idx"] = args.frames - 1
    hq = make_job(folder, TwoStageHQPipeline(), conditioning, **size)
    hq = replace(hq, guidance=MultiModal(**HQ_VIDEO, audio=HQ_AUDIO), audio_enabled=False)
    kf = replace(make_job(folder, KeyframeInterpolationPipeline(), conditioning, **size), audio_enabled=False)
    for name, job in (("two_stage_hq", hq), ("keyframe_interpolation", kf)):
        job.pipeline(job)  # warm-up: contexts encoded and remembered, weights loaded
        start = time.perf_counter()
        result = job.pipeline(job)
        ours = time.perf_counter() - start
        ref = reference_seconds(name, job, result)
        print(f"{name}: MLX {ours:.2f} s, reference {ref:.2f} s, ratio MLX/reference {ours / ref:.2f} "
              f"({args.width}x{args.height}, {args.frames} frames, {args.steps} stage-1 steps)")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def reference_seconds(name: str, job, result) -> float:
    """The reference's chain (as in tests/pipelines/test_pipeline_parity_hq_keyframes.py), timed from the first stage."""
    import torch
    from ltx_core.components.diffusion_steps import EulerDiffusionStep, Res2sDiffusionStep
    from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
    from ltx_core.components.schedulers import LTX2Scheduler
    from ltx_core.model.upsampler import upsample_video
    from ltx_core.tools import VideoLatentShape
    from ltx_pipelines.utils.constants import STAGE_2_DISTILLED_SIGMA_VALUES
    from ltx_pipelines.utils.helpers import (
        combined_image_conditionings,
        denoise_audio_video,
        image_conditionings_by_adding_guiding_latent,
        multi_modal_guider_denoising_func,
        simple_denoising_func,
    )
    from ltx_pipelines.utils.types import PipelineComponents
    from oracles.transformer import load_reference, to_torch
    from oracles.vae import reference_encoder, reference_upsampler
    from test_pipeline_parity import ReplayNoiser, contexts, guided_loop, simple_loop
    from test_pipeline_parity_hq_keyframes import (
        HQ_AUDIO,
        HQ_VIDEO,
        pixel_shape,
        reference_images,
        res2s_loop,
    )

    cpu, f32 = torch.device("cpu"), torch.float32
    ctx = contexts(job, negative=True)
    hq = name == "two_stage_hq"
    lora = job.models.distilled_lora
    stage_1 = load_reference(job.models.checkpoint, loras=[(lora, 0.25)] if hq else [])
    stage_2 = load_reference(job.models.checkpoint, loras=[(lora, 0.5 if hq else 1.0)])
    encoder = reference_encoder(Path(job.models.checkpoint))
    upsampler = reference_upsampler(Path(job.models.spatial_upsampler))
    components = PipelineComponents(dtype=f32, device=cpu)
    noiser = ReplayNoiser(result.noise)
    images = reference_images(job.conditioning)
    items_fn = combined_image_conditionings if hq else image_conditionings_by_adding_guiding_latent
    half, full = pixel_shape(job, 2), pixel_shape(job, 1)
    if hq:
        v_pos, a_pos, v_neg, a_neg = ctx
        loop_1 = res2s_loop(multi_modal_guider_denoising_func(
            MultiModalGuider(MultiModalGuiderParams(**HQ_VIDEO), v_neg),
            MultiModalGuider(MultiModalGuiderParams(**HQ_AUDIO), a_neg), v_pos, a_pos, stage_1))
        loop_2, stepper = res2s_loop(simple_denoising_func(v_pos, a_pos, stage_2)), Res2sDiffusionStep()
        sigmas_1 = LTX2Scheduler().execute(
            latent=torch.empty(VideoLatentShape.from_pixel_shape(half).to_torch_shape()), steps=job.scheduler.steps)
    else:
        loop_1, loop_2, stepper = guided_loop(job, stage_1, ctx), simple_loop(stage_2, ctx), EulerDiffusionStep()
        sigmas_1 = to_torch(job.scheduler.sigmas())
    start = time.perf_counter()
    with torch.no_grad():
        items = items_fn(images, half.height, half.width, encoder, f32, cpu)
        video, audio = denoise_audio_video(half, items, noiser, sigmas_1.to(f32), stepper, loop_1, components, f32,
                                           cpu)
        up = upsample_video(latent=video.latent[:1], video_encoder=encoder, upsampler=upsampler)
        items = items_fn(images, full.height, full.width, encoder, f32, cpu)
        sigmas = torch.tensor(STAGE_2_DISTILLED_SIGMA_VALUES)
        denoise_audio_video(full, items, noiser, sigmas, stepper, loop_2, components, f32, cpu,
                            noise_scale=sigmas[0], initial_video_latent=up, initial_audio_latent=audio.latent)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
