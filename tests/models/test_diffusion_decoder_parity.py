"""LTX-2.5 diffusion video decoder parity with ltx-core 1.2.0 (fp32, the official default decode mode
CHUNKED_EAGER, i.e. what runs on a CPU): a tiny ``CausalDiffusionVAE`` file written by ltx2.tiny.diffusion_vae
(file layout: fused qkv, static gates, coarse head) is loaded by the official configurator + key ops in the
oracle venv and by ours; both decode the same latent from the same noise canvas (the reference's generator draw,
replayed here)."""

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.video_vae import load_video_decoder
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
from ltx2.models.video_vae.tiling import SpatialTiling, TemporalTiling, TilingConfig
from ltx2.tiny.diffusion_vae import write_tiny_diffusion_vae

TOLERANCE = 1e-4
SEED = 42
LATENT_SHAPE = (1, 128, 2, 7, 7)  # (B, C, F', H', W') -> 9 x 224 x 224 pixels
TILING = {"frames": (16, 8), "pixels": (128, 32)}  # tile, overlap: 2 tiles per axis on the stage-4 grid

REFERENCE = """
from ltx_core.loader import SingleGPUModelBuilder
from ltx_core.model.video_vae.model_configurator import (
    VideoDecoderConfigurator, video_decoder_sd_ops_for_checkpoint)
from ltx_core.model.video_vae.transformer import DiffVAEMode, build_diffvae_mode_op
from ltx_core.tiling import DimensionSizeConfig, TileSizeConfig

path = I["path"]
decoder = SingleGPUModelBuilder(model_path=path, model_class_configurator=VideoDecoderConfigurator,
                                model_sd_ops=video_decoder_sd_ops_for_checkpoint(path),
                                module_ops=(build_diffvae_mode_op(DiffVAEMode.CHUNKED_EAGER),)).build(
    device=torch.device("cpu"), dtype=torch.float32).eval()
assert type(decoder).__name__ == "DiffusionVideoDecoder" and decoder.deferred_stage4_upsample
latent = torch.from_numpy(I["latent"])
with torch.no_grad():
    padded, _ = __import__("ltx_core.model.video_vae.diffusion_tiling", fromlist=["x"]).ensure_min_latent_shape(
        latent, decoder.stage_min_tile_sizes)
    canvas = (padded.shape[0], 3, (padded.shape[2] - 1) * 8 + 1, padded.shape[3] * 32, padded.shape[4] * 32)
    O["noise"] = torch.randn(canvas, dtype=torch.float32, generator=torch.Generator().manual_seed(I["seed"]))
    if I["tiled"]:
        tiling = TileSizeConfig(frames=DimensionSizeConfig(I["tile_frames"], I["overlap_frames"]),
                                height=DimensionSizeConfig(I["tile_px"], I["overlap_px"]),
                                width=DimensionSizeConfig(I["tile_px"], I["overlap_px"]))
        chunks = list(decoder.tiled_decode(latent, tiling, generator=torch.Generator().manual_seed(I["seed"])))
        O["decoded"] = torch.cat(chunks, dim=2)
    else:
        O["decoded"] = decoder(latent, generator=torch.Generator().manual_seed(I["seed"]))
"""


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny_diffusion_vae(tmp_path_factory.mktemp("dvae") / "ltx-2.5-video-vae.safetensors", seed=3)


def _latent(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(LATENT_SHAPE).astype(np.float32)


def _to_mlx(x: np.ndarray) -> mx.array:
    return mx.array(x).moveaxis(1, -1)


def _parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: {ours.shape} vs reference {ref.shape}"
    err = float(np.abs(ours - ref).max())
    a, b = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    print(f"\nPARITY {what}: max abs err {err:.3e}, cosine {cos:.8f}, reference max|x| {np.abs(ref).max():.3f}")
    assert np.abs(ref).max() > 0.1, f"{what}: degenerate reference output"
    assert err <= TOLERANCE, f"{what}: max abs error {err:.3e} > {TOLERANCE}"


def _run(tiny_file, tiled: bool):
    latent = _latent()
    ref = v12.run(REFERENCE, path=tiny_file, latent=latent, seed=SEED, tiled=tiled,
                  tile_frames=TILING["frames"][0], overlap_frames=TILING["frames"][1],
                  tile_px=TILING["pixels"][0], overlap_px=TILING["pixels"][1])
    decoder = load_video_decoder(tiny_file)
    assert isinstance(decoder, DiffusionVideoDecoder)
    tiling = TilingConfig(SpatialTiling(*TILING["pixels"]), TemporalTiling(*TILING["frames"])) if tiled else None
    ours = decoder.decode(_to_mlx(latent), _to_mlx(ref["noise"]), tiling)
    return np.array(ours.moveaxis(-1, 1)), ref["decoded"]


@v12.needed
def test_diffusion_decoder_matches_1_2_0_chunked_eager(tiny_file):
    ours, ref = _run(tiny_file, tiled=False)
    _parity(ours, ref, "diffusion video decoder (untiled)")


@v12.needed
def test_tiled_diffusion_decoder_matches_1_2_0(tiny_file):
    ours, ref = _run(tiny_file, tiled=True)
    _parity(ours, ref, "diffusion video decoder (tiled: 2 x 2 x 2 stage-4 tiles)")
