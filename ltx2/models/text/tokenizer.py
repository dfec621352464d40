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


# tokenizer_config.json entries naming special tokens (transformers adds each as a special token when absent).
_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _token_text(value) -> str | None:
    """A special token of tokenizer_config.json: a string or a serialized AddedToken ({"content": ...})."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class FileTokenizer:
    """The tokenizer of a packed text-encoder file (``tokenizer.json`` bytes + ``tokenizer_config.json``), driven
    with the ``tokenizers`` package exactly as the reference drives it through transformers'
    ``PreTrainedTokenizerFast`` + ``LTXGemmaTokenizer``: the config's special tokens are added as special tokens
    when the tokenizer lacks them; the post-processor adds ``<bos>`` / ``<eos>`` only as ``add_bos_token`` /
    ``add_eos_token`` say (when the config states either, or the tokenizer has no post-processor); the stripped
    prompt is cut to ``max_length`` tokens, ``<bos>`` is prepended when the first token is not ``<bos>`` (cutting
    to ``max_length`` again) and the result is left padded (pad = eos when the tokenizer has no pad token)."""

    def __init__(self, tokenizer_json: bytes, tokenizer_config: dict, max_length: int = MAX_TOKENS,
                 where: str = "tokenizer"):
        if max_length <= 0 or max_length % NUM_REGISTERS:
            raise ValueError(f"max_length={max_length} must be a positive multiple of {NUM_REGISTERS}; the reference "
                             f"uses {MAX_TOKENS}")
        from tokenizers import AddedToken, Tokenizer, processors

        self.backend = tok = Tokenizer.from_buffer(tokenizer_json)
        config = tokenizer_config
        specials = {k: _token_text(config.get(k)) for k in _SPECIAL_TOKEN_KEYS}
        # transformers' order: named tokens, a dict of extra named tokens, other "*_token" entries, a list of extras
        extra = config.get("extra_special_tokens", config.get("additional_special_tokens")) or []
        named_extra = list(extra.values()) if isinstance(extra, dict) else []
        other = [v for k, v in config.items() if k.endswith("_token") and k not in _SPECIAL_TOKEN_KEYS]
        listed = [] if isinstance(extra, dict) else list(extra)
        names = [t for t in map(_token_text, [*specials.values(), *named_extra, *other, *listed]) if t]
        added = {t.content for t in tok.get_added_tokens_decoder().values()}
        missing = [t for t in dict.fromkeys(names) if t not in added]
        if missing:
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])
        add_bos, add_eos = bool(config.get("add_bos_token", False)), bool(config.get("add_eos_token", False))
        bos, eos = specials["bos_token"], specials["eos_token"]
        if "add_bos_token" in config or "add_eos_token" in config or tok.post_processor is None:
            add_bos, add_eos = add_bos and bos is not None, add_eos and eos is not None
            single = " ".join(([f"{bos}:0"] if add_bos else []) + ["$A:0"] + ([f"{eos}:0"] if add_eos else []))
            pair = single + (f" {bos}:1" if add_bos else "") + " $B:1" + (f" {eos}:1" if add_eos else "")
            ids = [(t, tok.token_to_id(t)) for t, on in ((bos, add_bos), (eos, add_eos)) if on]
            tok.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=ids)
        tok.no_padding()
        self.truncation_side = config.get("truncation_side", "right")
        tok.enable_truncation(max_length, direction=self.truncation_side)
        self.bos_id = tok.token_to_id(bos) if bos else None
        if self.bos_id is None:
            raise ConfigError("model.text_encoder", where, f"the tokenizer has no bos token ({bos!r}); the text "
                              "encoder needs a leading <bos>", "use the official LTX-2.5 text-encoder file")
        pad = specials["pad_token"] or eos
        self.pad_id = tok.token_to_id(pad) if pad else None
        if self.pad_id is None:
            raise ConfigError("model.text_encoder", where, "the tokenizer has neither a pad nor an eos token",
                              "use the official LTX-2.5 text-encoder file")
        self.max_length = max_length

    def __call__(self, prompt: str) -> Tokens:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        text = prompt.strip()
        encoding = self.backend.encode(text)
        ids = list(encoding.ids)
        full = len(ids)
        if full >= self.max_length:  # maybe cut: count what was dropped
            self.backend.no_truncation()
            full = len(self.backend.encode(text).ids)
            self.backend.enable_truncation(self.max_length, direction=self.truncation_side)
        if not ids or ids[0] != self.bos_id:
            full += 1
            ids = [self.bos_id, *ids][: self.max_length]
        dropped = max(0, full - self.max_length)
        if dropped:
            log.warning("prompt has %d tokens but the text encoder takes %d: the last %d tokens were dropped "
                        "(prompt starts %r); shorten the prompt to keep them", full, self.max_length, dropped,
                        text[:60])
        pads = self.max_length - len(ids)
        input_ids = np.array([[self.pad_id] * pads + ids], dtype=np.int32)
        mask = np.array([[0] * pads + [1] * len(ids)], dtype=np.int32)
        return Tokens(mx.array(input_ids), mx.array(mask), dropped)
