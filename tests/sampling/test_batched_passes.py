"""A step's guidance passes run as one batched transformer call agree with the passes run one by one."""

import mlx.core as mx
import numpy as np
import pytest
from test_loops import AUDIO, VIDEO, CountingModel, contexts, noised_states

from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.sampling import (
    APGGuider,
    CFGStarGuider,
    GuidedDenoiser,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    batched_passes,
)
from ltx2.sampling.guidance import CFG, MultiModal
from ltx2.tiny.checkpoint import write_tiny_checkpoint

TOL = 2e-6  # absolute, per pass, on x0 of unit scale: the batched call differs only in matmul rounding (7e-7 seen)
# the guided x0 sums the passes with weights up to 1 + (7 - 1) + 1 + (3 - 1) = 10 (audio): 10x the per-pass bound
GUIDED_TOL = 10 * TOL


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    cache = {}

    def get(version):
        if version not in cache:
            path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / f"{version}.safetensors", version, seed=3)
            cache[version] = X0Model(load_transformer(path, "float32"))
        return cache[version]

    return get


def _diff(a, b):
    return max(float(mx.abs(x - y).max()) for x, y in zip(a, b) if x is not None)


@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
@pytest.mark.parametrize("video_params,audio_params,passes", [
    (VIDEO, AUDIO, 4),  # positive, negative, STG, isolated
    (dict(VIDEO, cfg_scale=1.0), dict(AUDIO, cfg_scale=1.0), 3),
    (dict(VIDEO, stg_scale=0.0, modality_scale=1.0), dict(AUDIO, stg_scale=0.0, modality_scale=1.0), 2),
])
def test_multimodal_batched_equals_sequential(model, version, video_params, audio_params, passes):
    x0_model = model(version)
    v_pos, a_pos, v_neg, a_neg = contexts(version)
    video, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    results = {}
    for mode in ("false", "true"):
        counting = CountingModel(x0_model)
        denoiser = MultiModalGuidedDenoiser(counting, v_pos, a_pos, MultiModalGuiderParams(**video_params),
                                            MultiModalGuiderParams(**audio_params), v_neg, a_neg, batch_passes=mode)
        results[mode] = denoiser(video, audio, sigmas, 1)
        assert denoiser.calls == passes
        assert denoiser.forwards == len(counting.calls) == (passes if mode == "false" else 1)
    err = _diff(results["true"], results["false"])
    assert err <= GUIDED_TOL, err
    assert float(mx.abs(results["true"][0]).max()) > 0.5  # a real prediction, not zeros


def test_single_delta_denoisers_batched_equal_sequential(model):
    x0_model = model("ltx2")
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()
    for guider in (CFGStarGuider(4.0), APGGuider(4.0, eta=0.5)):
        out = {mode: GuidedDenoiser(x0_model, guider, v_pos, a_pos, v_neg, a_neg, batch_passes=mode)(
            video, audio, sigmas, 0) for mode in ("false", "true")}
        assert _diff(out["true"], out["false"]) <= GUIDED_TOL


def test_a_step_skipped_by_one_modality_runs_passes_one_by_one(model):
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    sigmas = LTX2Scheduler(4).sigmas()
    counting = CountingModel(model("ltx2"))
    denoiser = MultiModalGuidedDenoiser(counting, v_pos, a_pos, MultiModalGuiderParams(**VIDEO),
                                        MultiModalGuiderParams(**dict(AUDIO, skip_step=1)), v_neg, a_neg,
                                        batch_passes="true")
    denoiser(video, audio, sigmas, 0)
    assert len(counting.calls) == 1
    denoiser(video, audio, sigmas, 1)  # audio skips step 1: its passes would differ from video's in `enabled`
    assert len(counting.calls) == 1 + 4


def test_auto_batches_small_calls_and_not_beyond_memory(model, monkeypatch):
    v_pos, a_pos, v_neg, a_neg = contexts("ltx2")
    video, audio = noised_states()
    sigmas = LTX2Scheduler(3).sigmas()

    def forwards():
        counting = CountingModel(model("ltx2"))
        MultiModalGuidedDenoiser(counting, v_pos, a_pos, MultiModalGuiderParams(**VIDEO),
                                 MultiModalGuiderParams(**AUDIO), v_neg, a_neg, batch_passes="auto")(
            video, audio, sigmas, 0)
        return len(counting.calls)

    assert forwards() == 1
    monkeypatch.setattr(batched_passes, "_available_bytes", lambda: 1000)  # a machine too small to batch
    assert forwards() == 4


@pytest.mark.parametrize("value,expected", [("auto", "auto"), (True, "true"), ("False", "false"), ("true", "true")])
def test_batch_mode_values(value, expected):
    assert batched_passes.batch_mode(value) == expected
    assert MultiModal(batch_passes=value).batch_passes == expected


def test_bad_batch_mode_names_value_and_fix():
    with pytest.raises(ValueError, match=r"guider.batch_passes='sometimes' must be one of auto, true, false"):
        CFG(cfg_scale=3.0, batch_passes="sometimes")


def test_estimated_bytes_grows_with_passes():
    video, audio = noised_states()
    from ltx2.sampling.denoise import modality

    v, a = modality(video, mx.zeros((1, 4, 24)), mx.array(0.5)), modality(audio, mx.zeros((1, 4, 24)), mx.array(0.5))
    one = batched_passes.estimated_bytes(v, a, 1, 4096)
    assert batched_passes.estimated_bytes(v, a, 4, 4096) == 4 * one
    assert one == (video.latent.shape[1] + audio.latent.shape[1]) * 4096 * 24 * 4
    assert np.isfinite(one)


@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
def test_each_batched_pass_equals_its_own_call(model, version):
    from ltx2.models.transformer import BatchPerturbations, modality_isolation, stg
    from ltx2.sampling.denoise import modality

    x0_model = model(version)
    v_pos, a_pos, v_neg, a_neg = contexts(version)
    video, audio = noised_states()
    sigma = LTX2Scheduler(3).sigmas()[1]
    passes = [batched_passes.GuidancePass(v_pos, a_pos), batched_passes.GuidancePass(v_neg, a_neg),
              batched_passes.GuidancePass(v_pos, a_pos, tuple(stg([1]))),
              batched_passes.GuidancePass(v_pos, a_pos, tuple(modality_isolation()))]
    pos_v, pos_a = modality(video, v_pos, sigma), modality(audio, a_pos, sigma)
    batched = batched_passes.run_batched(x0_model, pos_v, pos_a, passes)
    for p, got in zip(passes, batched):
        alone = x0_model(modality(video, p.video_context, sigma), modality(audio, p.audio_context, sigma),
                         BatchPerturbations.same(p.perturbations) if p.perturbations else None)
        assert _diff(got, alone) <= TOL
    assert _diff(batched[0], batched[2]) > 1e-3 and _diff(batched[0], batched[3]) > 1e-3  # the passes do differ
