"""End-to-end parity of our pipelines with the official ltx-pipelines 1.2.0 ones on the tiny LTX-2.5 model
(``model=tiny25``: the split files written by ``ltx2.tiny.ltx25_model``), float32, one oracle subprocess per test.

Each reference run is what the official pipeline does, stage by stage (the script of test_pipeline_parity_v12.py:
``DiffusionStage`` built by the 1.2.0 loader from our transformer file, LoRAs fused, its denoisers, ``ModalitySpec``,
``VideoUpsampler`` on our conv video-VAE file and spatial upsampler), with its prompt contexts from its OWN
``PromptEncoder`` on our Gemma 4 text-encoder file (tests/oracles/v12_scripts25.py: tokenizer op only, as the
text-encoder parity test), so the text stack is part of what is compared. Both sides get the same noise: our
pipeline's draws, replayed through 1.2.0's own noising formula, and for the distilled stage 1 (ancestral Euler,
eta 1, on model version 2.5) our per-step noise handed to 1.2.0's ``euler_ancestral_denoising_loop``.

Compared: the contexts (positive / negative, video / audio) and the final video and audio latents: cosine >= 0.9999,
max abs error <= 1e-3 (the PARITY-1.2.0 lines, pytest -s, give the measured figures). The tests over ~25 s
(two_stage_hq, keyframe_interpolation, ic_lora, retake) and the conditioned variants (one_stage i2v / keyframes,
two_stage i2v, two_stage_hq keyframes) are marked slow. Measured (CPU, float32) for those variants, final latents
video / audio: 1 - cosine <= 1.4e-12 / 5.2e-12, max abs err <= 8.4e-6 / 2.0e-5.
"""

from __future__ import annotations

from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, item_arrays, noise_arrays, np32
from oracles.v12_scripts25 import PROMPTS
from test_pipeline_parity import AUDIO, VIDEO, image, make_job  # noqa: F401  (image: a fixture)
from test_pipeline_parity_v12 import BODY, COSINE, MAX_ABS, stage_items, two_stage_inputs

from ltx2.loading.model_set import ModelSet
from ltx2.pipelines import common
from ltx2.pipelines.distilled import DistilledPipeline
from ltx2.pipelines.one_stage import OneStagePipeline
from ltx2.pipelines.two_stage import TwoStagePipeline
from ltx2.sampling.schedulers import DistilledScheduler
from ltx2.tiny.ltx25_model import FILES

DECODE = '''
if "decoder_noise" in I:  # 1.2.0's VideoDecoder block (diffusion decoder: our canvas noise in place of torch.randn)
    from ltx_pipelines.utils.blocks import VideoDecoder
    _canvas, _randn = t("decoder_noise"), torch.randn

    def _replayed_randn(*size, **kw):
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else tuple(size)
        if shape == tuple(_canvas.shape):
            return _canvas.to(kw.get("dtype") or F32)
        return _randn(*size, **kw)

    torch.randn = _replayed_randn
    try:
        with torch.no_grad():
            _chunks = list(VideoDecoder(I["video_vae"], F32, CPU)(O["video"], None, torch.Generator().manual_seed(0)))
    finally:
        torch.randn = _randn
    O["decoded"] = torch.cat(_chunks, dim=0)  # (F, H, W, 3) in [0, 1]
'''
SCRIPT = HEAD + PROMPTS + BODY + DECODE
CONTEXT_MAX_ABS = 1e-4  # the text tolerance of the issue
DECODED_MAX_ABS = 1e-4  # decoded frames in [0, 1], float32


def models25(tiny, loras=()) -> ModelSet:
    files = {c: str(tiny / name) for c, name in FILES.items() if c != "temporal_upsampler"}
    return ModelSet(name="tiny25", dtype="float32", loras=loras, **files)


def make_job25(tiny, pipeline, conditioning=None, **size):
    return replace(make_job(tiny, pipeline, conditioning, **size), models=models25(tiny))


def split_decoder_noise(job, noise: dict) -> tuple[dict, mx.array | None]:
    """The stages' noise and the diffusion video decoder's (the last draw; None with a conv decoder)."""
    if job.info.get("video_decoder") != "diffusion":
        return dict(noise), None
    names = sorted(noise, key=lambda k: int(k.split("_")[-1]))
    return {k: noise[k] for k in names[:-1]}, noise[names[-1]]


