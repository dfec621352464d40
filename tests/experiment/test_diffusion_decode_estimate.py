"""The planner's estimate of LTX-2.5's diffusion video decode (ltx2.experiment.estimates.diffusion_video_decode):
on the safe side of MLX's measured peak at tiny widths without being far above it, and at the official widths it
holds the canvas noise and one temporal tile row of float32 blend buffers (``decode_chunks``)."""

import mlx.core as mx

from ltx2.experiment.estimates import diffusion_video_decode
from ltx2.models.video_vae.load import load_video_decoder, read_vae_section
from ltx2.models.video_vae.tiled import decode_video
from ltx2.tiny.diffusion_vae import SMALL_KERNELS, write_tiny_video_vae25_full


def test_estimate_bounds_the_measured_peak_at_tiny_widths(tmp_path):
    path = write_tiny_video_vae25_full(tmp_path / "vae.safetensors", **SMALL_KERNELS)
    decoder, section = load_video_decoder(path), read_vae_section(path)
    latent = mx.random.normal((1, 3, 2, 3, 128), key=mx.random.key(0))
    noise = mx.random.normal(decoder.canvas_shape(latent.shape), key=mx.random.key(1))
    mx.eval(latent, noise)
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    frames = list(decode_video(decoder, latent, None, noise=noise))
    peak = mx.get_peak_memory() - base
    estimate = diffusion_video_decode(section, (3, 2, 3), 4)
    assert frames[0].shape == (17, 64, 96, 3)
    assert peak <= estimate <= 8 * peak, (peak, estimate)


def test_official_widths_hold_the_noise_and_one_row_of_blend_buffers():
    section = {"_class_name": "CausalDiffusionVAE"}  # the class defaults: the official decoder's widths
    big = diffusion_video_decode(section, (16, 32, 48), 2)  # 121 frames at 1536 x 1024, bfloat16
    longer = diffusion_video_decode(section, (31, 32, 48), 2)  # 241 frames: one more temporal tile row
    small = diffusion_video_decode(section, (16, 16, 24), 2)  # 768 x 512
    noise, row = 121 * 1024 * 1536 * 3 * 2, 64 * 1024 * 1536 * 16  # bf16 canvas noise; float32 values + weights
    assert noise + row < big < 8 * (noise + row) and small < big / 2
    assert big < longer < 1.5 * big  # frames are handed out row by row: the buffers do not grow with the length
