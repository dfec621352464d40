"""Keyframe interpolation (official ``KeyframeInterpolationPipeline``)."""

from __future__ import annotations

from ltx2.conditioning.image import ImageConditioning
from ltx2.conditioning.keyframes import KeyframesConditioning, guiding_items
from ltx2.errors import ConfigError
from ltx2.pipelines.two_stage import TwoStagePipeline


class KeyframeInterpolationPipeline(TwoStagePipeline):
    """``two_stage`` (guided Euler stage 1 at half size, x2 upsampling, stage 2 with the distilled LoRA at
    ``distilled_lora_strength``) with every image appended as keyframe tokens at its frame, frame 0 included (with
    the causal first-frame fix), re-encoded at each stage's size: the model fills in the motion between them.

    Takes ``conditioning=keyframes``, or ``conditioning=image`` (its one image appended the same way, as the
    reference does with a single ``--image``). Without images there is nothing to interpolate: refused (the
    reference would silently run plain two-stage text-to-video)."""

    AUTO_DURATION = False  # the keyframes fix the length (as the official pipeline)
    KEEP_STAGE_1_AUDIO = False  # the official keyframe interpolation keeps stage 2's audio

    def check_conditioning(self, conditioning) -> None:
        if not isinstance(conditioning, (KeyframesConditioning, ImageConditioning)):
            raise ConfigError("conditioning", type(conditioning).__name__,
                                 "pipeline=keyframe_interpolation needs images to interpolate between",
                                 "add conditioning=keyframes 'conditioning.images=[{path: a.png, frame_idx: 0}, "
                                 "{path: b.png, frame_idx: 16}]'")

    def conditioning_items(self, job, width: int, height: int, dtype) -> list:
        return guiding_items(job.conditioning, job.models, width, height, dtype)
