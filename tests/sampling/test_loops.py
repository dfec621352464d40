"""Denoisers and loops on the tiny transformer, ours (MLX) against ltx-pipelines 1.0.0 (torch, in-process), same
checkpoint file, same initial noise, a few steps. The states have uniform denoise masks (the inputs where 1.0.0 and
1.2.0 agree: 1.2.0 feeds the AV cross-attention AdaLN per-token timesteps); partial masks, frozen streams and
bf16 guidance are checked against 1.2.0 in test_numerics_v12.py."""

from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components import guiders as ref_guiders
from ltx_core.components.diffusion_steps import EulerDiffusionStep, Res2sDiffusionStep
from ltx_core.types import LatentState as RefLatentState
from ltx_pipelines.utils import helpers as ref_helpers
from ltx_pipelines.utils import samplers as ref_samplers
from oracles.compare import max_abs_diff, to_numpy
from oracles.transformer import load_reference, to_torch

from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.sampling import (
    AudioLatentShape,
    DeterministicNoiser,
    DistilledScheduler,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
    SimpleDenoiser,
    VideoLatentShape,
    euler_loop,
    initial_audio_state,
    initial_video_state,
    res2s_loop,
    standardize_noise,
)
from ltx2.tiny.checkpoint import tiny_transformer_section, write_tiny_checkpoint

FRAMES, HEIGHT, WIDTH, FPS = 17, 64, 96, 24.0  # latent grid 3 x 2 x 3, 18 audio latents
TEXT_TOKENS = 7
# LTX-2's pipeline guidance (constants.py), with STG on block 1 of the 2-block tiny model
VIDEO = dict(cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, skip_step=0, stg_blocks=[1])
AUDIO = dict(cfg_scale=7.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, skip_step=0, stg_blocks=[1])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cache = {}

    def get(version, dtype="float32"):
        if (version, dtype) not in cache:
            path = tmp_path_factory.mktemp("ckpt") / f"{version}.safetensors"
            write_tiny_checkpoint(path, version, seed=3)
            ref_dtype = torch.float32 if dtype == "float32" else torch.bfloat16
            cache[version, dtype] = (X0Model(load_transformer(path, dtype)), load_reference(path, dtype=ref_dtype))
        return cache[version, dtype]

    return get


def contexts(version, dtype=mx.float32, seed=0):
    section = tiny_transformer_section(version)
    widths = (24, 24) if version == "ltx2" else (section["cross_attention_dim"], section["audio_cross_attention_dim"])
    keys = mx.random.split(mx.random.key(seed), 4)
    return [mx.random.normal((1, TEXT_TOKENS, widths[i % 2]), key=k).astype(dtype) for i, k in enumerate(keys)]


def noised_states(dtype=mx.float32, noise_scale=1.0, partial_mask=False, seed=1):
    """Initial clean latents (first frame 'given' by an image: mask 0; second frame mask 0.5), noised with
    replayable noise."""
    v_shape, a_shape = VideoLatentShape.from_pixels(FRAMES, HEIGHT, WIDTH), AudioLatentShape.from_video(FRAMES, FPS)
    k = mx.random.split(mx.random.key(seed), 4)
    video = initial_video_state(v_shape, FPS, dtype, mx.random.normal(v_shape.array_shape, key=k[0]).astype(dtype))
    audio = initial_audio_state(a_shape, dtype, mx.random.normal(a_shape.array_shape, key=k[1]).astype(dtype))
    if partial_mask:
        mask = np.ones((1, v_shape.tokens, 1), np.float32)
        per_frame = v_shape.height * v_shape.width
        mask[:, :per_frame], mask[:, per_frame:2 * per_frame] = 0.0, 0.5
        video = replace(video, denoise_mask=mx.array(mask))
    noiser = DeterministicNoiser([mx.random.normal(video.latent.shape, key=k[2]).astype(dtype),
                                  mx.random.normal(audio.latent.shape, key=k[3]).astype(dtype)])
    return noiser(video, noise_scale), noiser(audio, noise_scale)


def to_ref(state, dtype):
    pos_dtype = torch.bfloat16 if state.positions.dtype == mx.bfloat16 else torch.float32
    return RefLatentState(latent=to_torch(state.latent, dtype), denoise_mask=to_torch(state.denoise_mask),
                          positions=to_torch(state.positions, pos_dtype),
                          clean_latent=to_torch(state.clean_latent, dtype))


def ref_factory(params, negative):
    return ref_guiders.create_multimodal_guider_factory(ref_guiders.MultiModalGuiderParams(**params), negative)


