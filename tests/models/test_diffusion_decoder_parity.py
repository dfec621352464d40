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
# name -> decoder overrides, latent (B, C, F', H', W'), tiling {"frames": (tile, overlap), "pixels": (...)}
SMALL_KERNELS = {"stage_kernels": [[3, 3, 3]] * 5, "stage5_kernel": [3, 3, 3]}
CASES = {
    # the 1.2.0 recipe's decoder: (3,7,7)-class kernels, latent padded to 3 x 7 x 7 -> 2 x 2 x 2 stage-4 tiles
    "recipe": ({}, (1, 128, 2, 7, 7), {"frames": (16, 8), "pixels": (128, 32)}),
    # 3x3x3 kernels (a 3 x 3 x 3 latent minimum): fast; H' = 1 is padded symmetrically, F' = 2 by repetition
    "small": (SMALL_KERNELS, (1, 128, 2, 1, 4), {"frames": (16, 8), "pixels": (64, 32)}),
    "small-tiles": (SMALL_KERNELS, (1, 128, 2, 3, 4), {"frames": (16, 8), "pixels": (64, 32)}),
}

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
def tiny_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("dvae")
    return {name: write_tiny_diffusion_vae(root / f"{name}.safetensors", seed=3 + i, **CASES[name][0])
            for i, name in enumerate(CASES)}


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


_REFERENCE_RUNS: dict = {}  # (case, tiled) -> the reference's outputs, shared by both op backends


def _check(tiny_files, name: str, tiled: bool) -> None:
    _, shape, tiles = CASES[name]
    latent = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    if (name, tiled) not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[name, tiled] = v12.run(
            REFERENCE, path=tiny_files[name], latent=latent, seed=SEED, tiled=tiled, tile_frames=tiles["frames"][0],
            overlap_frames=tiles["frames"][1], tile_px=tiles["pixels"][0], overlap_px=tiles["pixels"][1])
    ref = _REFERENCE_RUNS[name, tiled]
    decoder = load_video_decoder(tiny_files[name])
    assert isinstance(decoder, DiffusionVideoDecoder)
    tiling = TilingConfig(SpatialTiling(*tiles["pixels"]), TemporalTiling(*tiles["frames"])) if tiled else None
    chunks = list(decoder.decode_chunks(_to_mlx(latent), _to_mlx(ref["noise"]), tiling))
    assert len(chunks) == (2 if tiled else 1)  # temporally tiled: frames handed out before the last row decodes
    ours = np.array(mx.concatenate(chunks, axis=1).moveaxis(-1, 1))
    _parity(ours, ref["decoded"], f"diffusion video decoder, {name}, {'tiled' if tiled else 'untiled'}")


@v12.needed
@pytest.mark.usefixtures("op_backend")  # the MLX ops (what GPUs run), and the CPU backend forced on
def test_diffusion_decoder_matches_1_2_0(tiny_files):
    _check(tiny_files, "small", tiled=False)


@v12.needed
@pytest.mark.usefixtures("op_backend")
def test_tiled_diffusion_decoder_matches_1_2_0(tiny_files):
    _check(tiny_files, "small-tiles", tiled=True)


@v12.needed
@pytest.mark.slow
@pytest.mark.parametrize("tiled", [False, True], ids=["untiled", "tiled"])
def test_recipe_sized_diffusion_decoder_matches_1_2_0(tiny_files, tiled):
    """The 1.2.0 recipe's decoder ((3,7,7) kernels, 9 x 224 x 224 px; tiled: 2 x 2 x 2 stage-4 tiles)."""
    _check(tiny_files, "recipe", tiled)


