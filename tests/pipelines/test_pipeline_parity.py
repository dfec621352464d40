"""End-to-end parity of our pipelines with ltx-pipelines 1.0.0's own helpers (in-process: ``denoise_audio_video``,
the multimodal guider / simple denoising functions, ``euler_denoising_loop``, ``upsample_video``), fp32, on the same
tiny official-format files (``ltx2.tiny.checkpoint.write_tiny_files``), for the runs where 1.0.0 and 1.2.0 agree:
text-to-video (no conditioned tokens; the two-stage audio aside, which 1.2.0 takes from stage 1). Image and
keyframe conditioning (1.2.0 changed the AV cross-attention AdaLN inputs and the conditioning items) are checked
against 1.2.0 in test_pipeline_parity_v12.py.

Both sides get the same prompt contexts (the ones our tiny text encoder produced for the run), the same initial
noise (the arrays our pipeline drew, replayed into the reference through a Noiser in place of its
GaussianNoiser) and, for image-to-video, the same image latent (our VAE encoder's; the encoder's own parity is
tested in test_video_vae_parity). What is compared is the final video and audio latents of the whole pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.guiders import MultiModalGuiderParams, create_multimodal_guider_factory
from ltx_core.conditioning import VideoConditionByKeyframeIndex, VideoConditionByLatentIndex
from ltx_core.model.upsampler import upsample_video
from ltx_core.types import VideoPixelShape
from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES
from ltx_pipelines.utils.helpers import (
    denoise_audio_video,
    multi_modal_guider_factory_denoising_func,
    simple_denoising_func,
)
from ltx_pipelines.utils.samplers import euler_denoising_loop
from ltx_pipelines.utils.types import PipelineComponents
from oracles.compare import to_numpy
from oracles.transformer import load_reference, to_torch
from oracles.vae import reference_encoder, reference_upsampler

from ltx2.conditioning.image import ImageConditioning, NoConditioning
from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex
from ltx2.loading.model_set import ModelSet
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job
from ltx2.pipelines.distilled import DistilledPipeline
from ltx2.pipelines.one_stage import OneStagePipeline
from ltx2.pipelines.two_stage import TwoStagePipeline
from ltx2.sampling.guidance import MultiModal
from ltx2.sampling.schedulers import LTX2Scheduler

COSINE, MAX_ABS = 0.9999, 1e-3  # acceptance of issue 8
CPU, F32 = torch.device("cpu"), torch.float32
# the official guidance (constants.py), STG on block 1 of the 2-block tiny model
VIDEO = dict(cfg_scale=3.0, stg_scale=1.0, stg_blocks=[1], rescale_scale=0.7, modality_scale=3.0, skip_step=0)
AUDIO = dict(cfg_scale=7.0, stg_scale=1.0, stg_blocks=[1], rescale_scale=0.7, modality_scale=3.0, skip_step=0)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    import imageio.v3 as iio

    path = tmp_path_factory.mktemp("image") / "frame.png"
    iio.imwrite(path, (np.random.default_rng(1).random((50, 70, 3)) * 255).astype("uint8"))
    return path


def models(tiny: Path, version: str = "ltx2.3") -> ModelSet:
    return ModelSet(name="tiny", checkpoint=str(tiny / f"tiny-{version}.safetensors"),
                    gemma_root=str(tiny / "tiny-gemma"),
                    distilled_lora=str(tiny / f"tiny-{version}-distilled-lora.safetensors"),
                    spatial_upsampler=str(tiny / "tiny-upsampler-spatial-x2.safetensors"), dtype="float32")


def make_job(tiny, pipeline, conditioning=None, width=96, height=64, num_frames=17, fps=24.0, steps=3,
             version="ltx2.3") -> Job:
    guidance = MultiModal(**VIDEO, audio=AUDIO)
    return Job(models=models(tiny, version), prompt="a red fox in the snow", negative_prompt="blurry, low quality",
               seed=10, width=width, height=height, num_frames=num_frames, fps=fps,
               scheduler=LTX2Scheduler(steps), guidance=guidance, conditioning=conditioning or NoConditioning(),
               pipeline=pipeline)


class ReplayNoiser:
    """The reference's noising formula with given noise instead of ``torch.randn`` (in place of GaussianNoiser)."""

    def __init__(self, noises: dict[str, mx.array]):
        self.queue = [to_torch(noises[k]) for k in sorted(noises, key=lambda k: int(k.split("_")[-1]))]

    def __call__(self, latent_state, noise_scale: float = 1.0):
        noise = self.queue.pop(0)
        assert tuple(noise.shape) == tuple(latent_state.latent.shape)
        m = latent_state.denoise_mask * noise_scale
        latent = noise.to(latent_state.latent.dtype) * m + latent_state.latent * (1 - m)
        return replace(latent_state, latent=latent.to(latent_state.latent.dtype))


