"""End-to-end parity of pipeline=retake and the two-stage pipeline=a2v with ltx-pipelines' own pieces, fp32, on the
same tiny official-format files (see test_pipeline_parity for the method: same prompt contexts, our initial noise
replayed into the reference's noising, final latents compared).

Retake drives the reference's own ``_encode_video_for_retake`` (PyAV decoding of the source file, the video VAE
encoder), ``_encode_audio_for_retake``, ``TemporalRegionMask``, ``noise_video_state`` / ``noise_audio_state``,
``MultiModalGuider`` + ``multi_modal_guider_denoising_func`` (or ``simple_denoising_func`` with
``DISTILLED_SIGMA_VALUES``) and ``euler_denoising_loop``, in RetakePipeline's order.

One thing differs on purpose: the soundtrack's decoding. The reference's ``decode_audio_from_file`` seeks to 0
before decoding, after which libavcodec's AAC decoder returns silence for the first 1024-sample frame and values up
to 8e-4 off afterwards, and it keeps the encoder's padding; we decode like ``ffmpeg -i`` (edit list applied: the
samples that were encoded). The reference audio encoder is therefore given our waveform.
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.model.audio_vae.model_configurator import AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, AudioEncoderConfigurator
from ltx_core.model.upsampler import upsample_video
from ltx_core.types import VideoPixelShape
from ltx_pipelines.retake import TemporalRegionMask, _encode_audio_for_retake, _encode_video_for_retake
from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES
from ltx_pipelines.utils.helpers import (
    denoise_video_only,
    multi_modal_guider_denoising_func,
    noise_audio_state,
    noise_video_state,
    simple_denoising_func,
)
from ltx_pipelines.utils.samplers import euler_denoising_loop
from ltx_pipelines.utils.types import PipelineComponents
from oracles.transformer import load_reference, to_torch
from oracles.vae import _build, reference_encoder, reference_upsampler
from test_pipeline_parity import AUDIO, VIDEO, ReplayNoiser, compare, contexts, make_job, simple_loop

from ltx2.conditioning.audio import AudioConditioning
from ltx2.conditioning.source_video import SourceVideoConditioning
from ltx2.io.media import write_video, write_wav
from ltx2.pipelines.a2v import AudioToVideoPipeline
from ltx2.pipelines.retake import RetakePipeline, encode_audio, encode_video
from ltx2.sampling.latent_state import AudioLatentShape

CPU, F32 = torch.device("cpu"), torch.float32
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
    "distilled_no_audio_track": ("silent", 0.0, 0.3, True, True, "distilled"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_retake_matches_reference(tiny, sources, case):
    name, start, end, regen_video, regen_audio, mode = CASES[case]
    source = SourceVideoConditioning(str(sources[name]), start, end, regen_video, regen_audio)
    job = make_job(tiny, RetakePipeline(mode=mode), source, width=WIDTH, height=HEIGHT, num_frames=FRAMES, fps=FPS)
    result = job.pipeline(job)
    guided = mode == "guided"
    ctx = contexts(job, negative=guided)
    checkpoint = Path(job.models.checkpoint)
    shape = VideoPixelShape(batch=1, frames=FRAMES, width=WIDTH, height=HEIGHT, fps=FPS)
    components = PipelineComponents(dtype=F32, device=CPU)
    transformer = load_reference(job.models.checkpoint)
    noiser = ReplayNoiser(result.noise)
    with torch.no_grad():
        video_latent = _encode_video_for_retake(reference_encoder(checkpoint), str(source.path), shape, F32, CPU)
        track = source.waveform()
        audio_latent, audio_items = None, []
        if track is not None:
            audio_encoder = _build(AudioEncoderConfigurator, checkpoint, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER)
            audio_latent = _encode_audio_for_retake(audio_encoder, torch.from_numpy(track[0]), track[1], shape, F32)
            audio_items = [TemporalRegionMask(start if regen_audio else 0.0, end if regen_audio else 0.0, FPS)]
        video_items = [TemporalRegionMask(start if regen_video else 0.0, end if regen_video else 0.0, FPS)]
        video, video_tools = noise_video_state(shape, noiser, video_items, components, F32, CPU,
                                               initial_latent=video_latent)
        audio, audio_tools = noise_audio_state(shape, noiser, audio_items, components, F32, CPU,
                                               initial_latent=audio_latent)
        if guided:
            v_pos, a_pos, v_neg, a_neg = ctx
            fn = multi_modal_guider_denoising_func(MultiModalGuider(MultiModalGuiderParams(**VIDEO), v_neg),
                                                   MultiModalGuider(MultiModalGuiderParams(**AUDIO), a_neg),
                                                   v_pos, a_pos, transformer)
            sigmas = to_torch(job.scheduler.sigmas())
        else:
            fn = simple_denoising_func(ctx[0], ctx[1], transformer)
            sigmas = torch.tensor(DISTILLED_SIGMA_VALUES)
        video, audio = euler_denoising_loop(sigmas, video, audio, EulerDiffusionStep(), fn)
        video = video_tools.unpatchify(video_tools.clear_conditioning(video))
        audio = audio_tools.unpatchify(audio_tools.clear_conditioning(audio))
    assert not noiser.queue
    compare(f"retake {case}", result.latents, video.latent, audio.latent)

    # what is outside the range (or not regenerated) leaves the loop as the source's own latent (our encoding)
    ours_video = np.moveaxis(np.array(result.latents["video"]), -1, 1)  # (1, C, F', H', W')
    source_video = np.array(encode_video(job.models, source.pixels(), mx.float32))
    spans = [(max(8 * f - 7, 0) / FPS, (8 * f + 1) / FPS) for f in range(ours_video.shape[2])]  # latent frames
    kept_frames = [f for f, (a, b) in enumerate(spans) if not (regen_video and b > start and a < end)]
    assert kept_frames and len(kept_frames) < ours_video.shape[2]
    assert np.array_equal(ours_video[:, :, kept_frames], source_video[:, :, kept_frames])
    changed = [f for f in range(ours_video.shape[2]) if f not in kept_frames]
    assert np.abs(ours_video[:, :, changed] - source_video[:, :, changed]).max() > 0.1
    ours_audio = np.array(result.latents["audio"])
    if audio_latent is not None and not regen_audio:
        source_audio = encode_audio(job.models, *track, AudioLatentShape.from_video(FRAMES, FPS), mx.float32)
        assert np.array_equal(ours_audio, np.array(source_audio))
    if audio_latent is None:  # no track: the whole soundtrack was generated
        assert job.info["source_has_audio"] is False and np.abs(ours_audio).max() > 0.1


def test_a2v_two_stage_matches_reference(tiny, tmp_path):
    """A2VidPipelineTwoStage: stage 1 at half size (``denoise_video_only``: audio noised at scale 0, mask 0),
    video guided, audio not; x2 upsampler; stage 2 with the distilled LoRA, re-noised to 0.909375, audio still
    frozen; the encoded audio latent comes out unchanged and the track is the original waveform."""
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1.0), RATE)
    job = make_job(tiny, AudioToVideoPipeline(), AudioConditioning(str(wav)), width=WIDTH, height=HEIGHT,
                   num_frames=9, fps=FPS)
    result = job.pipeline(job)
    ctx = contexts(job, negative=True)
    encoded = AudioToVideoPipeline._encode(job.models, *job.conditioning.waveform(9 / FPS),
                                           AudioLatentShape.from_video(9, FPS), mx.float32)
    audio_latent = to_torch(encoded)
    stage_1 = load_reference(job.models.checkpoint)
    stage_2 = load_reference(job.models.checkpoint, loras=[(job.models.distilled_lora, 1.0)])
    encoder = reference_encoder(Path(job.models.checkpoint))
    upsampler = reference_upsampler(Path(job.models.spatial_upsampler))
    components = PipelineComponents(dtype=F32, device=CPU)
    noiser = ReplayNoiser(result.noise)
    v_pos, a_pos, v_neg, _ = ctx

    def stage_1_loop(sigmas, video, audio, stepper):
        fn = multi_modal_guider_denoising_func(MultiModalGuider(MultiModalGuiderParams(**VIDEO), v_neg),
                                               MultiModalGuider(MultiModalGuiderParams()), v_pos, a_pos, stage_1)
        return euler_denoising_loop(sigmas, video, audio, stepper, fn)

    with torch.no_grad():
        half = VideoPixelShape(batch=1, frames=job.num_frames, height=HEIGHT // 2, width=WIDTH // 2, fps=FPS)
        video = denoise_video_only(half, [], noiser, to_torch(job.scheduler.sigmas()), EulerDiffusionStep(),
                                   stage_1_loop, components, F32, CPU, initial_audio_latent=audio_latent)
        up = upsample_video(latent=video.latent[:1], video_encoder=encoder, upsampler=upsampler)
        full = VideoPixelShape(batch=1, frames=job.num_frames, height=HEIGHT, width=WIDTH, fps=FPS)
        sigmas = torch.tensor(STAGE_2_DISTILLED_SIGMA_VALUES)
        video = denoise_video_only(full, [], noiser, sigmas, EulerDiffusionStep(), simple_loop(stage_2, ctx),
                                   components, F32, CPU, noise_scale=sigmas[0], initial_video_latent=up,
                                   initial_audio_latent=audio_latent)
    assert not noiser.queue
    compare("a2v two-stage", result.latents, video.latent, audio_latent)
    assert np.array_equal(np.array(result.latents["audio"]), np.array(encoded))  # frozen in both stages
    waveform, rate = result.audio
    assert rate == RATE and np.abs(waveform - tone(1.0)[:, : waveform.shape[1]]).max() <= 2 / 32767
