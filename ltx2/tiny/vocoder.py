"""Tiny vocoders in the official checkpoint format: the ``vocoder`` metadata section and ``vocoder.*`` tensors.

Real rates, kernels and block types with narrow widths. The LTX-2.3 checkpoint buffers are filled with what the
real files hold: kaiser-sinc anti-alias filters, a periodic-Hann DFT basis and a Slaney mel filterbank.
"""

from __future__ import annotations

import numpy as np
from mlx.utils import tree_flatten

from ltx2.models.audio_vae.mel import slaney_filterbank
from ltx2.models.vocoder.bigvgan import FILTER_TAPS, kaiser_sinc_filter
from ltx2.models.vocoder.config import VocoderConfig
from ltx2.models.vocoder.load import PREFIX, is_transposed_conv
from ltx2.models.vocoder.model import build_vocoder

_BLOCKS = {"resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]}
_AMP = {**_BLOCKS, "resblock": "AMP1", "stereo": True, "activation": "snakebeta", "use_tanh_at_final": False,
        "use_bias_at_final": False}


def tiny_vocoder_section(version: str = "ltx2", width: int = 128, bwe_width: int = 64) -> dict:
    """LTX-2 ("ltx2"): flat HiFi-GAN section at 24 kHz; LTX-2.3 ("ltx2.3"): nested vocoder + bwe, 48 kHz."""
    if version == "ltx2":
        return {**_BLOCKS, "resblock": "1", "stereo": True, "upsample_initial_channel": width,
                "upsample_rates": [6, 5, 2, 2, 2], "upsample_kernel_sizes": [16, 15, 8, 4, 4],
                "output_sampling_rate": 24000}
    if version == "ltx2.3":
        return {"vocoder": {**_AMP, "upsample_initial_channel": width, "upsample_rates": [5, 2, 2, 2, 2, 2],
                            "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4]},
                "bwe": {**_AMP, "upsample_initial_channel": bwe_width, "upsample_rates": [6, 5, 2, 2, 2],
                        "upsample_kernel_sizes": [12, 11, 4, 4, 4], "apply_final_activation": False,
                        "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 80,
                        "n_fft": 512, "win_size": 512, "num_mels": 64}}
    raise ValueError(f"tiny vocoder version {version!r} is not one of ['ltx2', 'ltx2.3']")


def stft_basis(n_fft: int) -> np.ndarray:
    """(2F, 1, n_fft): rows [:F] = Re, [F:] = Im of the DFT, times a periodic Hann window."""
    freqs = np.arange(n_fft // 2 + 1)[:, None]
    phase = 2 * np.pi * freqs * np.arange(n_fft)[None, :] / n_fft
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return (np.concatenate([np.cos(phase), -np.sin(phase)]) * window)[:, None, :].astype(np.float32)


def tiny_vocoder_tensors(section: dict, seed: int = 0, amp_gain: float = 0.7) -> dict[str, np.ndarray]:
    """Random float32 tensors for every ``vocoder.*`` key of ``section``, in the checkpoint's PyTorch layout.
    Conv weights ~ N(0, 1/fan_in), times ``amp_gain`` in BigVGAN generators (SnakeBeta adds energy at every
    activation; unit gain saturates the output clamp)."""
    config = VocoderConfig.from_metadata(section)
    rng = np.random.default_rng(seed + 11)
    filt = kaiser_sinc_filter(0.25, 0.3, FILTER_TAPS)
    tensors = {}
    for key, value in sorted(tree_flatten(build_vocoder(config).parameters())):
        shape = tuple(value.shape)
        if key.endswith(".filter"):
            tensors[PREFIX + key] = filt
            continue
        if key.startswith("mel_stft."):
            continue
        if len(shape) == 3:  # MLX (O, k, I) -> PyTorch
            shape = (shape[2], shape[0], shape[1]) if is_transposed_conv(key) else (shape[0], shape[2], shape[1])
            fan_in = shape[0] * shape[2] if is_transposed_conv(key) else shape[1] * shape[2]
            values = rng.standard_normal(shape) / np.sqrt(fan_in) * (amp_gain if config.bwe else 1.0)
        else:
            values = 0.1 * rng.standard_normal(shape)
        tensors[PREFIX + key] = values.astype(np.float32)
    if config.bwe:
        bwe = config.bwe
        basis = stft_basis(bwe.n_fft)
        tensors[PREFIX + "mel_stft.stft_fn.forward_basis"] = basis
        tensors[PREFIX + "mel_stft.stft_fn.inverse_basis"] = basis
        tensors[PREFIX + "mel_stft.mel_basis"] = slaney_filterbank(
            bwe.n_fft // 2 + 1, bwe.num_mels, bwe.input_sampling_rate, 0.0, bwe.input_sampling_rate / 2
        ).astype(np.float32)
    return tensors