def test_split_file_loads_the_same_decoder_and_gates_are_folded(tmp_path):
    """``decoder.*`` (split) and ``vae.decoder.*`` files give the same weights; fused qkv split in order; each
    static gate multiplies its projection's rows; the coarse head is dropped."""
    from mlx.utils import tree_flatten

    from ltx2.tiny.diffusion_vae import tiny_diffusion_decoder_tensors, tiny_diffusion_vae_section

    single = load_video_decoder(write_tiny_diffusion_vae(tmp_path / "single.safetensors", seed=1, **SMALL_KERNELS))
    split = load_video_decoder(write_tiny_diffusion_vae(tmp_path / "split.safetensors", seed=1, split=True,
                                                        **SMALL_KERNELS))
    a, b = dict(tree_flatten(single.parameters())), dict(tree_flatten(split.parameters()))
    assert a.keys() == b.keys() and all(mx.array_equal(a[k], b[k]) for k in a)
    raw = tiny_diffusion_decoder_tensors(tiny_diffusion_vae_section(**SMALL_KERNELS), seed=1)
    c = a["diff_blocks.0.attn.qkv.to_k.weight"].shape[0]
    assert np.array_equal(np.array(a["det_stages.1.0.attn.qkv.to_k.weight"]),
                          raw["vae.decoder.det_stages.1.0.attn.qkv.weight"][64:128])
    gate = raw["vae.decoder.diff_blocks.1.gate_ctx"]
    np.testing.assert_allclose(np.array(a["diff_blocks.1.context_proj.weight"]),
                               gate[:, None] * raw["vae.decoder.diff_blocks.1.context_proj.weight"], rtol=1e-6)
    gate = raw["vae.decoder.diff_blocks.0.gate_msa"]
    np.testing.assert_allclose(np.array(a["diff_blocks.0.attn.proj.bias"]),
                               gate * raw["vae.decoder.diff_blocks.0.attn.proj.bias"], rtol=1e-6)
    assert c == 32 and not any("coarse" in k or "gate_" in k for k in a)


def test_neighborhood_attention_is_the_inward_shifted_window():
    from ltx2.models.video_vae.neighborhood_attention import brute_force_na3d, na3d

    rng = np.random.default_rng(0)
    for shape, kernel, w_range in [((1, 4, 9, 11, 2, 8), (3, 7, 7), None), ((2, 3, 5, 20, 1, 8), (3, 5, 7), (3, 17)),
                                   ((1, 2, 3, 4, 1, 8), (3, 7, 7), None)]:  # kernels clipped to short axes
        q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
        ours = np.array(na3d(mx.array(q), mx.array(k), mx.array(v), kernel, w_range))
        ref = brute_force_na3d(q, k, v, kernel)[:, :, :, slice(*(w_range or (None, None)))]
        assert np.abs(ours - ref).max() < 1e-5


def test_noise_of_the_wrong_shape_is_refused(tiny_files):
    decoder = load_video_decoder(tiny_files["small"])
    latent = mx.zeros((1, 2, 1, 4, 128))
    assert decoder.canvas_shape(latent.shape) == (1, 17, 96, 128, 3)  # padded to 3 x 3 x 4 latent cells
    with pytest.raises(ValueError, match="noise of shape"):
        decoder.decode(latent, mx.zeros((1, 9, 32, 128, 3)))


def test_unsupported_decoder_config_is_one_config_error(tmp_path):
    import json

    from ltx2.errors import ConfigError
    from ltx2.loading.checkpoint import save_checkpoint
    from ltx2.tiny.diffusion_vae import tiny_diffusion_vae_section

    path = tmp_path / "bad.safetensors"
    section = tiny_diffusion_vae_section(stage_channels=[128, 64, 32, 32, 24])
    save_checkpoint(path, {"vae.decoder.conv_in.bias": mx.zeros(128)}, {"config": json.dumps({"vae": section})})
    with pytest.raises(ConfigError, match="multiple of head_dim") as e:
        load_video_decoder(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_swiglu_in_token_chunks_equals_one_pass(monkeypatch):
    from ltx2.models.video_vae import diffusion_blocks

    mlp = diffusion_blocks.SwiGLU(32, 128)
    y = mx.random.normal((1, 3, 5, 7, 32), key=mx.random.key(0))
    whole = mlp(y)
    monkeypatch.setattr(diffusion_blocks, "SWIGLU_TOKENS", 16)
    assert mx.allclose(mlp(y), whole, atol=1e-6).item()
