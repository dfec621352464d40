"""pipeline=dubit against the official ltx-pipelines 1.2.0 ``DubItPipeline`` on the tiny LTX-2.5 files, float32
(the method: test_pipeline_parity_25.py), and the audio reference item on its own.

The reference script is ``DubItPipeline.__call__`` stage by stage: one 1.2.0 ``DiffusionStage`` with a tiny
IC-LoRA fused for both stages, its own prompt contexts (``PROMPTS``), the reference-video items from our encoder
(their parity: test_ic_lora_parity), the voice latent from our audio-VAE encoder turned into reference audio
tokens by the official ``patchify_dubit_audio_reference_latent`` (negative positions) and
``AudioConditionByReferenceLatent``; stage 1 plain Euler on ``DISTILLED_SIGMAS``; ``VideoUpsampler``; stage 2 on
``STAGE_2_DISTILLED_SIGMAS``, audio frozen at stage 1's latent, which is also its reference. Same noise on both
sides (ours replayed). Compared: the contexts and the final latents (video: stage 2's, audio: stage 1's)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from oracles import v12
from oracles.v12_scripts import HEAD, item_arrays, np32
from oracles.v12_scripts25 import PROMPTS
import test_pipeline_parity_25
from test_pipeline_parity_25 import models25, run_and_compare

from ltx2.conditioning.audio_reference import AudioReferenceLatent
from ltx2.conditioning.dubit import DubItConditioning
from ltx2.io.media import write_video
from ltx2.pipelines.contract import Job
from ltx2.pipelines.dubit import DubItPipeline, encode_voice
from ltx2.sampling.guidance import NoGuidance
from ltx2.sampling.latent_state import AudioLatentShape, initial_audio_state
from ltx2.sampling.schedulers import DistilledScheduler

FPS, RATE = 24.0, 48000

BODY = '''
from ltx_core.conditioning import AudioConditionByReferenceLatent
from ltx_pipelines.dubit import patchify_dubit_audio_reference_latent
from ltx_pipelines.utils.blocks import VideoUpsampler
from ltx_pipelines.utils.constants import DISTILLED_SIGMAS, STAGE_2_DISTILLED_SIGMAS
from ltx_pipelines.utils.denoisers import SimpleDenoiser
from ltx_pipelines.utils.types import ModalitySpec
ctx = [t("ctx_0"), t("ctx_1")]
noiser = ReplayNoiser()
loras = [[I["lora"], 1.0]]


def audio_reference(latent, out=None):
    patch, pos = patchify_dubit_audio_reference_latent(latent, negative_positions=True, device=CPU)
    if out:
        O[out + "_tokens"], O[out + "_positions"] = patch, pos
    return [AudioConditionByReferenceLatent(patch, pos, strength=1.0)]


size = dict(frames=I["frames"], fps=I["fps"])
with torch.no_grad():
    v, a = stage(I["checkpoint"], loras)(
        denoiser=SimpleDenoiser(ctx[0], ctx[1]), sigmas=DISTILLED_SIGMAS.float(), noiser=noiser,
        width=I["width"] // 2, height=I["height"] // 2,
        video=ModalitySpec(context=ctx[0], conditionings=items("s1_items")),
        audio=ModalitySpec(context=ctx[1], conditionings=audio_reference(t("voice"), "voice")), **size)
    s1_audio = a.latent.clone()
    up = VideoUpsampler(I["video_vae"], I["upsampler"], F32, CPU)(v.latent[:1])
    sigmas = STAGE_2_DISTILLED_SIGMAS.float()
    v, _ = stage(I["checkpoint"], loras)(
        denoiser=SimpleDenoiser(ctx[0], ctx[1]), sigmas=sigmas, noiser=noiser, width=I["width"],
        height=I["height"],
        video=ModalitySpec(context=ctx[0], conditionings=items("s2_items"), noise_scale=sigmas[0].item(),
                           initial_latent=up),
        audio=ModalitySpec(context=ctx[1], conditionings=audio_reference(s1_audio), frozen=True, noise_scale=0.0,
                           initial_latent=s1_audio), **size)
assert not noiser.queue, len(noiser.queue)
O["video"], O["audio"] = v.latent, s1_audio
'''
SCRIPT = HEAD + PROMPTS + BODY


def tone(seconds: float) -> np.ndarray:
    """A voice stand-in: two partials with a slow amplitude wobble, stereo float32."""
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = 0.25 * (1.2 + np.sin(2 * np.pi * 3.0 * t))
    return np.stack([envelope * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0)]).astype(np.float32)


def write_clip(path, frames: int, width: int = 136, height: int = 72, audio: bool = True, seed: int = 3):
    rng = np.random.default_rng(seed)
    pixels = (rng.random((frames, height, width, 3)) * 255).astype(np.uint8)
    write_video(path, iter([pixels]), FPS, audio=(tone(frames / FPS + 0.2), RATE) if audio else None)
    return path


def tiny_ic_lora25(path, seed: int = 7, factor: int = 1) -> str:
    """A tiny IC-LoRA for the tiny 2.5 transformer with ``reference_downscale_factor`` in its metadata."""
    from ltx2.loading.checkpoint import save_checkpoint
    from ltx2.tiny.checkpoint import write_tiny_lora_for
    from ltx2.tiny.ltx25 import tiny_ltx25_section

    write_tiny_lora_for(path, tiny_ltx25_section(), seed=seed)
    tensors = mx.load(str(path))
    save_checkpoint(path, tensors, {"what": "tiny Dub-It IC-LoRA stand-in for the tiny LTX-2.5 model",
                                    "reference_downscale_factor": str(factor)})
    return str(path)


def test_audio_reference_item_appends_clean_tokens_before_time_zero():
    """Reference audio tokens go after the target's: zeros as noisy tokens, the latent as clean ones, mask 0, and
    positions on their own grid moved to end 0.04 s before 0 (exact 1.2.0 values: test_dubit_matches_1_2_0)."""
    rng = np.random.default_rng(0)
    voice = rng.standard_normal((1, 8, 13, 16)).astype(np.float32)
    shape = AudioLatentShape.from_video(9, FPS)
    target = initial_audio_state(shape, mx.float32)
    state = AudioReferenceLatent(mx.array(voice)).apply(target, shape)
    n = shape.frames
    assert state.latent.shape == (1, n + 13, 128) and state.attention_mask is None
    assert np.all(np32(state.latent)[:, n:] == 0)
    assert np.all(np32(state.denoise_mask)[:, n:] == 0) and np.all(np32(state.denoise_mask)[:, :n] == 1)
    np.testing.assert_array_equal(np32(state.positions)[:, :, :n], np32(target.positions))
    ref_positions = np32(state.positions)[0, 0, n:]
    assert abs(ref_positions[-1, 1] + 0.04) < 1e-6  # ends 0.04 s before the target starts
    np.testing.assert_allclose(np.diff(ref_positions[1:, 0]), 0.04, atol=1e-6)  # 25 latents per second


@v12.needed
def test_dubit_matches_1_2_0(tiny, tmp_path, monkeypatch):
    """DubItPipeline on the tiny 2.5 files, 128x64 from a 10-frame clip (snapped to 9) with its soundtrack."""
    monkeypatch.setattr(test_pipeline_parity_25, "SCRIPT", SCRIPT)  # its comparison, this reference script
    ref, run = {}, v12.run
    monkeypatch.setattr(v12, "run", lambda script, **inputs: ref.update(run(script, **inputs)) or ref)
    clip = DubItConditioning(str(write_clip(tmp_path / "speaker.mp4", 10)))
    lora = tiny_ic_lora25(tmp_path / "dubit.safetensors")
    models = models25(tiny, loras=((lora, 1.0),))
    assert clip.frames() == 9
    job = Job(models=models, prompt="a woman says: see you tomorrow", negative_prompt="", seed=10, width=128,
              height=64, num_frames=clip.frames(), fps=clip.source.facts.fps, scheduler=DistilledScheduler(stage=1),
              guidance=NoGuidance(), conditioning=clip, pipeline=DubItPipeline())
    DubItPipeline().check_job(models, clip, job.width, job.height, job.num_frames)
    clip.validate(job.num_frames, job.fps)
    result = job.pipeline(job)
    voice = encode_voice(models, *clip.voice(), mx.float32)
    assert job.info["dubit"]["voice_latent_frames"] == voice.shape[2] > AudioLatentShape.from_video(9, FPS).frames

    def stage(prefix, w, h):
        return item_arrays(prefix, clip.reference_items(models, w, h, job.num_frames, 1, mx.float32))

    figures = run_and_compare("2.5 dubit", job, result, negative=False, lora=lora, voice=np32(voice),
                              upsampler=models.spatial_upsampler, **stage("s1_items", 64, 32),
                              **stage("s2_items", 128, 64))
    assert set(figures) == {"video", "audio"}
    ours = AudioReferenceLatent(voice).apply(initial_audio_state(AudioLatentShape.from_video(9, FPS), mx.float32),
                                              AudioLatentShape.from_video(9, FPS))
    n = AudioLatentShape.from_video(9, FPS).frames
    np.testing.assert_array_equal(np32(ours.clean_latent)[:, n:], ref["voice_tokens"])
    np.testing.assert_array_equal(np32(ours.positions)[:, :, n:], ref["voice_positions"])
