"""Two-stage text/image-to-video, high quality (official ``TI2VidTwoStagesHQPipeline``)."""

from __future__ import annotations

import mlx.core as mx

from ltx2.pipelines.two_stage import TwoStagePipeline, lora_strength
from ltx2.sampling.latent_state import VideoLatentShape
from ltx2.sampling.schedulers import LTX2Scheduler


class TwoStageHQPipeline(TwoStagePipeline):
    """Stage 1 at half size with the distilled LoRA at ``distilled_lora_strength_stage_1`` fused on top of the
    selected LoRAs: the ``scheduler``'s sigmas (an LTX2Scheduler is shifted by the stage-1 latent's token count,
    as the reference does here only), the ``guider``'s guidance (official: ``guider=hq``), res_2s. Upsample the
    video latent x2. Stage 2 at full size with the distilled LoRA at ``distilled_lora_strength_stage_2``: video and
    audio re-noised to 0.909375 and refined by res_2s over the last 3 distilled sigmas, positive prompt only.

    The res_2s SDE noise comes from fixed seeds in each stage, as in the reference (its own generators, seeded
    -1 / 9999 whatever the run's seed; ours: MLX keys 0 / 10000), so it does not follow ``seed``."""

    SAMPLER = "res2s"

    def __init__(self, distilled_lora_strength_stage_1: float = 0.25, distilled_lora_strength_stage_2: float = 0.5):
        self.strength_1 = lora_strength("distilled_lora_strength_stage_1", distilled_lora_strength_stage_1, "0.25")
        self.strength_2 = lora_strength("distilled_lora_strength_stage_2", distilled_lora_strength_stage_2, "0.5")

    def stage_1_sigmas(self, job, half: VideoLatentShape) -> mx.array:
        return stage_1_sigmas(job.scheduler, half)


def stage_1_sigmas(scheduler, half: VideoLatentShape) -> mx.array:
    """An LTX2Scheduler without its own ``tokens`` is shifted by the stage-1 latent's token count (F' H' W');
    any other scheduler gives its usual sigmas."""
    if isinstance(scheduler, LTX2Scheduler) and scheduler.tokens is None:
        return scheduler.sigmas(tokens=half.tokens)
    return scheduler.sigmas()