class CountingModel:
    """Delegates to the real x0 model and records each call's perturbations (None = plain pass)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, video, audio=None, perturbations=None):
        self.calls.append(perturbations)
        return self.model(video, audio, perturbations)


def run_both_euler(models, version, video_params, audio_params, steps=3, dtype="float32"):
    ours_model, ref_model = models(version, dtype)
    mdtype, tdtype = (mx.float32, torch.float32) if dtype == "float32" else (mx.bfloat16, torch.bfloat16)
    v_pos, a_pos, v_neg, a_neg = contexts(version, mdtype)
    video, audio = noised_states(mdtype)
    sigmas = LTX2Scheduler(steps).sigmas()
    as_schedule = (lambda p: MultiModalGuiderSchedule({k: MultiModalGuiderParams(**v) for k, v in p.items()})
                   if isinstance(next(iter(p)), float) else MultiModalGuiderParams(**p))
    denoiser = MultiModalGuidedDenoiser(ours_model, v_pos, a_pos, as_schedule(video_params), as_schedule(audio_params),
                                        v_neg, a_neg)
    ours = euler_loop(sigmas, video, audio, denoiser)

    def ref_fac(p, neg):
        if isinstance(next(iter(p)), float):
            return ref_guiders.MultiModalGuiderFactory.from_dict(
                {k: ref_guiders.MultiModalGuiderParams(**v) for k, v in p.items()}, negative_context=neg)
        return ref_factory(p, neg)

    fn = ref_helpers.multi_modal_guider_factory_denoising_func(
        ref_fac(video_params, to_torch(v_neg, tdtype)), ref_fac(audio_params, to_torch(a_neg, tdtype)),
        to_torch(v_pos, tdtype), to_torch(a_pos, tdtype), ref_model)
    with torch.no_grad():
        theirs = ref_samplers.euler_denoising_loop(to_torch(sigmas), to_ref(video, tdtype), to_ref(audio, tdtype),
                                                   EulerDiffusionStep(), fn)
    return ours, theirs, (video, audio), denoiser


# fp32. One transformer pass differs from the reference by ~1e-6 (a few float32 ulps at values up to ~9);
# guidance multiplies that (audio cfg 7: x6, plus STG, modality and rescale terms) and the loop carries it on.
# Measured max |ours - reference|: one guided x0 (values up to 9): ltx2 7.6e-6, ltx2.3 9.1e-6; after 3 Euler steps
# with guidance: ltx2 7.6e-6, ltx2.3 1.2e-5; per-sigma schedule + skip_step (4 steps) 5.3e-6; res2s (3 steps,
# 6 guided evaluations + final) 9.5e-6; simple denoiser, distilled stage 2: 7.8e-7.
X0_TOL = 1e-5  # relative to the largest value (>= 1)
LOOP_TOL = 2e-5  # absolute, after several guided steps (latents up to ~9)


@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
@pytest.mark.parametrize("guided", [True, False])
def test_guided_x0_matches_reference(models, version, guided):
    ours_model, ref_model = models(version)
    v_pos, a_pos, v_neg, a_neg = contexts(version)
    video, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    vp, ap = (VIDEO, AUDIO) if guided else ({}, {})
    ours = MultiModalGuidedDenoiser(ours_model, v_pos, a_pos, MultiModalGuiderParams(**vp),
                                    MultiModalGuiderParams(**ap), v_neg, a_neg)(video, audio, sigmas, 0)
    fn = ref_helpers.multi_modal_guider_factory_denoising_func(
        ref_factory(vp, to_torch(v_neg)), ref_factory(ap, to_torch(a_neg)), to_torch(v_pos), to_torch(a_pos), ref_model)
    with torch.no_grad():
        theirs = fn(to_ref(video, torch.float32), to_ref(audio, torch.float32), to_torch(sigmas), 0)
    for o, t in zip(ours, theirs):
        largest = max(1.0, float(t.abs().max()))
        print(f"guided x0 {version} guided={guided}: max diff {max_abs_diff(o, t):.2e} (largest {largest:.1f})")
        assert max_abs_diff(o, t) <= X0_TOL * largest


@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
def test_euler_multimodal_guided_loop_matches_reference(models, version):
    (ov, oa), (rv, ra), (v0, a0), denoiser = run_both_euler(models, version, VIDEO, AUDIO)
    err = max(max_abs_diff(ov.latent, rv.latent), max_abs_diff(oa.latent, ra.latent))
    print(f"euler+multimodal {version}: max diff {err:.2e}")
    assert err <= LOOP_TOL
    assert max_abs_diff(ov.latent, v0.latent) > 0.5  # it really moved
    assert denoiser.calls == 3 * 4


def test_per_sigma_guider_schedule_and_skip_step_match_reference(models):
    video = {1.0: dict(VIDEO, skip_step=1), 0.9: dict(cfg_scale=2.0, modality_scale=2.0)}
    audio = {1.0: dict(AUDIO), 0.5: dict(cfg_scale=1.0, stg_scale=0.0, rescale_scale=0.3)}
    (ov, oa), (rv, ra), *_ = run_both_euler(models, "ltx2", video, audio, steps=4)
    err = max(max_abs_diff(ov.latent, rv.latent), max_abs_diff(oa.latent, ra.latent))
    print(f"per-sigma schedule: max diff {err:.2e}")
    assert err <= LOOP_TOL


# bf16 guided loops: test_numerics_v12.py (1.2.0 combines the guidance in float32, 1.0.0 in bf16).


def test_bf16_simple_distilled_loop_within_one_bf16_step(models):
    """Without guidance the bf16 runs stay within about one bf16 step of each other over 8 distilled steps.
    Measured: 0.031 (= one bf16 step at magnitude 4.5); reference bf16 vs fp32: 0.18."""
    ours_model, ref_model = models("ltx2", "bfloat16")
    v_pos, a_pos, _, _ = contexts("ltx2", mx.bfloat16)
    sigmas = DistilledScheduler().sigmas()
    video, audio = noised_states(mx.bfloat16)
    ov, oa = euler_loop(sigmas, video, audio, SimpleDenoiser(ours_model, v_pos, a_pos))
    with torch.no_grad():
        rv, ra = ref_samplers.euler_denoising_loop(
            to_torch(sigmas), to_ref(video, torch.bfloat16), to_ref(audio, torch.bfloat16), EulerDiffusionStep(),
            ref_helpers.simple_denoising_func(to_torch(v_pos, torch.bfloat16), to_torch(a_pos, torch.bfloat16),
                                              ref_model))
    err = max(max_abs_diff(ov.latent, rv.latent), max_abs_diff(oa.latent, ra.latent))
    largest = max(float(rv.latent.float().abs().max()), float(ra.latent.float().abs().max()))
    print(f"bf16 simple distilled: max diff {err:.4f} (largest value {largest:.2f})")
    assert ov.latent.dtype == mx.bfloat16 and err <= 2 * largest * 2**-8


def test_simple_denoiser_distilled_stage_2_matches_reference(models):
    """Stage-2 style: given latents re-noised with noise_scale = first sigma, 3 distilled steps, one pass each."""
    ours_model, ref_model = models("ltx2")
    v_pos, a_pos, _, _ = contexts("ltx2")
    sigmas = DistilledScheduler(stage=2).sigmas()
    video, audio = noised_states(noise_scale=float(sigmas[0]))
    counting = CountingModel(ours_model)
    ov, oa = euler_loop(sigmas, video, audio, SimpleDenoiser(counting, v_pos, a_pos))
    with torch.no_grad():
        rv, ra = ref_samplers.euler_denoising_loop(
            to_torch(sigmas), to_ref(video, torch.float32), to_ref(audio, torch.float32), EulerDiffusionStep(),
            ref_helpers.simple_denoising_func(to_torch(v_pos), to_torch(a_pos), ref_model))
    err = max(max_abs_diff(ov.latent, rv.latent), max_abs_diff(oa.latent, ra.latent))
    print(f"simple denoiser, distilled stage 2: max diff {err:.2e}")
    assert err <= LOOP_TOL and len(counting.calls) == 3 and counting.calls == [None] * 3


def test_res2s_loop_matches_reference_with_the_same_noise(models):
    """HQ-style: res_2s with the (constant) multimodal guider, float32 model; both loops get the same SDE noise
    (ltx-core through new_noise_fn, ours through noise=...), standardised by each implementation."""
    ours_model, ref_model = models("ltx2")
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    hq_v = dict(cfg_scale=3.0, stg_scale=0.0, rescale_scale=0.45, modality_scale=3.0)
    hq_a = dict(cfg_scale=7.0, stg_scale=0.0, rescale_scale=1.0, modality_scale=3.0)
    n_draws = 3 * 4  # per step: substep video, substep audio, step video, step audio
    rng = np.random.default_rng(9)
    raw = [rng.standard_normal(tuple((video if i % 2 == 0 else audio).latent.shape)) for i in range(n_draws)]
    kinds = []

    def ours_noise(shape, kind):
        kinds.append(kind)
        x = raw[len(kinds) - 1]
        assert tuple(shape) == x.shape
        return standardize_noise(mx.array(x, dtype=mx.float64))

    ref_queue = list(raw)

    def ref_noise(latent, generator):
        x = torch.from_numpy(ref_queue.pop(0))
        return ref_samplers._channelwise_normalize((x - x.mean()) / x.std())

    ov, oa = res2s_loop(sigmas, video, audio, MultiModalGuidedDenoiser(
        ours_model, v_pos, a_pos, MultiModalGuiderParams(**hq_v), MultiModalGuiderParams(**hq_a), v_neg, a_neg),
        noise=ours_noise)
    ref_fn = ref_helpers.multi_modal_guider_denoising_func(
        ref_guiders.MultiModalGuider(ref_guiders.MultiModalGuiderParams(**hq_v), to_torch(v_neg)),
        ref_guiders.MultiModalGuider(ref_guiders.MultiModalGuiderParams(**hq_a), to_torch(a_neg)),
        to_torch(v_pos), to_torch(a_pos), ref_model)
    with torch.no_grad():
        rv, ra = ref_samplers.res2s_audio_video_denoising_loop(
            to_torch(sigmas), to_ref(video, torch.float32), to_ref(audio, torch.float32), Res2sDiffusionStep(),
            ref_fn, new_noise_fn=ref_noise, model_dtype=torch.float32)
    assert kinds == ["substep", "substep", "step", "step"] * 3 and not ref_queue
    err = max(max_abs_diff(ov.latent, rv.latent), max_abs_diff(oa.latent, ra.latent))
    print(f"res2s + multimodal: max diff {err:.2e}")
    assert ov.latent.dtype == mx.float32 and err <= LOOP_TOL


@pytest.mark.parametrize("video_params,audio_params,expected", [
    (VIDEO, AUDIO, [None, None, "stg", "iso"]),  # defaults: positive, negative, STG, isolated = 4
    (dict(VIDEO, cfg_scale=1.0), dict(AUDIO, cfg_scale=1.0), [None, "stg", "iso"]),
    (dict(VIDEO, stg_scale=0.0), dict(AUDIO, stg_scale=0.0), [None, None, "iso"]),
    (dict(VIDEO, modality_scale=1.0), dict(AUDIO, modality_scale=1.0), [None, None, "stg"]),
    (dict(VIDEO, cfg_scale=1.0), AUDIO, [None, None, "stg", "iso"]),  # one modality needing a pass runs it
    (dict(), dict(), [None]),
])
def test_transformer_passes_per_step(models, video_params, audio_params, expected):
    ours_model, _ = models("ltx2")
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    counting = CountingModel(ours_model)
    denoiser = MultiModalGuidedDenoiser(counting, v_pos, a_pos, MultiModalGuiderParams(**video_params),
                                        MultiModalGuiderParams(**audio_params), v_neg, a_neg)
    denoiser(video, audio, LTX2Scheduler(3).sigmas(), 0)

    def kind(p):
        if p is None:
            return None
        types = {q.type.value for q in p.per_sample[0]}
        return "iso" if "skip_a2v_cross_attn" in types else "stg"

    assert [kind(p) for p in counting.calls] == expected and denoiser.calls == len(expected)


def test_skipped_steps_reuse_previous_x0_without_transformer_calls(models):
    ours_model, _ = models("ltx2")
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    counting = CountingModel(ours_model)
    params = MultiModalGuiderParams(cfg_scale=2.0, skip_step=1)
    denoiser = MultiModalGuidedDenoiser(counting, v_pos, a_pos, params, params, v_neg, a_neg)
    sigmas = LTX2Scheduler(4).sigmas()
    first = denoiser(video, audio, sigmas, 0)
    assert len(counting.calls) == 2
    second = denoiser(video, audio, sigmas, 1)  # both skip: previous x0s, no call
    assert len(counting.calls) == 2 and second[0] is first[0] and second[1] is first[1]


def test_missing_negative_context_is_a_clear_error(models):
    ours_model, _ = models("ltx2")
    v_pos, a_pos, _, _ = contexts("ltx2")
    with pytest.raises(ValueError, match="video cfg_scale=3.0 needs a negative prompt's context"):
        MultiModalGuidedDenoiser(ours_model, v_pos, a_pos, MultiModalGuiderParams(cfg_scale=3.0))


def test_callback_sees_every_step(models):
    ours_model, _ = models("ltx2")
    v_pos, a_pos, _, _ = contexts("ltx2")
    video, audio = noised_states()
    seen = []
    euler_loop(DistilledScheduler(stage=2).sigmas(), video, audio, SimpleDenoiser(ours_model, v_pos, a_pos),
               callback=lambda info: seen.append((info.index, info.total, round(info.sigma, 6),
                                                  to_numpy(info.video.latent).shape)))
    assert seen == [(0, 3, 0.909375, (1, 18, 128)), (1, 3, 0.725, (1, 18, 128)), (2, 3, 0.421875, (1, 18, 128))]
