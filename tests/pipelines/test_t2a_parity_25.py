"""End-to-end parity of pipeline=t2a with the official ltx-pipelines 1.2.0 ``T2AOneStagePipeline`` on the tiny
LTX-2.5 files (``model=tiny25``), float32, one oracle subprocess.

The reference run is that pipeline's own sequence: its ``PromptEncoder`` on our Gemma 4 text-encoder file
(tests/oracles/v12_scripts25.py), its ``DurationPredictor`` on the audio context alone (``num_frames=auto``), its
``LTX2Scheduler`` sigmas, a ``DiffusionStage`` built by the 1.2.0 loader with ``LTXAudioOnlyModelConfigurator`` and
the audio-only key filter (video weights never read), ``FactoryGuidedDenoiser`` with no video guider and the audio
guider at ``modality_scale`` 1, ``video=None``, then its ``AudioDecoder`` (audio VAE + vocoder). Both sides get the
same noise: our one audio draw, replayed through 1.2.0's noising formula.

Compared: the predicted frame count (equal), the sigmas, the contexts, the final audio latent (cosine >= 0.9999,
max abs error <= 1e-3) and the waveform over the clip's duration (the PARITY-1.2.0 lines, pytest -s, give the
figures).
"""

from __future__ import annotations

import numpy as np
from oracles import v12
from oracles.v12_scripts import HEAD, figures, noise_arrays, np32
from oracles.v12_scripts25 import PROMPTS
from test_pipeline_parity import AUDIO
from test_pipeline_parity_25 import CONTEXT_MAX_ABS, make_job25
from test_pipeline_parity_v12 import COSINE, MAX_ABS

from ltx2.experiment import duration
from ltx2.pipelines import common
from ltx2.pipelines.t2a import TextToAudioPipeline

T2A = '''
from ltx_core.components.schedulers import LTX2Scheduler
from ltx_core.model.transformer import LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP, LTXAudioOnlyModelConfigurator
from ltx_pipelines.t2a_one_stage import _AUDIO_ONLY_PLACEHOLDER_RES as RES
from ltx_pipelines.utils.blocks import AudioDecoder, DiffusionStage, DurationPredictor
from ltx_pipelines.utils.denoisers import FactoryGuidedDenoiser
from ltx_pipelines.utils.types import ModalitySpec

a_pos, a_neg = t("ctx_1"), t("ctx_3")
with torch.no_grad():
    frames = DurationPredictor.from_checkpoint(I["duration_head"], F32, CPU)(None, a_pos, frame_rate=I["fps"])
    sigmas = LTX2Scheduler().execute(steps=I["steps"]).to(F32)
    stage = DiffusionStage.from_checkpoint(I["checkpoint"], dtype=F32, device=CPU,
                                           model_configurator=LTXAudioOnlyModelConfigurator,
                                           model_sd_ops=LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP)
    factory = create_multimodal_guider_factory(params=params({**I["audio"], "modality_scale": 1.0}),
                                               negative_context=a_neg)
    noiser = ReplayNoiser()
    _, a = stage(denoiser=FactoryGuidedDenoiser(v_context=None, a_context=a_pos, video_guider_factory=None,
                                                audio_guider_factory=factory),
                 sigmas=sigmas, noiser=noiser, width=RES, height=RES, frames=frames, fps=I["fps"], video=None,
                 audio=ModalitySpec(context=a_pos))
    assert not noiser.queue, len(noiser.queue)
    O["frames"], O["sigmas"], O["audio"] = np.array(frames), sigmas, a.latent
    O["waveform"] = AudioDecoder(I["audio_vae"], F32, CPU)(a.latent).waveform
'''
SCRIPT = HEAD + PROMPTS + T2A


@v12.needed
def test_t2a_auto_duration_matches_1_2_0(tiny):
    """T2AOneStagePipeline on the tiny 2.5 files with num_frames=auto: guided audio (CFG 7 + STG + rescale,
    modality off), 3 LTX2Scheduler steps, the length predicted from the audio context."""
    job = make_job25(tiny, TextToAudioPipeline(), num_frames=9)
    frames = duration.predict(job)
    result = job.pipeline(job)
    assert result.frames is None and set(result.latents) == {"audio"}
    files = job.models.component_files
    ref = v12.run(SCRIPT, checkpoint=files["transformer"], text_encoder=files["text_encoder"],
                  audio_vae=files["audio_vae"], duration_head=files["duration_head"],
                  prompts=[job.prompt, job.negative_prompt], fps=job.fps, steps=3, audio=AUDIO,
                  **noise_arrays(result.noise))
    assert int(ref["frames"]) == frames
    np.testing.assert_allclose(np32(job.scheduler.sigmas()), ref["sigmas"], atol=1e-6)
    encoded = common.encode_prompts(job, negative=True)  # remembered by the process: the run's own contexts
    for i, ctx in enumerate((encoded.positive.video, encoded.positive.audio, encoded.negative.video,
                             encoded.negative.audio)):
        _, err = figures(f"t2a context {i}", np32(ctx), ref[f"ref_ctx_{i}"])
        assert err <= CONTEXT_MAX_ABS, f"context {i}: max abs err {err}"
    cosine, err = figures(f"2.5 t2a audio latent ({frames} frames)", np32(result.latents["audio"]), ref["audio"])
    assert np.abs(ref["audio"]).max() > 0.1
    assert cosine >= COSINE and err <= MAX_ABS, f"audio latent: cosine {cosine}, max abs err {err}"
    ours, rate = result.audio
    theirs = ref["waveform"].reshape(ours.shape[0], -1)
    n = min(ours.shape[1], theirs.shape[1])
    assert n >= 0.95 * ours.shape[1]  # the reference decodes the whole latent; ours is fitted to the duration
    cosine, err = figures("2.5 t2a waveform", ours[:, :n], theirs[:, :n])
    assert cosine >= COSINE and err <= MAX_ABS, f"waveform: cosine {cosine}, max abs err {err}"
