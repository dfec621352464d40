"""What ltx-core / ltx-pipelines 1.2.0 changed in sampling, checked against 1.2.0 (the oracle venv, one subprocess
per test): the float32 lerp noiser taking the unmasked part from clean_latent, the guider combination in float32
(cast back to bf16), float32 video positions, Euler loops with conditioned tokens (partial masks) through the
batched guided denoiser, and a frozen stream (sigma 0, as the a2v pipeline's audio)."""

from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, np32, state_arrays
from test_loops import AUDIO, VIDEO, contexts, noised_states

from ltx2.models.transformer import X0Model
from ltx2.models.transformer.load import load_transformer
from ltx2.pipelines.common import frozen
from ltx2.sampling import (
    DeterministicNoiser,
    LatentState,
    LTX2Scheduler,
    MultiModalGuidedDenoiser,
    MultiModalGuider,
    MultiModalGuiderParams,
    VideoLatentShape,
    euler_loop,
    initial_video_state,
)
from ltx2.tiny.checkpoint import write_tiny_checkpoint

DTYPES = {"float32": mx.float32, "bfloat16": mx.bfloat16}


@v12.needed
def test_noiser_matches_1_2_0():
    """lerp(latent, noise, scale) then lerp(clean, x, mask) in float32, cast to the latent's dtype; clean_latent
    differs from latent (as after a conditioning), masks 0 / 0.4 / 1. torch's CPU lerp fuses its multiply-add
    (one rounding where we have two), so values may differ by one float32 rounding step (measured: 1.2e-7 at most,
    bit-exact in bf16); tokens at mask 0 are exactly the clean ones."""
    rng = np.random.default_rng(2)
    mask = np.ones((1, 12, 1), np.float32)
    mask[:, :3], mask[:, 3:5] = 0.0, 0.4
    inputs, ours = {}, {}
    for dtype in DTYPES:
        for scale in (1.0, 0.909375, 0.0):
            name = f"{dtype}_{str(scale).replace('.', '_')}"
            lat, clean, noise = (mx.array(rng.standard_normal((1, 12, 8)).astype(np.float32)).astype(DTYPES[dtype])
                                 for _ in range(3))
            st = LatentState(latent=lat, denoise_mask=mx.array(mask), positions=mx.zeros((1, 3, 12, 2)),
                             clean_latent=clean)
            ours[name] = DeterministicNoiser([noise])(st, scale).latent
            assert ours[name].dtype == DTYPES[dtype]
            inputs.update({f"{name}_latent": np32(lat), f"{name}_clean": np32(clean), f"{name}_noise": np32(noise),
                           f"{name}_scale": scale, f"{name}_dtype": dtype})
    ref = v12.run(HEAD + '''
for name in I["names"]:
    dtype = getattr(torch, I[name + "_dtype"])
    st = LatentState(latent=t(name + "_latent", dtype), denoise_mask=t("mask"), positions=torch.zeros(1, 3, 12, 2),
                     clean_latent=t(name + "_clean", dtype))
    noiser = GaussianNoiser(torch.Generator())
    noiser._sample_noise = lambda s, n=t(name + "_noise", dtype): n
    O[name] = noiser(st, I[name + "_scale"]).latent
''', names=list(ours), mask=mask, **inputs)
    for name, o in ours.items():
        o, r = np32(o), ref[name]
        err = float(np.abs(o - r).max())
        print(f"PARITY-1.2.0 noiser {name}: max abs err {err:.1e}")
        # one rounding step of the operands (|x| < 8 here) in float32, one bf16 step of the result in bf16
        step = 8 * 2.0 ** -23 if name.startswith("float32") else np.abs(r) * 2.0 ** -7
        assert np.all(np.abs(o - r) <= step), name
        assert np.array_equal(o[:, :3], r[:, :3]) and np.array_equal(o[:, :3], inputs[f"{name}_clean"][:, :3])


