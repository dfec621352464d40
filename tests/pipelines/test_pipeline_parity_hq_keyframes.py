"""End-to-end parity of ``two_stage_hq`` with ltx-pipelines 1.0.0 (in-process), fp32, on the same tiny
official-format files (same set-up as test_pipeline_parity.py), where 1.0.0 and 1.2.0 agree: text-to-video, the
video (1.2.0 returns stage 1's audio, as we do). Keyframes (HQ with keyframes, ``keyframe_interpolation``,
``conditioning=keyframes`` on one_stage) changed in 1.2.0 (AV cross-attention AdaLN per token, keyframe tokens
spanning one pixel frame): keyframe interpolation and one-stage keyframes are checked against 1.2.0 in
test_pipeline_parity_v12.py.

Both sides get the same prompt contexts and the same initial noise (our draws replayed into the reference's
noiser). The images are preprocessed and VAE-encoded by the REFERENCE here (its own ``combined_image_conditionings``
/ ``image_conditionings_by_adding_guiding_latent`` with the reference encoder; crf=0 so that no codec is involved),
so where each image lands (latent frame 0 replaced, or keyframe tokens appended) is checked against the reference's
own rule, not ours. res_2s: the reference's loop draws its SDE noise from its own fixed-seed torch generators (seeds
-1 / 9999, whatever the run's seed); ours from fixed MLX keys (0 / 10000). The test hands our draws to the
reference loop through its ``new_noise_fn`` (step or substep told apart by the generator's seed).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ltx_core.components.diffusion_steps import Res2sDiffusionStep
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.components.schedulers import LTX2Scheduler as RefLTX2Scheduler
from ltx_core.model.upsampler import upsample_video
from ltx_core.tools import VideoLatentShape as RefVideoLatentShape
from ltx_core.types import VideoPixelShape
from ltx_pipelines.utils.args import ImageConditioningInput
from ltx_pipelines.utils.constants import STAGE_2_DISTILLED_SIGMA_VALUES
from ltx_pipelines.utils.helpers import (
    combined_image_conditionings,
    denoise_audio_video,
    multi_modal_guider_denoising_func,
    simple_denoising_func,
)
from ltx_pipelines.utils.samplers import res2s_audio_video_denoising_loop
from ltx_pipelines.utils.types import PipelineComponents
from oracles.transformer import load_reference, to_torch
from oracles.vae import reference_encoder, reference_upsampler
from test_pipeline_parity import ReplayNoiser, compare, contexts, make_job

from ltx2.conditioning.keyframes import KeyframesConditioning
from ltx2.pipelines.two_stage_hq import TwoStageHQPipeline
from ltx2.sampling.guidance import MultiModal
from ltx2.sampling.loops import seeded_res2s_noise

CPU, F32 = torch.device("cpu"), torch.float32
# LTX_2_3_HQ_PARAMS (conf/guider/hq.yaml)
HQ_VIDEO = dict(cfg_scale=3.0, stg_scale=0.0, stg_blocks=[], rescale_scale=0.45, modality_scale=3.0, skip_step=0)
HQ_AUDIO = dict(cfg_scale=7.0, stg_scale=0.0, stg_blocks=[], rescale_scale=1.0, modality_scale=3.0, skip_step=0)
SIZE = dict(width=128, height=64, num_frames=17)


def _png(folder: Path, seed: int, size: tuple[int, int]) -> Path:
    import imageio.v3 as iio

    path = folder / f"image{seed}.png"
    iio.imwrite(path, (np.random.default_rng(seed).random((*size, 3)) * 255).astype("uint8"))
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return _png(tmp_path_factory.mktemp("image"), 1, (50, 70))


@pytest.fixture(scope="module")
def second_image(tmp_path_factory) -> Path:
    return _png(tmp_path_factory.mktemp("image"), 2, (60, 40))


def keyframes(image, second_image, first_strength=1.0) -> KeyframesConditioning:
    return KeyframesConditioning([dict(path=str(image), frame_idx=0, strength=first_strength, crf=0),
                                  dict(path=str(second_image), frame_idx=16, strength=0.5, crf=0)])


def reference_images(conditioning) -> list[ImageConditioningInput]:
    if conditioning is None:
        return []
    return [ImageConditioningInput(i.path, i.frame_idx, i.strength, i.crf) for i in conditioning.images]


def pixel_shape(job, scale: int) -> VideoPixelShape:
    return VideoPixelShape(batch=1, frames=job.num_frames, height=job.height // scale, width=job.width // scale,
                           fps=job.fps)


def res2s_loop(denoise_fn):
    """The reference's res_2s loop (fp32 model) fed with our SDE noise, drawn afresh per loop as ours is."""

    def loop(sigmas, video, audio, stepper):
        ours = seeded_res2s_noise()

        def noise(latent, generator):
            kind = "substep" if generator.initial_seed() == 9999 else "step"
            return to_torch(ours(tuple(latent.shape), kind)).to(torch.float64)

        return res2s_audio_video_denoising_loop(sigmas, video, audio, stepper, denoise_fn, new_noise_fn=noise,
                                                model_dtype=F32)

    return loop


