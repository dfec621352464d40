"""Single diffusion steps (rectified flow: x_sigma = (1 - sigma) x0 + sigma noise, velocity = (x - x0) / sigma).

Sigmas come in as Python floats holding float32 values (what ltx-core's float32 schedules hold).
"""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

F32, F64 = mx.float32, mx.float64


def post_process_latent(denoised: mx.array, denoise_mask: mx.array, clean: mx.array) -> mx.array:
    """Keep clean tokens where the mask is 0: ``x0 * m + clean * (1 - m)`` in float32, in x0's dtype."""
    return (denoised * denoise_mask + clean.astype(F32) * (1 - denoise_mask)).astype(denoised.dtype)


def to_velocity(sample: mx.array, sigma: float, denoised: mx.array) -> mx.array:
    """``(x - x0) / sigma`` in float32, rounded to the sample's dtype."""
    if float(sigma) == 0:
        raise ValueError("velocity is undefined at sigma = 0")
    return ((sample.astype(F32) - denoised.astype(F32)) / float(sigma)).astype(sample.dtype)


def _dt(sigma: float, sigma_next: float) -> float:
    return float(np.float32(sigma_next) - np.float32(sigma))


def euler_step(sample: mx.array, denoised: mx.array, sigma: float, sigma_next: float) -> mx.array:
    """``x + v * (sigma_next - sigma)``: v rounded to the sample's dtype first (as ltx-core), update in float32."""
    v = to_velocity(sample, sigma, denoised)
    return (sample.astype(F32) + v.astype(F32) * _dt(sigma, sigma_next)).astype(sample.dtype)


def heun_step(sample: mx.array, velocity: mx.array, velocity_next: mx.array, sigma: float,
              sigma_next: float) -> mx.array:
    """Heun's (trapezoidal) correction: ``x + (v + v_next) / 2 * (sigma_next - sigma)``, where ``velocity`` is
    taken at (x, sigma) and ``velocity_next`` at the Euler prediction (x_euler, sigma_next). Float32 inside."""
    v = (velocity.astype(F32) + velocity_next.astype(F32)) * 0.5
    return (sample.astype(F32) + v * _dt(sigma, sigma_next)).astype(sample.dtype)


# -- res_2s -------------------------------------------------------------------------------------------------------
def _phi(j: int, z: float) -> float:
    """phi_j(z) = (e^z - sum_{k<j} z^k / k!) / z^j, and 1/j! at z ~ 0."""
    if abs(z) < 1e-10:
        return 1.0 / math.factorial(j)
    return (math.exp(z) - sum(z**k / math.factorial(k) for k in range(j))) / z**j


def res2s_coefficients(h: float, c2: float = 0.5) -> tuple[float, float, float]:
    """Runge-Kutta (exponential integrator) weights of res_2s for a step of size h = ln(sigma / sigma_next):
    ``a21 = c2 phi1(-h c2)``, ``b2 = phi2(-h) / c2``, ``b1 = phi1(-h) - b2``."""
    a21 = c2 * _phi(1, -h * c2)
    b2 = _phi(2, -h) / c2
    b1 = _phi(1, -h) - b2
    return a21, b1, b2


def res2s_step(sample: mx.array, denoised: mx.array, sigma: mx.array, sigma_next: mx.array,
               noise: mx.array) -> mx.array:
    """SDE re-noising of a res_2s update (ltx-core ``Res2sDiffusionStep``), in float64 on the CPU.

    ``sigma_up = 0.5 sigma_next``, ``sigma_res = sqrt(sigma_next^2 - sigma_up^2)``, ``alpha = 1 - sigma_next +
    sigma_res``, ``sigma_down = sigma_res / alpha``; with ``eps = (x - d) / (sigma - sigma_next)``:
    ``alpha (x - sigma eps + sigma_down eps) + sigma_up noise``; returns ``denoised`` as is when sigma_next = 0.
    The coefficients are computed in the sigmas' dtype (float32 or float64), like the reference.
    """
    with mx.stream(mx.cpu):
        up = mx.minimum(sigma_next * 0.5, sigma_next * 0.9999)
        residual = mx.sqrt(mx.maximum(sigma_next * sigma_next - up * up, 0))
        alpha = (1 - sigma_next) + residual
        down = residual / alpha
        if float(up) == 0 or float(sigma_next) == 0:
            return denoised
        x, d = sample.astype(F64), denoised.astype(F64)
        eps = (x - d) / (sigma - sigma_next).astype(F64)
        x0 = x - sigma.astype(F64) * eps
        return alpha.astype(F64) * (x0 + down.astype(F64) * eps) + up.astype(F64) * noise.astype(F64)


def standardize_noise(noise: mx.array) -> mx.array:
    """res_2s noise: float64, standardised over everything, then over the last two axes (unbiased std)."""
    with mx.stream(mx.cpu):
        n = noise.astype(F64)
        n = (n - n.mean()) / mx.std(n, ddof=1)
        axes = (-2, -1)
        return (n - n.mean(axis=axes, keepdims=True)) / mx.std(n, axis=axes, keepdims=True, ddof=1)


def euler_ancestral_step(sample: mx.array, denoised: mx.array, sigma: float, sigma_next: float,
                         noise: mx.array | None, eta: float = 1.0, s_noise: float = 1.0) -> mx.array:
    """Ancestral (SDE) Euler step in rectified-flow form (ltx-core 1.2.0 ``EulerAncestralDiffusionStep``), float32:
    step deterministically to ``sigma_down = sigma_next (1 + (sigma_next / sigma - 1) eta)``, then re-noise up to
    ``sigma_next``: ``x' (1 - sigma_next) / (1 - sigma_down) + s_noise c noise`` with
    ``c = sqrt(max(sigma_next^2 - sigma_down^2 (1 - sigma_next)^2 / (1 - sigma_down)^2, 0))``. Returns x0 when
    ``sigma_next`` is 0; eta = 0 is a plain Euler step. The result is float32 (the loop rounds it)."""
    f32 = np.float32
    sigma, sigma_next = f32(sigma), f32(sigma_next)
    if sigma_next == 0:
        return denoised.astype(F32)
    x, d = sample.astype(F32), denoised.astype(F32)
    down = sigma_next * (f32(1) + (sigma_next / sigma - f32(1)) * f32(eta))
    ratio = down / sigma
    x_next = x * float(ratio) + d * float(f32(1) - ratio)
    if eta > 0:
        if noise is None:
            raise ValueError("the ancestral Euler step needs noise when eta > 0")
        alpha_next, alpha_down = f32(1) - sigma_next, f32(1) - down
        coeff = np.sqrt(max(sigma_next**2 - down**2 * alpha_next**2 / alpha_down**2, f32(0)), dtype=np.float32)
        x_next = x_next * float(alpha_next / alpha_down) + noise.astype(F32) * float(f32(s_noise) * coeff)
    return x_next
