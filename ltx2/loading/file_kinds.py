"""What a weight file is, read from its header alone: the components it holds (from its metadata ``config`` sections
and its key prefixes), its ``model_version``, and the Gemma build its text connectors expect. Used to refuse a file
given for the wrong component, of the wrong model version, or paired with the wrong text encoder, before any
weights are read (LTX-2.5 ships one file per component; LTX-2.3 files do not mix with it)."""

from __future__ import annotations

import json

from ltx2.errors import ConfigError

TRANSFORMER_PREFIX = "model.diffusion_model."
_CONNECTORS = (TRANSFORMER_PREFIX + "video_embeddings_connector.", TRANSFORMER_PREFIX + "audio_embeddings_connector.")
# component -> (metadata config sections, key prefixes) that show a file holds it
_SIGNS = {
    "video_vae": (("vae",), ("vae.encoder.", "vae.decoder.", "encoder.", "decoder.", "per_channel_statistics.")),
    "audio_vae": (("audio_vae",), ("audio_vae.",)),
    "vocoder": (("vocoder",), ("vocoder.",)),
    "duration_head": (("duration_head",), ("duration_head.",)),
    "text_encoder": ((), ("text_embedding_projection.", "model.layers.", "model.language_model.", "tokenizer_json")),
}
WHAT = {"transformer": "transformer", "video_vae": "video VAE", "audio_vae": "audio VAE", "vocoder": "vocoder",
        "text_encoder": "text encoder", "spatial_upsampler": "spatial upsampler",
        "temporal_upsampler": "temporal upsampler", "duration_head": "duration head", "lora": "LoRA"}


def _json(value):
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def file_kinds(metadata: dict, keys) -> frozenset[str]:
    """The components a file holds: ``transformer``, ``video_vae``, ``audio_vae``, ``vocoder``, ``text_encoder``,
    ``spatial_upsampler``, ``temporal_upsampler``, ``duration_head`` or ``lora``."""
    keys = list(keys)
    if any(".lora_A." in k or ".lora_B." in k for k in keys):
        return frozenset({"lora"})
    config = _json(metadata.get("config"))
    config = config if isinstance(config, dict) else {}
    kinds = set()
    if isinstance(config.get("transformer"), dict) or any(
            k.startswith(TRANSFORMER_PREFIX) and not k.startswith(_CONNECTORS) for k in keys):
        kinds.add("transformer")
    if "gemma_config" in metadata:
        kinds.add("text_encoder")
    for component, (sections, prefixes) in _SIGNS.items():
        if any(isinstance(config.get(s), dict) for s in sections) or any(k.startswith(prefixes) for k in keys):
            kinds.add(component)
    if config.get("spatial_upsample"):
        kinds.add("spatial_upsampler")
    if config.get("temporal_upsample"):
        kinds.add("temporal_upsampler")
    return frozenset(kinds)


def parse_version(value) -> tuple[int, ...]:
    """``model_version`` -> the leading all-digit parts, ``-`` read as ``.`` (as ltx-core 1.2.0): "2.3.rc1" -> (2, 3),
    "2.4-rc2" -> (2, 4); absent or unreadable -> ()."""
    if not isinstance(value, str):
        return ()
    parts = []
    for part in value.replace("-", ".").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def version_text(version: tuple[int, ...]) -> str:
    return "LTX-" + ".".join(str(p) for p in version[:2]) if version else "unversioned"


def check_kind(key: str, path, kinds: frozenset[str], component: str) -> None:
    """Refuse a file that does not hold ``component``."""
    if component in kinds or (component == "vocoder" and "audio_vae" in kinds):
        return
    held = ", ".join(WHAT[k] for k in sorted(kinds)) or "nothing ltx2 recognises"
    article = "an" if WHAT[component][0] in "aeiou" else "a"
    raise ConfigError(key, str(path), f"is not {article} {WHAT[component]} file (its metadata and keys show: {held})",
                      f"set {key} to the {WHAT[component]} file of the model")


def check_version(key: str, path, metadata: dict, expected: str, model: str) -> None:
    """Refuse a file whose ``model_version`` names another major.minor version than ``expected`` ("2.5")."""
    want = parse_version(expected)
    have = parse_version(metadata.get("model_version"))
    if have[:2] != want[:2] and (have or key == "model.transformer"):
        raise ConfigError(key, str(path), f"is an {version_text(have)} file (model_version="
                          f"{metadata.get('model_version')!r}); model={model} is {version_text(want)} and files "
                          "are not interchangeable between versions",
                          f"use the {version_text(want)} file (python -m ltx2.download model={model})")


def gemma_version_of_encoder(metadata: dict) -> str | None:
    config = _json(metadata.get("gemma_config"))
    return config.get("gemma_version") if isinstance(config, dict) else None


def check_gemma_pairing(transformer_path, transformer_meta: dict, encoder_path, encoder_meta: dict) -> None:
    """The text encoder is the Gemma build the transformer's connectors were trained on (ltx-core 1.2.0's check):
    ``gemma_source_checkpoint.gemma_version`` of the transformer equals ``gemma_config.gemma_version`` of the text
    encoder; a transformer of version 2.4 or later must name one."""
    source = _json(transformer_meta.get("gemma_source_checkpoint"))
    wanted = source.get("gemma_version") if isinstance(source, dict) else None
    found = gemma_version_of_encoder(encoder_meta)
    if wanted is None:
        if parse_version(transformer_meta.get("model_version")) >= (2, 4, 0) and found is not None:
            raise ConfigError("model.transformer", str(transformer_path), "names no gemma_source_checkpoint, which "
                              "a model of version 2.4 or later must", "use the official transformer file")
        return
    if wanted != found:
        raise ConfigError("model.text_encoder", str(encoder_path), f"is Gemma build {found!r} but the transformer "
                          f"{transformer_path} was trained on {wanted!r} (Gemma version mismatch)",
                          "use the text-encoder file released with this transformer")
