"""The LTX-2.5 text-encoder file: one safetensors holding Gemma 4's weights, the V2 text projection, the tokenizer
and the Hugging Face sidecars (the official packer's layout):

* metadata ``gemma_config`` = the HF config JSON (``model_type: gemma4_unified``, top-level ``gemma_version``),
  ``format: pt``;
* Gemma language model under Comfy-flat names (``model.layers.*``, ``model.embed_tokens.*``, ``model.norm.*``) or
  HF-nested ``model.language_model.*``; vision / audio embedders (``vision_model.*``, ``multi_modal_projector.*``,
  ``audio_projector.*``, HF ``model.embed_vision.*`` ...) are ignored (text only);
* ``text_embedding_projection.{video,audio}_aggregate_embed.*``: the V2 feature extractor's projections;
* ``tokenizer_json``: uint8 bytes of ``tokenizer.json``; ``hf_asset__<name>``: uint8 bytes of each sidecar
  (``tokenizer_config.json``, ``processor_config.json``, ``chat_template.jinja``, ...), which older packs may keep as
  metadata strings instead.

Also the encoder-version check the reference runs when it builds the embeddings processor.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import load_weights_strict, read_header
from ltx2.loading.file_kinds import parse_version
from ltx2.models.text.gemma import QUANT_BITS, load_quantizing
from ltx2.models.text.gemma4 import TE_FILE_FIX, Gemma4Config, Gemma4TextModel

log = logging.getLogger(__name__)

GEMMA_CONFIG_KEY = "gemma_config"
TOKENIZER_KEY = "tokenizer_json"
ASSET_PREFIX = "hf_asset__"
PROJECTION_PREFIX = "text_embedding_projection."
LTX25_GEMMA_VERSION = "gemma4-12b-ltx-v1"
# Language-model prefixes (Comfy-flat first, HF nested second) -> our module's names.
_LM_PREFIXES = ("model.language_model.", "model.")
_LM_PARTS = ("layers.", "embed_tokens.", "norm.")
# Everything else the file may carry that the text encoder does not use.
_IGNORED = ("vision_model.", "multi_modal_projector.", "audio_projector.", "model.embed_vision.", "model.embed_audio.",
            "model.vision_embedder.", "model.vision_tower.", "model.audio_tower.", "lm_head.", "model.lm_head.",
            PROJECTION_PREFIX, TOKENIZER_KEY, ASSET_PREFIX)
TEXT_ONLY_EXCLUDED = _IGNORED  # what a text-only run never loads from the file (the planner's view)
# From this model_version on a transformer must name the Gemma it was trained with (the reference's rule).
GEMMA_SOURCE_REQUIRED_SINCE = (2, 4, 0)


def is_text_encoder_file(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` names a single-file text encoder (a .safetensors file), not a Gemma root folder."""
    return path is not None and Path(path).suffix == ".safetensors"


def read_gemma_hf_config(path: str | os.PathLike) -> dict:
    """The ``gemma_config`` metadata (the HF config dict) of a text-encoder file; no tensor is read."""
    header = read_header(path)  # ConfigError when missing
    raw = header.metadata.get(GEMMA_CONFIG_KEY)
    if raw is None:
        raise ConfigError("model.text_encoder", str(path), f"no '{GEMMA_CONFIG_KEY}' entry in the safetensors "
                          "metadata (not a packed Gemma text-encoder file)", TE_FILE_FIX)
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError("model.text_encoder", str(path), f"'{GEMMA_CONFIG_KEY}' is not JSON ({e})",
                          TE_FILE_FIX) from None
    if not isinstance(config, dict):
        raise ConfigError("model.text_encoder", str(path), f"'{GEMMA_CONFIG_KEY}' is not a JSON object", TE_FILE_FIX)
    return config


def read_gemma4_config(path: str | os.PathLike) -> Gemma4Config:
    return Gemma4Config.from_hf(read_gemma_hf_config(path), str(path))


def read_asset(path: str | os.PathLike, name: str) -> bytes | None:
    """The bytes of ``tokenizer.json`` (name ``tokenizer.json``) or of a sidecar (``tokenizer_config.json``,
    ...): the uint8 tensor, else (sidecars of older packs) the metadata string; None when absent."""
    header = read_header(path)
    key = TOKENIZER_KEY if name == "tokenizer.json" else ASSET_PREFIX + name
    if key in header.tensors:
        data = np.array(mx.load(str(path))[key])
        return data.astype(np.uint8).tobytes()  # Comfy packs may store int8
    if name != "tokenizer.json" and name in header.metadata:
        return header.metadata[name].encode()
    return None


