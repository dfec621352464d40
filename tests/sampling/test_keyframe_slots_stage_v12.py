"""A whole denoising stage with generated keyframe slots against ltx-pipelines 1.2.0, float32, on the tiny LTX-2.5
transformer (its nonzero keyframe embedding): our one_stage pipeline with ``conditioning=keyframe_slots`` (count 1,
positive prompt only, 3 LTX2Scheduler steps) and the official ``DiffusionStage`` with ``SimpleDenoiser`` and the
``VideoGeneratedKeyframeSlots`` that ``--num-generated-keyframes 1`` makes, same contexts and same noise. Compared:
the final video and audio latents and the generated keyframe latent the stage extracts."""

import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, noise_arrays, np32

from ltx2.conditioning.keyframe_slots import KeyframeSlotsConditioning
from ltx2.loading.model_set import ModelSet
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job
from ltx2.pipelines.one_stage import OneStagePipeline
from ltx2.sampling.guidance import NoGuidance
from ltx2.sampling.schedulers import LTX2Scheduler

COSINE, MAX_ABS = 0.9999, 1e-3

SCRIPT = HEAD + '''
from ltx_pipelines.utils.denoisers import SimpleDenoiser
from ltx_pipelines.utils.helpers import generated_keyframe_conditionings
from ltx_pipelines.utils.types import ModalitySpec
ctx = [t("ctx_0"), t("ctx_1")]
with torch.no_grad():
    v, a = stage(I["transformer"])(
        denoiser=SimpleDenoiser(ctx[0], ctx[1]), sigmas=t("sigmas"), noiser=ReplayNoiser(), width=I["width"],
        height=I["height"], frames=I["frames"], fps=I["fps"],
        video=ModalitySpec(context=ctx[0], conditionings=generated_keyframe_conditionings(I["count"], I["frames"])),
        audio=ModalitySpec(context=ctx[1]))
O["video"], O["audio"], O["generated"] = v.latent, a.latent, v.generated_keyframes
'''


@pytest.mark.slow  # ~25 s: the pipeline, then the reference stage in the oracle venv
@v12.needed
def test_one_stage_with_slots_matches_1_2_0(tiny):
    models = ModelSet(name="tiny25", transformer=str(tiny / "tiny-ltx-2.5-transformer.safetensors"),
                      text_encoder=str(tiny / "tiny-gemma4-with-proj-ltx-2.5.safetensors"),
                      video_vae=str(tiny / "tiny-ltx-2.5-video-vae-conv.safetensors"),
                      audio_vae=str(tiny / "tiny-ltx-2.5-audio-vae.safetensors"), dtype="float32")
    job = Job(models=models, prompt="a red fox in the snow", negative_prompt="", seed=10, width=96, height=64,
              num_frames=17, fps=24.0, scheduler=LTX2Scheduler(3), guidance=NoGuidance(),
              conditioning=KeyframeSlotsConditioning(count=1), pipeline=OneStagePipeline())
    result = job.pipeline(job)
    frames, generated = job.info["generated_keyframes"]
    assert frames == (8,) and generated.shape == (1, 128, 1, 2, 3)
    encoded = common.encode_prompts(job, negative=False)  # remembered by the process: the run's own contexts
    ref = v12.run(SCRIPT, transformer=str(tiny / "tiny-ltx-2.5-transformer.safetensors"), count=1,
                  ctx_0=np32(encoded.positive.video), ctx_1=np32(encoded.positive.audio),
                  sigmas=np32(job.scheduler.sigmas()), width=96, height=64, frames=17, fps=24.0,
                  **noise_arrays(result.noise))
    for name, ours in (("video", np.moveaxis(np32(result.latents["video"]), -1, 1)),
                       ("audio", np32(result.latents["audio"])), ("generated", np32(generated))):
        cosine, err = figures(f"keyframe slots one_stage {name}", ours, ref[name])
        assert np.abs(ref[name]).max() > 0.1
        assert cosine >= COSINE and err <= MAX_ABS, f"{name}: cosine {cosine}, max abs err {err}"