def run_and_compare(what: str, job, result, negative: bool, extra_noise: dict | None = None, decode: bool = False,
                    **inputs) -> dict:
    """Run the 1.2.0 reference (its own prompt contexts) with the job's size and the run's noise; assert the
    contexts and the final latents; with ``decode``, also the decoded frames (1.2.0's VideoDecoder block on the
    video-VAE file, untiled, with our diffusion decoder's canvas noise); return the figures."""
    files = job.models.component_files
    prompts = [job.prompt] + ([job.negative_prompt] if negative else [])
    stage_noise, decoder_noise = split_decoder_noise(job, result.noise)
    inputs = {**dict(checkpoint=files["transformer"], text_encoder=files["text_encoder"],
                     video_vae=files["video_vae"], prompts=prompts, frames=job.num_frames, fps=job.fps,
                     width=job.width, height=job.height, video=VIDEO, audio=AUDIO),
              **noise_arrays(stage_noise), **(extra_noise or {}), **inputs}
    if decode:
        assert decoder_noise is not None, "decode=True compares the diffusion decoder's frames"
        inputs["decoder_noise"] = np.moveaxis(np32(decoder_noise), -1, 1)  # 1.2.0 draws (B, 3, F, H, W)
    ref = v12.run(SCRIPT, **inputs)
    encoded = common.encode_prompts(job, negative=negative)  # remembered by the process: the run's own contexts
    ours = [encoded.positive.video, encoded.positive.audio]
    ours += [encoded.negative.video, encoded.negative.audio] if negative else []
    out = {}
    for i, ctx in enumerate(ours):
        cosine, err = figures(f"{what} context {i}", np32(ctx), ref[f"ref_ctx_{i}"])
        assert err <= CONTEXT_MAX_ABS, f"{what} context {i}: max abs err {err}"
    for name, mine in (("video", np.moveaxis(np32(result.latents["video"]), -1, 1)),
                       ("audio", np32(result.latents["audio"]))):
        cosine, err = figures(f"{what} {name}", mine, ref[name])
        assert np.abs(ref[name]).max() > 0.1
        assert cosine >= COSINE and err <= MAX_ABS, f"{what} {name}: cosine {cosine}, max abs err {err}"
        out[name] = (cosine, err)
    if decode:
        out["decoded"] = compare_decoded(what, job, result, decoder_noise, ref["decoded"])
    return out


def compare_decoded(what: str, job, result, decoder_noise: mx.array, ref: np.ndarray) -> tuple[float, float]:
    """Our decoded frames (float, the run's decoder on its latent and canvas noise, mapped to [0, 1] as 1.2.0's
    ``decode_video``) against 1.2.0's; the run's uint8 frames within one level of 1.2.0's truncated ones."""
    decoder = job.models.video_decoder()
    pixels = decoder.decode(result.latents["video"], decoder_noise)
    ours = np.clip((np32(pixels)[0] + 1.0) / 2.0, 0.0, 1.0)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    cosine, err = figures(f"{what} decoded frames", ours, ref)
    assert ref.std() > 0.05 and err <= DECODED_MAX_ABS, f"{what} decoded frames: max abs err {err}"
    frames = np.concatenate(list(result.frames()))
    levels = np.abs(frames.astype(np.int16) - (ref * 255.0).astype(np.uint8).astype(np.int16)).max()
    assert frames.shape == ref.shape and levels <= 1, f"{what} uint8 frames: {levels} levels apart"
    return cosine, err


def conditioning_for(mode: str, image, tmp_path):
    """t2v: none; i2v: the image replaces latent frame 0 (strength 1, no CRF round trip); keyframes
    (``conditioning=keyframes``): frame 0 replaced at strength 0.8, a second image appended at frame 16."""
    from ltx2.conditioning.image import ImageConditioning

    if mode == "keyframes":
        from test_pipeline_parity_hq_keyframes import _png, keyframes

        return keyframes(image, _png(tmp_path, 2, (60, 40)), first_strength=0.8)
    return ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None


@v12.needed
@pytest.mark.parametrize("mode", ["t2v", pytest.param("i2v", marks=pytest.mark.slow),
                                  pytest.param("keyframes", marks=pytest.mark.slow)])
def test_one_stage_matches_1_2_0(tiny, image, tmp_path, mode):  # noqa: F811
    """TI2VidOneStagePipeline on the tiny 2.5 files: guided (CFG + STG + modality + rescale), 3 LTX2Scheduler
    steps, 96x64, 9 frames (keyframes: 17); conditioning as ``conditioning_for``."""
    job = make_job25(tiny, OneStagePipeline(), conditioning_for(mode, image, tmp_path),
                     num_frames=17 if mode == "keyframes" else 9)
    result = job.pipeline(job)
    assert job.info["video_decoder"] == "diffusion"  # the tiny 2.5 video VAE file, as the official one
    run_and_compare(f"2.5 one_stage {mode}", job, result, negative=True, decode=mode == "t2v",
                    **stage_items(job, "s1_items", job.width, job.height), s1_denoiser="factory",
                    s1_sigmas=np32(job.scheduler.sigmas()), s1_width=job.width, s1_height=job.height)


