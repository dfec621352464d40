"""Audio VAE, mel front end and vocoder parity with ltx-core 1.0.0 (fp32, tiny random weights written once to a
file and loaded by both; run pytest -s to see the errors and output scales)."""

import json

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.model.audio_vae import AudioProcessor
from ltx_core.model.audio_vae.model_configurator import (
    AUDIO_VAE_DECODER_COMFY_KEYS_FILTER,
    AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER,
    VOCODER_COMFY_KEYS_FILTER,
    AudioDecoderConfigurator,
    AudioEncoderConfigurator,
    VocoderConfigurator,
)
from ltx_core.types import Audio
from oracles.vae import _build, assert_parity

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.audio_vae import (
    AudioVAEConfig,
    MelFrontEnd,
    load_audio_decoder,
    load_audio_encoder,
)
from ltx2.models.vocoder import VocoderConfig, load_vocoder
from ltx2.tiny.audio_vae import tiny_audio_vae_section, tiny_audio_vae_tensors
from ltx2.tiny.vocoder import tiny_vocoder_section, tiny_vocoder_tensors

AUDIO_VAES = {
    "tiny-default": {},  # what the tiny checkpoints carry: z 8, ch 128 = 8 * 64 / 4, ch_mult (1, 1, 1)
    "real-structure": {"z_channels": 2, "ch": 32, "ch_mult": [1, 2, 4], "num_res_blocks": 2},
    "attention": {"z_channels": 2, "ch": 32, "attn_resolutions": [64], "mid_block_add_attention": True},
}


def _save(path, section_name, section, tensors):
    save_checkpoint(path, {k: mx.array(v) for k, v in tensors.items()}, {"config": json.dumps({section_name: section})})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    out = {}
    for i, (name, extra) in enumerate(AUDIO_VAES.items()):
        section = tiny_audio_vae_section(**extra)
        out[name] = _save(root / f"{name}.safetensors", "audio_vae", section, tiny_audio_vae_tensors(section, i))
    for version in ("ltx2", "ltx2.3"):
        section = tiny_vocoder_section(version)
        out[f"vocoder-{version}"] = _save(root / f"voc-{version}.safetensors", "vocoder", section,
                                          tiny_vocoder_tensors(section, 3))
    return out


def _waveform(samples=16000, seed=0, channels=2):
    return torch.from_numpy(0.1 * np.random.default_rng(seed).standard_normal((1, channels, samples)).astype(np.float32))


def _reference_mel(wave, rate):
    processor = AudioProcessor(target_sample_rate=16000, mel_bins=64, mel_hop_length=160, n_fft=1024)
    return processor.waveform_to_mel(Audio(waveform=wave, sampling_rate=rate)).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("rate,samples", [(16000, 16000), (16000, 7003), (48000, 48000), (44100, 30000)])
