"""LTX-2.5 latent upsamplers (spatial x2, temporal x2) parity with ltx-core 1.2.0 (fp32): tiny files written by
ltx2.tiny.upsampler25, run through the official ``upsample_video`` with the latent statistics of a tiny split
2.5 video-VAE file (bare ``per_channel_statistics.``), as the DFR temporal rounds and two-stage pipelines do."""

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.upsampler import load_latent_statistics, load_upsampler, upsample_latent
from ltx2.tiny.upsampler25 import KINDS25, write_tiny_upsampler25
from ltx2.tiny.video_vae25 import write_tiny_video_vae25

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on

TOLERANCE = 1e-4
C = 16
SHAPES = {"spatial-x2": (1, C, 3, 8, 12), "temporal-x2": (1, C, 5, 4, 6)}  # outputs for a (1, C, 3, 4, 6) latent

REFERENCE = """
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
from ltx_core.model.upsampler import LatentUpsamplerConfigurator, upsample_video
from ltx_core.model.video_vae.model_configurator import VAE_ENCODER_COMFY_KEYS_FILTER, VideoEncoderConfigurator

def build(configurator, path, sd_ops):
    model = SingleGPUModelBuilder(configurator, path, sd_ops).build(torch.device("cpu"), torch.float32)
    assert not [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    return model.eval()

encoder = build(VideoEncoderConfigurator, I["vae"], VAE_ENCODER_COMFY_KEYS_FILTER)
with torch.no_grad():
    for kind in I["kinds"].split(","):
        upsampler = build(LatentUpsamplerConfigurator, I[kind], None)
        O[kind] = upsample_video(torch.from_numpy(I["latent"]), encoder, upsampler)
"""


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("up25")
    vae = write_tiny_video_vae25(root / "vae.safetensors", "16x16x4", seed=4, latent_channels=C)
    files = {kind: write_tiny_upsampler25(root / f"{kind}.safetensors", kind, seed=i + 1, in_channels=C)
             for i, kind in enumerate(KINDS25)}
    latent = np.random.default_rng(0).standard_normal((1, C, 3, 4, 6)).astype(np.float32)
    ref = v12.run(REFERENCE, vae=vae, kinds=",".join(KINDS25), latent=latent, **files)
    return vae, files, latent, ref


@v12.needed
@pytest.mark.parametrize("kind", KINDS25)
def test_upsampler25_matches_1_2_0(cases, kind):
    vae, files, latent, ref = cases
    ours = upsample_latent(mx.array(latent).moveaxis(1, -1), load_upsampler(files[kind]), load_latent_statistics(vae))
    ours = np.array(ours.moveaxis(-1, 1))
    assert ours.shape == ref[kind].shape == SHAPES[kind]
    err = float(np.abs(ours - ref[kind]).max())
    a, b = ours.astype(np.float64).ravel(), ref[kind].astype(np.float64).ravel()
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    print(f"\nPARITY upsampler {kind}: max abs err {err:.3e}, cosine {cos:.8f}, reference max|x| {np.abs(b).max():.3f}")
    assert err <= TOLERANCE