@v12.needed
@pytest.mark.parametrize("mode", ["t2v", pytest.param("i2v", marks=pytest.mark.slow)])
def test_distilled_matches_1_2_0(tiny, image, monkeypatch, mode):  # noqa: F811
    """DistilledPipeline on the tiny 2.5 files: stage 1 at half size with ANCESTRAL Euler (eta 1; 1.2.0 from model
    version 2.5, its noise from seed + 10000: ours replayed), x2 upsampler, stage 2 plain Euler re-noised to
    0.909375; simple denoiser, positive prompt only. i2v: the image (our conv VAE encoder's latent, re-encoded per
    stage) replaces latent frame 0, which the ancestral re-noising must leave clean."""
    from ltx2.conditioning.image import ImageConditioning
    from ltx2.pipelines import distilled
    from ltx2.sampling.noisers import GaussianNoiser

    step_noisers = []

    class Recorded(GaussianNoiser):
        def __init__(self, seed):
            super().__init__(seed)
            step_noisers.append(self)

    monkeypatch.setattr(distilled, "GaussianNoiser", Recorded)
    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None
    job = make_job25(tiny, DistilledPipeline(), conditioning, width=128, height=64, num_frames=9)
    result = job.pipeline(job)
    assert job.info["samplers"]["stage_1"] == "euler_ancestral" and len(step_noisers) == 1
    drawn = step_noisers[0].drawn
    assert len(drawn) == 2 * (len(DistilledScheduler(stage=1).sigmas()) - 2)  # video + audio, every step but the last
    run_and_compare(f"2.5 distilled {mode} (ancestral stage 1)", job, result, negative=False,
                    extra_noise={f"ancestral_{i}": np32(n) for i, n in enumerate(drawn)},
                    **two_stage_inputs(job, "simple", DistilledScheduler(stage=1).sigmas()),
                    sampler="ancestral", s1_noise_seed=job.seed + DistilledPipeline.ANCESTRAL_SEED_OFFSET)


@v12.needed
@pytest.mark.parametrize("mode,decode", [("t2v", False), pytest.param("t2v", True, marks=pytest.mark.slow),
                                         pytest.param("i2v", False, marks=pytest.mark.slow)])
def test_two_stage_matches_1_2_0(tiny, image, tmp_path, mode, decode):  # noqa: F811
    """TI2VidTwoStagesPipeline on the tiny 2.5 files: stage 1 guided at half size (3 steps), x2 upsampler, stage 2
    with the distilled-LoRA stand-in fused; the audio kept is stage 1's. i2v: the image re-encoded per stage.
    ``decode``: also the frames of the diffusion decoder (the decode every two-stage pipeline shares,
    ``upsample_and_refine``)."""
    job = make_job25(tiny, TwoStagePipeline(), conditioning_for(mode, image, tmp_path), width=128, height=64,
                     num_frames=9)
    result = job.pipeline(job)
    run_and_compare(f"2.5 two_stage {mode}", job, result, negative=True, decode=decode,
                    **two_stage_inputs(job, "factory", job.scheduler.sigmas()),
                    s2_loras=[[job.models.distilled_lora, 1.0]], keep_stage_1_audio=1)


