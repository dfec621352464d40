"""Single-delta guided denoising (CFG-star, APG), video-only loops and res2s defaults on the tiny
transformer, against ltx-core / ltx-pipelines where they have the piece."""

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components import guiders as ref_guiders
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_pipelines.utils import helpers as ref_helpers
from oracles.compare import max_abs_diff
from oracles.transformer import load_reference, to_torch
from test_loops import CountingModel, contexts, noised_states, to_ref

from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.sampling import (
    APGGuider,
    CFGStarGuider,
    GuidedDenoiser,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    SimpleDenoiser,
    euler_loop,
    heun_loop,
    res2s_loop,
    seeded_res2s_noise,
)
from ltx2.tiny.checkpoint import write_tiny_checkpoint

TOL = 1e-5  # relative to the largest value (>= 1); measured absolute: CFG 5.3e-6, CFG-star 1.2e-5, APG 5.3e-6


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", "ltx2", seed=4)


@pytest.fixture(scope="module")
def pair(checkpoint):
    return X0Model(load_transformer(checkpoint, "float32")), load_reference(checkpoint)


@pytest.mark.parametrize("ours,theirs", [
    (CFGStarGuider(4.0), ref_guiders.CFGStarRescalingGuider(4.0)),
    (APGGuider(4.0, eta=0.7, norm_threshold=20.0), ref_guiders.LtxAPGGuider(4.0, eta=0.7, norm_threshold=20.0)),
    (CFGStarGuider(1.0), ref_guiders.CFGStarRescalingGuider(1.0)),
], ids=["cfg_star", "apg", "cfg_star_off"])
def test_negative_prompt_guided_denoiser_matches_reference(pair, ours, theirs):
    ours_model, ref_model = pair
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    sigmas = LTX2Scheduler(4).sigmas()
    counting = CountingModel(ours_model)
    x0 = GuidedDenoiser(counting, ours, v_pos, a_pos, v_neg, a_neg)(video, audio, sigmas, 1)
    fn = ref_helpers.guider_denoising_func(theirs, to_torch(v_pos), to_torch(v_neg), to_torch(a_pos),
                                           to_torch(a_neg), ref_model)
    with torch.no_grad():
        ref_x0 = fn(to_ref(video, torch.float32), to_ref(audio, torch.float32), to_torch(sigmas), 1)
    assert len(counting.calls) == (2 if ours.enabled() else 1)
    for o, t in zip(x0, ref_x0):
        print(f"{type(ours).__name__}: max diff {max_abs_diff(o, t):.2e}")
        assert max_abs_diff(o, t) <= TOL * max(1.0, float(t.abs().max()))


def test_guided_denoiser_requires_negative_context(pair):
    v_pos, a_pos, _, _ = contexts("ltx2")
    with pytest.raises(ValueError, match="needs a negative prompt's context"):
        GuidedDenoiser(pair[0], CFGStarGuider(3.0), v_pos, a_pos)


def test_video_only_euler_loop_matches_reference_passes(checkpoint):
    """A video-only model (audio=None everywhere), Euler + CFG through the multimodal denoiser, against the
    reference video-only transformer driven step by step with ltx-core's Euler step and x0 blend."""
    ours_model = X0Model(load_transformer(checkpoint, "float32", audio=False))
    ref_model = load_reference(checkpoint, audio=False)
    v_pos, _, v_neg, _ = contexts("ltx2")
    video, _ = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    denoiser = MultiModalGuidedDenoiser(ours_model, v_pos, None, MultiModalGuiderParams(cfg_scale=3.0,
                                        modality_scale=3.0, rescale_scale=0.5), video_negative_context=v_neg)
    ours, none = euler_loop(sigmas, video, None, denoiser)
    assert none is None and denoiser.calls == 3 * 2  # positive + negative; no isolation pass without audio
    state, ts = to_ref(video, torch.float32), to_torch(sigmas)
    guider = ref_guiders.MultiModalGuider(ref_guiders.MultiModalGuiderParams(cfg_scale=3.0, rescale_scale=0.5))
    with torch.no_grad():
        for i in range(3):
            c, _ = ref_model(ref_helpers.modality_from_latent_state(state, to_torch(v_pos), ts[i]), None, None)
            u, _ = ref_model(ref_helpers.modality_from_latent_state(state, to_torch(v_neg), ts[i]), None, None)
            x0 = ref_helpers.post_process_latent(guider.calculate(c, u, 0.0, 0.0), state.denoise_mask,
                                                 state.clean_latent)
            state = type(state)(EulerDiffusionStep().step(state.latent, x0, ts, i), state.denoise_mask,
                                state.positions, state.clean_latent)
    err = max_abs_diff(ours.latent, state.latent)
    print(f"video-only euler + cfg: max diff {err:.2e}")
    assert err <= 2e-5


