"""Single steps against ltx-core (Euler, res_2s, x0 blend, velocity, res_2s noise) and, where ltx-core has no
piece (Heun), convergence order on an ODE with a known solution."""

import math

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.diffusion_steps import EulerDiffusionStep, Res2sDiffusionStep
from ltx_core.utils import to_velocity as ref_to_velocity
from ltx_pipelines.utils.helpers import post_process_latent as ref_post_process
from ltx_pipelines.utils.res2s import get_res2s_coefficients
from ltx_pipelines.utils.samplers import _channelwise_normalize
from oracles.compare import max_abs_diff

from ltx2.sampling import (
    LatentState,
    euler_loop,
    euler_step,
    heun_loop,
    post_process_latent,
    res2s_coefficients,
    res2s_step,
    standardize_noise,
    to_velocity,
)

SIGMAS = torch.tensor([1.0, 0.725, 0.421875, 0.0])


def pair(seed, shape=(1, 30, 8), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x, d = torch.randn(shape, generator=g).to(dtype), torch.randn(shape, generator=g).to(dtype)
    return (mx.array(x.float().numpy()).astype(mx.bfloat16 if dtype == torch.bfloat16 else mx.float32),
            mx.array(d.float().numpy()).astype(mx.bfloat16 if dtype == torch.bfloat16 else mx.float32), x, d)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("i", [0, 1, 2])
def test_euler_step_matches_reference_exactly(dtype, i):
    x, d, tx, td = pair(i, dtype=dtype)
    theirs = EulerDiffusionStep().step(tx, td, SIGMAS, i)
    ours = euler_step(x, d, float(SIGMAS[i]), float(SIGMAS[i + 1]))
    assert ours.dtype == (mx.bfloat16 if dtype == torch.bfloat16 else mx.float32)
    assert max_abs_diff(ours, theirs) == 0.0
    assert max_abs_diff(to_velocity(x, float(SIGMAS[i]), d), ref_to_velocity(tx, SIGMAS[i], td)) == 0.0


def test_velocity_at_zero_sigma_raises():
    x, d, _, _ = pair(0)
    with pytest.raises(ValueError, match="sigma = 0"):
        to_velocity(x, 0.0, d)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_post_process_latent_matches_reference(dtype):
    x, clean, tx, tclean = pair(3, dtype=dtype)
    mask = np.ones((1, 30, 1), np.float32)
    mask[:, :6], mask[:, 6:12] = 0.0, 0.35
    ours = post_process_latent(x, mx.array(mask), clean)
    theirs = ref_post_process(tx, torch.from_numpy(mask), tclean)
    assert max_abs_diff(ours, theirs) == 0.0
    assert max_abs_diff(ours[:, :6], clean[:, :6]) == 0.0


@pytest.mark.parametrize("h", [1e-12, 0.05, math.log(1 / 0.7), 1.3, 6.0])
def test_res2s_coefficients_match_reference(h):
    assert np.allclose(res2s_coefficients(h), get_res2s_coefficients(h, {}, 0.5), rtol=0, atol=1e-15)


@pytest.mark.parametrize("sigma_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sigmas", [[1.0, 0.7], [0.42, 0.0011], [0.3, 0.0]])
def test_res2s_step_matches_reference(sigma_dtype, sigmas):
    """ltx-core runs it on float64 samples with float64 (substep) or float32 (step) sigmas."""
    g = torch.Generator().manual_seed(5)
    x, d, n = (torch.randn(1, 20, 8, generator=g, dtype=torch.float64) for _ in range(3))
    s = torch.tensor(sigmas, dtype=sigma_dtype)
    theirs = Res2sDiffusionStep().step(x, d, s, 0, noise=n)
    assert float(theirs.sub(x).abs().max()) > 0.1
    md = mx.float32 if sigma_dtype == torch.float32 else mx.float64
    x, d, n = (mx.array(t.numpy(), dtype=mx.float64) for t in (x, d, n))  # (mx.array(np.float64) is float32)
    ours = res2s_step(x, d, mx.array(sigmas[0], dtype=md), mx.array(sigmas[1], dtype=md), n)
    assert ours.dtype == mx.float64
    assert np.abs(np.array(ours) - theirs.numpy()).max() <= 1e-12


def test_res2s_noise_standardisation_matches_reference():
    raw = torch.randn(2, 30, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    theirs = _channelwise_normalize((raw - raw.mean()) / raw.std())
    ours = standardize_noise(mx.array(raw.numpy(), dtype=mx.float64))
    assert np.abs(np.array(ours) - theirs.numpy()).max() <= 1e-12
    assert abs(float(mx.std(ours[0], ddof=1)) - 1) < 1e-12


# -- Heun / Euler convergence on a Gaussian data distribution ----------------------------------------------------
# Data x0 ~ N(mu, s^2) per element, x_t = (1 - t) x0 + t eps. The exact x0 predictor is
#   E[x0 | x_t] = mu + (1 - t) s^2 / ((1 - t)^2 s^2 + t^2) * (x_t - (1 - t) mu),
# and the probability-flow ODE moves every point along x_t = (1 - t) mu + sqrt((1 - t)^2 s^2 + t^2) z.
MU, S, T_END = 0.5, 0.3, 0.2


def gaussian_x0(video, audio, sigmas, i):
    t = float(sigmas[i])
    x = video.latent
    return MU + (1 - t) * S**2 / ((1 - t) ** 2 * S**2 + t**2) * (x - (1 - t) * MU), None


def exact(z, t):
    return (1 - t) * MU + math.sqrt((1 - t) ** 2 * S**2 + t**2) * z


def ode_error(loop, steps):
    z = mx.array(np.linspace(-2.5, 2.5, 64, dtype=np.float32).reshape(1, 64, 1))
    state = LatentState(latent=z, denoise_mask=mx.ones((1, 64, 1)), positions=mx.zeros((1, 1, 64, 2)),
                        clean_latent=mx.zeros_like(z))
    sigmas = mx.array(np.linspace(1.0, T_END, steps + 1, dtype=np.float32))
    out, _ = loop(sigmas, state, None, gaussian_x0)
    return float(mx.abs(out.latent - exact(z, T_END)).max())


def test_heun_is_second_order():
    errors = [ode_error(heun_loop, n) for n in (4, 8, 16)]
    ratios = [a / b for a, b in zip(errors, errors[1:])]
    print("heun errors", errors, "ratios", ratios)
    assert errors[0] > 1e-4  # the test can see an error at all
    assert all(3.3 < r < 4.7 for r in ratios)


def test_euler_is_first_order_and_worse_than_heun():
    errors = [ode_error(euler_loop, n) for n in (8, 16, 32)]
    ratios = [a / b for a, b in zip(errors, errors[1:])]
    print("euler errors", errors, "ratios", ratios)
    assert all(1.7 < r < 2.3 for r in ratios)
    assert ode_error(heun_loop, 8) < errors[0] / 5


def test_heun_last_step_to_zero_is_euler_and_calls_denoiser_2n_minus_1_times():
    calls = []

    def counting(video, audio, sigmas, i):
        calls.append(i)
        x0 = gaussian_x0(video, audio, sigmas, i)
        counting.last = x0[0]
        return x0

    z = mx.ones((1, 4, 1))
    state = LatentState(latent=z, denoise_mask=mx.ones((1, 4, 1)), positions=mx.zeros((1, 1, 4, 2)),
                        clean_latent=mx.zeros_like(z))
    out, _ = heun_loop(mx.array([1.0, 0.6, 0.3, 0.0]), state, None, counting)
    assert calls == [0, 1, 1, 2, 2]
    # an Euler step to sigma = 0 lands exactly on the x0 prediction
    assert max_abs_diff(out.latent, counting.last) <= 1e-7
