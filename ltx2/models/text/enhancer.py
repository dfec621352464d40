"""A separate prompt-enhancing model (``model.prompt_enhancer``, the reference's ``--prompt-enhancer-gemma-root``): a
Hugging Face folder of a generative Gemma, either a dense Gemma 4 instruct model (``model_type: gemma4``, e.g.
google/gemma-4-E2B-it: greedy, 5-gram ban, 600 tokens, the Gemma 4 system prompts) or a Gemma 3 instruct model
(sampling, T 0.7, 512 tokens, the Gemma 3 prompts). LTX-2.5 needs one to enhance prompts: its text encoder
(Gemma 4 unified) cannot generate. Loaded for one rewrite and freed right after, before the text encoder loads.

The Gemma 4 prompt is tokenized as the reference does it: the root's ``tokenizer.json`` driven by transformers'
``PreTrainedTokenizerFast`` with the ``tokenizer_config.json`` entries and ``chat_template.jinja``, the chat
template rendered to text, then tokenized with the tokenizer's own special tokens.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
from pathlib import Path

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.models.text.enhance import PromptEnhancement, chat_messages, enhance_or_keep, usable
from ltx2.models.text.gemma4_dense import ENHANCER_FIX, ENHANCER_KEY

log = logging.getLogger(__name__)

# config.json model_type -> enhancer family (a text-only Gemma 3 root, which ltx2 also encodes with, is accepted
# beside the reference's multimodal one: only the language model generates)
FAMILIES = {"gemma3": "gemma3", "gemma3_text": "gemma3", "gemma4": "gemma4"}
# tokenizer_config.json entries that are not tokenizer arguments (the reference drops the same ones)
_NOT_KWARGS = {"tokenizer_class", "auto_map", "model_max_length", "backend", "is_local", "local_files_only",
               "processor_class", "added_tokens_decoder"}
TOKENIZER_MAX_LENGTH = 1024


def enhancer_family(root: str | os.PathLike) -> str:
    """``gemma3`` or ``gemma4`` from the folder's config.json; a ConfigError for anything else."""
    root = Path(root)
    config = root / "config.json"
    if not root.is_dir() or not config.is_file():
        raise ConfigError(ENHANCER_KEY, str(root), "is not a Hugging Face model folder (no config.json)",
                          ENHANCER_FIX)
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type not in FAMILIES:
        raise ConfigError(ENHANCER_KEY, str(root), f"model_type={model_type!r} cannot rewrite prompts (generative "
                          "Gemma only: 'gemma4' dense instruct or 'gemma3')", ENHANCER_FIX)
    return FAMILIES[model_type]


def unified_cannot_enhance(text_encoder: str) -> ConfigError:
    """The refusal of enhancement with the LTX-2.5 text encoder alone (Gemma 4 unified cannot generate)."""
    return ConfigError("text.enhance_prompt", True, f"the LTX-2.5 text encoder ({Path(text_encoder).name}, Gemma 4 "
                       "unified) encodes only and cannot rewrite prompts", "set model.prompt_enhancer to a dense "
                       "Gemma 4 instruct folder (hf://google/gemma-4-E2B-it, the reference's example) or a Gemma 3 "
                       "one, or text.enhance_prompt=false")


def enhancer_fingerprint(root: str | os.PathLike) -> str:
    """Identity of the folder's files (relative path, size, mtime), without reading weights."""
    root = Path(root).resolve()
    digest = hashlib.sha256(f"enhancer:{root}\n".encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build_tokenizer(root: str | os.PathLike):
    """The root's tokenizer as the reference builds it (``build_gemma_hf_tokenizer``)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    root = Path(root)
    config_path = root / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    kwargs = {k: v for k, v in config.items() if k not in _NOT_KWARGS}
    template = root / "chat_template.jinja"
    if template.is_file():
        kwargs.setdefault("chat_template", template.read_text())
    elif (root / "chat_template.json").is_file():
        loaded = json.loads((root / "chat_template.json").read_text())
        kwargs.setdefault("chat_template", loaded if isinstance(loaded, str) else loaded.get("chat_template"))
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(str(root / "tokenizer.json")),
                                   model_max_length=TOKENIZER_MAX_LENGTH, **kwargs)


def gemma4_prompt_ids(tokenizer, prompt: str, mode: str) -> list[int]:
    """Token ids of the chat (Gemma 4 system prompt + user turn + generation prompt)."""
    text = tokenizer.apply_chat_template(chat_messages(prompt, mode, "gemma4"), tokenize=False,
                                         add_generation_prompt=True)
    return list(tokenizer(text)["input_ids"])


class PromptEnhancer:
    """The enhancing model of ``root`` (checked on construction, loaded only by ``enhance``)."""

    def __init__(self, root: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16, quantize_bits: int | None = None):
        self.root, self.dtype, self.quantize_bits = Path(root), dtype, quantize_bits
        self.family = enhancer_family(self.root)

    def settings(self, options: PromptEnhancement) -> PromptEnhancement:
        """``options`` with this family's generation defaults and this model's identity (the cache key's part)."""
        identity = f"{self.family}:{enhancer_fingerprint(self.root)}:{self.dtype}:{self.quantize_bits}"
        return options.resolved(self.family, identity)

    def generate_ids(self, prompt: str, options: PromptEnhancement) -> tuple[list[int], list[int]]:
        """(prompt ids, generated ids) of a Gemma 4 root."""
        from ltx2.models.text.gemma4_dense import load_gemma4_dense
        from ltx2.models.text.generate import greedy_generate

        options = self.settings(options)
        if options.temperature:
            raise ValueError(f"the Gemma 4 enhancer decodes greedily (temperature={options.temperature})")
        tokenizer = build_tokenizer(self.root)
        ids = gemma4_prompt_ids(tokenizer, prompt, options.mode)
        model = load_gemma4_dense(self.root, self.dtype, self.quantize_bits)
        try:
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            out = greedy_generate(model, ids, options.max_new_tokens, options.no_repeat_ngram_size,
                                  model.config.eos_token_ids, pad)
        finally:
            del model
            gc.collect()
            mx.clear_cache()
        return ids, out

    def _rewrite_gemma4(self, prompt: str, options: PromptEnhancement) -> str:
        _, out = self.generate_ids(prompt, options)
        return usable(build_tokenizer(self.root).decode(out, skip_special_tokens=True))

    def enhance(self, prompt: str, options: PromptEnhancement) -> tuple[str, bool]:
        """(prompt to use, enhanced?): on any failure the raw prompt, with a warning."""
        options = self.settings(options)
        if self.family == "gemma4":
            return enhance_or_keep(None, None, prompt, options, rewrite=self._rewrite_gemma4)
        from ltx2.models.text.gemma import load_gemma
        from ltx2.models.text.tokenizer import GemmaTokenizer

        try:
            gemma, tokenizer = load_gemma(self.root, self.dtype, self.quantize_bits), GemmaTokenizer(self.root)
        except Exception as e:  # noqa: BLE001 - enhancement never stops a run
            log.warning("prompt enhancement unavailable (%s); using the raw prompt", e)
            return prompt, False
        try:
            return enhance_or_keep(gemma, tokenizer, prompt, options)
        finally:
            del gemma
            gc.collect()
            mx.clear_cache()
