"""Every tiny LTX-2.5 codec-side file at once, in the official split layout, for assembling a tiny LTX-2.5 model:
the video VAE with the diffusion decoder (the official default, 3x3x3 kernels to keep it fast) and its
conv-decoder sibling, the audio VAE (+ BWE vocoder), both latent upsamplers and the duration head. Latent widths
match the tiny transformer (128 video and audio channels; connector widths 32 / 16)."""

from __future__ import annotations

import os
from pathlib import Path

from ltx2.tiny.audio_vae25 import write_tiny_audio_vae25
from ltx2.tiny.diffusion_vae import SMALL_KERNELS, write_tiny_video_vae25_full
from ltx2.tiny.duration_head import write_tiny_duration_head
from ltx2.tiny.upsampler25 import write_tiny_upsampler25
from ltx2.tiny.video_vae25 import write_tiny_video_vae25

FILES = {  # component -> file name (the official names with "tiny-" in front)
    "video_vae": "tiny-ltx-2.5-video-vae.safetensors",
    "audio_vae": "tiny-ltx-2.5-audio-vae.safetensors",
    "spatial_upsampler": "tiny-ltx-2.5-latent-spatial-upscaler-x2.safetensors",
    "temporal_upsampler": "tiny-ltx-2.5-latent-temporal-upscaler-x2.safetensors",
    "duration_head": "tiny-ltx-2.5-duration-head.safetensors",
}
CONV_VIDEO_VAE = "tiny-ltx-2.5-video-vae-conv.safetensors"  # the conv-decoder sibling (its own random weights)


def write_tiny_codecs25(folder: str | os.PathLike, seed: int = 0, video_geometry: str = "32x32x8",
                        video_dim: int = 32, audio_dim: int = 16) -> dict[str, Path]:
    """Write the files into ``folder``; returns ``{component: path}`` (``video_dim`` / ``audio_dim``: the
    transformer's connector widths, which the duration head reads); the conv-decoder sibling is written too."""
    folder = Path(folder)
    write_tiny_video_vae25(folder / CONV_VIDEO_VAE, video_geometry, seed)
    return {
        "video_vae": write_tiny_video_vae25_full(folder / FILES["video_vae"], seed, video_geometry, **SMALL_KERNELS),
        "audio_vae": write_tiny_audio_vae25(folder / FILES["audio_vae"], seed),
        "spatial_upsampler": write_tiny_upsampler25(folder / FILES["spatial_upsampler"], "spatial-x2", seed),
        "temporal_upsampler": write_tiny_upsampler25(folder / FILES["temporal_upsampler"], "temporal-x2", seed),
        "duration_head": write_tiny_duration_head(folder / FILES["duration_head"], seed, video_dim=video_dim,
                                                  audio_dim=audio_dim),
    }
