"""LTX-2.3's bandwidth extension: the 16 kHz generator output -> causal log-mel (checkpoint STFT and mel bases)
-> a second generator predicts a residual at 48 kHz, added to a x3 Hann-sinc resampled copy of the input."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2.models.vocoder.banded import banded_upsample
from ltx2.models.vocoder.config import BWEConfig
from ltx2.models.vocoder.conv1d import replicate_pad
from ltx2.models.vocoder.generator import Generator

LOG_FLOOR = 1e-5
HANN_WIDTH = 6  # zero crossings of the resampling sinc
HANN_ROLLOFF = 0.99


def hann_sinc_upsampler(ratio: int) -> tuple[np.ndarray, int, int, int]:
    """Filter of the x``ratio`` skip resampler (the torchaudio ``resample`` kernel, as a transposed convolution),
    computed in float32 like the official one: (taps, edge padding, left crop, right crop)."""
    width = math.ceil(HANN_WIDTH / HANN_ROLLOFF)
    taps = 2 * width * ratio + 1
    t = ((np.arange(taps, dtype=np.float32) / np.float32(ratio)) - np.float32(width)) * np.float32(HANN_ROLLOFF)
    window = np.cos(np.clip(t, -HANN_WIDTH, HANN_WIDTH) * np.float32(math.pi / HANN_WIDTH / 2)) ** 2
    values = np.sinc(t.astype(np.float64)).astype(np.float32) * window * np.float32(HANN_ROLLOFF / ratio)
    return values.astype(np.float32), width, 2 * width * ratio, taps - ratio


class _STFT(nn.Module):
    def __init__(self, n_fft: int):
        super().__init__()
        self.forward_basis = mx.zeros((n_fft + 2, 1, n_fft))
        self.inverse_basis = mx.zeros((n_fft + 2, 1, n_fft))  # unused by the forward pass, kept for strict loading


class MelSTFT(nn.Module):
    """Causal STFT (left zero pad ``n_fft - hop``; rows [:F] real, [F:] imaginary of ``forward_basis``) ->
    magnitude -> ``mel_basis`` -> natural log of max(mel, 1e-5)."""

    def __init__(self, n_fft: int, n_mels: int):
        super().__init__()
        self.stft_fn = _STFT(n_fft)
        self.mel_basis = mx.zeros((n_mels, n_fft // 2 + 1))

    def __call__(self, x: mx.array, hop: int) -> mx.array:
        """x (B, C, L), L a multiple of ``hop`` -> log-mel (B, L / hop, n_mels, C)."""
        basis = self.stft_fn.forward_basis
        n_fft, freqs = basis.shape[-1], basis.shape[0] // 2
        x = mx.pad(x, [(0, 0), (0, 0), (n_fft - hop, 0)])  # (B, C, L + pad)
        frames = (x.shape[-1] - n_fft) // hop + 1
        index = mx.arange(frames)[:, None] * hop + mx.arange(n_fft)[None, :]  # frame f = [f*hop, f*hop + n_fft)
        windows = mx.take(x, index, axis=-1)  # (B, C, frames, n_fft)
        spec = windows @ basis.reshape(basis.shape[0], n_fft).T.astype(x.dtype)  # (B, C, frames, 2F)
        magnitude = mx.sqrt(mx.square(spec[..., :freqs]) + mx.square(spec[..., freqs:]))
        mel = magnitude @ self.mel_basis.T.astype(x.dtype)  # (B, C, frames, n_mels)
        return mx.log(mx.maximum(mel, LOG_FLOOR)).transpose(0, 2, 3, 1)


class VocoderWithBWE(nn.Module):
    """``vocoder`` (mel -> 16 kHz) then bandwidth extension to 48 kHz; keys ``vocoder.*``, ``bwe_generator.*``,
    ``mel_stft.*``."""

    def __init__(self, main, config: BWEConfig):
        super().__init__()
        self.bwe_config = config
        self.vocoder = Generator(main)
        self.bwe_generator = Generator(config.generator)
        self.mel_stft = MelSTFT(config.n_fft, config.num_mels)
        self._ratio = config.output_sampling_rate // config.input_sampling_rate
        filt, self._pad, self._crop_left, self._crop_right = hann_sinc_upsampler(self._ratio)
        self._resampler = mx.array(filt)  # computed, not loaded (underscore: not a parameter)

    def __call__(self, mel: mx.array) -> mx.array:
        """mel (B, T, 64, 2) -> waveform (B, 2, 3 * 160 T) at the output rate, clamped to [-1, 1]."""
        x = self.vocoder(mel)
        length = x.shape[2]
        hop = self.bwe_config.hop_length
        if length % hop:
            x = mx.pad(x, [(0, 0), (0, 0), (0, hop - length % hop)])
        residual = self.bwe_generator(self.mel_stft(x, hop))
        padded = replicate_pad(x, self._pad, self._pad)
        kept = (padded.shape[2] - 1) * self._ratio + self._resampler.shape[0] - self._crop_left - self._crop_right
        skip = self._ratio * banded_upsample(padded, self._resampler.astype(x.dtype), self._ratio, self._crop_left,
                                             kept)
        if residual.shape != skip.shape:
            raise RuntimeError(f"BWE residual {residual.shape} and skip {skip.shape} differ")
        return mx.clip(residual + skip, -1.0, 1.0)[:, :, : length * self._ratio]
