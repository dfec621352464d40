"""The tiny LTX-2.5 codec files (ltx2.tiny.codecs25), written together, load with our loaders."""

import mlx.core as mx

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.audio_vae import load_audio_decoder
from ltx2.models.duration_head import load_duration_head
from ltx2.models.upsampler import load_latent_statistics, load_upsampler
from ltx2.models.video_vae import load_video_decoder, load_video_encoder
from ltx2.models.vocoder import load_vocoder
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
from ltx2.tiny.codecs25 import CONV_VIDEO_VAE, write_tiny_codecs25


def test_tiny_codecs25_files_load_with_our_loaders(tmp_path):
    """The tiny LTX-2.5 codec files, written together, load as a model set would load them."""
    files = write_tiny_codecs25(tmp_path)
    encoder, decoder = load_video_encoder(files["video_vae"]), load_video_decoder(files["video_vae"])
    assert isinstance(decoder, DiffusionVideoDecoder)  # the official default file: the diffusion decoder
    assert encoder.config.latent_channels == decoder.config.in_channels == 128
    conv = load_video_decoder(tmp_path / CONV_VIDEO_VAE)  # its conv-decoder sibling
    assert load_video_encoder(tmp_path / CONV_VIDEO_VAE).config.latent_channels == conv.config.latent_channels == 128
    assert load_latent_statistics(files["video_vae"]).normalize(mx.zeros((1, 1, 1, 1, 128))).shape[-1] == 128
    assert load_upsampler(files["temporal_upsampler"]).config.kind == "temporal"
    assert load_upsampler(files["spatial_upsampler"]).config.kind == "spatial"
    assert load_audio_decoder(files["audio_vae"]) is not None and load_vocoder(files["audio_vae"]).config.bwe
    assert load_duration_head(files["duration_head"]).config.video_dim == 32
