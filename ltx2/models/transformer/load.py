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


def sanitize(weights: dict[str, mx.array], audio: bool) -> dict[str, mx.array]:
    """Checkpoint keys (prefix already stripped) -> model keys: drop the text connectors stored beside the
    transformer and, for a video-only model, every audio / audio-video tensor."""
    out = {k: v for k, v in weights.items() if not k.startswith(_FOREIGN)}
    if not audio:
        out = {k: v for k, v in out.items() if not _is_audio_key(k)}
    return out


def full_precision_weights(path: str | os.PathLike, audio: bool) -> dict[str, mx.array]:
    """The transformer's weights of ``path`` as model keys, lazy and in full precision (float8 decoded)."""
    return sanitize(load_tensors(path, PREFIX), audio)


def _is_audio_key(key: str) -> bool:
    leaf = key.split(".", 2)[2] if key.startswith("transformer_blocks.") else key
    return leaf.startswith(("audio_", "av_ca_", "video_to_audio_attn", "scale_shift_table_a2v"))


def load_transformer(path: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16", audio: bool | None = None,
                     quantize: int | None = None, group_size: int = 64) -> LTXModel:
    """Transformer of an official checkpoint in compute ``dtype``; ``audio=None`` builds an audio-video model
    when the file has audio weights, ``audio=False`` a video-only one (audio weights are then not read).
    ``quantize`` (8 or 4): the block linears are MLX affine-quantized with ``group_size`` while loading
    (ltx2.models.transformer.quantize). Float8 checkpoints (``*-fp8``) are decoded times their scales either way."""
    from ltx2.models.transformer.quantize import check_quantization, load_quantizing

    check_quantization(quantize, group_size)
    dtype = resolve_dtype(dtype)
    header = read_header(path)
    section = header.section("transformer")
    if audio is None:
        audio = f"{PREFIX}audio_patchify_proj.weight" in header.tensors
    try:
        config = TransformerConfig.from_metadata(section, audio=audio)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    if not header.keys_with_prefix(PREFIX):
        raise ConfigError("checkpoint", str(path), f"no tensors under '{PREFIX}' (is this a transformer checkpoint?)",
                          "use an official LTX-2 / LTX-2.3 checkpoint")
    model = LTXModel(config)
    weights = sanitize(load_tensors(path, PREFIX), audio)
    if quantize is None:
        load_weights_strict(model, weights, f"transformer in {path}", dtype)
    else:
        load_quantizing(model, weights, f"transformer in {path}", dtype, quantize, group_size)
    model.eval()
    return model
