"""On-disk cache of final text contexts, so a sweep encodes each distinct prompt once, and the entry point
pipelines call: ``encode_prompts``.

An entry is one safetensors file named by the SHA-256 of (prompt, negative prompt, text-encoder fingerprint,
enhancement settings). Its metadata repeats that key and holds a SHA-256 checksum of every tensor's name,
dtype, shape and bytes; an entry that does not parse, has another key or fails the checksum is reported,
deleted and recomputed, never used. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.enhance import PromptEnhancement
from ltx2.models.text.processor import TextContext

log = logging.getLogger(__name__)

CACHE_FORMAT = "ltx2-text-contexts/1"


@dataclass(frozen=True)
class EncodedPrompts:
    """Contexts of a prompt and its optional negative prompt, and the prompt text actually encoded."""

    positive: TextContext
    negative: TextContext | None
    prompt: str  # after enhancement, when enabled and successful: what the run record should show
    negative_prompt: str | None
    enhanced: bool = False
    from_cache: bool = False


def cache_key(prompt: str, negative_prompt: str | None, fingerprint: str,
              enhancement: PromptEnhancement | None = None) -> str:
    fields = {"prompt": prompt, "negative_prompt": negative_prompt, "fingerprint": fingerprint,
              "enhancement": enhancement.describe() if enhancement else None}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def tensors_checksum(tensors: dict[str, mx.array]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = tensors[name]
        digest.update(f"{name}:{array.dtype}:{tuple(array.shape)}\n".encode())
        digest.update(_raw_bytes(array))
    return digest.hexdigest()


def _raw_bytes(array: mx.array) -> bytes:
    if array.dtype == mx.bfloat16:  # numpy has no bfloat16: hash the bit pattern
        array = array.view(mx.uint16)
    return np.ascontiguousarray(np.array(array)).tobytes()


class EmbeddingCache:
    """``folder``/<key[:2]>/<key>.safetensors; ``enabled=False`` makes every lookup miss and stores nothing."""

    def __init__(self, folder: str | os.PathLike, enabled: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def load(self, key: str) -> EncodedPrompts | None:
        """The entry for ``key``, or None (missing, disabled, or invalid: invalid entries are deleted)."""
        path = self.path(key)
        if not self.enabled or not path.is_file():
            return None
        try:
            tensors, metadata = mx.load(str(path), return_metadata=True)
            problem = self._problem(key, tensors, metadata)
        except Exception as e:  # noqa: BLE001 - any unreadable entry is treated as corrupt
            problem = f"unreadable ({type(e).__name__}: {e})"
        if problem:
            log.warning("text embedding cache entry %s is %s: deleting it and encoding again", path, problem)
            path.unlink(missing_ok=True)
            return None
        negative = TextContext(tensors["negative.video"], tensors.get("negative.audio")) \
            if "negative.video" in tensors else None
        return EncodedPrompts(TextContext(tensors["positive.video"], tensors.get("positive.audio")), negative,
                              metadata["prompt_used"], json.loads(metadata["negative_prompt"]),
                              metadata["enhanced"] == "true", from_cache=True)

    @staticmethod
    def _problem(key: str, tensors: dict, metadata: dict) -> str | None:
        if metadata.get("format") != CACHE_FORMAT:
            return f"of another format ({metadata.get('format')!r}, expected {CACHE_FORMAT!r})"
        if metadata.get("key") != key:
            return "stored under the wrong key"
        if "positive.video" not in tensors or "prompt_used" not in metadata:
            return "incomplete"
        if metadata.get("checksum") != tensors_checksum(tensors):
            return "corrupt (checksum mismatch)"
        return None

    def store(self, key: str, encoded: EncodedPrompts, description: dict | None = None) -> Path | None:
        if not self.enabled:
            return None
        tensors = {"positive.video": encoded.positive.video}
        if encoded.positive.audio is not None:
            tensors["positive.audio"] = encoded.positive.audio
        if encoded.negative is not None:
            tensors["negative.video"] = encoded.negative.video
            if encoded.negative.audio is not None:
                tensors["negative.audio"] = encoded.negative.audio
        metadata = {"format": CACHE_FORMAT, "key": key, "checksum": tensors_checksum(tensors),
                    "prompt_used": encoded.prompt, "negative_prompt": json.dumps(encoded.negative_prompt),
                    "enhanced": "true" if encoded.enhanced else "false",
                    "description": json.dumps(description or {}, sort_keys=True)}
        path = self.path(key)
        save_checkpoint(path, tensors, metadata)
        return path


def encode_prompts(encoder, prompt: str, negative_prompt: str | None = None, cache: EmbeddingCache | None = None,
                   enhancement: PromptEnhancement | None = None) -> EncodedPrompts:
    """Contexts for ``prompt`` (and ``negative_prompt``) from the cache, or by running ``encoder``
    (a TextEncoder), which is released afterwards either way. ``enhancement`` (opt-in) rewrites the prompt
    first; the negative prompt is never enhanced (as the reference)."""
    if not isinstance(prompt, str) or (negative_prompt is not None and not isinstance(negative_prompt, str)):
        raise TypeError("prompt must be a string and negative_prompt a string or None, got "
                        f"{type(prompt).__name__} and {type(negative_prompt).__name__}")
    enhancement = encoder.enhancement_for(enhancement) if enhancement else None  # the enhancing model's settings
    key = cache_key(prompt, negative_prompt, encoder.fingerprint(), enhancement) if cache else None
    if cache and (hit := cache.load(key)):
        log.info("text contexts from the cache (%s)", cache.path(key).name)
        return hit
    try:
        used, enhanced = encoder.enhance(prompt, enhancement) if enhancement else (prompt, False)
        texts = [used] + ([negative_prompt] if negative_prompt is not None else [])
        contexts = encoder.encode(texts)
    finally:
        encoder.release()
    encoded = EncodedPrompts(contexts[0], contexts[1] if negative_prompt is not None else None, used,
                             negative_prompt, enhanced)
    if cache and (enhanced or not enhancement):  # a failed enhancement is retried next time, not cached
        cache.store(key, encoded, {"prompt": prompt, "negative_prompt": negative_prompt})
    return encoded
