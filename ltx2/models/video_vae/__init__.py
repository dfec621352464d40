"""LTX-2 / LTX-2.3 / LTX-2.5 video VAE on MLX (the conv decoder, and LTX-2.5's diffusion decoder), channels-last:
video (B, F, H, W, 3) in [-1, 1], latent (B, F', H', W', C)."""

from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder
from ltx2.models.video_vae.inputs import pixels_from_uint8, pixels_to_uint8
from ltx2.models.video_vae.load import load_video_decoder, load_video_encoder
from ltx2.models.video_vae.resnet import NoiseSource, mlx_noise

__all__ = ["DecoderConfig", "DiffusionDecoderConfig", "DiffusionVideoDecoder", "EncoderConfig", "NoiseSource",
           "VideoDecoder", "VideoEncoder", "load_video_decoder", "load_video_encoder", "mlx_noise",
           "pixels_from_uint8", "pixels_to_uint8"]