@v12.needed
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["t2v", "keyframes"])
def test_two_stage_hq_matches_1_2_0(tiny, image, tmp_path, mode):  # noqa: F811
    """TI2VidTwoStagesHQPipeline on the tiny 2.5 files: res_2s in both stages (our SDE noise handed to 1.2.0's
    loop), the distilled-LoRA stand-in at 0.25 / 0.5, stage-1 sigmas shifted by the stage-1 token count, the HQ
    guider; the audio kept is stage 1's. keyframes: frame 0 replaces latent frame 0 (strength 1), a second image
    appended at frame 16."""
    from test_pipeline_parity_hq_keyframes import HQ_AUDIO, HQ_VIDEO, SIZE, _png, keyframes
    from test_pipeline_parity_v12 import res2s_noise

    from ltx2.pipelines.two_stage_hq import TwoStageHQPipeline, stage_1_sigmas
    from ltx2.sampling.guidance import MultiModal
    from ltx2.sampling.latent_state import VideoLatentShape

    conditioning = keyframes(image, _png(tmp_path, 2, (60, 40))) if mode == "keyframes" else None
    job = replace(make_job25(tiny, TwoStageHQPipeline(), conditioning, steps=3, **SIZE),
                  guidance=MultiModal(**HQ_VIDEO, audio=HQ_AUDIO))
    result = job.pipeline(job)
    half = VideoLatentShape.from_pixels(job.num_frames, job.height // 2, job.width // 2)
    draws = 2 * 8
    lora = job.models.distilled_lora
    run_and_compare(f"2.5 two_stage_hq {mode}", job, result, negative=True,
                    **two_stage_inputs(job, "static", stage_1_sigmas(job.scheduler, half)), video=HQ_VIDEO,
                    audio=HQ_AUDIO, sampler="res2s", res2s_draws=draws, **res2s_noise(job, True, "s1", draws),
                    **res2s_noise(job, False, "s2", draws), s1_loras=[[lora, 0.25]], s2_loras=[[lora, 0.5]],
                    keep_stage_1_audio=1)


@v12.needed
@pytest.mark.slow
def test_keyframe_interpolation_matches_1_2_0(tiny, image, tmp_path):
    """KeyframeInterpolationPipeline on the tiny 2.5 files: two images appended as keyframe tokens (frame 0 at
    strength 1, frame 16 at 0.5), re-encoded per stage by our conv VAE encoder; the audio kept is stage 2's."""
    import mlx.core as mx
    from test_pipeline_parity_hq_keyframes import _png, keyframes

    from ltx2.pipelines.keyframe_interpolation import KeyframeInterpolationPipeline

    pipeline = KeyframeInterpolationPipeline()
    job = make_job25(tiny, pipeline, keyframes(image, _png(tmp_path, 2, (60, 40))), width=128, height=64,
                     num_frames=17)
    result = job.pipeline(job)
    run_and_compare("2.5 keyframe_interpolation", job, result, negative=True,
                    **two_stage_inputs(job, "factory", job.scheduler.sigmas(),
                                       lambda w, h: pipeline.conditioning_items(job, w, h, mx.float32)),
                    s2_loras=[[job.models.distilled_lora, 1.0]])


@v12.needed
def test_a2v_matches_1_2_0(tiny, tmp_path):
    """A2VidPipelineTwoStage on the tiny 2.5 files: the audio (our 2.5 audio-VAE encoder's latent) frozen in both
    stages, stage 1 guided video without audio guidance, x2 upsampler, stage 2 with the distilled-LoRA stand-in."""
    import mlx.core as mx
    from test_retake_a2v_parity_v12 import FPS, RATE, tone

    from ltx2.conditioning.audio import AudioConditioning
    from ltx2.io.media import write_wav
    from ltx2.pipelines.a2v import AudioToVideoPipeline
    from ltx2.sampling.latent_state import AudioLatentShape

    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1.0), RATE)
    job = make_job25(tiny, AudioToVideoPipeline(), AudioConditioning(str(wav)), width=128, height=64, num_frames=9,
                     fps=FPS)
    result = job.pipeline(job)
    encoded = np32(AudioToVideoPipeline._encode(job.models, *job.conditioning.waveform(9 / FPS),
                                                AudioLatentShape.from_video(9, FPS), mx.float32))
    run_and_compare("2.5 a2v two-stage", job, result, negative=True, unused_contexts=[3],
                    **two_stage_inputs(job, "static", job.scheduler.sigmas(), lambda w, h: []),
                    audio=dict(), audio_initial=encoded, s1_audio_frozen=1, s1_audio_noise_scale=0.0,
                    s2_audio_frozen=1, s2_loras=[[job.models.distilled_lora, 1.0]])
    assert np.array_equal(np32(result.latents["audio"]), encoded)


@v12.needed
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["guided", "distilled"])
def test_retake_matches_1_2_0(tiny, tmp_path, mode):
    """RetakePipeline on the tiny 2.5 files, one stage at the source's size: video and audio regenerated in
    0.2-0.5 s (TemporalRegionMask), the rest kept; guided (static guiders) or distilled (8 sigmas, simple
    denoiser; plain Euler: 1.2.0's retake has no ancestral sampler)."""
    import mlx.core as mx
    from test_retake_a2v_parity_v12 import FPS, FRAMES, HEIGHT, WIDTH, write_source

    from ltx2.conditioning.source_video import SourceVideoConditioning
    from ltx2.pipelines.retake import RetakePipeline, encode_audio, encode_video
    from ltx2.sampling.latent_state import AudioLatentShape

    start, end = 0.2, 0.5
    source = SourceVideoConditioning(str(write_source(tmp_path / "clip.mp4")), start, end, True, True)
    job = make_job25(tiny, RetakePipeline(mode=mode), source, width=WIDTH, height=HEIGHT, num_frames=FRAMES,
                     fps=FPS)
    result = job.pipeline(job)
    guided = mode == "guided"
    audio = np32(encode_audio(job.models, *source.waveform(), AudioLatentShape.from_video(FRAMES, FPS), mx.float32))
    sigmas = job.scheduler.sigmas() if guided else DistilledScheduler(stage=1).sigmas()
    run_and_compare(f"2.5 retake {mode}", job, result, negative=guided,
                    video_initial=np32(encode_video(job.models, source.pixels(), mx.float32)),
                    audio_initial=audio, s1_video_region=[start, end], s1_audio_region=[start, end],
                    s1_denoiser="static" if guided else "simple", s1_sigmas=np32(sigmas), s1_width=WIDTH,
                    s1_height=HEIGHT)


