"""LTX-2.5 conv video VAE parity with ltx-core 1.2.0 (fp32): tiny split files written by ltx2.tiny.video_vae25,
loaded by the official 1.2.0 configurators and key filters in the oracle venv, and by ours."""

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.models.video_vae import load_video_decoder, load_video_encoder
from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig
from ltx2.models.video_vae.load import is_diffusion_video_vae
from ltx2.tiny.video_vae25 import tiny_vae25_section
from ltx2.tiny.video_vae25 import write_tiny_video_vae25

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on

TOLERANCE = 1e-4
LATENT = 16
CASES = {  # name -> geometry, video shape (B, C, F, H, W), section overrides
    "32x32x8+attn": ("32x32x8", (1, 3, 17, 64, 96), {}),
    "16x16x4+attn": ("16x16x4", (1, 3, 9, 32, 48), {}),
    "16x16x4+attn+timestep": ("16x16x4", (1, 3, 9, 32, 48), {"timestep_conditioning": True}),
}
NOISE_SEED = 7

REFERENCE = """
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
from ltx_core.model.video_vae.model_configurator import (
    VAE_DECODER_COMFY_KEYS_FILTER, VAE_ENCODER_COMFY_KEYS_FILTER, VideoDecoderConfigurator, VideoEncoderConfigurator,
    is_diffusion_video_vae)

def build(configurator, sd_ops, path):
    model = SingleGPUModelBuilder(configurator, path, sd_ops).build(torch.device("cpu"), torch.float32)
    meta = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    assert not meta, meta[:5]
    return model.eval()

with torch.no_grad():
    for name in I["names"].split(","):
        path = I[name + "/path"]
        O[name + "/latent"] = build(VideoEncoderConfigurator, VAE_ENCODER_COMFY_KEYS_FILTER, path)(
            torch.from_numpy(I[name + "/video"]))
        O[name + "/diffusion"] = np.array(is_diffusion_video_vae(path))
        if not is_diffusion_video_vae(path):
            decoder = build(VideoDecoderConfigurator, VAE_DECODER_COMFY_KEYS_FILTER, path)
            assert type(decoder).__name__ == "ConvVideoDecoder"
            O[name + "/scale"] = np.array(tuple(decoder.video_downscale_factors), dtype=np.float32)
            latent = torch.from_numpy(I[name + "/latent"])
            if decoder.timestep_conditioning:  # the decoder's only draw: latent-shaped noise
                O[name + "/noise"] = torch.randn(latent.shape, generator=torch.Generator().manual_seed(I["seed"]))
            O[name + "/decoded"] = decoder(latent, generator=torch.Generator().manual_seed(I["seed"]))
"""


