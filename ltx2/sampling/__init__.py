"""Sampling: latent states, sigma schedules, guiders, noisers, diffusion steps, denoisers and loops."""

from ltx2.sampling.denoise import GuidedDenoiser, MultiModalGuidedDenoiser, SimpleDenoiser, modality
from ltx2.sampling.guiders import (
    APGGuider,
    CFGStarGuider,
    MultiModalGuider,
    MultiModalGuiderParams,
    MultiModalGuiderSchedule,
    projection_coef,
)
from ltx2.sampling.latent_state import (
    AudioLatentShape,
    LatentState,
    VideoLatentShape,
    clear_conditioning,
    initial_audio_state,
    initial_video_state,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)
from ltx2.sampling.loops import StepInfo, euler_loop, heun_loop, res2s_loop, seeded_res2s_noise
from ltx2.sampling.noisers import DeterministicNoiser, GaussianNoiser, add_noise
from ltx2.sampling.schedulers import (
    DISTILLED_SIGMA_VALUES,
    STAGE_2_DISTILLED_SIGMA_VALUES,
    DistilledScheduler,
    FixedScheduler,
    LinearQuadraticScheduler,
    LTX2Scheduler,
)
from ltx2.sampling.steps import (
    euler_step,
    heun_step,
    post_process_latent,
    res2s_coefficients,
    res2s_step,
    standardize_noise,
    to_velocity,
)

__all__ = [
    "GuidedDenoiser", "MultiModalGuidedDenoiser", "SimpleDenoiser", "modality",
    "APGGuider", "CFGStarGuider", "MultiModalGuider", "MultiModalGuiderParams",
    "MultiModalGuiderSchedule", "projection_coef",
    "AudioLatentShape", "LatentState", "VideoLatentShape", "clear_conditioning", "initial_audio_state",
    "initial_video_state", "patchify_audio", "patchify_video", "unpatchify_audio", "unpatchify_video",
    "StepInfo", "euler_loop", "heun_loop", "res2s_loop", "seeded_res2s_noise",
    "DeterministicNoiser", "GaussianNoiser", "add_noise",
    "DISTILLED_SIGMA_VALUES", "STAGE_2_DISTILLED_SIGMA_VALUES", "DistilledScheduler", "FixedScheduler",
    "LinearQuadraticScheduler", "LTX2Scheduler",
    "euler_step", "heun_step", "post_process_latent", "res2s_coefficients", "res2s_step", "standardize_noise",
    "to_velocity",
]
