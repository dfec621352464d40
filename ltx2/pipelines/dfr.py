"""Detail-fidelity rendering (``pipeline=dfr``, official ltx-pipelines 1.2.0 ``DFRPipeline``), LTX-2.5.

The request's frame count is padded up to a canvas of whole 24- or 32-frame segments (ltx2/pipelines/dfr_layout.py)
with a generated keyframe slot at every segment end. Stage 1 at half size: 8 distilled sigmas, plain Euler,
positive prompt only, the distilled LoRA fused; video, audio and the slots are generated together. The video and
the slots are upsampled x2 (spatial upsampler); stage 2 at full size re-noises video, slots and audio to 0.909375
and refines them with the last 3 distilled sigmas, with the detailing IC-LoRA fused when given (then the half-size
video is appended as its reference latent). Each of ``temporal_upsample_rounds`` (0-2; ltx2/pipelines/dfr_rounds.py)
doubles the frame rate: temporal x2 upsampler, then the canvas in 2**round keyframe-seam tiles re-denoised with
ancestral Euler. The video is cut back to ``(num_frames - 1) * 2**rounds + 1`` frames at ``fps * 2**rounds`` (the
job's ``num_frames`` and ``fps`` are set to those, the run writes and records them); the audio is stage 1's, fitted
to the video's duration.
"""

from __future__ import annotations

from dataclasses import replace

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.pipelines import common
from ltx2.pipelines import dfr_layout as layout
from ltx2.pipelines.contract import Job, Phases, Stage
from ltx2.pipelines.dfr_latents import clean, slots_item, upsample
from ltx2.pipelines.dfr_rounds import temporal_rounds
from ltx2.pipelines.two_stage import lora_strength
from ltx2.sampling.denoise import SimpleDenoiser
from ltx2.sampling.latent_state import VideoLatentShape, unpatchify_audio
from ltx2.sampling.schedulers import DistilledScheduler

DETAILING_DEFAULT_DOWNSCALE = 2  # the detailing LoRA's reference scale when its file does not say