def _inputs(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae25")
    files, inputs = {}, {}
    for i, (name, (geometry, shape, overrides)) in enumerate(CASES.items()):
        files[name] = write_tiny_video_vae25(root / f"{i}-{geometry}.safetensors", geometry, seed=i + 1,
                                             latent_channels=LATENT, decoder_base_channels=8, **overrides)
        video = _inputs(shape, i)
        t, s = (8, 32) if geometry == "32x32x8" else (4, 16)
        latent_shape = (1, LATENT, (shape[2] - 1) // t + 1, shape[3] // s, shape[4] // s)
        inputs.update({f"{name}/path": files[name], f"{name}/video": video,
                       f"{name}/latent": np.random.default_rng(10 + i).standard_normal(latent_shape).astype("f4")})
    files["diffusion"] = write_tiny_video_vae25(root / "diffusion.safetensors", "16x16x4", seed=5, diffusion=True,
                                                latent_channels=LATENT)
    inputs.update({"diffusion/path": files["diffusion"], "diffusion/video": _inputs(CASES["16x16x4+attn"][1], 9)})
    names = ",".join([*CASES, "diffusion"])
    return files, inputs, v12.run(REFERENCE, names=names, seed=NOISE_SEED, **inputs)


def _to_mlx(x: np.ndarray) -> mx.array:
    return mx.array(x).moveaxis(1, -1)


def _to_torch(x: mx.array) -> np.ndarray:
    return np.array(x.moveaxis(-1, 1))


def _parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: {ours.shape} vs reference {ref.shape}"
    err = float(np.abs(ours - ref).max())
    a, b = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    print(f"\nPARITY {what}: max abs err {err:.3e}, cosine {cos:.8f}, reference max|x| {np.abs(ref).max():.3f}")
    assert np.abs(ref).max() > 0.1, f"{what}: degenerate reference output"
    assert err <= TOLERANCE, f"{what}: max abs error {err:.3e} > {TOLERANCE}"


@v12.needed
@pytest.mark.parametrize("name", list(CASES))
def test_conv_vae25_encoder_and_decoder_match_1_2_0(case_files, name):
    files, inputs, ref = case_files
    encoder, decoder = load_video_encoder(files[name]), load_video_decoder(files[name])
    assert (encoder.config.scale_factors[0], encoder.config.scale_factors[1]) == tuple(ref[f"{name}/scale"][:2])
    assert decoder.config.scale_factors == encoder.config.scale_factors
    _parity(_to_torch(encoder(_to_mlx(inputs[f"{name}/video"]))), ref[f"{name}/latent"], f"{name} encoder")
    noise = None
    if decoder.config.timestep_conditioning:
        def noise(shape, dtype):  # replays the reference's draw
            assert shape == tuple(_to_mlx(ref[f"{name}/noise"]).shape)
            return _to_mlx(ref[f"{name}/noise"]).astype(dtype)
    decoded = decoder(_to_mlx(inputs[f"{name}/latent"]), None, noise)
    _parity(_to_torch(decoded), ref[f"{name}/decoded"], f"{name} conv decoder")


@v12.needed
def test_diffusion_vae_file_gives_its_encoder_and_looks_for_its_diffusion_decoder(case_files):
    files, inputs, ref = case_files
    assert bool(ref["diffusion/diffusion"]) and is_diffusion_video_vae(files["diffusion"])
    assert not any(is_diffusion_video_vae(files[name]) for name in CASES)
    encoder = load_video_encoder(files["diffusion"])
    _parity(_to_torch(encoder(_to_mlx(inputs["diffusion/video"]))), ref["diffusion/latent"], "diffusion-file encoder")
    # this tiny file carries the encoder only: its (diffusion) decoder is looked for and reported missing
    # (tests/models/test_diffusion_decoder_parity.py loads and runs a real one)
    with pytest.raises(ConfigError, match="no tensors under 'decoder.'.*diffusion video decoder") as e:
        load_video_decoder(files["diffusion"])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("geometry, factors, width", [("32x32x8", (8, 32), 8 * 4), ("16x16x4", (4, 16), 4 * 4)])
def test_scale_factors_and_bottleneck_come_from_the_block_list(geometry, factors, width):
    section = tiny_vae25_section(geometry, latent_channels=LATENT, decoder_base_channels=4)
    assert EncoderConfig.from_metadata(section).scale_factors == factors
    decoder = DecoderConfig.from_metadata(section)
    assert decoder.scale_factors == factors and decoder.width == width
    assert decoder.block_channels()[-1][1] == 4  # the upsampling blocks end at decoder_base_channels
    nested = EncoderConfig.from_metadata(tiny_vae25_section(geometry, latent_channels=LATENT, diffusion=True))
    assert nested.scale_factors == factors and nested.latent_channels == LATENT


def test_attention_in_frame_chunks_equals_one_pass(monkeypatch):
    """Frames go through the attention in chunks when their scores would exceed the budget; same numbers."""
    from ltx2.models.video_vae import attention

    block = attention.AttnBlock3D(8)
    x = mx.random.normal((2, 3, 4, 5, 8), key=mx.random.key(0))
    whole = block(x)
    monkeypatch.setattr(attention, "SCORE_BUDGET", 2 * 20 * 20)  # two frames per chunk: chunks 2, 2, 2
    assert np.abs(np.array(block(x)) - np.array(whole)).max() < 1e-6
