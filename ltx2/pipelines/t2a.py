"""Text-to-audio (official ``T2AOneStagePipeline``, ltx-pipelines 1.2.0): sound only, no picture."""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import mlx.core as mx
from omegaconf import DictConfig, OmegaConf

from ltx2.errors import ConfigError
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.sampling.guiders import MultiModalGuiderParams
from ltx2.sampling.latent_state import AudioLatentShape, initial_audio_state, unpatchify_audio

NAME = "pipeline=t2a"


class TextToAudioPipeline:
    """1. encode the prompts (audio contexts only are used)  2. sigmas from the scheduler  3. noise the audio
    latent of ``num_frames / fps`` seconds (the only draw: there is no video state)  4. load the audio-only
    transformer (the audio stream's weights; video and audio-video weights are never read)  5. denoise with
    Euler and the guider's AUDIO values (``guider.audio.*``: CFG, STG, rescale, skip step; the modality term is
    off, ``modality_scale`` 1, as the reference: there is no video to couple to)  6. decode the audio latent
    (audio VAE + vocoder) -> ``audio.wav``. No video is decoded or written. ``num_frames`` and ``fps`` only set
    the duration; ``num_frames=auto`` predicts it from the audio context (LTX-2.5's duration head)."""

    AUTO_DURATION = True
    AUDIO_ONLY = True  # the run's output is audio.wav; the duration head reads the audio context alone
    RESOLUTION_MULTIPLE = 32  # no picture: width and height are not used (and may not be given)

    def phases(self) -> Phases:
        return Phases((Stage("denoise"),), audio_only=True)

    # -- checks before any weight loads --------------------------------------------------------------------------
    def check_conditioning(self, conditioning) -> None:
        name = type(conditioning).__name__
        if name != "NoConditioning":
            # its option name: ReferenceVideoConditioning -> reference_video
            option = getattr(conditioning, "GROUP_OPTION", None) or re.sub(
                r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Conditioning")).lower()
            raise ConfigError("conditioning", option, f"{NAME} makes sound from text alone, so a conditioning "
                              "input would have no effect", "remove the conditioning (conditioning=none)")

    def check_request(self, job: Job, cfg: DictConfig) -> None:
        """Options a text-to-audio run would ignore or contradict."""
        from ltx2.sampling.guidance import MultiModal, NoGuidance

        raw = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
        for key in ("width", "height"):
            if raw.get(key) != f"${{model.suggested.{key}}}":
                raise ConfigError(key, cfg[key], f"{NAME} makes no picture, so a {key} would have no effect",
                                  f"remove {key}= (and size=); num_frames and fps set the sound's duration")
        if not job.audio_enabled:
            raise ConfigError("audio.enabled", False, f"{NAME} makes only sound", "remove audio.enabled=false")
        previews = OmegaConf.select(cfg, "output.previews", default=0)
        if previews:
            raise ConfigError("output.previews", previews, f"{NAME} has no video latent to preview",
                              "remove output.previews (or set it to 0)")
        if not isinstance(job.guidance, (MultiModal, NoGuidance)):
            option = getattr(job.guidance, "option", type(job.guidance).__name__)
            raise ConfigError("guider", option, f"{NAME} guides the audio with the guider's audio values, and "
                              f"guider={option} has one scale for both modalities",
                              "use guider=multimodal (or cfg, stg, hq, none) and set guider.audio.*")

    def check_job(self, models, conditioning, width: int, height: int, num_frames: int) -> None:
        """An audio-video transformer of LTX-2.3 or later, an audio VAE and a vocoder."""
        section = models.files.config("transformer")
        if not models.has_audio() or "model.diffusion_model.audio_patchify_proj.weight" not in \
                models.files.header("transformer").tensors:
            raise ConfigError("model", models.name, f"{NAME} needs an audio-video model (audio transformer "
                              "weights, an audio VAE and a vocoder)", "use an LTX-2.3 or LTX-2.5 model")
        if not section.get("caption_proj_before_connector", False):
            raise ConfigError("model", models.name, f"{NAME} needs an LTX-2.3 or LTX-2.5 transformer: the "
                              "reference's audio-only model (ltx-pipelines 1.2.0) does not load an LTX-2 (19B) "
                              "file's audio caption projection",
                              "use model=ltx2_3_22b_dev or model=ltx2_5_22b_dev (model=tiny or tiny25 to try it)")

    # -- the run ---------------------------------------------------------------------------------------------------
    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        guidance = audio_guidance(job.guidance)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=guidance.needs_negative)
        sigmas = job.scheduler.sigmas()
        noiser = common.make_noiser(job)
        audio_shape = AudioLatentShape.from_video(job.num_frames, job.fps)
        audio = noiser(initial_audio_state(audio_shape, dtype), 1.0)
        with job.phase("load_transformer"):
            transformer = models.transformer(audio_only=True)
        positive, negative = prompts.positive, prompts.negative
        denoiser = guidance.denoiser(transformer, None, positive.audio, None,
                                     negative.audio if negative else None)
        with job.phase("denoise"):
            _, audio = common.run_loop("euler", sigmas, None, audio, denoiser, "denoise")
        latent = unpatchify_audio(audio.latent, audio_shape)
        mx.eval(latent)
        del transformer, denoiser
        return common.PipelineResult(frames=None, latents={"audio": latent}, noise=common.noise_record(noiser),
                                     audio=common.decode_audio(job, latent))


def audio_guidance(guidance):
    """The guider with no video values (the positive-only guider of an absent modality) and the audio modality
    term off (``modality_scale`` 1), as T2AOneStagePipeline builds its audio guider."""
    if not hasattr(guidance, "audio") or not hasattr(guidance, "video"):
        return guidance
    out = copy.copy(guidance)
    out.video = MultiModalGuiderParams()
    out.audio = replace(guidance.audio, modality_scale=1.0)
    return out

