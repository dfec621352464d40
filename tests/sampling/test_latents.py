"""Latent shapes, (un)patchifying, initial states and noisers against ltx-core 1.0.0 (in-process), on the inputs
where 1.0.0 and 1.2.0 agree; what 1.2.0 changed (float32 video positions, the float32 lerp noiser taking the
unmasked part from clean_latent) is checked against 1.2.0 in tests/sampling/test_numerics_v12.py."""

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.noisers import GaussianNoiser as RefGaussianNoiser
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape as RefAudioShape
from ltx_core.types import LatentState as RefLatentState
from ltx_core.types import VideoLatentShape as RefVideoShape
from ltx_core.types import VideoPixelShape
from oracles.compare import max_abs_diff, to_numpy

from ltx2.errors import ConfigError
from ltx2.sampling import (
    AudioLatentShape,
    DeterministicNoiser,
    GaussianNoiser,
    VideoLatentShape,
    add_noise,
    clear_conditioning,
    initial_audio_state,
    initial_video_state,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)

PIXELS = [(121, 512, 768, 24.0), (17, 64, 96, 24.0), (121, 1088, 1920, 25.0), (9, 32, 32, 30.0), (33, 96, 64, 8.0)]


@pytest.mark.parametrize("frames,height,width,fps", PIXELS)
def test_latent_shapes_match_reference(frames, height, width, fps):
    pixel = VideoPixelShape(batch=1, frames=frames, height=height, width=width, fps=fps)
    rv, ra = RefVideoShape.from_pixel_shape(pixel), RefAudioShape.from_video_pixel_shape(pixel)
    v, a = VideoLatentShape.from_pixels(frames, height, width), AudioLatentShape.from_video(frames, fps)
    assert v.array_shape == tuple(rv.to_torch_shape()) and a.array_shape == tuple(ra.to_torch_shape())


def test_audio_frame_examples():
    assert [AudioLatentShape.from_video(f, fps).frames for f, fps in ((121, 24), (121, 25), (17, 24))] == [126, 121, 18]


def test_patchify_matches_reference_and_inverts():
    rng = np.random.default_rng(0)
    video = rng.standard_normal((2, 128, 3, 2, 4)).astype(np.float32)
    audio = rng.standard_normal((2, 8, 5, 16)).astype(np.float32)
    pv = patchify_video(mx.array(video))
    pa = patchify_audio(mx.array(audio))
    assert max_abs_diff(pv, VideoLatentPatchifier(1).patchify(torch.from_numpy(video))) == 0
    assert max_abs_diff(pa, AudioPatchifier(1).patchify(torch.from_numpy(audio))) == 0
    assert np.array_equal(to_numpy(unpatchify_video(pv, VideoLatentShape(2, 3, 2, 4))), video)
    assert np.array_equal(to_numpy(unpatchify_audio(pa, AudioLatentShape(2, 5))), audio)
    with pytest.raises(ValueError, match="clear appended conditioning tokens"):
        unpatchify_video(mx.concatenate([pv, pv[:, :1]], axis=1), VideoLatentShape(2, 3, 2, 4))


@pytest.mark.parametrize("dtype,tdtype", [(mx.float32, torch.float32), (mx.bfloat16, torch.bfloat16)])
@pytest.mark.parametrize("given", [False, True])
def test_initial_states_match_reference(dtype, tdtype, given):
    pixel = VideoPixelShape(batch=1, frames=17, height=64, width=96, fps=24.0)
    rv, ra = RefVideoShape.from_pixel_shape(pixel), RefAudioShape.from_video_pixel_shape(pixel)
    v_shape, a_shape = VideoLatentShape.from_pixels(17, 64, 96), AudioLatentShape.from_video(17, 24.0)
    rng = np.random.default_rng(1)
    v_lat = rng.standard_normal(v_shape.array_shape).astype(np.float32) if given else None
    a_lat = rng.standard_normal(a_shape.array_shape).astype(np.float32) if given else None
    ref_v = VideoLatentTools(VideoLatentPatchifier(1), rv, fps=24.0).create_initial_state(
        torch.device("cpu"), tdtype, None if v_lat is None else torch.from_numpy(v_lat).to(tdtype))
    ref_a = AudioLatentTools(AudioPatchifier(1), ra).create_initial_state(
        torch.device("cpu"), tdtype, None if a_lat is None else torch.from_numpy(a_lat).to(tdtype))
    ours_v = initial_video_state(v_shape, 24.0, dtype, None if v_lat is None else mx.array(v_lat).astype(dtype))
    ours_a = initial_audio_state(a_shape, dtype, None if a_lat is None else mx.array(a_lat).astype(dtype))
    # 1.0.0 rounds video positions to the compute dtype; we keep them float32 (1.2.0): compare with its float32 ones
    ref_v32 = VideoLatentTools(VideoLatentPatchifier(1), rv, fps=24.0).create_initial_state(torch.device("cpu"),
                                                                                           torch.float32, None)
    for ours, theirs in ((ours_v, ref_v), (ours_a, ref_a)):
        for field in ("latent", "denoise_mask", "positions", "clean_latent"):
            a, b = getattr(ours, field), getattr(theirs, field)
            if field == "positions" and ours is ours_v:
                b = ref_v32.positions
            assert tuple(a.shape) == tuple(b.shape), field
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], field
            assert max_abs_diff(a, b) == 0, field
        assert ours.attention_mask is None
    assert ours_v.positions.dtype == mx.float32 and ours_a.positions.dtype == mx.float32  # no bf16 trap (1.2.0)


