"""Video VAE parity with ltx-core 1.0.0 (fp32, tiny random weights loaded by both from one file)."""

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.model.video_vae import SpatialTilingConfig, TemporalTilingConfig
from ltx_core.model.video_vae import TilingConfig as RefTiling
from ltx_core.model.video_vae import decode_video as ref_decode_video
from oracles.vae import (
    LATENT,
    TorchNoiseReplay,
    assert_parity,
    reference_decoder,
    reference_encoder,
    to_mlx,
    to_torch_layout,
    write_vae,
)

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.video_vae import load_video_decoder, load_video_encoder
from ltx2.models.video_vae.tiled import decode_video, tiled_decode, tiled_encode
from ltx2.models.video_vae.tiling import SpatialTiling, TemporalTiling, TilingConfig

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on

NOISY_DECODER = [["res_x", {"num_layers": 1, "inject_noise": False}],
                 ["compress_all", {"residual": True, "multiplier": 2}],
                 ["res_x", {"num_layers": 1, "inject_noise": True}],
                 ["compress_all", {"residual": True, "multiplier": 2}],
                 ["res_x", {"num_layers": 1, "inject_noise": True}],
                 ["compress_all", {"residual": True, "multiplier": 2}],
                 ["res_x", {"num_layers": 2, "inject_noise": False}]]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae")
    return {
        # LTX-2 metadata has no spatial_padding_mode: encoder zeros, decoder reflect (configurator defaults)
        "ltx2": write_vae(root / "ltx2.safetensors", "ltx2", seed=1),
        "ltx2.3": write_vae(root / "ltx23.safetensors", "ltx2.3", seed=2),  # zeros in both
        "ltx2-reflect-enc": write_vae(root / "ltx2r.safetensors", "ltx2", seed=3, spatial_padding_mode="reflect"),
        "tc": write_vae(root / "tc.safetensors", "ltx2", seed=4, timestep_conditioning=True,
                        decoder_blocks=NOISY_DECODER),
    }


def _video(shape=(1, 3, 17, 64, 96), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _latent(shape=(1, LATENT, 3, 2, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", ["ltx2", "ltx2.3", "ltx2-reflect-enc"])
def test_encoder_parity(files, name):
    video = _video((2, 3, 17, 64, 96))
    with torch.no_grad():
        ref = reference_encoder(files[name])(torch.from_numpy(video)).numpy()
    ours = to_torch_layout(load_video_encoder(files[name])(to_mlx(video)))
    assert ours.shape == (2, LATENT, 3, 2, 3)
    assert_parity(ours, ref, f"encoder {name}")


def test_encoder_is_causal_in_time(files):
    encoder = load_video_encoder(files["ltx2"])
    video = _video()
    changed = video.copy()
    changed[:, :, 1:] = _video(seed=5)[:, :, 1:]
    first, second = encoder(to_mlx(video)), encoder(to_mlx(changed))
    assert mx.abs(first[:, 0] - second[:, 0]).max().item() == 0.0
    assert mx.abs(first[:, 1:] - second[:, 1:]).max().item() > 1e-3


@pytest.mark.parametrize("name", ["ltx2", "ltx2.3"])
def test_decoder_parity(files, name):
    latent = _latent((2, LATENT, 3, 2, 3))
    with torch.no_grad():
        ref = reference_decoder(files[name])(torch.from_numpy(latent)).numpy()
    decoder = load_video_decoder(files[name])
    assert decoder.config.spatial_padding_mode == {"ltx2": "reflect", "ltx2.3": "zeros"}[name]
    ours = to_torch_layout(decoder(to_mlx(latent)))
    assert ours.shape == (2, 3, 17, 64, 96)
    assert_parity(ours, ref, f"decoder {name} ({decoder.config.spatial_padding_mode})")


@pytest.mark.parametrize("timestep", [None, [0.05, 0.3]])
def test_timestep_conditioned_decoder_parity(files, timestep):
    """Decode noise mixing, per-block modulation and spatial noise injection, with the reference's exact noise."""
    latent = _latent((2, LATENT, 3, 2, 2))
    ref_model = reference_decoder(files["tc"])
    assert ref_model.timestep_conditioning
    t_ref = None if timestep is None else torch.tensor(timestep)
    with torch.no_grad():
        ref = ref_model(torch.from_numpy(latent), t_ref, torch.Generator().manual_seed(7)).numpy()
    decoder = load_video_decoder(files["tc"])
    t_ours = None if timestep is None else mx.array(timestep)
    ours = to_torch_layout(decoder(to_mlx(latent), t_ours, TorchNoiseReplay(7)))
    assert_parity(ours, ref, f"timestep-conditioned decoder, timestep {timestep}")


def test_tiled_decode_parity(files):
    latent = _latent((1, LATENT, 5, 8, 6), seed=3)
    ref_tiling = RefTiling(SpatialTilingConfig(128, 64), TemporalTilingConfig(24, 8))
    with torch.no_grad():
        ref_chunks = [c.numpy() for c in reference_decoder(files["ltx2"]).tiled_decode(torch.from_numpy(latent),
                                                                                        ref_tiling)]
    tiling = TilingConfig(SpatialTiling(128, 64), TemporalTiling(24, 8))
    chunks = [to_torch_layout(c) for c in tiled_decode(load_video_decoder(files["ltx2"]), to_mlx(latent), tiling)]
    assert [c.shape for c in chunks] == [c.shape for c in ref_chunks] == [(1, 3, 8, 256, 192), (1, 3, 25, 256, 192)]
    assert_parity(np.concatenate(chunks, axis=2), np.concatenate(ref_chunks, axis=2), "tiled decode")


def test_decode_video_uint8_matches_reference(files):
    latent = _latent((1, LATENT, 3, 4, 3), seed=4)
    ref_tiling = RefTiling(SpatialTilingConfig(64, 32), TemporalTilingConfig(16, 8))
    with torch.no_grad():
        ref = torch.cat(list(ref_decode_video(torch.from_numpy(latent), reference_decoder(files["ltx2"]),
                                              ref_tiling)), dim=0).numpy()
    tiling = TilingConfig(SpatialTiling(64, 32), TemporalTiling(16, 8))
    ours = np.concatenate(list(decode_video(load_video_decoder(files["ltx2"]), to_mlx(latent), tiling)), axis=0)
    assert ours.dtype == np.uint8 and ours.shape == ref.shape == (17, 128, 96, 3)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    # truncation can flip by one level where the float values differ by ~1e-6 right at a boundary
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_tiled_encode_parity(files):
    video = _video((1, 3, 33, 192, 160), seed=6)  # 3 x 2 x 2 tiles
    ref_tiling = RefTiling(SpatialTilingConfig(128, 64), TemporalTilingConfig(24, 16))
    with torch.no_grad():
        ref = reference_encoder(files["ltx2"]).tiled_encode(torch.from_numpy(video), ref_tiling).numpy()
    tiling = TilingConfig(SpatialTiling(128, 64), TemporalTiling(24, 16))
    ours = to_torch_layout(tiled_encode(load_video_encoder(files["ltx2"]), to_mlx(video), tiling))
    assert_parity(ours, ref, "tiled encode")
