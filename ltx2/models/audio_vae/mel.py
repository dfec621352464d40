"""Log-mel front end of the audio VAE (used only to *encode* a waveform), in NumPy float64.

Same parameters as the official ``AudioProcessor`` (torchaudio ``MelSpectrogram``): resample to the model rate
with a Hann-windowed sinc (lowpass width 6, rolloff 0.99), periodic Hann window of ``n_fft``, centred frames
with reflect padding, magnitude (power 1), Slaney mel scale with Slaney area normalisation from 0 Hz to half the
rate, then the natural log of ``max(mel, 1e-5)``. Frames: ``1 + floor(samples / hop)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_FLOOR = 1e-5
RESAMPLE_WIDTH = 6
RESAMPLE_ROLLOFF = 0.99


def hz_to_slaney_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step, 3.0 * f / 200.0)


def slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), 200.0 * m / 3.0)


def slaney_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float) -> np.ndarray:
    """(n_mels, n_freqs) triangular filters on the Slaney mel scale, each scaled to unit area (2 / bandwidth)."""
    freqs = np.linspace(0.0, sample_rate // 2, n_freqs)
    edges = slaney_mel_to_hz(np.linspace(hz_to_slaney_mel(f_min), hz_to_slaney_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / (centre - lower)
    falling = (upper - freqs[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling along the last axis with a Hann-windowed sinc (the torchaudio default)."""
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // g, int(new_rate) // g
    cutoff = min(orig, new) * RESAMPLE_ROLLOFF
    width = math.ceil(RESAMPLE_WIDTH * orig / cutoff)
    taps = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (taps - np.arange(new, dtype=np.float64)[:, None] / new) * cutoff  # (new phases, taps)
    t = np.clip(t, -RESAMPLE_WIDTH, RESAMPLE_WIDTH)
    window = np.cos(t * math.pi / RESAMPLE_WIDTH / 2) ** 2
    t = t * math.pi
    kernels = np.where(t == 0, 1.0, np.sin(t) / np.where(t == 0, 1.0, t)) * window * (cutoff / orig)
    lead, length = waveform.shape[:-1], waveform.shape[-1]
    flat = waveform.reshape(-1, length).astype(np.float64)
    padded = np.pad(flat, [(0, 0), (width, width + orig)])
    n_steps = (padded.shape[1] - kernels.shape[1]) // orig + 1
    starts = np.arange(n_steps) * orig
    windows = padded[:, starts[:, None] + np.arange(kernels.shape[1])[None, :]]  # (rows, steps, taps)
    out = np.einsum("rst,pt->rsp", windows, kernels).reshape(flat.shape[0], -1)
    target = math.ceil(new * length / orig)
    return out[:, :target].reshape(*lead, target)


@dataclass(frozen=True)
class MelFrontEnd:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64

    @classmethod
    def from_config(cls, config) -> MelFrontEnd:
        return cls(config.sample_rate, config.n_fft, config.hop_length, config.mel_bins)

    def frames(self, samples: int) -> int:
        return 1 + samples // self.hop_length

    def magnitude_mel(self, waveform: np.ndarray) -> np.ndarray:
        """waveform (..., S) at ``sample_rate`` -> mel magnitudes (..., frames, n_mels), float64."""
        x = np.asarray(waveform, dtype=np.float64)
        half = self.n_fft // 2
        if x.shape[-1] <= half:
            raise ValueError(f"{x.shape[-1]} samples is too short for the mel front end (reflect padding needs "
                             f"more than {half})")
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
        n_frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
        index = np.arange(n_frames)[:, None] * self.hop_length + np.arange(self.n_fft)[None, :]
        window = 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(self.n_fft) / self.n_fft)  # periodic Hann
        spectrum = np.abs(np.fft.rfft(x[..., index] * window, axis=-1))  # (..., frames, n_fft/2 + 1)
        bank = slaney_filterbank(half + 1, self.n_mels, self.sample_rate, 0.0, self.sample_rate / 2.0)
        return spectrum @ bank.T

    def __call__(self, waveform: np.ndarray, sample_rate: int) -> np.ndarray:
        """waveform (B, C, S) or (C, S) in [-1, 1] at ``sample_rate`` -> log-mel (B, T, n_mels, C), float32."""
        x = np.asarray(waveform)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"waveform has shape {x.shape}; expected (channels, samples) or (batch, channels, "
                             "samples)")
        x = resample(x.astype(np.float64), sample_rate, self.sample_rate)
        mel = np.log(np.maximum(self.magnitude_mel(x), LOG_FLOOR))  # (B, C, T, M)
        return mel.transpose(0, 2, 3, 1).astype(np.float32)
