"""End-to-end parity of our pipelines with the official ltx-pipelines 1.2.0 ones, float32, on the tiny LTX-2 /
LTX-2.3 files: each reference run is the official pipeline's own sequence of ``DiffusionStage`` calls (its
transformer built by the 1.2.0 loader from the same file, LoRAs fused), its denoisers (``FactoryGuidedDenoiser``,
``GuidedDenoiser``, ``SimpleDenoiser``), ``ModalitySpec`` (frozen streams, noise scales, initial latents),
``VideoUpsampler`` and ``TemporalRegionMask``, run in the oracle venv (one subprocess per test). Retake and a2v
(frozen streams): test_retake_a2v_parity_v12.py, with the same script.

Both sides get the same prompt contexts (our tiny text encoder's), the same noise (our pipeline's draws, replayed
through 1.2.0's own noising formula), the same image latents (our VAE encoder's, whose parity is tested
elsewhere). Compared: the final video and audio latents (cosine
>= 0.9999 and max abs error <= 1e-3, as issue 8's acceptance; the PARITY-1.2.0 lines give the measured figures).
The tiny files are LTX-2.3-style (and LTX-2 for t2v): the distilled pipeline's stage 1 is plain Euler there
(1.2.0 uses ancestral Euler only from model version 2.5 on).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, item_arrays, noise_arrays, np32
from test_ic_lora_parity import files  # noqa: F401  (a fixture)
from test_pipeline_parity import AUDIO, VIDEO, image, make_job  # noqa: F401  (image: a fixture)

from ltx2.conditioning.image import ImageConditioning
from ltx2.pipelines import common
from ltx2.pipelines.distilled import DistilledPipeline
from ltx2.pipelines.one_stage import OneStagePipeline
from ltx2.pipelines.two_stage import TwoStagePipeline
from ltx2.sampling.schedulers import DistilledScheduler

# One case per pipeline runs by default; its variants are `slow` (pytest -m slow), to keep the default suite short.
SLOW = pytest.mark.slow

COSINE, MAX_ABS = 0.9999, 1e-3

BODY = '''
from ltx_core.conditioning.types.noise_mask_cond import TemporalRegionMask
from ltx_pipelines.utils.blocks import VideoUpsampler
from ltx_pipelines.utils.denoisers import FactoryGuidedDenoiser, GuidedDenoiser, SimpleDenoiser
from ltx_pipelines.utils.types import ModalitySpec
ctx = [t(f"ctx_{i}") if f"ctx_{i}" in I else None for i in range(4)]
noiser = ReplayNoiser()


def denoiser(kind):
    if kind == "simple":
        return SimpleDenoiser(ctx[0], ctx[1])
    if kind == "factory":  # ti2vid one/two-stage, keyframe interpolation
        return FactoryGuidedDenoiser(ctx[0], ctx[1], create_multimodal_guider_factory(params(I["video"]), ctx[2]),
                                     create_multimodal_guider_factory(params(I["audio"]), ctx[3]))
    return GuidedDenoiser(ctx[0], ctx[1], MultiModalGuider(params(I["video"]), ctx[2]),  # a2v, retake
                          MultiModalGuider(params(I["audio"]), ctx[3]))


def regions(key):
    span = I.get(key)
    return [TemporalRegionMask(start_time=span[0], end_time=span[1], fps=I["fps"])] if span else []


def initial(key):
    return t(key) if key in I else None


def spec(s, m, initial_latent=None, noise_scale=1.0):
    conditionings = (items(s + "_items") if m == "video" else []) + regions(f"{s}_{m}_region")
    return ModalitySpec(context=ctx[0 if m == "video" else 1], conditionings=conditionings, noise_scale=noise_scale,
                        frozen=bool(I.get(f"{s}_{m}_frozen", 0)), initial_latent=initial_latent)


def sampler(s):
    """Euler (the stage's default); ancestral Euler in stage 1 (eta 1, the distilled stage 1 of LTX-2.5) with our
    step noise: I["ancestral_<i>"]; or res_2s with our SDE noise (float32 model): I["res2s_<s>_<kind>_<i>"]."""
    if I.get("sampler") == "ancestral" and s == "s1":
        from functools import partial
        from ltx_core.components.diffusion_steps import EulerAncestralDiffusionStep
        from ltx_pipelines.utils.samplers import euler_ancestral_denoising_loop
        drawn = [t(f"ancestral_{i}") for i in range(len([k for k in I if k.startswith("ancestral_")]))]

        def step_noise(latent, generator):
            noise = drawn.pop(0)
            assert tuple(noise.shape) == tuple(latent.shape), (noise.shape, latent.shape)
            return noise.to(latent.dtype)
        return dict(stepper=EulerAncestralDiffusionStep(eta=1.0, s_noise=1.0),
                    loop=partial(euler_ancestral_denoising_loop, noise_seed=I["s1_noise_seed"],
                                 new_noise_fn=step_noise, model_dtype=F32))
    if I.get("sampler") != "res2s":
        return {}
    from functools import partial
    from ltx_core.components.diffusion_steps import Res2sDiffusionStep
    from ltx_pipelines.utils.samplers import res2s_audio_video_denoising_loop
    queues = {k: [t(f"res2s_{s}_{k}_{i}").double() for i in range(I["res2s_draws"])] for k in ("step", "substep")}

    def noise(latent, generator):
        drawn = queues["substep" if generator.initial_seed() == 9999 else "step"].pop(0)
        assert tuple(drawn.shape) == tuple(latent.shape), (drawn.shape, latent.shape)
        return drawn
    return dict(stepper=Res2sDiffusionStep(),
                loop=partial(res2s_audio_video_denoising_loop, new_noise_fn=noise, model_dtype=F32))


size = dict(frames=I["frames"], fps=I["fps"])
with torch.no_grad():
    v, a = stage(I["checkpoint"], I.get("s1_loras", []))(
        denoiser=denoiser(I["s1_denoiser"]), sigmas=t("s1_sigmas"), noiser=noiser, width=I["s1_width"],
        height=I["s1_height"], video=spec("s1", "video", initial("video_initial")),
        audio=spec("s1", "audio", initial("audio_initial"), I.get("s1_audio_noise_scale", 1.0)), **size,
        **sampler("s1"))
    if "s2_sigmas" in I:
        up = VideoUpsampler(I.get("video_vae", I["checkpoint"]), I["upsampler"], F32, CPU)(v.latent[:1])
        sigmas = t("s2_sigmas")
        scale = sigmas[0].item()
        frozen = I.get("s2_audio_frozen", 0)
        v, a2 = stage(I["checkpoint"], I.get("s2_loras", []))(
            denoiser=SimpleDenoiser(ctx[0], ctx[1]), sigmas=sigmas, noiser=noiser, width=I["width"],
            height=I["height"], video=spec("s2", "video", up, scale),
            audio=spec("s2", "audio", initial("audio_initial") if frozen else a.latent, 0.0 if frozen else scale),
            **size, **sampler("s2"))
        a = a if I.get("keep_stage_1_audio") else a2
assert not noiser.queue, len(noiser.queue)
O["video"], O["audio"] = v.latent, a.latent
'''
SCRIPT = HEAD + BODY


def contexts(job, negative: bool) -> dict:
    encoded = common.encode_prompts(job, negative=negative)  # remembered by the process: the run's own contexts
    pos, neg = encoded.positive, encoded.negative if negative else None
    values = (pos.video, pos.audio) + ((neg.video, neg.audio) if neg else ())
    return {f"ctx_{i}": np32(c) for i, c in enumerate(values)}


def run_and_compare(what: str, job, result, **inputs) -> dict:
    """Run the 1.2.0 reference with the job's size and the run's noise; assert and return the figures."""
    inputs = {**dict(checkpoint=job.models.checkpoint, frames=job.num_frames, fps=job.fps, width=job.width,
                     height=job.height, video=VIDEO, audio=AUDIO), **noise_arrays(result.noise), **inputs}
    ref = v12.run(SCRIPT, **inputs)
    out = {}
    for name, ours in (("video", np.moveaxis(np32(result.latents["video"]), -1, 1)),
                       ("audio", np32(result.latents["audio"]))):
        cosine, err = figures(f"{what} {name}", ours, ref[name])
        assert np.abs(ref[name]).max() > 0.1
        assert cosine >= COSINE and err <= MAX_ABS, f"{what} {name}: cosine {cosine}, max abs err {err}"
        out[name] = (cosine, err)
    return out


def stage_items(job, prefix: str, width: int, height: int, items=None) -> dict:
    items = items if items is not None else job.conditioning.items(job.models, width, height, mx.float32)
    return item_arrays(prefix, items)


IMAGES = {"t2v": None, "i2v": dict(frame_idx=0, strength=1.0), "keyframe": dict(frame_idx=8, strength=0.5)}


@v12.needed
@pytest.mark.parametrize("mode,version", [("t2v", "ltx2.3"), pytest.param("t2v", "ltx2", marks=SLOW), ("i2v", "ltx2.3"),
                                          pytest.param("keyframe", "ltx2.3", marks=SLOW), ("keyframes", "ltx2.3")])
def test_one_stage_matches_1_2_0(tiny, image, tmp_path, mode, version):  # noqa: F811
    """TI2VidOneStagePipeline: guided (CFG + STG + modality + rescale), 3 LTX2Scheduler steps; i2v: the image
    latent replaces latent frame 0; keyframe: appended tokens at pixel frame 8, strength 0.5; keyframes
    (``conditioning=keyframes``): frame 0 replaced at strength 0.8, a second image appended at frame 16."""
    if mode == "keyframes":
        from test_pipeline_parity_hq_keyframes import _png, keyframes

        conditioning = keyframes(image, _png(tmp_path, 2, (60, 40)), first_strength=0.8)
    else:
        conditioning = ImageConditioning(str(image), crf=0, **IMAGES[mode]) if IMAGES[mode] else None
    job = make_job(tiny, OneStagePipeline(), conditioning, version=version)
    result = job.pipeline(job)
    run_and_compare(f"one_stage {mode} {version}", job, result, **contexts(job, negative=True),
                    **stage_items(job, "s1_items", job.width, job.height), s1_denoiser="factory",
                    s1_sigmas=np32(job.scheduler.sigmas()), s1_width=job.width, s1_height=job.height)


def two_stage_inputs(job, stage_1: str, sigmas_1, items=None) -> dict:
    """Stage 1 at half size, stage 2 at full size (3 distilled sigmas); ``items(w, h)``: each stage's items."""
    half_w, half_h = job.width // 2, job.height // 2
    return dict(**stage_items(job, "s1_items", half_w, half_h, items and items(half_w, half_h)),
                **stage_items(job, "s2_items", job.width, job.height, items and items(job.width, job.height)),
                s1_denoiser=stage_1, s1_sigmas=np32(sigmas_1), s1_width=half_w, s1_height=half_h,
                s2_sigmas=np32(DistilledScheduler(stage=2).sigmas()), upsampler=job.models.spatial_upsampler)


@v12.needed
@pytest.mark.parametrize("mode", ["t2v", "i2v"])
def test_distilled_matches_1_2_0(tiny, image, mode):  # noqa: F811
    """DistilledPipeline: stage 1 at half size (8 distilled sigmas, plain Euler on these 2.3 files), x2 upsampler,
    stage 2 at full size re-noised to 0.909375 (3 sigmas), simple denoiser; the image re-encoded per stage."""
    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None
    job = make_job(tiny, DistilledPipeline(), conditioning, width=128, height=64, num_frames=9)
    result = job.pipeline(job)
    run_and_compare(f"distilled {mode}", job, result, **contexts(job, negative=False),
                    **two_stage_inputs(job, "simple", DistilledScheduler(stage=1).sigmas()))


@v12.needed
@pytest.mark.parametrize("mode,strength", [("t2v", 1.0), ("i2v", 0.7)])
def test_two_stage_matches_1_2_0(tiny, image, mode, strength):  # noqa: F811
    """TI2VidTwoStagesPipeline: stage 1 guided at half size, stage 2 with the distilled LoRA at ``strength``;
    the audio kept is stage 1's (1.2.0 discards stage 2's)."""
    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None
    job = make_job(tiny, TwoStagePipeline(distilled_lora_strength=strength), conditioning, width=128, height=64,
                   num_frames=9)
    result = job.pipeline(job)
    run_and_compare(f"two_stage {mode} lora@{strength}", job, result, **contexts(job, negative=True),
                    **two_stage_inputs(job, "factory", job.scheduler.sigmas()),
                    s2_loras=[[job.models.distilled_lora, strength]], keep_stage_1_audio=1)


@v12.needed
@pytest.mark.parametrize("first_strength", [1.0, pytest.param(0.8, marks=SLOW)])
def test_keyframe_interpolation_matches_1_2_0(tiny, image, tmp_path, first_strength):  # noqa: F811
    """KeyframeInterpolationPipeline: two_stage with both images appended as keyframe tokens (frame 0 too, at
    ``first_strength``), re-encoded per stage; the audio kept is stage 2's."""
    from test_pipeline_parity_hq_keyframes import _png, keyframes

    from ltx2.pipelines.keyframe_interpolation import KeyframeInterpolationPipeline

    conditioning = keyframes(image, _png(tmp_path, 2, (60, 40)), first_strength=first_strength)
    pipeline = KeyframeInterpolationPipeline()
    job = make_job(tiny, pipeline, conditioning, width=128, height=64, num_frames=17)
    result = job.pipeline(job)
    run_and_compare(f"keyframe_interpolation first@{first_strength}", job, result, **contexts(job, negative=True),
                    **two_stage_inputs(job, "factory", job.scheduler.sigmas(),
                                       lambda w, h: pipeline.conditioning_items(job, w, h, mx.float32)),
                    s2_loras=[[job.models.distilled_lora, 1.0]])


@v12.needed
@pytest.mark.parametrize("case", ["two_stages_mask_image", pytest.param("skip_stage_2_factor_2", marks=SLOW)])
def test_ic_lora_matches_1_2_0(files, case):  # noqa: F811
    """ICLoraPipeline: stage 1 at half size with the IC-LoRA fused, image conditions then the reference tokens
    (attention strength scalar or per token from a mask video), 8 distilled sigmas; stage 2 (unless skipped)
    without the LoRA, images only. The reference items are ours (their parity: test_ic_lora_parity)."""
    from test_ic_lora_parity import CASES

    from ltx2.conditioning.reference_video import ReferenceVideoConditioning
    from ltx2.loading.model_set import ModelSet
    from ltx2.pipelines.contract import Job
    from ltx2.pipelines.ic_lora import ICLoraPipeline, downscale_factor
    from ltx2.sampling.guidance import NoGuidance

    c = CASES[case]
    tiny, lora, num_frames = files["tiny"], str(files[c["lora"]]), 9
    images = [{"path": str(files["image"]), "frame_idx": 0, "strength": 1.0, "crf": 0}] if c["image"] else []
    conditioning = ReferenceVideoConditioning(str(files["video"]), strength=c["strength"],
                                              attention_strength=c["attention"],
                                              attention_mask=str(files["mask"]) if c["mask"] else None, images=images)
    models = ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"),
                      gemma_root=str(tiny / "tiny-gemma"),
                      spatial_upsampler=str(tiny / "tiny-upsampler-spatial-x2.safetensors"), dtype="float32",
                      loras=((lora, 1.0),))
    job = Job(models=models, prompt="a dancer on a stage", negative_prompt="", seed=10, width=c["width"],
              height=c["height"], num_frames=num_frames, fps=24.0, scheduler=DistilledScheduler(stage=1),
              guidance=NoGuidance(), conditioning=conditioning, pipeline=ICLoraPipeline(c["skip"]))
    conditioning.validate(num_frames, 24.0)
    result = job.pipeline(job)
    half_w, half_h = job.width // 2, job.height // 2
    stage_1 = (conditioning.items(models, half_w, half_h, mx.float32)
               + conditioning.reference_items(models, half_w, half_h, num_frames, downscale_factor(models.loras),
                                              mx.float32))
    inputs = dict(**item_arrays("s1_items", stage_1), s1_denoiser="simple", s1_width=half_w, s1_height=half_h,
                  s1_sigmas=np32(DistilledScheduler(stage=1).sigmas()), s1_loras=[[lora, 1.0]])
    if not c["skip"]:
        inputs.update(**item_arrays("s2_items", conditioning.items(models, job.width, job.height, mx.float32)),
                      s2_sigmas=np32(DistilledScheduler(stage=2).sigmas()), upsampler=models.spatial_upsampler)
    else:  # the output is stage 1's, at half size
        inputs.update(width=half_w, height=half_h)
    run_and_compare(f"ic_lora {case}", job, result, **contexts(job, negative=False), **inputs)



