"""Model files from the Hugging Face hub: config values ``hf://<owner>/<repo>/<file>`` (one file) or
``hf://<owner>/<repo>`` (a folder: the repo's config, tokenizer and safetensors files, e.g. Gemma).

Runs never download: a value resolves to the file in the local Hugging Face cache (``HF_HUB_CACHE``, or
``$HF_HOME/hub``, default ``~/.cache/huggingface/hub``) or fails, before any loading, with the repo, the file and
the command that fetches it (``python -m ltx2.download``). Any value that is not ``hf://...`` is a local path.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltx2.errors import ConfigError

PREFIX = "hf://"
# files of a folder reference (a Gemma 3 root): what the text encoder reads
FOLDER_PATTERNS = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt"]


@dataclass(frozen=True)
class HubRef:
    repo: str
    filename: str | None  # None: the repo as a folder

    def __str__(self) -> str:
        return f"{PREFIX}{self.repo}" + (f"/{self.filename}" if self.filename else "")

    @property
    def what(self) -> str:
        return f"{self.filename} of {self.repo}" if self.filename else f"the {self.repo} folder"


def parse(value) -> HubRef | None:
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    parts = value[len(PREFIX):].strip("/").split("/")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"{value!r} is not hf://<owner>/<repo>[/<file>]")
    return HubRef("/".join(parts[:2]), "/".join(parts[2:]) or None)


def cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def cached_path(ref: HubRef) -> str | None:
    """The file (or snapshot folder) in the local cache, or None."""
    from pathlib import Path

    from huggingface_hub import try_to_load_from_cache

    if ref.filename:
        found = try_to_load_from_cache(ref.repo, ref.filename)
        return found if isinstance(found, str) else None
    found = try_to_load_from_cache(ref.repo, "config.json")
    return str(Path(found).parent) if isinstance(found, str) else None


def fetch_command(model: str | None, lora: str | None = None) -> str:
    command = f"python -m ltx2.download model={model}" if model else "python -m ltx2.download"
    return command + (f" 'lora=[{lora}]'" if lora else "")


def resolve(key: str, value, model: str | None, lora: str | None = None, required: bool = True):
    """``value`` with an hf:// reference replaced by its cached path; a missing required file raises
    ConfigError (optional ones are returned unchanged)."""
    try:
        ref = parse(value)
    except ValueError as e:
        raise ConfigError(key, value, str(e), f"use {key}=hf://Lightricks/LTX-2/<file> or a local path") from None
    if ref is None:
        return value
    path = cached_path(ref)
    if path is None and required:
        local = f"{key}=/path/to/{ref.filename or ref.repo.split('/')[1]}"
        raise ConfigError(key, str(ref), f"{ref.what} is not in the Hugging Face cache ({cache_dir()})",
                             f"fetch it with `{fetch_command(model, lora)}` (or `hf download {ref.repo}"
                             f"{' ' + ref.filename if ref.filename else ''}`), or use a local copy: {local}")
    return path or value
