"""pipeline=retake against the reference's RetakePipeline pieces, same process, same tiny official-format files,
fp32 CPU: source encoding (video + audio VAE encoders), masks, noising and the guided Euler loop (4 transformer
passes per step). Prints both times, the ratio ours/reference, the final latents' agreement and the peak RSS.

    python tools/bench_retake.py [--width 256] [--height 128] [--frames 33] [--steps 8]
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import ltx2  # noqa: F401  (fast BLAS before mlx)

# isort: split
import mlx.core as mx
import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("tests", "tests/pipelines")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    import torch
    from ltx_core.components.diffusion_steps import EulerDiffusionStep
    from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
    from ltx_core.model.audio_vae.model_configurator import (
        AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER,
        AudioEncoderConfigurator,
    )
    from ltx_core.types import VideoPixelShape
    from ltx_pipelines.retake import TemporalRegionMask, _encode_audio_for_retake, _encode_video_for_retake
    from ltx_pipelines.utils.helpers import multi_modal_guider_denoising_func, noise_audio_state, noise_video_state
    from ltx_pipelines.utils.samplers import euler_denoising_loop
    from ltx_pipelines.utils.types import PipelineComponents
    from oracles.transformer import load_reference, to_torch
    from oracles.vae import _build, reference_encoder
    from test_pipeline_parity import AUDIO, VIDEO, ReplayNoiser, contexts, make_job

    from ltx2.conditioning.source_video import SourceVideoConditioning
    from ltx2.io.media import write_video
    from ltx2.pipelines.retake import RetakePipeline
    from ltx2.tiny.checkpoint import write_tiny_files

    folder = Path(tempfile.mkdtemp())
    write_tiny_files(folder)
    fps, rate = 24.0, 48000
    yy, xx = np.mgrid[: args.height, : args.width]
    frames = np.stack([np.stack([(2 * xx + 8 * f) % 256, (4 * yy) % 256, np.full_like(xx, 15 * f % 256)], -1)
                       for f in range(args.frames)]).astype(np.uint8)
    t = np.arange(round(args.frames / fps * rate)) / rate
    sound = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    clip = folder / "clip.mp4"
    write_video(clip, [frames], fps, audio=(sound, rate))
    duration = args.frames / fps
    start, end = duration / 3, 2 * duration / 3
    source = SourceVideoConditioning(str(clip), start, end)
    job = make_job(folder, RetakePipeline(mode="guided"), source, width=args.width, height=args.height,
                   num_frames=args.frames, fps=fps, steps=args.steps)
    job.audio_enabled = False  # time encoding + denoising only (no vocoder decode of the result)
    job.pipeline(job)  # warm: prompt contexts, networks
    begin = time.perf_counter()
    result = job.pipeline(job)
    ours = time.perf_counter() - begin

    ctx = contexts(job, negative=True)
    checkpoint = Path(job.models.checkpoint)
    transformer = load_reference(job.models.checkpoint)
    video_encoder = reference_encoder(checkpoint)
    audio_encoder = _build(AudioEncoderConfigurator, checkpoint, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER)
    shape = VideoPixelShape(batch=1, frames=args.frames, width=args.width, height=args.height, fps=fps)
    components = PipelineComponents(dtype=torch.float32, device=torch.device("cpu"))
    noiser = ReplayNoiser(result.noise)
    v_pos, a_pos, v_neg, a_neg = ctx
    begin = time.perf_counter()
    with torch.no_grad():
        video_latent = _encode_video_for_retake(video_encoder, str(clip), shape, torch.float32, torch.device("cpu"))
        waveform, sr = source.waveform()
        audio_latent = _encode_audio_for_retake(audio_encoder, torch.from_numpy(waveform), sr, shape, torch.float32)
        video, video_tools = noise_video_state(shape, noiser, [TemporalRegionMask(start, end, fps)], components,
                                               torch.float32, torch.device("cpu"), initial_latent=video_latent)
        audio, _ = noise_audio_state(shape, noiser, [TemporalRegionMask(start, end, fps)], components,
                                     torch.float32, torch.device("cpu"), initial_latent=audio_latent)
        fn = multi_modal_guider_denoising_func(MultiModalGuider(MultiModalGuiderParams(**VIDEO), v_neg),
                                               MultiModalGuider(MultiModalGuiderParams(**AUDIO), a_neg),
                                               v_pos, a_pos, transformer)
        video, audio = euler_denoising_loop(to_torch(job.scheduler.sigmas()), video, audio, EulerDiffusionStep(), fn)
        video = video_tools.unpatchify(video_tools.clear_conditioning(video))
    reference = time.perf_counter() - begin
    ours_video = np.moveaxis(np.array(result.latents["video"]), -1, 1)
    err = float(np.abs(ours_video - video.latent.numpy()).max())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"retake {args.width}x{args.height}, {args.frames} frames, {args.steps} guided steps (tiny model, fp32 CPU)")
    print(f"ours (encode + denoise, warm) {ours:7.2f} s   reference {reference:7.2f} s   "
          f"ratio ours/reference {ours / reference:5.2f}")
    print(f"video latent max abs difference {err:.2e} (max |x| {np.abs(video.latent.numpy()).max():.2f}); "
          f"peak RSS of this process {peak:.0f} MiB")
    mx.clear_cache()


if __name__ == "__main__":
    main()