@pytest.mark.parametrize("mode", ["t2v"])
def test_two_stage_hq_matches_reference(tiny, image, second_image, mode):
    """TI2VidTwoStagesHQPipeline: distilled LoRA fused at 0.25 in stage 1 and 0.5 in stage 2, stage-1 sigmas from
    LTX2Scheduler shifted by the stage-1 latent's token count, constant multimodal guider with the HQ params,
    res_2s in both stages; keyframes: image at frame 0 replaces latent frame 0, the one at frame 16 is appended."""
    conditioning = keyframes(image, second_image) if mode == "keyframes" else None
    job = make_job(tiny, TwoStageHQPipeline(), conditioning, steps=3, **SIZE)
    job = replace(job, guidance=MultiModal(**HQ_VIDEO, audio=HQ_AUDIO))
    result = job.pipeline(job)
    v_pos, a_pos, v_neg, a_neg = contexts(job, negative=True)
    lora = job.models.distilled_lora
    stage_1 = load_reference(job.models.checkpoint, loras=[(lora, 0.25)])
    stage_2 = load_reference(job.models.checkpoint, loras=[(lora, 0.5)])
    encoder = reference_encoder(Path(job.models.checkpoint))
    upsampler = reference_upsampler(Path(job.models.spatial_upsampler))
    components = PipelineComponents(dtype=F32, device=CPU)
    noiser = ReplayNoiser(result.noise)
    images = reference_images(conditioning)
    guided = multi_modal_guider_denoising_func(
        MultiModalGuider(MultiModalGuiderParams(**HQ_VIDEO), v_neg),
        MultiModalGuider(MultiModalGuiderParams(**HQ_AUDIO), a_neg), v_pos, a_pos, stage_1)
    with torch.no_grad():
        half = pixel_shape(job, 2)
        sigmas = RefLTX2Scheduler().execute(
            latent=torch.empty(RefVideoLatentShape.from_pixel_shape(half).to_torch_shape()), steps=3).to(F32)
        assert sigmas[1] < 0.99  # 3 * 1 * 2 tokens: a much smaller shift than the 4096-token default
        items = combined_image_conditionings(images, half.height, half.width, encoder, F32, CPU)
        video, audio = denoise_audio_video(half, items, noiser, sigmas, Res2sDiffusionStep(), res2s_loop(guided),
                                           components, F32, CPU)
        up = upsample_video(latent=video.latent[:1], video_encoder=encoder, upsampler=upsampler)
        full = pixel_shape(job, 1)
        items = combined_image_conditionings(images, full.height, full.width, encoder, F32, CPU)
        sigmas = torch.tensor(STAGE_2_DISTILLED_SIGMA_VALUES)
        video, audio = denoise_audio_video(full, items, noiser, sigmas, Res2sDiffusionStep(),
                                           res2s_loop(simple_denoising_func(v_pos, a_pos, stage_2)), components,
                                           F32, CPU, noise_scale=sigmas[0], initial_video_latent=up,
                                           initial_audio_latent=audio.latent)
    assert not noiser.queue
    assert result.noise["noise_0"].shape[1] == 3 * 1 * 2 + (1 * 1 * 2 if mode == "keyframes" else 0)
    compare(f"two_stage_hq {mode}", result.latents, video.latent, None)  # the video: 1.0.0 kept stage 2's audio
