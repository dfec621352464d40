"""The ancestral Euler step and loop (LTX-2.5's distilled stage 1) against ltx-core / ltx-pipelines 1.2.0."""

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

from ltx2.sampling.latent_state import LatentState
from ltx2.sampling.loops import euler_ancestral_loop
from ltx2.sampling.noisers import DeterministicNoiser
from ltx2.sampling.steps import euler_ancestral_step, euler_step

SIGMAS = np.array([1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0], np.float32)


def test_eta_zero_is_plain_euler_and_sigma_zero_returns_x0():
    rng = np.random.default_rng(0)
    x, d = (mx.array(rng.standard_normal((1, 12, 8)).astype(np.float32)) for _ in range(2))
    plain = euler_step(x, d, 0.909375, 0.725)
    ancestral = euler_ancestral_step(x, d, 0.909375, 0.725, None, eta=0.0)
    assert np.abs(np.array(plain) - np.array(ancestral)).max() < 1e-6
    assert np.array_equal(np.array(euler_ancestral_step(x, d, 0.42, 0.0, None)), np.array(d))
    with pytest.raises(ValueError, match="needs noise"):
        euler_ancestral_step(x, d, 0.9, 0.7, None, eta=1.0)


@v12.needed
@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_ancestral_loop_matches_1_2_0(eta):
    """The whole loop over the distilled sigmas with a fixed x0 function and replayed noise: 1.2.0's
    ``euler_ancestral_denoising_loop`` with ``EulerAncestralDiffusionStep(eta)``, float32, a conditioned token."""
    rng = np.random.default_rng(1)
    shape_v, shape_a = (1, 6, 8), (1, 4, 8)
    latent_v, latent_a = rng.standard_normal(shape_v).astype(np.float32), rng.standard_normal(shape_a).astype(np.float32)
    clean_v = rng.standard_normal(shape_v).astype(np.float32)
    mask_v = np.ones((1, 6, 1), np.float32)
    mask_v[0, 0] = 0.0  # a conditioned token keeps its clean value
    target_v, target_a = rng.standard_normal(shape_v).astype(np.float32), rng.standard_normal(shape_a).astype(np.float32)
    steps = len(SIGMAS) - 2  # noise is drawn on every step but the last
    noise = rng.standard_normal((steps, 2, 6, 8)).astype(np.float32)
    ref = v12.run("""
        from dataclasses import replace
        from ltx_core.components.diffusion_steps import EulerAncestralDiffusionStep
        from ltx_core.types import LatentState
        from ltx_pipelines.utils.samplers import euler_ancestral_denoising_loop
        t = {k: torch.from_numpy(v) for k, v in I.items() if isinstance(v, np.ndarray)}
        def state(latent, mask, clean):
            return LatentState(latent=latent, denoise_mask=mask, positions=torch.zeros(1, 3, latent.shape[1], 2),
                               clean_latent=clean)
        video = state(t["latent_v"], t["mask_v"], t["clean_v"])
        audio = state(t["latent_a"], torch.ones(1, 4, 1), t["latent_a"].clone())
        draws = iter([t["noise"][i, 0, :n] for i in range(t["noise"].shape[0]) for n in (6, 4)])
        def new_noise(x, generator):
            return next(draws).reshape(x.shape).to(x.dtype)
        class Result:
            def __init__(self, d): self.denoised = d
        def denoiser(transformer, v, a, sigmas, i):  # x0 moves towards a target, depending on the state
            s = float(sigmas[i])
            return Result(0.5 * v.latent + 0.5 * t["target_v"] * (1 - s)), Result(0.5 * a.latent + t["target_a"] * s)
        v, a = euler_ancestral_denoising_loop(torch.from_numpy(I["sigmas"]), video, audio,
                                              EulerAncestralDiffusionStep(eta=float(I["eta"])), None, denoiser,
                                              noise_seed=0, new_noise_fn=new_noise, model_dtype=torch.float32)
        O["video"], O["audio"] = v.latent, a.latent
    """, sigmas=SIGMAS, eta=eta, latent_v=latent_v, latent_a=latent_a, clean_v=clean_v, mask_v=mask_v,
        target_v=target_v, target_a=target_a, noise=noise)

    def state(latent, mask, clean):
        return LatentState(latent=mx.array(latent), denoise_mask=mx.array(mask), positions=mx.zeros((1, 3, latent.shape[1], 2)),
                           clean_latent=mx.array(clean))

    video = state(latent_v, mask_v, clean_v)
    audio = state(latent_a, np.ones((1, 4, 1), np.float32), latent_a)
    noiser = DeterministicNoiser([mx.array(noise[i, 0, :n]).reshape(s) for i in range(steps)
                                  for n, s in ((6, shape_v), (4, shape_a))])

    def denoise(v, a, sigmas, i):
        s = float(sigmas[i])
        return 0.5 * v.latent + 0.5 * mx.array(target_v) * (1 - s), 0.5 * a.latent + mx.array(target_a) * s

    video, audio = euler_ancestral_loop(mx.array(SIGMAS), video, audio, denoise, noiser, eta=eta)
    assert len(noiser.drawn) == 2 * steps
    for ours, theirs in ((video.latent, ref["video"]), (audio.latent, ref["audio"])):
        assert np.abs(np.array(ours) - theirs).max() < 1e-5
    assert np.array_equal(np.array(video.latent)[0, 0], clean_v[0, 0])
