"""Step caching (sampling.cache=teacache, ltx2/sampling/step_cache.py) on the tiny transformer: threshold 0 is the
exact run bit for bit, a threshold > 0 skips passes (and the run record says how many)."""

import mlx.core as mx
import numpy as np
import pytest

from ltx2.errors import ConfigError
from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.sampling import (
    AudioLatentShape,
    DeterministicNoiser,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuiderParams,
    VideoLatentShape,
    euler_loop,
    initial_audio_state,
    initial_video_state,
)
from ltx2.sampling import step_cache
from ltx2.tiny.checkpoint import tiny_transformer_section, write_tiny_checkpoint

FRAMES, HEIGHT, WIDTH, FPS, TEXT_TOKENS, STEPS = 17, 64, 96, 24.0, 7, 8
GUIDE = dict(cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, stg_blocks=[1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("teacache") / "tiny.safetensors", "ltx2.3", seed=3)


@pytest.fixture(scope="module")
def model(checkpoint):
    return X0Model(load_transformer(checkpoint, "float32"))


def _denoise(model, threshold: float | None):
    """An 8-step guided Euler loop (positive, negative, STG and isolated passes per step); threshold None: exact."""
    section = tiny_transformer_section("ltx2.3")
    keys = mx.random.split(mx.random.key(0), 8)
    ctx = [mx.random.normal((1, TEXT_TOKENS, section[name]), key=keys[i])
           for i, name in enumerate(("cross_attention_dim", "audio_cross_attention_dim") * 2)]
    v_shape, a_shape = VideoLatentShape.from_pixels(FRAMES, HEIGHT, WIDTH), AudioLatentShape.from_video(FRAMES, FPS)
    video = initial_video_state(v_shape, FPS, mx.float32, mx.zeros(v_shape.array_shape))
    audio = initial_audio_state(a_shape, mx.float32, mx.zeros(a_shape.array_shape))
    noiser = DeterministicNoiser([mx.random.normal(video.latent.shape, key=keys[4]),
                                  mx.random.normal(audio.latent.shape, key=keys[5])])
    video, audio = noiser(video, 1.0), noiser(audio, 1.0)
    params = MultiModalGuiderParams(**GUIDE)
    denoiser = MultiModalGuidedDenoiser(model, ctx[0], ctx[1], params, params, ctx[2], ctx[3])
    settings = step_cache.CacheSettings("none") if threshold is None else step_cache.CacheSettings("teacache",
                                                                                                   threshold)
    with step_cache.attached(settings) as stats:
        v, a = euler_loop(LTX2Scheduler(STEPS).sigmas(), video, audio, step_cache.wrap(denoiser))
    mx.eval(v.latent, a.latent)
    return np.array(v.latent), np.array(a.latent), stats


def test_threshold_zero_is_the_exact_run_bit_for_bit(model):
    exact_v, exact_a, none = _denoise(model, None)
    cached_v, cached_a, stats = _denoise(model, 0.0)
    assert none is None
    assert stats.skipped == 0 and stats.passes > STEPS
    assert np.array_equal(exact_v, cached_v) and np.array_equal(exact_a, cached_a)


def test_the_cache_works_on_blocks_streamed_from_disk(model, checkpoint):
    """model.offload=disk: the same forward in parts; threshold 0 is still the in-memory exact run."""
    from ltx2.loading.streamed_transformer import load_offloaded_transformer

    streamed = X0Model(load_offloaded_transformer(checkpoint, "float32", offload="disk"))
    exact_v, _, _ = _denoise(model, None)
    cached_v, _, stats = _denoise(streamed, 0.0)
    assert np.array_equal(exact_v, cached_v)
    skipping_v, _, skipping = _denoise(streamed, 0.5)
    in_memory_v, _, _ = _denoise(model, 0.5)
    assert skipping.skipped > 0 and np.array_equal(skipping_v, in_memory_v)


def test_a_threshold_skips_passes_and_stays_close(model):
    exact_v, _, _ = _denoise(model, None)
    cached_v, _, stats = _denoise(model, 0.5)
    assert 0 < stats.skipped < stats.passes
    assert stats.as_dict()["computed"] == stats.passes - stats.skipped
    rel_rms = np.sqrt(np.mean((cached_v - exact_v) ** 2) / np.mean(exact_v ** 2))
    assert np.isfinite(cached_v).all() and 0 < rel_rms < 0.5, rel_rms


def test_settings_are_checked():
    from omegaconf import OmegaConf

    def of(**sampling):
        return step_cache.settings_of(OmegaConf.create({"sampling": {"cache": "none", "cache_threshold": None,
                                                                      **sampling}}))

    assert not of().enabled
    assert of(cache="teacache").threshold == step_cache.DEFAULT_THRESHOLD
    assert of(cache="teacache", cache_threshold=0.1).threshold == 0.1
    for bad in (dict(cache="fastcache"), dict(cache_threshold=0.1), dict(cache="teacache", cache_threshold=-1)):
        with pytest.raises(ConfigError):
            of(**bad)


@pytest.mark.slow  # a CLI run (~20 s)
def test_the_run_records_the_skipped_passes(cli):
    result = cli("sampling.cache=teacache", "sampling.cache_threshold=0.5", "scheduler.steps=6")
    assert result.returncode == 0, result.stderr[-3000:]
    record = cli.record(cli.run_dirs()[0])
    cache = record["step_cache"]
    assert cache["kind"] == "teacache" and cache["threshold"] == 0.5
    assert 0 < cache["skipped"] < cache["passes"] and cache["skipped_per_loop"]
