"""LTX-2.5 audio-VAE file parity with ltx-core 1.2.0 (fp32): a tiny split file (``audio_vae.*`` + BWE
``vocoder.*``) written by ltx2.tiny.audio_vae25 and loaded by the official 1.2.0 configurators and key filters;
audio encode, decode, and the vocoder + BWE, which always runs in float32."""

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.loading.checkpoint import read_header
from ltx2.models.audio_vae import load_audio_decoder, load_audio_encoder
from ltx2.models.vocoder import load_vocoder
from ltx2.tiny.audio_vae25 import write_tiny_audio_vae25

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on

TOLERANCE = 1e-4

REFERENCE = """
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
from ltx_core.model.audio_vae.model_configurator import (
    AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, VOCODER_COMFY_KEYS_FILTER,
    AudioDecoderConfigurator, AudioEncoderConfigurator, VocoderConfigurator)

def build(configurator, sd_ops):
    model = SingleGPUModelBuilder(configurator, I["path"], sd_ops).build(torch.device("cpu"), torch.float32)
    assert not [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    return model.eval()

with torch.no_grad():
    O["latent"] = build(AudioEncoderConfigurator, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER)(torch.from_numpy(I["mel"]))
    decoder = build(AudioDecoderConfigurator, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
    O["decoded"] = decoder(torch.from_numpy(I["latent_in"]))
    vocoder = build(VocoderConfigurator, VOCODER_COMFY_KEYS_FILTER)
    assert type(vocoder).__name__ == "VocoderWithBWE"
    O["rate"] = np.array(vocoder.output_sampling_rate)
    O["wave"] = vocoder(O["decoded"])
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    path = write_tiny_audio_vae25(tmp_path_factory.mktemp("audio25") / "audio.safetensors", seed=2)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((1, 2, 41, 64)).astype(np.float32) - 4.0  # (B, C, T, mel) log-mel
    latent = rng.standard_normal((1, 8, 10, 16)).astype(np.float32)
    return path, mel, latent, v12.run(REFERENCE, path=path, mel=mel, latent_in=latent)


def _parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: {ours.shape} vs reference {ref.shape}"
    err = float(np.abs(ours - ref).max())
    a, b = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    print(f"\nPARITY {what}: max abs err {err:.3e}, cosine {a @ b / np.linalg.norm(a) / np.linalg.norm(b):.8f}, "
          f"reference max|x| {np.abs(b).max():.3f}")
    assert err <= TOLERANCE, f"{what}: max abs error {err:.3e} > {TOLERANCE}"


def _channels_last(x: np.ndarray) -> mx.array:
    return mx.array(x.transpose(0, 2, 3, 1))


@v12.needed
def test_audio_vae25_file_matches_1_2_0(case):
    path, mel, latent, ref = case
    assert sorted(read_header(path).config) == ["audio_vae", "vocoder"]
    _parity(np.array(load_audio_encoder(path)(_channels_last(mel))).transpose(0, 3, 1, 2), ref["latent"],
            "audio encoder 2.5")
    _parity(np.array(load_audio_decoder(path)(_channels_last(latent))).transpose(0, 3, 1, 2), ref["decoded"],
            "audio decoder 2.5")
    vocoder = load_vocoder(path)
    assert vocoder.output_sampling_rate == int(ref["rate"]) == 48000
    _parity(np.array(vocoder(_channels_last(ref["decoded"]))), ref["wave"], "vocoder + BWE 2.5 (48 kHz)")


@v12.needed
def test_bwe_vocoder_runs_in_float32_in_a_bf16_run(case):
    """Asked for bfloat16, the BWE vocoder still holds float32 weights and computes in float32; the waveform
    comes back in the mel's dtype (as the official VocoderWithBWE)."""
    path, _, _, ref = case
    vocoder = load_vocoder(path, "bfloat16")
    assert {v.dtype for _, v in tree_flatten(vocoder.module.parameters())} == {mx.float32}
    mel = _channels_last(ref["decoded"])
    _parity(np.array(vocoder(mel)), ref["wave"], "vocoder + BWE loaded for a bf16 run")
    wave16 = vocoder(mel.astype(mx.bfloat16))
    assert wave16.dtype == mx.bfloat16
    expected = np.array(vocoder(mel.astype(mx.bfloat16).astype(mx.float32)).astype(mx.bfloat16).astype(mx.float32))
    assert np.array_equal(np.array(wave16.astype(mx.float32)), expected)