def test_clear_conditioning_matches_reference():
    v_shape = VideoLatentShape(1, 2, 2, 3)
    state = initial_video_state(v_shape, 24.0, mx.float32, mx.ones(v_shape.array_shape))
    extra = 4
    grown = type(state)(latent=mx.concatenate([state.latent, mx.zeros((1, extra, 128))], axis=1),
                        denoise_mask=mx.full((1, v_shape.tokens + extra, 1), 0.5),
                        positions=mx.concatenate([state.positions, state.positions[:, :, :extra]], axis=2),
                        clean_latent=mx.concatenate([state.clean_latent, mx.zeros((1, extra, 128))], axis=1),
                        attention_mask=mx.ones((1, v_shape.tokens + extra, v_shape.tokens + extra)))
    tools = VideoLatentTools(VideoLatentPatchifier(1), RefVideoShape(1, 128, 2, 2, 3), fps=24.0)
    theirs = tools.clear_conditioning(RefLatentState(*(torch.from_numpy(to_numpy(getattr(grown, f))) for f in
                                                       ("latent", "denoise_mask", "positions", "clean_latent"))))
    ours = clear_conditioning(grown, v_shape.tokens)
    for field in ("latent", "denoise_mask", "positions", "clean_latent"):
        assert max_abs_diff(getattr(ours, field), getattr(theirs, field)) == 0
    assert ours.attention_mask is None and ours.latent.shape[1] == v_shape.tokens


@pytest.mark.parametrize("dtype,tdtype", [(mx.float32, torch.float32), (mx.bfloat16, torch.bfloat16)])
@pytest.mark.parametrize("noise_scale", [1.0, 0.0])
def test_noising_matches_reference_given_the_same_noise(dtype, tdtype, noise_scale):
    """ltx-core's GaussianNoiser draws video noise then audio noise from one generator; replaying exactly that
    noise through DeterministicNoiser gives the same noised states. Against 1.0.0 on the scales and masks (0 or
    1) where its formula and 1.2.0's float32 lerp agree exactly; fractional ones: test_numerics_v12.py."""
    rng = np.random.default_rng(2)
    mask = np.ones((1, 12, 1), np.float32)
    mask[:, :3] = 0.0
    lat_v = rng.standard_normal((1, 12, 128)).astype(np.float32)
    lat_a = rng.standard_normal((1, 7, 128)).astype(np.float32)
    ref_states = [RefLatentState(torch.from_numpy(x).to(tdtype), torch.from_numpy(m), torch.zeros(1, 1, len(x[0]), 2),
                                 torch.from_numpy(x).to(tdtype))
                  for x, m in ((lat_v, mask), (lat_a, np.ones((1, 7, 1), np.float32)))]
    ref_noiser = RefGaussianNoiser(torch.Generator().manual_seed(10))
    theirs = [ref_noiser(st, noise_scale) for st in ref_states]
    g = torch.Generator().manual_seed(10)
    noises = [mx.array(torch.randn(st.latent.shape, dtype=tdtype, generator=g).float().numpy()).astype(dtype)
              for st in ref_states]
    ours_noiser = DeterministicNoiser(noises)
    ours = [ours_noiser(initial_like(st, dtype), noise_scale) for st in ref_states]
    for o, t in zip(ours, theirs):
        assert o.latent.dtype == dtype and max_abs_diff(o.latent, t.latent) == 0
    assert max_abs_diff(ours[0].latent[:, :3], mx.array(lat_v[:, :3]).astype(dtype)) == 0  # mask 0: kept clean


def initial_like(ref_state, dtype):
    from ltx2.sampling import LatentState

    latent = mx.array(ref_state.latent.float().numpy()).astype(dtype)
    return LatentState(latent=latent, denoise_mask=mx.array(ref_state.denoise_mask.numpy()),
                       positions=mx.zeros(tuple(ref_state.positions.shape)), clean_latent=latent)


def test_gaussian_noiser_is_seeded_ordered_and_records():
    v = initial_video_state(VideoLatentShape(1, 2, 2, 2), 24.0, mx.bfloat16)
    a = initial_audio_state(AudioLatentShape(1, 5), mx.bfloat16)
    first = GaussianNoiser(7)
    nv, na = first(v), first(a)
    second = GaussianNoiser(7)
    assert max_abs_diff(second(v).latent, nv.latent) == 0 and max_abs_diff(second(a).latent, na.latent) == 0
    assert max_abs_diff(GaussianNoiser(8)(v).latent, nv.latent) > 0.1
    assert nv.latent.dtype == mx.bfloat16 and abs(float(mx.std(nv.latent.astype(mx.float32))) - 1) < 0.2
    assert [tuple(n.shape) for n in first.drawn] == [(1, 8, 128), (1, 5, 128)]
    replay = DeterministicNoiser(first.drawn)  # what noise.from_file does
    assert max_abs_diff(replay(v).latent, nv.latent) == 0 and max_abs_diff(replay(a).latent, na.latent) == 0


def test_deterministic_noiser_errors():
    v = initial_video_state(VideoLatentShape(1, 2, 2, 2), 24.0, mx.float32)
    with pytest.raises(ValueError, match="another size or frame count"):
        DeterministicNoiser([mx.zeros((1, 9, 128))])(v)
    noiser = DeterministicNoiser([mx.zeros((1, 8, 128))])
    noiser(v)
    with pytest.raises(ValueError, match="only 1 noise arrays were given"):
        noiser(v)
    with pytest.raises(ValueError, match="noise of shape"):
        add_noise(v, mx.zeros((1, 3, 128)))
    with pytest.raises(ConfigError, match="seed=-1: must be >= 0"):
        GaussianNoiser(-1)