@v12.needed
def test_guider_combination_in_bf16_matches_1_2_0():
    """bf16 predictions, CFG + STG + modality + rescale combined in float32 and cast back (1.0.0 combined in bf16).
    Measured: bit-exact."""
    rng = np.random.default_rng(3)
    preds = {k: mx.array(rng.standard_normal((1, 18, 128)).astype(np.float32) * 2).astype(mx.bfloat16)
             for k in ("cond", "uncond", "ptb", "iso")}
    cases = {"video": VIDEO, "audio": AUDIO, "no_rescale": dict(VIDEO, rescale_scale=0.0)}
    ours = {name: MultiModalGuider(MultiModalGuiderParams(**p)).calculate(*preds.values()) for name, p in cases.items()}
    ref = v12.run(HEAD + '''
preds = [t(k, BF16) for k in ("cond", "uncond", "ptb", "iso")]
for name, p in I["cases"].items():
    out = MultiModalGuider(params(p)).calculate(*preds)
    assert out.dtype == BF16
    O[name] = out
''', cases=cases, **{k: np32(v) for k, v in preds.items()})
    for name, o in ours.items():
        assert o.dtype == mx.bfloat16
        err = float(np.abs(np32(o) - ref[name]).max())
        print(f"PARITY-1.2.0 guider bf16 {name}: max abs err {err:.1e} (max|x| {np.abs(ref[name]).max():.1f})")
        assert err == 0, name


@v12.needed
def test_initial_video_positions_are_float32_as_1_2_0():
    """bf16 compute dtype: the video positions stay float32 (1.0.0 rounded them to bf16), equal to 1.2.0's."""
    shape = VideoLatentShape.from_pixels(17, 64, 96)
    ours = initial_video_state(shape, 24.0, mx.bfloat16)
    ref = v12.run('''
from ltx_core.components.patchifiers import VideoLatentPatchifier
from ltx_core.tools import VideoLatentTools
from ltx_core.types import VideoLatentShape, VideoPixelShape
shape = VideoLatentShape.from_pixel_shape(VideoPixelShape(batch=1, frames=17, height=64, width=96, fps=24.0))
tools = VideoLatentTools(VideoLatentPatchifier(1), shape, fps=24.0)
st = tools.create_initial_state(torch.device("cpu"), torch.bfloat16)
assert st.positions.dtype == torch.float32, st.positions.dtype
O["positions"] = st.positions
''')
    assert ours.positions.dtype == mx.float32
    assert np.array_equal(np32(ours.positions), ref["positions"])


LOOP_SCRIPT = HEAD + '''
from ltx_pipelines.utils.denoisers import FactoryGuidedDenoiser, GuidedDenoiser
from ltx_pipelines.utils.samplers import euler_denoising_loop
models = {}
for run in I["runs"]:
    dtype = getattr(torch, I[run + "_dtype"])
    key = (I[run + "_checkpoint"], dtype)
    if key not in models:
        models[key] = load_x0(key[0], dtype)
    ctx = [t(f"{run}_ctx_{i}", dtype) for i in range(4)]
    vp, ap = I[run + "_video"], I[run + "_audio"]
    if I[run + "_frozen"]:  # a2v stage 1: static guiders, the audio one without guidance nor negative context
        denoiser = GuidedDenoiser(ctx[0], ctx[1], MultiModalGuider(params(vp), ctx[2]), MultiModalGuider(params(ap)))
    else:
        denoiser = FactoryGuidedDenoiser(ctx[0], ctx[1], create_multimodal_guider_factory(params(vp), ctx[2]),
                                         create_multimodal_guider_factory(params(ap), ctx[3]))
    with torch.no_grad():
        v, a = euler_denoising_loop(t(run + "_sigmas"), state(run + "_v", dtype), state(run + "_a", dtype),
                                    EulerDiffusionStep(), models[key], denoiser)
    O[run + "_video"], O[run + "_audio"] = v.latent, a.latent
'''


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {v: write_tiny_checkpoint(folder / f"{v}.safetensors", v, seed=3) for v in ("ltx2", "ltx2.3")}


