"""Prompt tokenization as the reference does it (``LTXVGemmaTokenizer``): the root's Hugging Face tokenizer,
``<bos>`` added, left padding to a fixed length (1024), over-long prompts cut at the end."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.models.text.config import GEMMA_ROOT_FIX, MAX_TOKENS, NUM_REGISTERS

log = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


@dataclass(frozen=True)
class Tokens:
    """One tokenized prompt."""

    input_ids: mx.array  # (1, T) int32, left padded with the pad id
    attention_mask: mx.array  # (1, T) int32: 1 on prompt tokens (a suffix), 0 on pads
    dropped: int  # tokens cut off the end of an over-long prompt

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum().item())


def find_tokenizer_folder(root: str | os.PathLike) -> Path:
    """The folder holding the tokenizer files: the root itself, or the first sub-folder that has them
    (the reference searches the root for ``tokenizer.model`` the same way)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("model.gemma_root", str(root), "is not a folder", GEMMA_ROOT_FIX)
    if any((root / name).is_file() for name in _TOKENIZER_FILES):
        return root
    for name in _TOKENIZER_FILES:
        found = sorted(root.rglob(name))
        if found:
            return found[0].parent
    raise ConfigError("model.gemma_root", str(root), f"has no tokenizer ({' or '.join(_TOKENIZER_FILES)})",
                      "copy the Gemma checkpoint's tokenizer files into it")


class GemmaTokenizer:
    """``__call__(prompt) -> Tokens`` of exactly ``max_length`` tokens; ``hf`` is the transformers tokenizer
    (used for chat templates and decoding)."""

    def __init__(self, root: str | os.PathLike, max_length: int = MAX_TOKENS):
        if max_length <= 0 or max_length % NUM_REGISTERS:
            raise ValueError(f"max_length={max_length} must be a positive multiple of {NUM_REGISTERS} (the text "
                             f"connectors fill the padding with {NUM_REGISTERS} tiled registers); the reference "
                             f"uses {MAX_TOKENS}")
        from transformers import AutoTokenizer  # heavy import, only when a tokenizer is built

        folder = find_tokenizer_folder(root)
        self.hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=max_length)
        self.hf.padding_side = "left"
        if self.hf.pad_token is None:
            self.hf.pad_token = self.hf.eos_token
        self.max_length = max_length
        self.folder = folder

    def __call__(self, prompt: str) -> Tokens:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        text = prompt.strip()
        full = len(self.hf(text, verbose=False).input_ids)
        encoded = self.hf(text, padding="max_length", max_length=self.max_length, truncation=True)
        dropped = max(0, full - self.max_length)
        if dropped:
            log.warning("prompt has %d tokens but the text encoder takes %d: the last %d tokens were dropped "
                        "(prompt starts %r); shorten the prompt to keep them", full, self.max_length, dropped,
                        text[:60])
        ids = np.asarray(encoded["input_ids"], dtype=np.int32)[None]
        mask = np.asarray(encoded["attention_mask"], dtype=np.int32)[None]
        return Tokens(mx.array(ids), mx.array(mask), dropped)