def reference_items(items: list) -> list:
    out = []
    for item in items:
        latent = to_torch(item.latent)
        if isinstance(item, LatentAtIndex):
            out.append(VideoConditionByLatentIndex(latent=latent, strength=item.strength, latent_idx=item.index))
        elif isinstance(item, KeyframeAtFrame):
            out.append(VideoConditionByKeyframeIndex(keyframes=latent, frame_idx=item.frame_idx,
                                                     strength=item.strength))
        else:
            raise TypeError(item)
    return out


def contexts(job, negative: bool):
    encoded = common.encode_prompts(job, negative=negative)  # remembered by the process: the run's own contexts
    pos = encoded.positive
    neg = encoded.negative if negative else None
    return (to_torch(pos.video), to_torch(pos.audio),
            to_torch(neg.video) if neg else None, to_torch(neg.audio) if neg else None)


def compare(what: str, ours: dict, ref_video: torch.Tensor, ref_audio: torch.Tensor | None) -> dict:
    """Cosine and max abs error of the final latents (ours video is channels-last); ``ref_audio`` None: video
    only."""
    figures = {}
    pairs = [("video", np.moveaxis(to_numpy(ours["video"]), -1, 1), ref_video.numpy())]
    if ref_audio is not None:
        pairs.append(("audio", to_numpy(ours["audio"]), ref_audio.numpy()))
    for name, o, r in pairs:
        assert o.shape == r.shape, f"{what} {name}: shape {o.shape} vs reference {r.shape}"
        o64, r64 = o.astype(np.float64).ravel(), r.astype(np.float64).ravel()
        cosine = float(o64 @ r64 / (np.linalg.norm(o64) * np.linalg.norm(r64)))
        err = float(np.abs(o64 - r64).max())
        print(f"\nPARITY {what} {name}: 1 - cosine {1 - cosine:.1e}, max abs err {err:.2e}, max|x| {np.abs(r).max():.2f}")
        assert np.abs(r).max() > 0.1
        figures[name] = (cosine, err)
        assert cosine >= COSINE and err <= MAX_ABS, f"{what} {name}: cosine {cosine}, max abs err {err}"
    return figures


def guided_loop(job, transformer, ctx):
    v_pos, a_pos, v_neg, a_neg = ctx
    fn = multi_modal_guider_factory_denoising_func(
        create_multimodal_guider_factory(MultiModalGuiderParams(**VIDEO), v_neg),
        create_multimodal_guider_factory(MultiModalGuiderParams(**AUDIO), a_neg), v_pos, a_pos, transformer)
    return lambda sigmas, video, audio, stepper: euler_denoising_loop(sigmas, video, audio, stepper, fn)


def simple_loop(transformer, ctx):
    v_pos, a_pos = ctx[:2]
    fn = simple_denoising_func(v_pos, a_pos, transformer)
    return lambda sigmas, video, audio, stepper: euler_denoising_loop(sigmas, video, audio, stepper, fn)


IMAGES = {"t2v": None, "i2v": dict(frame_idx=0, strength=1.0), "keyframe": dict(frame_idx=8, strength=0.5)}


@pytest.mark.parametrize("mode,version", [("t2v", "ltx2.3"), ("t2v", "ltx2")])
def test_one_stage_matches_reference(tiny, image, mode, version):
    """Guided (CFG + STG + modality + rescale, both modalities), 3 LTX2Scheduler steps, against 1.0.0. (i2v and
    keyframe modes: test_pipeline_parity_v12, against 1.2.0.)"""
    conditioning = ImageConditioning(str(image), crf=0, **IMAGES[mode]) if IMAGES[mode] else None
    job = make_job(tiny, OneStagePipeline(), conditioning, version=version)
    result = job.pipeline(job)
    ctx = contexts(job, negative=True)
    items = reference_items(job.conditioning.items(job.models, job.width, job.height, mx.float32))
    assert len(items) == (0 if mode == "t2v" else 1)
    transformer = load_reference(job.models.checkpoint)
    shape = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height, width=job.width, fps=job.fps)
    noiser = ReplayNoiser(result.noise)
    with torch.no_grad():
        video, audio = denoise_audio_video(shape, items, noiser, to_torch(job.scheduler.sigmas()),
                                           EulerDiffusionStep(), guided_loop(job, transformer, ctx),
                                           PipelineComponents(dtype=F32, device=CPU), F32, CPU)
    assert not noiser.queue
    compare(f"one_stage {mode} {version}", result.latents, video.latent, audio.latent)