class DFRPipeline:
    """See the module docstring. ``detailing_lora``: the x2 spatial detailing IC-LoRA file (optional) at
    ``detailing_lora_strength``; ``distilled_lora_strength``: model.distilled_lora's, in every stage."""

    AUTO_DURATION = True  # num_frames=auto: the duration head predicts the length (the canvas pads it)
    RESOLUTION_MULTIPLE = 64
    MAX_ROUNDS = 2

    def __init__(self, temporal_upsample_rounds: int = 0, detailing_lora: str | None = None,
                 detailing_lora_strength: float = 1.0, distilled_lora_strength: float = 1.0):
        rounds = temporal_upsample_rounds
        if isinstance(rounds, bool) or not isinstance(rounds, int) or not 0 <= rounds <= self.MAX_ROUNDS:
            raise ConfigError("pipeline.temporal_upsample_rounds", rounds, f"must be 0, 1 or {self.MAX_ROUNDS} (each "
                              "round doubles the frame rate)", "set pipeline.temporal_upsample_rounds=0, 1 or 2")
        self.rounds = rounds
        self.detailing_lora = str(detailing_lora) if detailing_lora else None
        self.detailing_strength = lora_strength("detailing_lora_strength", detailing_lora_strength, "1.0")
        self.distilled_strength = lora_strength("distilled_lora_strength", distilled_lora_strength, "1.0")

    def phases(self) -> Phases:
        rounds = tuple(Stage(f"temporal_round_{r}", 1.0, guided=False, distilled_lora=True)
                       for r in range(1, self.rounds + 1))
        return Phases((Stage("denoise_stage_1", 0.5, guided=False, distilled_lora=True),
                       Stage("denoise_stage_2", 1.0, guided=False, distilled_lora=True, upsampled=True), *rounds))

    # -- checks before loading ------------------------------------------------------------------------------------
    def check_conditioning(self, conditioning) -> None:
        from ltx2.conditioning.image import ImageConditioning, NoConditioning
        from ltx2.conditioning.keyframes import KeyframesConditioning

        if not isinstance(conditioning, (NoConditioning, ImageConditioning, KeyframesConditioning)):
            raise ConfigError("conditioning", getattr(conditioning, "GROUP_OPTION", type(conditioning).__name__),
                              "pipeline=dfr takes text, one image or keyframe images (it places its own keyframe "
                              "slots)", "use conditioning=none, image or keyframes")

    def check_job(self, models, conditioning, width: int, height: int, num_frames: int) -> None:
        from ltx2.conditioning.keyframe_slots import EMBEDDING_KEY
        from ltx2.experiment.validation import check_file

        value = models.files.config("transformer").get(EMBEDDING_KEY, False)
        if value is not True:
            version = models.files.header("transformer").model_version
            raise ConfigError("model", f"{models.name} (model_version {version})", "pipeline=dfr generates keyframe "
                              f"slots, which need a model with the keyframe embedding ({EMBEDDING_KEY}: LTX-2.5)",
                              f"set model={'tiny25' if models.name.startswith('tiny') else 'ltx2_5_22b_distilled'}")
        if self.rounds and not models.component_files.get("temporal_upsampler"):
            raise ConfigError("model.temporal_upsampler", None, f"pipeline.temporal_upsample_rounds={self.rounds} "
                              "needs the temporal x2 latent upsampler", "set model.temporal_upsampler=/path/to/"
                              "ltx-2.5-latent-temporal-upscaler-x2.safetensors, or temporal_upsample_rounds=0")
        if self.detailing_lora:
            check_file("pipeline.detailing_lora", self.detailing_lora, "the detailing LoRA",
                       "point pipeline.detailing_lora at the x2 detailing IC-LoRA file, or set it to null")
        if isinstance(num_frames, int):
            layout.canvas(num_frames)  # 8k + 1 frames, checked by the request already

    # -- the run --------------------------------------------------------------------------------------------------
    def __call__(self, job: Job) -> common.PipelineResult:
        models, dtype = job.models, common.compute_dtype(job.models)
        with job.phase("text_encoding"):
            prompts = common.encode_prompts(job, negative=False)
        context = prompts.positive
        noiser = common.make_noiser(job)
        requested, fps = job.num_frames, job.fps
        frames, _, positions = layout.canvas(requested)
        canvas = replace(job, num_frames=frames)
        job.info["dfr"] = {"canvas_frames": frames, "keyframes": list(positions)}
        distilled = ((models.distilled_lora, self.distilled_strength),)

        # Stage 1: half size, full noise, the keyframe slots appended.
        half = VideoLatentShape.from_pixels(frames, job.height // 2, job.width // 2)
        with job.phase("conditioning"):
            items = job.conditioning.items(models, job.width // 2, job.height // 2, dtype)
        video, audio, audio_shape = common.initial_states(canvas, half, dtype, noiser,
                                                          [*items, slots_item(positions)])
        with job.phase("load_transformer"):
            denoiser = SimpleDenoiser(models.transformer(extra_loras=distilled), context.video, context.audio)
        with job.phase("denoise_stage_1"):
            video, audio = common.run_loop("euler", DistilledScheduler(stage=1).sigmas(), video, audio, denoiser,
                                           "stage 1")
        half_video, half_slots = clean(video, half)
        audio_latent = unpatchify_audio(audio.latent, audio_shape)
        mx.eval(half_video, half_slots, audio_latent)
        del denoiser

        # Stage 2: full size from the upsampled video and slots, the detailing LoRA and its reference if given.
        with job.phase("upsample"):
            video_latent, slots = upsample(models, half_video, dtype), upsample(models, half_slots, dtype)
            mx.eval(video_latent, slots)
        full = VideoLatentShape.from_pixels(frames, job.height, job.width)
        with job.phase("conditioning"):
            items = [*job.conditioning.items(models, job.width, job.height, dtype), slots_item(positions, slots)]
            if self.detailing_lora:
                from ltx2.conditioning.reference_latent import ReferenceLatent

                items.append(ReferenceLatent(half_video, 1.0, detailing_downscale(self.detailing_lora)))
        sigmas = DistilledScheduler(stage=2).sigmas()
        video, audio_2, _ = common.initial_states(canvas, full, dtype, noiser, items, noise_scale=float(sigmas[0]),
                                                  video_latent=video_latent, audio_latent=audio_latent)
        detailing = ((self.detailing_lora, self.detailing_strength),) if self.detailing_lora else ()
        with job.phase("load_transformer_stage_2"):
            denoiser = SimpleDenoiser(models.transformer(extra_loras=distilled + detailing), context.video,
                                      context.audio)
        with job.phase("denoise_stage_2"):
            video, _ = common.run_loop("euler", sigmas, video, audio_2, denoiser, "stage 2")  # its audio: dropped
        video_latent, keyframes = clean(video, full)
        mx.eval(video_latent, keyframes)
        del denoiser

        if self.rounds:
            video_latent, frames = temporal_rounds(job, video_latent, keyframes, positions, frames, self.rounds,
                                                   noiser, context, distilled, dtype)
        # The canvas padded the tail: keep (requested - 1) * 2**rounds + 1 frames (whole latent frames).
        target = (requested - 1) * 2**self.rounds + 1
        video_latent = video_latent[:, :, : (target - 1) // layout.TEMPORAL_SCALE + 1].transpose(0, 2, 3, 4, 1)
        mx.eval(video_latent)
        job.num_frames, job.fps = target, fps * 2**self.rounds  # what the run writes and records
        job.info["dfr"].update(frames=target, fps=job.fps, temporal_upsample_rounds=self.rounds)
        if job.record is not None:
            job.record.set(dfr=job.info["dfr"])
        return common.PipelineResult(frames=common.decoder_frames(job, video_latent),
                                     latents={"video": video_latent, "audio": audio_latent},
                                     noise=common.noise_record(noiser), audio=common.decode_audio(job, audio_latent),
                                     info=job.info["dfr"])


def detailing_downscale(path: str) -> int:
    """The detailing LoRA's ``reference_downscale_factor`` metadata, 2 when it has none (as 1.2.0)."""
    from ltx2.loading.checkpoint import read_header
    from ltx2.pipelines.ic_lora import METADATA_KEY, lora_downscale_factor

    return lora_downscale_factor(path) if METADATA_KEY in read_header(path).metadata else DETAILING_DEFAULT_DOWNSCALE
