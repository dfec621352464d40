"""Noising of a clean latent state before denoising (ltx-core 1.2.0), in float32:
``x = lerp(latent, noise, noise_scale)``, then ``x = lerp(clean_latent, x, denoise_mask)``, cast to the latent's
dtype (tokens with mask 0 take their clean value). 1.0.0 computed ``noise * m + latent * (1 - m)``,
``m = denoise_mask * noise_scale``, in the latent's dtype.

Pipelines noise the video state first, then the audio state, from one noiser. MLX's generator is not torch's,
so a seed gives different noise than ltx-core; ``DeterministicNoiser`` replays given noise (saved noise, or the
noise a reference run used).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import mlx.core as mx

from ltx2.sampling import _checks as check
from ltx2.sampling.latent_state import LatentState


def _lerp(start: mx.array, end: mx.array, weight) -> mx.array:
    """torch.lerp: ``start + weight * (end - start)``, or ``end - (end - start) * (1 - weight)`` where weight >= 0.5
    (the form torch uses there, so that weight 1 gives ``end`` exactly)."""
    diff = end - start
    return mx.where(mx.abs(mx.array(weight)) < 0.5, start + weight * diff, end - diff * (1 - mx.array(weight)))


def add_noise(state: LatentState, noise: mx.array, noise_scale: float = 1.0) -> LatentState:
    """The noising formula, in float32, result in the latent's dtype."""
    if tuple(noise.shape) != tuple(state.latent.shape):
        raise ValueError(f"noise of shape {tuple(noise.shape)} for a latent of shape {tuple(state.latent.shape)}")
    f32 = mx.float32
    # noise rounded to the latent's dtype first, as the reference draws it in that dtype
    x = _lerp(state.latent.astype(f32), noise.astype(state.latent.dtype).astype(f32), mx.array(noise_scale, f32))
    x = _lerp(state.clean_latent.astype(f32), x, state.denoise_mask.astype(f32))
    return replace(state, latent=x.astype(state.latent.dtype))


class GaussianNoiser:
    """Standard normal noise in the latent's dtype, from ``mx.random.key(seed)`` split once per draw. Every call
    draws (even with noise_scale 0), so the n-th draw is the same whatever the scales. ``drawn`` keeps the noise
    of each call in order (for saving it)."""

    def __init__(self, seed: int):
        self.seed = check.integer("seed", seed, 0)
        self._key = mx.random.key(self.seed)
        self.drawn: list[mx.array] = []

    def draw(self, shape: Sequence[int], dtype: mx.Dtype) -> mx.array:
        self._key, sub = mx.random.split(self._key)
        noise = mx.random.normal(tuple(shape), dtype=dtype, key=sub)
        self.drawn.append(noise)
        return noise

    def __call__(self, state: LatentState, noise_scale: float = 1.0) -> LatentState:
        return add_noise(state, self.draw(state.latent.shape, state.latent.dtype), noise_scale)


class DeterministicNoiser:
    """Returns the given noise arrays in order, one per call (e.g. [video_noise, audio_noise])."""

    def __init__(self, noises: Sequence[mx.array]):
        self.noises = list(noises)
        self.drawn: list[mx.array] = []

    def draw(self, shape: Sequence[int], dtype: mx.Dtype) -> mx.array:
        i = len(self.drawn)
        if i >= len(self.noises):
            raise ValueError(f"noise #{i + 1} requested but only {len(self.noises)} noise arrays were given: the "
                             "saved noise belongs to a run with fewer noised states")
        noise = self.noises[i]
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"given noise #{i + 1} has shape {tuple(noise.shape)} but the latent has shape "
                             f"{tuple(shape)}: the saved noise is from a run with another size or frame count")
        noise = noise.astype(dtype)
        self.drawn.append(noise)
        return noise

    def __call__(self, state: LatentState, noise_scale: float = 1.0) -> LatentState:
        return add_noise(state, self.draw(state.latent.shape, state.latent.dtype), noise_scale)