@pytest.mark.parametrize("mode", ["t2v"])
def test_distilled_matches_reference(tiny, image, mode):
    """Stage 1 at half size (8 distilled sigmas), x2 upsampler with the encoder's statistics, stage 2 at full
    size re-noised to 0.909375 (3 sigmas), simple denoiser; against 1.0.0 (i2v: test_pipeline_parity_v12)."""
    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None
    job = make_job(tiny, DistilledPipeline(), conditioning, width=128, height=64, num_frames=9)
    result = job.pipeline(job)
    ctx = contexts(job, negative=False)
    transformer = load_reference(job.models.checkpoint)
    encoder = reference_encoder(Path(job.models.checkpoint))
    upsampler = reference_upsampler(Path(job.models.spatial_upsampler))
    components = PipelineComponents(dtype=F32, device=CPU)
    noiser = ReplayNoiser(result.noise)
    loop = simple_loop(transformer, ctx)
    with torch.no_grad():
        half = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height // 2, width=job.width // 2,
                               fps=job.fps)
        items = reference_items(job.conditioning.items(job.models, job.width // 2, job.height // 2, mx.float32))
        video, audio = denoise_audio_video(half, items, noiser, torch.tensor(DISTILLED_SIGMA_VALUES),
                                           EulerDiffusionStep(), loop, components, F32, CPU)
        up = upsample_video(latent=video.latent[:1], video_encoder=encoder, upsampler=upsampler)
        full = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height, width=job.width, fps=job.fps)
        items = reference_items(job.conditioning.items(job.models, job.width, job.height, mx.float32))
        sigmas = torch.tensor(STAGE_2_DISTILLED_SIGMA_VALUES)
        video, audio = denoise_audio_video(full, items, noiser, sigmas, EulerDiffusionStep(), loop, components, F32,
                                           CPU, noise_scale=sigmas[0], initial_video_latent=up,
                                           initial_audio_latent=audio.latent)
    assert not noiser.queue
    compare(f"distilled {mode}", result.latents, video.latent, audio.latent)


@pytest.mark.parametrize("mode,strength", [("t2v", 1.0)])
def test_two_stage_matches_reference(tiny, image, mode, strength):
    """TI2VidTwoStagesPipeline: stage 1 at half size guided (3 LTX2Scheduler steps), x2 upsampler, stage 2 at full
    size with the distilled LoRA fused at ``strength`` (the reference loader fuses it), re-noised to 0.909375,
    3 distilled sigmas, simple denoiser on the positive contexts. Against 1.0.0: the video (1.0.0 returned stage 2's
    audio, 1.2.0 and we stage 1's: the audio and i2v are checked in test_pipeline_parity_v12)."""
    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0) if mode == "i2v" else None
    job = make_job(tiny, TwoStagePipeline(distilled_lora_strength=strength), conditioning, width=128, height=64,
                   num_frames=9)
    result = job.pipeline(job)
    ctx = contexts(job, negative=True)
    stage_1 = load_reference(job.models.checkpoint)
    stage_2 = load_reference(job.models.checkpoint, loras=[(job.models.distilled_lora, strength)])
    encoder = reference_encoder(Path(job.models.checkpoint))
    upsampler = reference_upsampler(Path(job.models.spatial_upsampler))
    components = PipelineComponents(dtype=F32, device=CPU)
    noiser = ReplayNoiser(result.noise)
    with torch.no_grad():
        half = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height // 2, width=job.width // 2,
                               fps=job.fps)
        items = reference_items(job.conditioning.items(job.models, job.width // 2, job.height // 2, mx.float32))
        video, audio = denoise_audio_video(half, items, noiser, to_torch(job.scheduler.sigmas()),
                                           EulerDiffusionStep(), guided_loop(job, stage_1, ctx), components, F32, CPU)
        up = upsample_video(latent=video.latent[:1], video_encoder=encoder, upsampler=upsampler)
        full = VideoPixelShape(batch=1, frames=job.num_frames, height=job.height, width=job.width, fps=job.fps)
        items = reference_items(job.conditioning.items(job.models, job.width, job.height, mx.float32))
        sigmas = torch.tensor(STAGE_2_DISTILLED_SIGMA_VALUES)
        video, audio = denoise_audio_video(full, items, noiser, sigmas, EulerDiffusionStep(),
                                           simple_loop(stage_2, ctx), components, F32, CPU, noise_scale=sigmas[0],
                                           initial_video_latent=up, initial_audio_latent=audio.latent)
    assert not noiser.queue
    compare(f"two_stage {mode} lora@{strength}", result.latents, video.latent, None)
    # the distilled LoRA matters: without it stage 2 ends elsewhere
    noiser = ReplayNoiser(result.noise)
    with torch.no_grad():
        plain = load_reference(job.models.checkpoint)
        noiser.queue = noiser.queue[2:]
        no_lora, _ = denoise_audio_video(full, items, noiser, sigmas, EulerDiffusionStep(), simple_loop(plain, ctx),
                                         components, F32, CPU, noise_scale=sigmas[0], initial_video_latent=up,
                                         initial_audio_latent=audio.latent)
    assert np.abs(no_lora.latent.numpy() - video.latent.numpy()).max() > 1e-2
