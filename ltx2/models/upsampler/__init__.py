"""LTX-2 latent upsamplers (spatial x2, rational x1.5, temporal x2) on MLX, channels-last latents."""

from ltx2.models.upsampler.config import UpsamplerConfig
from ltx2.models.upsampler.load import load_latent_statistics, load_upsampler
from ltx2.models.upsampler.model import LatentUpsampler, upsample_latent

__all__ = ["LatentUpsampler", "UpsamplerConfig", "load_latent_statistics",
           "load_upsampler", "upsample_latent"]