def test_audio_only_guided_loop_runs_no_isolation_pass_and_batches_exactly(checkpoint):
    """The audio-only transformer (pipeline=t2a: video None everywhere) through the multimodal denoiser: CFG + STG
    passes only (a modality term has nothing to isolate), batched passes equal to sequential ones, and the same
    latent as the audio-video model given no video."""
    audio_only = X0Model(load_transformer(checkpoint, "float32", video=False))
    full = X0Model(load_transformer(checkpoint, "float32"))
    _, a_pos, _, a_neg = contexts("ltx2")
    _, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    params = MultiModalGuiderParams(cfg_scale=3.0, stg_scale=1.0, stg_blocks=(1,), modality_scale=3.0,
                                    rescale_scale=0.5)
    results = {}
    for name, model, batch in (("sequential", audio_only, "false"), ("batched", audio_only, "true"),
                               ("full", full, "false")):
        denoiser = MultiModalGuidedDenoiser(model, None, a_pos, MultiModalGuiderParams(), params,
                                            audio_negative_context=a_neg, batch_passes=batch)
        none, results[name] = euler_loop(sigmas, None, audio, denoiser)
        assert none is None and denoiser.calls == 3 * 3  # positive, negative, STG; no isolation pass
    assert max_abs_diff(results["sequential"].latent, results["batched"].latent) <= 1e-5
    assert max_abs_diff(results["sequential"].latent, results["full"].latent) == 0


def test_res2s_default_noise_is_seeded_and_runs_in_bf16(checkpoint):
    model = X0Model(load_transformer(checkpoint, "bfloat16"))
    v_pos, a_pos, _, _ = contexts("ltx2", mx.bfloat16)
    video, audio = noised_states(mx.bfloat16)
    sigmas = LTX2Scheduler(2).sigmas()

    def run(seed):
        return res2s_loop(sigmas, video, audio, SimpleDenoiser(model, v_pos, a_pos), noise=seeded_res2s_noise(seed))

    a, b, c = run(0), run(0), run(1)
    assert a[0].latent.dtype == mx.bfloat16 and a[1].latent.dtype == mx.bfloat16
    assert max_abs_diff(a[0].latent, b[0].latent) == 0 and max_abs_diff(a[1].latent, b[1].latent) == 0
    assert max_abs_diff(a[0].latent, c[0].latent) > 1e-2  # the SDE noise matters
    assert np.isfinite(np.array(a[0].latent.astype(mx.float32))).all()


def test_heun_on_the_transformer_single_step_to_zero_equals_euler(pair):
    """With one step to sigma = 0 Heun has no corrector: it must equal Euler exactly; with an intermediate
    sigma it must call the model twice per step and differ from Euler."""
    model = pair[0]
    v_pos, a_pos, _, _ = contexts("ltx2")
    video, audio = noised_states()
    denoise = SimpleDenoiser(model, v_pos, a_pos)
    to_zero = mx.array([0.8, 0.0])
    h, e = heun_loop(to_zero, video, audio, denoise), euler_loop(to_zero, video, audio, denoise)
    assert max_abs_diff(h[0].latent, e[0].latent) == 0 and max_abs_diff(h[1].latent, e[1].latent) == 0
    counting = CountingModel(model)
    two = mx.array([0.8, 0.5])
    h = heun_loop(two, video, audio, SimpleDenoiser(counting, v_pos, a_pos))
    e = euler_loop(two, video, audio, denoise)
    assert len(counting.calls) == 2 and max_abs_diff(h[0].latent, e[0].latent) > 1e-3