def language_model_weights(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """File keys -> Gemma4TextModel keys; towers, projection, tokenizer and sidecars are dropped; anything
    unrecognised is kept so the strict loader names it."""
    out = {}
    for key, value in weights.items():
        prefix = next((p for p in _LM_PREFIXES if key.startswith(p) and key.removeprefix(p).startswith(_LM_PARTS)),
                      None)
        if prefix:
            out[key.removeprefix(prefix)] = value
        elif not key.startswith(_IGNORED):
            out[key] = value
    return out


def load_text_encoder_file(path: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16, quantize_bits: int | None = None,
                           group_size: int = 64) -> Gemma4TextModel:
    """Gemma 4 language model of an LTX-2.5 text-encoder file, in ``dtype``, optionally quantized (8 / 4 bits,
    MLX affine, loaded part by part so the unquantized model is never resident)."""
    if quantize_bits is not None and quantize_bits not in QUANT_BITS:
        raise ValueError(f"Gemma quantization bits={quantize_bits!r} is not supported: use one of {QUANT_BITS} "
                         "or None")
    config = read_gemma4_config(path)
    model = Gemma4TextModel(config)
    weights = language_model_weights(mx.load(str(path)))  # lazy: read tensor by tensor while loading
    what = f"Gemma 4 language model in {path}"
    if quantize_bits is None:
        load_weights_strict(model, weights, what, dtype)
    else:
        prefixes = ["embed_tokens.", "norm."] + [f"layers.{i}." for i in range(config.num_hidden_layers)]
        load_quantizing(model, model, weights, prefixes, what, dtype, quantize_bits, group_size, TE_FILE_FIX)
    mx.eval(model.parameters())
    model.eval()
    return model


def parse_model_version(value: str | None) -> tuple[int, ...]:
    """``"2.5.0"`` -> (2, 5, 0) (``ltx2.loading.file_kinds.parse_version``)."""
    return parse_version(value)


def check_gemma_version(transformer: str | os.PathLike, gemma_hf: dict, gemma_where: str) -> None:
    """The reference's encoder-version check, as one ConfigError: a transformer declaring
    ``gemma_source_checkpoint.gemma_version`` needs a Gemma config with that ``gemma_version``; one without it
    but with ``model_version >= 2.4`` is refused (unless the Gemma config has no gemma_version either); older
    ones need Gemma 3. ``gemma_hf``: the Gemma HF config dict (the file's ``gemma_config`` or a root's
    config.json)."""
    metadata = read_header(transformer).metadata
    source = metadata.get("gemma_source_checkpoint")
    actual = gemma_hf.get("gemma_version")
    if source is not None:
        try:
            expected = (json.loads(source) if isinstance(source, str) else source).get("gemma_version")
        except (json.JSONDecodeError, AttributeError):
            expected = None
        if expected != actual:
            raise ConfigError("model.text_encoder", gemma_where, f"gemma_version={actual!r} but the transformer "
                              f"{Path(transformer).name} was trained with gemma_version={expected!r}",
                              "use the text-encoder file released with this transformer"
                              + (" (LTX-2.5: gemma4-12b-with-proj-ltx-2.5-*.safetensors)"
                                 if expected == LTX25_GEMMA_VERSION else ""))
        return
    version = metadata.get("model_version")
    if parse_model_version(version) >= GEMMA_SOURCE_REQUIRED_SINCE:
        if actual is None:  # the reference only warns when neither side declares a version
            log.warning("%s: model_version=%r declares no gemma_source_checkpoint.gemma_version and %s has no "
                        "gemma_version either: the text encoder's compatibility is not checked", transformer,
                        version, gemma_where)
            return
        raise ConfigError("checkpoint", str(transformer), f"model_version={version!r} must declare "
                          "gemma_source_checkpoint.gemma_version in its metadata", "use the official transformer file")
    model_type = gemma_hf.get("model_type")
    if model_type not in ("gemma3", "gemma3_text"):
        raise ConfigError("model.text_encoder", gemma_where, f"model_type={model_type!r}: an LTX-2 / LTX-2.3 "
                          f"checkpoint (model_version={version!r}) takes a Gemma 3 text encoder",
                          "set model.gemma_root to a Gemma 3 folder (e.g. google/gemma-3-12b-it)")