def res2s_noise(job, half: bool, stage: str, draws: int) -> dict:
    """Our res_2s SDE noise for one stage (a fresh ``seeded_res2s_noise``, as each of our loops draws), ``draws``
    per kind, alternating video and audio shapes as both loops ask for them."""
    from ltx2.conditioning.items import KeyframeAtFrame
    from ltx2.sampling.latent_state import AudioLatentShape, VideoLatentShape
    from ltx2.sampling.loops import seeded_res2s_noise

    width, height = (job.width // 2, job.height // 2) if half else (job.width, job.height)
    tokens = VideoLatentShape.from_pixels(job.num_frames, height, width).tokens
    tokens += sum(int(np.prod(item.latent.shape[2:])) for item in job.conditioning.items(job.models, width, height,
                                                                                         mx.float32)
                  if isinstance(item, KeyframeAtFrame))  # appended tokens are noised and stepped too
    shapes = [(1, tokens, 128), (1, AudioLatentShape.from_video(job.num_frames, job.fps).tokens, 128)]
    noise, out = seeded_res2s_noise(), {}
    counts = {"substep": 0, "step": 0}
    for _ in range(draws // 2):  # ours per step: substep video, substep audio, step video, step audio
        for kind in ("substep", "step"):
            for shape in shapes:
                out[f"res2s_{stage}_{kind}_{counts[kind]}"] = np32(noise(shape, kind))
                counts[kind] += 1
    return out


@v12.needed
@pytest.mark.parametrize("mode", ["t2v", pytest.param("keyframes", marks=pytest.mark.slow)])
def test_two_stage_hq_matches_1_2_0(tiny, image, tmp_path, mode):  # noqa: F811
    """TI2VidTwoStagesHQPipeline: res_2s in both stages (our SDE noise handed to 1.2.0's loop, float32 model),
    the distilled LoRA at 0.25 in stage 1 and 0.5 in stage 2, stage-1 sigmas shifted by the stage-1 token count,
    the HQ guider (static); keyframes: frame 0 replaces latent frame 0, a second image appended at frame 16; the
    audio kept is stage 1's."""
    from dataclasses import replace

    from test_pipeline_parity_hq_keyframes import HQ_AUDIO, HQ_VIDEO, SIZE, _png, keyframes

    from ltx2.pipelines.two_stage_hq import TwoStageHQPipeline, stage_1_sigmas
    from ltx2.sampling.guidance import MultiModal
    from ltx2.sampling.latent_state import VideoLatentShape

    conditioning = keyframes(image, _png(tmp_path, 2, (60, 40))) if mode == "keyframes" else None
    job = make_job(tiny, TwoStageHQPipeline(), conditioning, steps=3, **SIZE)
    job = replace(job, guidance=MultiModal(**HQ_VIDEO, audio=HQ_AUDIO))
    result = job.pipeline(job)
    half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
    draws = 2 * 8  # per kind: video + audio for up to 8 steps
    lora = job.models.distilled_lora
    run_and_compare(f"two_stage_hq {mode}", job, result, **contexts(job, negative=True),
                    **two_stage_inputs(job, "static", stage_1_sigmas(job.scheduler, half)), video=HQ_VIDEO,
                    audio=HQ_AUDIO, sampler="res2s", res2s_draws=draws, **res2s_noise(job, True, "s1", draws),
                    **res2s_noise(job, False, "s2", draws), s1_loras=[[lora, 0.25]], s2_loras=[[lora, 0.5]],
                    keep_stage_1_audio=1)