def test_mel_front_end_matches_torchaudio(rate, samples):
    wave = _waveform(samples, seed=rate)
    ours = MelFrontEnd()(wave.numpy(), rate)
    ref = _reference_mel(wave, rate)
    assert ours.shape == ref.shape == (1, 1 + -(-samples * 16000 // rate) // 160, 64, 2)
    err = float(np.abs(ours - ref).max())
    print(f"\nPARITY mel {rate} Hz x {samples}: max abs err {err:.3e} (log-mel range {ref.min():.2f}..{ref.max():.2f})")
    assert err <= 1e-4


@pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on
@pytest.mark.parametrize("name", list(AUDIO_VAES))
def test_audio_encoder_and_decoder_parity(files, name):
    path = files[name]
    mel = torch.from_numpy(_reference_mel(_waveform(15840, seed=3), 16000)).permute(0, 3, 1, 2).contiguous()
    encoder = _build(AudioEncoderConfigurator, path, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER)
    decoder = _build(AudioDecoderConfigurator, path, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
    with torch.no_grad():
        latent = encoder(mel)
        rec = decoder(latent)
    assert latent.shape[2] == 25 and rec.shape[2] == 4 * 25 - 3  # 99 mel frames -> ceil(ceil(99/2)/2) -> 4T - 3
    ours_latent = load_audio_encoder(path)(mx.array(mel.permute(0, 2, 3, 1).numpy()))
    assert_parity(np.array(ours_latent), latent.permute(0, 2, 3, 1).numpy(), f"audio encoder {name}")
    ours_rec = load_audio_decoder(path)(mx.array(latent.permute(0, 2, 3, 1).numpy()))
    assert_parity(np.array(ours_rec), rec.permute(0, 2, 3, 1).numpy(), f"audio decoder {name}")


@pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on
def test_audio_encoder_is_causal_in_time(files):
    encoder = load_audio_encoder(files["tiny-default"])
    mel = np.random.default_rng(0).standard_normal((1, 101, 64, 2)).astype(np.float32)
    later = mel.copy()
    later[:, 60:] += 1.0
    a, b = np.array(encoder(mx.array(mel))), np.array(encoder(mx.array(later)))
    changed = [t for t in range(a.shape[1]) if np.abs(a[:, t] - b[:, t]).max() > 1e-5]
    assert changed[0] == 15  # latent frame t sees mel frames <= 4t


@pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on
@pytest.mark.parametrize("version,rate", [("ltx2", 24000), ("ltx2.3", 48000)])
def test_vocoder_parity(files, version, rate):
    path = files[f"vocoder-{version}"]
    reference = _build(VocoderConfigurator, path, VOCODER_COMFY_KEYS_FILTER)
    ours = load_vocoder(path)
    assert ours.output_sampling_rate == reference.output_sampling_rate == rate
    mel = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 2, 37, 64)).astype(np.float32))
    with torch.no_grad():
        ref = reference(mel).numpy()
    wave = ours(mx.array(mel.permute(0, 2, 3, 1).numpy()))
    assert ref.shape == (1, 2, ours.samples(37))
    assert_parity(np.array(wave), ref, f"vocoder {version} ({rate} Hz)")
    assert (np.abs(ref) >= 0.999).mean() < 0.01, "tiny weights should not saturate the output clamp/tanh"
    if version == "ltx2.3":  # the 16 kHz BigVGAN stage on its own
        with torch.no_grad():
            low = reference.vocoder(mel).numpy()
        ours_low = ours.module.vocoder(mx.array(mel.permute(0, 2, 3, 1).numpy()))
        assert_parity(np.array(ours_low), low, "vocoder ltx2.3 BigVGAN stage (16 kHz)")


def test_audio_vae_config_lists_every_problem():
    section = tiny_audio_vae_section(norm_type="group", causality_axis="diagonal", ch=40)
    with pytest.raises(ConfigError) as info:
        AudioVAEConfig.from_metadata(section)
    message = str(info.value)
    assert "norm_type='group'" in message and "causality_axis='diagonal'" in message


def test_vocoder_config_errors_and_kinds():
    assert VocoderConfig.from_metadata(tiny_vocoder_section("ltx2")).kind == "hifigan"
    assert VocoderConfig.from_metadata(tiny_vocoder_section("ltx2.3")).kind == "bigvgan-v2+bwe"
    bad = tiny_vocoder_section("ltx2.3")
    bad["vocoder"]["activation"] = "snake"
    bad["bwe"]["stereo"] = False
    with pytest.raises(ConfigError) as info:
        VocoderConfig.from_metadata(bad)
    assert "vocoder.vocoder.activation='snake'" in str(info.value) and "vocoder.bwe.stereo=False" in str(info.value)


def test_loading_reports_missing_tensors(files, tmp_path):
    section = tiny_vocoder_section("ltx2")
    tensors = tiny_vocoder_tensors(section)
    del tensors["vocoder.conv_post.bias"]
    path = _save(tmp_path / "broken.safetensors", "vocoder", section, tensors)
    with pytest.raises(ConfigError, match="1 missing: conv_post.bias"):
        load_vocoder(path)
