"""Build the transformer from an official single-file checkpoint."""

from __future__ import annotations

import os

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_tensors, load_weights_strict, read_header, resolve_dtype
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.model import LTXModel

PREFIX = "model.diffusion_model."
# Other components stored under the transformer prefix in the official file (text connectors).
_FOREIGN = ("video_embeddings_connector.", "audio_embeddings_connector.")


def sanitize(weights: dict[str, mx.array], audio: bool, video: bool = True) -> dict[str, mx.array]:
    """Checkpoint keys (prefix already stripped) -> model keys: drop the text connectors stored beside the
    transformer and, for a video-only model, every audio / audio-video tensor; for an audio-only model
    (``video=False``), every tensor but the audio stream's (as 1.2.0's audio-only key filter, which also keeps an
    LTX-2 file's ``audio_caption_projection``)."""
    out = {k: v for k, v in weights.items() if not k.startswith(_FOREIGN)}
    if not audio:
        out = {k: v for k, v in out.items() if not _is_audio_key(k)}
    if not video:
        out = {k: v for k, v in out.items() if is_audio_stream_key(k)}
    return out


def full_precision_weights(path: str | os.PathLike, audio: bool, video: bool = True) -> dict[str, mx.array]:
    """The transformer's weights of ``path`` as model keys, lazy and in full precision (float8 decoded)."""
    return sanitize(load_tensors(path, PREFIX), audio, video)


def _leaf(key: str) -> str:
    return key.split(".", 2)[2] if key.startswith("transformer_blocks.") else key


def _is_audio_key(key: str) -> bool:
    return _leaf(key).startswith(("audio_", "av_ca_", "video_to_audio_attn", "scale_shift_table_a2v"))


def is_audio_stream_key(key: str) -> bool:
    """A tensor of the audio stream itself (not video, not audio-video cross-attention)."""
    leaf = _leaf(key)
    return leaf.startswith("audio_") and not leaf.startswith("audio_to_video_attn")


def load_transformer(path: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16", audio: bool | None = None,
                     quantize: int | None = None, group_size: int = 64, video: bool = True) -> LTXModel:
    """Transformer of an official checkpoint in compute ``dtype``; ``audio=None`` builds an audio-video model
    when the file has audio weights, ``audio=False`` a video-only one (audio weights are then not read),
    ``video=False`` an audio-only one (text-to-audio: video weights are not read).
    ``quantize`` (8 or 4): the block linears are MLX affine-quantized with ``group_size`` while loading
    (ltx2.models.transformer.quantize). Float8 checkpoints (``*-fp8``) are decoded times their scales either way."""
    from ltx2.models.transformer.quantize import check_quantization, load_quantizing

    check_quantization(quantize, group_size)
    dtype = resolve_dtype(dtype)
    header = read_header(path)
    section = header.section("transformer")
    if audio is None:
        audio = f"{PREFIX}audio_patchify_proj.weight" in header.tensors
    if not video and not audio:
        raise ConfigError("checkpoint", str(path), "an audio-only transformer was asked for, but the file has no "
                          "audio weights (a video-only checkpoint)", "use an audio-video LTX-2 checkpoint")
    try:
        config = TransformerConfig.from_metadata(section, audio=audio, video=video)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    if not header.keys_with_prefix(PREFIX):
        raise ConfigError("checkpoint", str(path), f"no tensors under '{PREFIX}' (is this a transformer checkpoint?)",
                          "use an official LTX-2 / LTX-2.3 checkpoint")
    model = LTXModel(config)
    weights = sanitize(load_tensors(path, PREFIX), audio, video)
    if quantize is None:
        load_weights_strict(model, weights, f"transformer in {path}", dtype)
    else:
        load_quantizing(model, weights, f"transformer in {path}", dtype, quantize, group_size)
    model.eval()
    return model
