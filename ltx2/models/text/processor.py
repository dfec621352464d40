"""Embeddings processor: Gemma hidden states -> the video and audio text contexts the transformer consumes.
Weights live in the official single-file checkpoint, beside the transformer."""

from __future__ import annotations

import os
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_tensors, load_weights_strict, read_header
from ltx2.models.text.config import GemmaConfig, TextProcessorConfig
from ltx2.models.text.connector import Embeddings1DConnector
from ltx2.models.text.features import FeatureExtractorV1, FeatureExtractorV2

# Checkpoint prefix -> processor module prefix (the reference's EMBEDDINGS_PROCESSOR_KEY_OPS).
FEATURES_PREFIX = "text_embedding_projection."
VIDEO_CONNECTOR_PREFIX = "model.diffusion_model.video_embeddings_connector."
AUDIO_CONNECTOR_PREFIX = "model.diffusion_model.audio_embeddings_connector."


@dataclass(frozen=True)
class TextContext:
    """The text conditioning of one prompt. LTX-2: both (1, T, caption_channels) (the transformer projects
    them); LTX-2.3: (1, T, video inner dim) and (1, T, audio inner dim). Every position is attended to."""

    video: mx.array
    audio: mx.array | None


class EmbeddingsProcessor(nn.Module):
    """feature extractor -> video / audio connectors."""

    def __init__(self, config: TextProcessorConfig, gemma, audio: bool = True):
        """``gemma``: the text model's config (GemmaConfig or Gemma4Config: hidden_size, num_hidden_states)."""
        super().__init__()
        self.config = config
        d, n_layers = gemma.hidden_size, gemma.num_hidden_states
        if config.version == 1:
            if config.video.dim != d:
                raise ConfigError("model.gemma_root", f"hidden size {d}", f"LTX-2 text connectors are "
                                  f"{config.video.dim} wide: the checkpoint and the Gemma root do not belong together",
                                  "use the Gemma root (or text-encoder file) that belongs to this checkpoint")
            self.feature_extractor = FeatureExtractorV1(d, n_layers)
        else:
            self.feature_extractor = FeatureExtractorV2(d, n_layers, config.video_features,
                                                        config.audio_features if audio else None)
        self.video_connector = Embeddings1DConnector(config.video)
        if audio:
            self.audio_connector = Embeddings1DConnector(config.audio)

    def __call__(self, hidden_states: list[mx.array], attention_mask: mx.array) -> TextContext:
        """hidden_states: Gemma's L states (B, T, D) for left-padded tokens; attention_mask (B, T) 0/1."""
        video_features, audio_features = self.feature_extractor(hidden_states, attention_mask)
        c = self.config
        rope = dict(rope_type=c.rope_type, max_pos=c.max_pos, theta=c.rope_theta, float64_grid=c.float64_rope)
        video = self.video_connector(video_features, attention_mask, **rope)
        audio = self.audio_connector(audio_features, attention_mask, **rope) if "audio_connector" in self else None
        return TextContext(video, audio)


def sanitize(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Checkpoint keys -> processor keys: ``text_embedding_projection.`` -> ``feature_extractor.``,
    ``model.diffusion_model.{video,audio}_embeddings_connector.`` -> ``{video,audio}_connector.``."""
    renames = ((FEATURES_PREFIX, "feature_extractor."), (VIDEO_CONNECTOR_PREFIX, "video_connector."),
               (AUDIO_CONNECTOR_PREFIX, "audio_connector."))
    out = {}
    for key, value in weights.items():
        for old, new in renames:
            if key.startswith(old):
                out[new + key.removeprefix(old)] = value
    return out


def load_embeddings_processor(path: str | os.PathLike, gemma=None, dtype: mx.Dtype = mx.bfloat16,
                              audio: bool | None = None,
                              projection_path: str | os.PathLike | None = None) -> EmbeddingsProcessor:
    """Feature extractor + connectors of an official checkpoint. ``gemma`` is the text model config feeding it
    (GemmaConfig or Gemma4Config; the reference's Gemma-3-12B by default); ``audio=None`` builds the audio
    connector when the file has one. ``projection_path``: the file holding ``text_embedding_projection.*`` when
    it is not ``path`` (LTX-2.5: the text-encoder file; the connectors stay with the transformer)."""
    header = read_header(path)
    section = header.section("transformer")
    projection_path = projection_path or path
    projection = read_header(projection_path)
    if not header.keys_with_prefix(VIDEO_CONNECTOR_PREFIX) or not projection.keys_with_prefix(FEATURES_PREFIX):
        where = path if projection_path == path else f"{path} + {projection_path}"
        raise ConfigError("checkpoint", str(where), f"no text connector weights ('{VIDEO_CONNECTOR_PREFIX}*' and "
                          f"'{FEATURES_PREFIX}*')", "use an official LTX-2 / LTX-2.3 / LTX-2.5 checkpoint")
    if audio is None:
        audio = bool(header.keys_with_prefix(AUDIO_CONNECTOR_PREFIX))
    gemma = gemma or GemmaConfig()
    try:
        config = TextProcessorConfig.from_metadata(section)
        processor = EmbeddingsProcessor(config, gemma, audio)
    except ConfigError as e:
        raise e.about(e.key, str(path) if e.key == "checkpoint" else e.value) from None
    _check_feature_width(projection.tensors, config, gemma, projection_path)
    weights = {FEATURES_PREFIX + k: v for k, v in load_tensors(projection_path, FEATURES_PREFIX).items()}
    for prefix in (VIDEO_CONNECTOR_PREFIX,) + ((AUDIO_CONNECTOR_PREFIX,) if audio else ()):
        weights.update({prefix + k: v for k, v in load_tensors(path, prefix).items()})
    weights = sanitize(weights)
    if not audio:
        weights.pop("feature_extractor.audio_aggregate_embed.weight", None)
        weights.pop("feature_extractor.audio_aggregate_embed.bias", None)
    load_weights_strict(processor, weights, f"text embeddings processor in {path}", dtype)
    processor.eval()
    return processor


def _check_feature_width(tensors: dict, config: TextProcessorConfig, gemma, path) -> None:
    key = FEATURES_PREFIX + ("aggregate_embed.weight" if config.version == 1 else "video_aggregate_embed.weight")
    if key not in tensors:
        raise ConfigError("checkpoint", str(path), f"missing {key} (LTX-{'2' if config.version == 1 else '2.3'} "
                          "feature extractor)", "use an official LTX-2 / LTX-2.3 checkpoint")
    width = tensors[key][1][-1]
    expected = gemma.hidden_size * gemma.num_hidden_states
    if width != expected:
        raise ConfigError("checkpoint", str(path), f"{key} takes {width} features but the Gemma model gives "
                          f"{expected} ({gemma.hidden_size} x {gemma.num_hidden_states} hidden states)",
                          "use the Gemma root (or text-encoder file) that belongs to this checkpoint")
