"""End-to-end parity of pipeline=retake and the two-stage pipeline=a2v with the official ltx-pipelines 1.2.0
ones, float32, on the tiny LTX-2.3 files (the method and the reference script: test_pipeline_parity_v12.py).

Both use frozen streams, which 1.2.0 changed (sigma 0 for the transformer; a retake's kept modality is noised
whole, then frozen) as well as the AV cross-attention AdaLN inputs for the conditioned tokens (retake's kept time
ranges), so there is no 1.0.0 counterpart any more. The initial latents are the source's, from our encoders (their
parity: the VAE tests); the 1.2.0 side runs ``TemporalRegionMask`` and ``ModalitySpec(frozen=...)``.
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import np32
from test_pipeline_parity import make_job
from test_pipeline_parity_v12 import contexts, run_and_compare, two_stage_inputs

from ltx2.conditioning.audio import AudioConditioning
from ltx2.conditioning.source_video import SourceVideoConditioning
from ltx2.io.media import write_video, write_wav
from ltx2.pipelines.a2v import AudioToVideoPipeline
from ltx2.pipelines.retake import RetakePipeline, encode_audio, encode_video
from ltx2.sampling.latent_state import AudioLatentShape
from ltx2.sampling.schedulers import DistilledScheduler

FRAMES, HEIGHT, WIDTH, FPS, RATE = 17, 64, 128, 24.0, 48000


def source_frames(frames: int = FRAMES) -> np.ndarray:
    """(F, H, W, 3) uint8: moving gradients (compress well, so the decoded clip is close to what was written)."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return np.stack([np.stack([(2 * xx + 8 * f) % 256, (4 * yy) % 256, np.full_like(xx, 15 * f % 256)], -1)
                     for f in range(frames)]).astype(np.uint8)


def tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in (440.0, 660.0)]).astype(np.float32)


def write_source(path: Path, audio: bool = True) -> Path:
    write_video(path, [source_frames()], FPS, audio=(tone(FRAMES / FPS), RATE) if audio else None)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {"with_audio": write_source(folder / "clip.mp4"), "silent": write_source(folder / "mute.mp4", False)}


CASES = {  # name: (source, start, end, regenerate_video, regenerate_audio, mode)
    "video+audio": ("with_audio", 0.2, 0.5, True, True, "guided"),
    "video_only": ("with_audio", 0.3, 0.7, True, False, "guided"),
    "audio_only": ("with_audio", 0.2, 0.5, False, True, "distilled"),
    "distilled_no_audio_track": ("silent", 0.0, 0.3, True, True, "distilled"),
}


@v12.needed
@pytest.mark.parametrize("case", [c if c == "video+audio" else pytest.param(c, marks=pytest.mark.slow) for c in CASES])
def test_retake_matches_1_2_0(tiny, sources, case):
    """RetakePipeline: one stage at the source's size; TemporalRegionMask on each regenerated modality, a modality
    kept as it is frozen; guided (static guiders, LTX2Scheduler) or distilled (8 sigmas, simple denoiser). Then:
    what is outside the range leaves the loop as the source's own latent, a frozen modality too (up to the last
    Euler step's rounding), and a source without a track gets its whole soundtrack generated."""
    name, start, end, regen_video, regen_audio, mode = CASES[case]
    source = SourceVideoConditioning(str(sources[name]), start, end, regen_video, regen_audio)
    job = make_job(tiny, RetakePipeline(mode=mode), source, width=WIDTH, height=HEIGHT, num_frames=FRAMES, fps=FPS)
    result = job.pipeline(job)
    guided = mode == "guided"
    track = source.waveform()
    source_video = np32(encode_video(job.models, source.pixels(), mx.float32))  # (1, C, F', H', W')
    inputs = dict(video_initial=source_video, s1_video_region=[start, end] if regen_video else None,
                  s1_video_frozen=int(not regen_video))
    source_audio = None
    if track is not None:
        source_audio = np32(encode_audio(job.models, *track, AudioLatentShape.from_video(FRAMES, FPS), mx.float32))
        inputs.update(audio_initial=source_audio, s1_audio_region=[start, end] if regen_audio else None,
                      s1_audio_frozen=int(not regen_audio))
    sigmas = job.scheduler.sigmas() if guided else DistilledScheduler(stage=1).sigmas()
    run_and_compare(f"retake {case}", job, result, **contexts(job, negative=guided), **inputs,
                    s1_denoiser="static" if guided else "simple", s1_sigmas=np32(sigmas), s1_width=WIDTH,
                    s1_height=HEIGHT)

    ours_video = np.moveaxis(np32(result.latents["video"]), -1, 1)
    spans = [(max(8 * f - 7, 0) / FPS, (8 * f + 1) / FPS) for f in range(ours_video.shape[2])]  # latent frames
    kept = [f for f, (a, b) in enumerate(spans) if not (regen_video and b > start and a < end)]
    changed = [f for f in range(ours_video.shape[2]) if f not in kept]
    assert kept
    if regen_video:
        assert np.array_equal(ours_video[:, :, kept], source_video[:, :, kept])
        assert changed and np.abs(ours_video[:, :, changed] - source_video[:, :, changed]).max() > 0.1
    else:  # frozen: noised whole, brought back by the Euler steps
        assert np.abs(ours_video - source_video).max() <= 1e-5
    ours_audio = np32(result.latents["audio"])
    if source_audio is not None and not regen_audio:
        assert np.abs(ours_audio - source_audio).max() <= 1e-5
    if source_audio is None:  # no track: the whole soundtrack was generated
        assert job.info["source_has_audio"] is False and np.abs(ours_audio).max() > 0.1


@v12.needed
def test_a2v_matches_1_2_0(tiny, tmp_path):
    """A2VidPipelineTwoStage: the encoded audio frozen in both stages (sigma 0 for the transformer, noise scale
    0), stage 1 guided video and no audio guidance (GuidedDenoiser, no audio negative context), x2 upsampler,
    stage 2 with the distilled LoRA; the audio latent comes out unchanged and the track is the original waveform."""
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1.0), RATE)
    job = make_job(tiny, AudioToVideoPipeline(), AudioConditioning(str(wav)), width=WIDTH, height=HEIGHT,
                   num_frames=9, fps=FPS)
    result = job.pipeline(job)
    encoded = np32(AudioToVideoPipeline._encode(job.models, *job.conditioning.waveform(9 / FPS),
                                                AudioLatentShape.from_video(9, FPS), mx.float32))
    ctx = contexts(job, negative=True)
    ctx.pop("ctx_3")  # the audio guider has no negative context
    run_and_compare("a2v two-stage", job, result, **ctx,
                    **two_stage_inputs(job, "static", job.scheduler.sigmas(), lambda w, h: []),
                    audio=dict(), audio_initial=encoded, s1_audio_frozen=1, s1_audio_noise_scale=0.0,
                    s2_audio_frozen=1, s2_loras=[[job.models.distilled_lora, 1.0]])
    assert np.array_equal(np32(result.latents["audio"]), encoded)  # frozen in both stages
    waveform, rate = result.audio
    assert rate == RATE and np.abs(waveform - tone(1.0)[:, : waveform.shape[1]]).max() <= 2 / 32767
