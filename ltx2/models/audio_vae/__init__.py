"""LTX-2 / LTX-2.3 audio VAE on MLX, channels-last: log-mel (B, T, 64, 2) <-> latent (B, T', 16, 8), plus the
log-mel front end used to encode waveforms."""

from ltx2.models.audio_vae.config import AudioVAEConfig
from ltx2.models.audio_vae.decoder import AudioDecoder
from ltx2.models.audio_vae.encoder import AudioEncoder
from ltx2.models.audio_vae.load import has_audio_vae, load_audio_decoder, load_audio_encoder, read_audio_vae_config
from ltx2.models.audio_vae.mel import MelFrontEnd, resample

__all__ = ["AudioDecoder", "AudioEncoder", "AudioVAEConfig", "MelFrontEnd", "has_audio_vae",
           "load_audio_decoder", "load_audio_encoder", "read_audio_vae_config", "resample"]