@v12.needed
@pytest.mark.slow
def test_ic_lora_matches_1_2_0(tiny, tmp_path):
    """ICLoraPipeline on the tiny 2.5 files with a tiny IC-LoRA for the 2.5 transformer (reference downscale factor
    1): stage 1 at half size with the IC-LoRA fused, an image at frame 0 then the reference-video tokens at
    attention strength 0.7 masked per region by a mask video, 8 distilled sigmas (plain Euler: 1.2.0's IC-LoRA
    pipeline has no ancestral stage 1); stage 2 without the LoRA, the image only. The items are ours (their parity:
    test_ic_lora_parity)."""
    import imageio.v3 as iio
    import mlx.core as mx

    from ltx2.conditioning.reference_video import ReferenceVideoConditioning
    from ltx2.io.media import write_video
    from ltx2.loading.checkpoint import save_checkpoint
    from ltx2.pipelines.contract import Job
    from ltx2.pipelines.ic_lora import ICLoraPipeline, downscale_factor
    from ltx2.sampling.guidance import NoGuidance
    from ltx2.tiny.ltx25 import tiny_ltx25_section
    from ltx2.tiny.ltx25_model import write_tiny_lora_for

    rng = np.random.default_rng(3)
    write_video(tmp_path / "reference.mp4", iter([(rng.random((9, 72, 136, 3)) * 255).astype(np.uint8)]), 24.0)
    mask = np.zeros((9, 64, 128, 3), np.uint8)
    mask[:, :, :64] = np.linspace(255, 64, 9).astype(np.uint8)[:, None, None, None]
    write_video(tmp_path / "mask.mp4", iter([mask]), 24.0)
    iio.imwrite(tmp_path / "frame.png", (rng.random((50, 70, 3)) * 255).astype(np.uint8))
    lora = write_tiny_lora_for(tmp_path / "ic.safetensors", tiny_ltx25_section(), seed=7)
    tensors = mx.load(str(lora))
    save_checkpoint(lora, tensors, {"what": "tiny IC-LoRA for the tiny LTX-2.5 model",
                                    "reference_downscale_factor": "1"})
    lora = str(lora)

    conditioning = ReferenceVideoConditioning(
        str(tmp_path / "reference.mp4"), strength=1.0, attention_strength=0.7,
        attention_mask=str(tmp_path / "mask.mp4"),
        images=[{"path": str(tmp_path / "frame.png"), "frame_idx": 0, "strength": 1.0, "crf": 0}])
    models = models25(tiny, loras=((lora, 1.0),))
    num_frames = 9
    job = Job(models=models, prompt="a dancer on a stage", negative_prompt="", seed=10, width=128, height=64,
              num_frames=num_frames, fps=24.0, scheduler=DistilledScheduler(stage=1), guidance=NoGuidance(),
              conditioning=conditioning, pipeline=ICLoraPipeline(False))
    conditioning.validate(num_frames, 24.0)
    result = job.pipeline(job)
    half_w, half_h = job.width // 2, job.height // 2
    stage_1 = (conditioning.items(models, half_w, half_h, mx.float32)
               + conditioning.reference_items(models, half_w, half_h, num_frames, downscale_factor(models.loras),
                                              mx.float32))
    run_and_compare("2.5 ic_lora", job, result, negative=False, **item_arrays("s1_items", stage_1),
                    s1_denoiser="simple", s1_width=half_w, s1_height=half_h,
                    s1_sigmas=np32(DistilledScheduler(stage=1).sigmas()), s1_loras=[[lora, 1.0]],
                    **item_arrays("s2_items", conditioning.items(models, job.width, job.height, mx.float32)),
                    s2_sigmas=np32(DistilledScheduler(stage=2).sigmas()), upsampler=models.spatial_upsampler)
