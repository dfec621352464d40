"""LTX-2 / LTX-2.3 vocoders on MLX: log-mel (B, T, 64, 2) -> stereo waveform. LTX-2: HiFi-GAN-style, 24 kHz;
LTX-2.3: BigVGAN-v2 at 16 kHz + bandwidth extension to 48 kHz. Chosen by the checkpoint's ``vocoder`` metadata."""

from ltx2.models.vocoder.config import VocoderConfig
from ltx2.models.vocoder.load import load_vocoder, read_vocoder_config
from ltx2.models.vocoder.model import Vocoder, build_vocoder

__all__ = ["Vocoder", "VocoderConfig", "build_vocoder", "load_vocoder", "read_vocoder_config"]
