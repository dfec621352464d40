"""Build the video encoder / decoder from an official checkpoint: the LTX-2 / LTX-2.3 single file or the
LTX-2.5 video-VAE file.

Keys: ``vae.encoder.*`` / ``vae.decoder.*`` for each half, and ``vae.per_channel_statistics.*`` stored once for
both; the split LTX-2.5 files carry the same keys without the ``vae.`` root. Of the statistics only
``std-of-means`` and ``mean-of-means`` are used; the files carry others (``channel``, ``mean-of-stds``, ...) that
the official code ignores too. An LTX-2.5 ``CausalDiffusionVAE`` file gives its (conv) encoder and its diffusion
decoder (``DiffusionVideoDecoder``): its file layout is mapped as the official loader does (fused ``qkv`` split,
``t_embedder.mlp.{0,2}`` renamed, ``coarse_*`` dropped, the static ``gate_*`` folded into the projections in fp32).
"""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_component, per_channel_statistics, read_header
from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig, has_conv_decoder
from ltx2.models.video_vae.conv import torch_to_mlx_conv
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.diffusion_decoder import DiffusionVideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder

ENCODER_PREFIX = "vae.encoder."
DECODER_PREFIX = "vae.decoder."
STATS_PREFIX = "vae.per_channel_statistics."
STATS_KEYS = ("std-of-means", "mean-of-means")
SPLIT_ROOT = ""  # the split LTX-2.5 video-VAE files: bare encoder. / decoder. / per_channel_statistics.


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Checkpoint tensors (component prefix removed) -> module keys and MLX layout: conv weights
    (O, I, kT, kH, kW) -> (O, kT, kH, kW, I) and the ``attn`` blocks' 1x1 Conv2d (O, I, 1, 1) -> (O, 1, 1, I);
    everything else as is."""
    return {k: torch_to_mlx_conv(v) if v.ndim in (4, 5) else v for k, v in weights.items()}


def vae_root(path: str | os.PathLike) -> str:
    """``"vae."`` for a single-file checkpoint, ``""`` for a split video-VAE file (bare ``encoder.*`` ...)."""
    return "vae." if read_header(path).keys_with_prefix("vae.") else SPLIT_ROOT


def read_vae_section(path: str | os.PathLike) -> dict:
    return read_header(path).section("vae", " (is this an LTX-2 checkpoint or video-VAE file?)")


def is_diffusion_video_vae(path: str | os.PathLike) -> bool:
    """The file's ``config.vae._class_name`` names a diffusion decoder (LTX-2.5's default ``CausalDiffusionVAE``
    file), not the conv ``CausalVideoAutoencoder``; the official ``is_diffusion_video_vae`` decides the same way."""
    return not has_conv_decoder(read_vae_section(path))


def decoder_config(path: str | os.PathLike) -> DecoderConfig | DiffusionDecoderConfig:
    """The video decoder's configuration from the file's header alone (no tensor read): the conv decoder's, or a
    ``CausalDiffusionVAE`` file's diffusion decoder's."""
    section = read_vae_section(path)
    try:
        if has_conv_decoder(section):
            return DecoderConfig.from_metadata(section)
        return DiffusionDecoderConfig.from_metadata(section)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None


def load_video_encoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> VideoEncoder:
    """The video encoder of an official checkpoint, weights cast to ``dtype``."""
    try:
        config = EncoderConfig.from_metadata(read_vae_section(path))
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    return _load(VideoEncoder(config), path, "encoder.", "video encoder", dtype)


def load_video_decoder(path: str | os.PathLike,
                       dtype: str | mx.Dtype = "float32") -> VideoDecoder | DiffusionVideoDecoder:
    """The video decoder of an official checkpoint, weights cast to ``dtype``: the conv ``VideoDecoder``, or for
    a ``CausalDiffusionVAE`` file (LTX-2.5's default) the ``DiffusionVideoDecoder``. Float32 is the default because
    CPU matmuls are fastest (and exact) in float32; the official pipelines run the VAE in bfloat16."""
    if is_diffusion_video_vae(path):
        return load_diffusion_video_decoder(path, dtype)
    try:
        config = DecoderConfig.from_metadata(read_vae_section(path))
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    return _load(VideoDecoder(config), path, "decoder.", "video decoder", dtype)


def _load(model, path, part: str, what: str, dtype: str | mx.Dtype, sanitize_fn=sanitize):
    root = vae_root(path)
    stats = per_channel_statistics(path, root + "per_channel_statistics.", STATS_KEYS)
    return load_component(model, path, root + part, what, dtype, sanitize_fn, stats)


GATE_TARGETS = {".attn.proj.weight": ".gate_msa", ".attn.proj.bias": ".gate_msa",
                ".mlp.w_down.weight": ".gate_mlp", ".mlp.w_down.bias": ".gate_mlp",
                ".context_proj.weight": ".gate_ctx", ".context_proj.bias": ".gate_ctx"}
T_EMBEDDER_RENAMES = (("t_embedder.mlp.0.", "t_embedder.timestep_embedder.linear_1."),
                      ("t_embedder.mlp.2.", "t_embedder.timestep_embedder.linear_2."))


def sanitize_diffusion_decoder(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """File layout (decoder prefix removed) -> module keys: rename ``t_embedder.mlp.{0,2}``, drop ``coarse_*``,
    split fused ``...qkv.{weight,bias}`` into ``qkv.to_{q,k,v}`` (rows [0:C], [C:2C], [2C:3C]) and fold each
    block's static gates into its Linear (``W <- g W`` row-wise, ``b <- g b``, in float32, back to the file's
    dtype), as the official loader does."""
    gates = {k: v for k, v in weights.items() if k.endswith(tuple(set(GATE_TARGETS.values())))}
    out = {}
    for key, value in weights.items():
        if key in gates or key.startswith("coarse_"):
            continue
        for old, new in T_EMBEDDER_RENAMES:
            key = key.replace(old, new)
        suffix = next((s for s in GATE_TARGETS if key.endswith(s)), None)
        gate = gates.get(key[: -len(suffix)] + GATE_TARGETS[suffix]) if suffix else None
        if gate is not None:
            g = gate.astype(mx.float32)
            value = ((g[:, None] if value.ndim == 2 else g) * value.astype(mx.float32)).astype(value.dtype)
        if key.endswith((".qkv.weight", ".qkv.bias")):
            base, leaf = key.rsplit(".", 1)
            for name, part in zip(("to_q", "to_k", "to_v"), mx.split(value, 3, axis=0)):
                out[f"{base}.{name}.{leaf}"] = part
        else:
            out[key] = value
    return out


def load_diffusion_video_decoder(path: str | os.PathLike, dtype: str | mx.Dtype = "float32") -> DiffusionVideoDecoder:
    """LTX-2.5's diffusion video decoder from a ``CausalDiffusionVAE`` file (``vae.decoder.*`` or ``decoder.*``)."""
    try:
        config = DiffusionDecoderConfig.from_metadata(read_vae_section(path))
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    return _load(DiffusionVideoDecoder(config), path, "decoder.", "diffusion video decoder", dtype,
                 sanitize_diffusion_decoder)
