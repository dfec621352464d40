"""Denoising loops over an array of sigmas (k-diffusion style), for a video state and an optional audio state
(Euler, Heun and ancestral Euler also take an audio state alone: video None, text-to-audio).

``denoise(video, audio, sigmas, i) -> (x0_video, x0_audio)`` is one of ``ltx2.sampling.denoise``'s denoisers.
Every x0 is blended with the clean tokens (``post_process_latent``) before it is used. After each step the loop
evaluates the new latents and calls ``callback(StepInfo)`` if given (progress bars, previews).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import mlx.core as mx

from ltx2.sampling.latent_state import LatentState
from ltx2.sampling.steps import (
    F32,
    F64,
    euler_ancestral_step,
    euler_step,
    heun_step,
    post_process_latent,
    res2s_coefficients,
    res2s_step,
    standardize_noise,
    to_velocity,
)

Denoiser = Callable[[LatentState, LatentState | None, mx.array, int], tuple[mx.array, mx.array | None]]


@dataclass(frozen=True)
class StepInfo:
    """What a callback sees after step ``index`` (0-based) of ``total``: the new states and the x0 used."""

    index: int
    total: int
    sigma: float
    sigma_next: float
    video: LatentState
    audio: LatentState | None
    denoised_video: mx.array
    denoised_audio: mx.array | None


Callback = Callable[[StepInfo], None]


def _x0(denoise: Denoiser, video: LatentState | None, audio: LatentState | None, sigmas: mx.array, i: int):
    d_v, d_a = denoise(video, audio, sigmas, i)
    if video is not None:
        d_v = post_process_latent(d_v, video.denoise_mask, video.clean_latent)
    if audio is not None:
        d_a = post_process_latent(d_a, audio.denoise_mask, audio.clean_latent)
    return d_v, d_a


def _map(fn, video: LatentState | None, audio: LatentState | None, *per_modality):
    """Apply ``fn(state, *values)`` to each present state (video None: audio only); return the new states."""
    new_v = None if video is None else replace(video, latent=fn(video, *(p[0] for p in per_modality)))
    new_a = None if audio is None else replace(audio, latent=fn(audio, *(p[1] for p in per_modality)))
    mx.eval(*[s.latent for s in (new_v, new_a) if s is not None])
    return new_v, new_a


def _sigma_list(sigmas: mx.array) -> list[float]:
    if sigmas.ndim != 1 or sigmas.size < 2:
        raise ValueError(f"sigmas must be a 1-D array of at least 2 values, got shape {tuple(sigmas.shape)}")
    return [float(s) for s in sigmas.astype(F32)]


def euler_loop(sigmas: mx.array, video: LatentState, audio: LatentState | None, denoise: Denoiser,
               callback: Callback | None = None) -> tuple[LatentState, LatentState | None]:
    """x <- x + v (sigma_{i+1} - sigma_i) with v from the blended x0, for each of the len(sigmas) - 1 steps."""
    s = _sigma_list(sigmas)
    for i in range(len(s) - 1):
        d = _x0(denoise, video, audio, sigmas, i)
        video, audio = _map(lambda st, x0: euler_step(st.latent, x0, s[i], s[i + 1]), video, audio, d)
        if callback:
            callback(StepInfo(i, len(s) - 1, s[i], s[i + 1], video, audio, *d))
    return video, audio


def heun_loop(sigmas: mx.array, video: LatentState, audio: LatentState | None, denoise: Denoiser,
              callback: Callback | None = None) -> tuple[LatentState, LatentState | None]:
    """Heun's second-order method: Euler predictor to sigma_{i+1}, a second x0 there (denoiser called with step
    index i + 1), then the trapezoidal corrector. The step to sigma = 0 is a plain Euler step (the velocity is
    undefined there), so N steps cost 2N - 1 denoiser calls when the schedule ends at 0."""
    s = _sigma_list(sigmas)
    for i in range(len(s) - 1):
        d = _x0(denoise, video, audio, sigmas, i)
        pred_v, pred_a = _map(lambda st, x0: euler_step(st.latent, x0, s[i], s[i + 1]), video, audio, d)
        if s[i + 1] != 0:
            d_next = _x0(denoise, pred_v, pred_a, sigmas, i + 1)

            def correct(st, x0, pred, x0_next):
                v, v_next = to_velocity(st.latent, s[i], x0), to_velocity(pred.latent, s[i + 1], x0_next)
                return heun_step(st.latent, v, v_next, s[i], s[i + 1])

            pred_v, pred_a = _map(correct, video, audio, d, (pred_v, pred_a), d_next)
        video, audio = pred_v, pred_a
        if callback:
            callback(StepInfo(i, len(s) - 1, s[i], s[i + 1], video, audio, *d))
    return video, audio


NoiseFn = Callable[[tuple[int, ...], str], mx.array]


def seeded_res2s_noise(seed: int = 0, substep_seed: int | None = None) -> NoiseFn:
    """res_2s SDE noise from two MLX keys (``"step"``: seed, ``"substep"``: seed + 10000), standardised."""
    keys = {"step": mx.random.key(seed), "substep": mx.random.key(seed + 10000 if substep_seed is None
                                                                   else substep_seed)}

    def draw(shape: tuple[int, ...], kind: str) -> mx.array:
        keys[kind], sub = mx.random.split(keys[kind])
        return standardize_noise(mx.random.normal(shape, key=sub))

    return draw


def res2s_loop(sigmas: mx.array, video: LatentState, audio: LatentState | None, denoise: Denoiser,
               noise: NoiseFn | None = None, bongmath: bool = True, bongmath_max_iter: int = 100,
               model_dtype: mx.Dtype | None = None, callback: Callback | None = None
               ) -> tuple[LatentState, LatentState | None]:
    """The res_2s sampler (ltx-pipelines ``res2s_audio_video_denoising_loop``, legacy mode), float64 arithmetic on
    the CPU, latents handed to the model in ``model_dtype`` (default: the video latent's dtype).

    A final sigma of 0 is replaced by [0.0011, 0] and finished by one x0 evaluation. Per step: x0 at (x, sigma);
    midpoint ``x + h a21 (x0 - x)`` at ``sqrt(sigma sigma_next)`` with SDE noise; optional anchor refinement
    (bongmath, when h < 0.5 and sigma > 0.03); x0 at the midpoint; ``x + h (b1 eps1 + b2 eps2)`` with SDE noise.
    ``noise(shape, kind)`` gives standardised float64 noise, kind "substep" or "step" (video before audio).
    """
    noise = noise or seeded_res2s_noise()
    dtype = model_dtype or video.latent.dtype
    s = _sigma_list(sigmas)
    n_steps, ends_at_zero = len(s) - 1, s[-1] == 0
    if ends_at_zero:
        s = s[:-1] + [float(mx.array(0.0011, dtype=F32)), 0.0]
    sig32 = mx.array(s, dtype=F32)
    for i in range(n_steps):
        h = -math.log(s[i + 1] / s[i])
        a21, b1, b2 = res2s_coefficients(h)
        states = [st for st in (video, audio) if st is not None]
        with mx.stream(mx.cpu):  # float64 exists on the CPU only (MLX's GPU backends have no float64)
            sigma, sigma_next = mx.array(s[i], dtype=F64), mx.array(s[i + 1], dtype=F64)
            sub = mx.sqrt(sigma * sigma_next)
            anchors = [st.latent.astype(F64) for st in states]
        d1 = _x0(denoise, video, audio, sig32, i)
        d1 = [d for d in d1 if d is not None]
        with mx.stream(mx.cpu):
            eps1 = [d.astype(F64) - x for d, x in zip(d1, anchors)]
            mids = [x + (h * a21) * e for x, e in zip(anchors, eps1)]
            mids = [_inject(st, x, m, sigma, sub, noise(st.latent.shape, "substep"))
                    for st, x, m in zip(states, anchors, mids)]
            if bongmath and h < 0.5 and s[i] > 0.03:
                for _ in range(bongmath_max_iter):
                    anchors = [m - (h * a21) * e for m, e in zip(mids, eps1)]
                    eps1 = [d.astype(F64) - x for d, x in zip(d1, anchors)]
        mid_states = [replace(st, latent=m.astype(dtype, stream=mx.cpu)) for st, m in zip(states, mids)]
        d2 = _x0(denoise, *_pair(mid_states), sub.astype(F32, stream=mx.cpu).reshape(1), 0)
        d2 = [d for d in d2 if d is not None]
        with mx.stream(mx.cpu):
            # x0 at the midpoint is blended with the *original* state's clean tokens (same mask and clean latent)
            nexts = [x + h * (b1 * e1 + b2 * (d.astype(F64) - x)) for x, e1, d in zip(anchors, eps1, d2)]
            nexts = [_inject(st, x, nx, sig32[i], sig32[i + 1], noise(st.latent.shape, "step"))
                     for st, x, nx in zip(states, anchors, nexts)]
        video, audio = _pair([replace(st, latent=nx.astype(dtype, stream=mx.cpu)) for st, nx in zip(states, nexts)])
        mx.eval(video.latent, *([] if audio is None else [audio.latent]))
        if callback:
            callback(StepInfo(i, n_steps, s[i], s[i + 1], video, audio, *_pair(d1)))
    if ends_at_zero:
        d = _x0(denoise, video, audio, sig32, n_steps)
        video, audio = _pair([replace(st, latent=x0.astype(dtype)) for st, x0 in zip((video, audio), d)
                              if st is not None])
    return video, audio


def _pair(items: list) -> tuple:
    return (items[0], items[1] if len(items) > 1 else None)


def _inject(state: LatentState, sample: mx.array, update: mx.array, sigma: mx.array, sigma_next: mx.array,
            noise: mx.array) -> mx.array:
    """SDE step from ``sample`` towards ``update`` then re-blend clean tokens (legacy mode), float64."""
    x = res2s_step(sample, update, sigma, sigma_next, noise)
    with mx.stream(mx.cpu):
        m = state.denoise_mask
        return x * m + (state.clean_latent.astype(F32) * (1 - m)).astype(F64)


def euler_ancestral_loop(sigmas: mx.array, video: LatentState, audio: LatentState | None, denoise: Denoiser,
                         noiser, eta: float = 1.0, s_noise: float = 1.0,
                         callback: Callback | None = None) -> tuple[LatentState | None, LatentState | None]:
    """Ancestral Euler (ltx-pipelines 1.2.0 ``euler_ancestral_denoising_loop``): each step draws fresh noise from
    ``noiser.draw(shape, dtype)`` in the latent's dtype, video first, then audio; the update runs in float32 on
    the blended x0, clean tokens are put back after the re-noising, the result is stored in the latent's dtype.
    The last step (sigma 0) stores x0 and draws nothing."""
    s = _sigma_list(sigmas)
    for i in range(len(s) - 1):
        d = _x0(denoise, video, audio, sigmas, i)

        def step(state: LatentState, x0: mx.array) -> mx.array:
            if s[i + 1] == 0:
                return x0.astype(state.latent.dtype)
            noise = noiser.draw(state.latent.shape, state.latent.dtype) if eta > 0 else None
            x_next = euler_ancestral_step(state.latent, x0, s[i], s[i + 1], noise, eta, s_noise)
            if noise is not None:
                x_next = post_process_latent(x_next, state.denoise_mask, state.clean_latent)
            return x_next.astype(state.latent.dtype)

        video, audio = _map(step, video, audio, d)
        if callback:
            callback(StepInfo(i, len(s) - 1, s[i], s[i + 1], video, audio, *d))
    return video, audio