def loop_run(name, checkpoint, version, dtype, steps, video_params, audio_params, freeze_audio=False):
    """Our Euler loop (guided, partial video mask) and the arrays the 1.2.0 script needs for the same run."""
    mdtype = DTYPES[dtype]
    model = X0Model(load_transformer(checkpoint, dtype))
    v_pos, a_pos, v_neg, a_neg = contexts(version, mdtype)
    video, audio = noised_states(mdtype, partial_mask=True)
    if freeze_audio:
        audio = frozen(replace(audio, latent=audio.clean_latent))
        a_neg = None
    sigmas = LTX2Scheduler(steps).sigmas()
    denoiser = MultiModalGuidedDenoiser(model, v_pos, a_pos, MultiModalGuiderParams(**video_params),
                                        MultiModalGuiderParams(**audio_params), v_neg, a_neg)
    ours = euler_loop(sigmas, video, audio, denoiser)
    arrays = {**state_arrays(f"{name}_v", video), **state_arrays(f"{name}_a", audio),
              **{f"{name}_ctx_{i}": np32(c if c is not None else a_pos) for i, c in enumerate((v_pos, a_pos, v_neg,
                                                                                               a_neg))},
              f"{name}_sigmas": np32(sigmas), f"{name}_checkpoint": str(checkpoint), f"{name}_dtype": dtype,
              f"{name}_video": video_params, f"{name}_audio": audio_params, f"{name}_frozen": int(freeze_audio)}
    return ours, (video, audio), arrays


@v12.needed
def test_guided_euler_loops_with_conditioned_tokens_and_frozen_audio_match_1_2_0(checkpoints):
    """float32, 3 Euler steps with CFG + STG + modality + rescale, first latent frame at mask 0 and the second at
    0.5 (the x0 blend with clean tokens); ``frozen``: a2v's stage 1 (audio frozen at sigma 0, no audio guidance).
    bf16 (2 steps): ours as close to 1.2.0's float32 run as 1.2.0's own bf16 run is (within 1.5x), as in the
    1.0.0 bf16 tests. Measured max abs error (latents up to ~9): see the PARITY-1.2.0 lines (pytest -s)."""
    runs = {"ltx2": ("ltx2", "float32", 3, VIDEO, AUDIO, False),
            "ltx2_3": ("ltx2.3", "float32", 3, VIDEO, AUDIO, False),
            "frozen": ("ltx2.3", "float32", 3, VIDEO, {}, True),
            "bf16": ("ltx2", "bfloat16", 2, VIDEO, AUDIO, False),
            "bf16_ref32": ("ltx2", "float32", 2, VIDEO, AUDIO, False)}
    ours, inputs, starts = {}, {}, {}
    for name, (version, dtype, steps, vp, ap, freeze) in runs.items():
        ours[name], starts[name], arrays = loop_run(name, checkpoints[version], version, dtype, steps, vp, ap, freeze)
        inputs.update(arrays)
    ref = v12.run(LOOP_SCRIPT, runs=list(runs), **inputs)
    for name in ("ltx2", "ltx2_3", "frozen"):
        (ov, oa), (v0, a0) = ours[name], starts[name]
        errs = [figures(f"euler loop {name} {m}", np32(o.latent), ref[f"{name}_{m}"])[1]
                for m, o in (("video", ov), ("audio", oa))]
        assert max(errs) <= 2e-5, (name, errs)
        assert np.array_equal(np32(ov.latent[:, :6]), np32(v0.clean_latent[:, :6]))  # mask-0 tokens stay clean
        assert float(np.abs(np32(ov.latent) - np32(v0.latent)).max()) > 0.5  # it really moved
    assert np.array_equal(np32(ours["frozen"][1].latent), np32(starts["frozen"][1].clean_latent))  # frozen: unchanged
    bv, ba = ours["bf16"]
    ref_own = max(float(np.abs(ref["bf16_" + m] - ref["bf16_ref32_" + m]).max()) for m in ("video", "audio"))
    ours_vs_fp32 = max(float(np.abs(np32(o.latent) - ref["bf16_ref32_" + m]).max()) for m, o in (("video", bv),
                                                                                             ("audio", ba)))
    ours_vs_ref = max(float(np.abs(np32(o.latent) - ref["bf16_" + m]).max()) for m, o in (("video", bv), ("audio", ba)))
    print(f"PARITY-1.2.0 bf16 guided loop: ours vs 1.2.0 bf16 {ours_vs_ref:.3f}, 1.2.0 bf16 vs fp32 {ref_own:.3f}, "
          f"ours bf16 vs 1.2.0 fp32 {ours_vs_fp32:.3f}")
    assert ours_vs_fp32 <= 1.5 * ref_own
