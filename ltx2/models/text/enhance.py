"""Prompt enhancement (opt-in): Gemma rewrites the user's prompt with the reference's system prompts.

As the reference (``GemmaTextEncoder.enhance_t2v`` / ``enhance_i2v``, ``generate_enhanced_prompt``): chat with
the system prompt and ``"user prompt: {p}"`` (text-to-video) or ``"User Raw Input Prompt: {p}."``
(image-to-video), generate with the enhancing model family's settings (``FAMILY_DEFAULTS``: Gemma 3 samples up
to 512 new tokens at temperature 0.7; a dense Gemma 4 instruct model, ltx2/models/text/enhancer.py, decodes
greedily), decode without special tokens, then ``clean_response``. Any failure keeps the raw prompt, with a
warning. The Gemma 3 path (the LTX-2 / 2.3 text encoder's own Gemma) is here.

Difference: only Gemma's language model is loaded here, so the image-to-video variant uses its system prompt
but does not show the image to Gemma (the reference feeds it through the vision tower).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import mlx.core as mx

log = logging.getLogger(__name__)

MODES = ("t2v", "i2v")
_PROMPTS = Path(__file__).parent / "prompts"
# Curly quotes, dashes, non-breaking space, prime and minus sign -> ASCII (reference: helpers.clean_response).
_ASCII = str.maketrans("\u2018\u2019\u201c\u201d\u2014\u2013\u00a0\u2032\u2212", "''\"\"-- '-")


# Generation of each enhancing model family, as the reference (base_encoder.py): Gemma 3 samples (T 0.7,
# transformers' default top-k 50, 512 new tokens); a dense Gemma 4 instruct model decodes greedily, banning repeated
# 5-grams, up to 600 new tokens.
FAMILY_DEFAULTS = {
    "gemma3": {"max_new_tokens": 512, "temperature": 0.7, "top_k": 50, "no_repeat_ngram_size": 0},
    "gemma4": {"max_new_tokens": 600, "temperature": 0.0, "top_k": 0, "no_repeat_ngram_size": 5},
}


@dataclass(frozen=True)
class PromptEnhancement:
    """How to enhance: ``mode`` "t2v" or "i2v", sampling ``seed`` (reference default 42); the generation settings
    left None take the enhancing model family's defaults (``resolved``); ``enhancer``: the identity of a separate
    enhancing model (its files), so that cached contexts of one enhancer are never served for another."""

    mode: str = "t2v"
    seed: int = 42
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    no_repeat_ngram_size: int | None = None
    family: str | None = None
    enhancer: str | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"prompt enhancement mode {self.mode!r} is not one of {MODES} "
                             "(t2v: text to video; i2v: a conditioning image is given)")
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be positive")
        if self.family is not None and self.family not in FAMILY_DEFAULTS:
            raise ValueError(f"enhancer family {self.family!r} is not one of {tuple(FAMILY_DEFAULTS)}")

    def resolved(self, family: str, enhancer: str | None = None) -> PromptEnhancement:
        """These settings for a ``family`` model ("gemma3" / "gemma4"): unset generation settings take its
        defaults; ``enhancer`` names a separate enhancing model (None: the text encoder's own Gemma 3)."""
        defaults = {k: v for k, v in FAMILY_DEFAULTS[family].items() if getattr(self, k) is None}
        return replace(self, family=family, enhancer=enhancer if enhancer is not None else self.enhancer, **defaults)

    def describe(self) -> dict:
        return {"mode": self.mode, "seed": self.seed, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_k": self.top_k,
                "no_repeat_ngram_size": self.no_repeat_ngram_size, "family": self.family,
                "enhancer": self.enhancer}


@functools.lru_cache(maxsize=4)
def system_prompt(mode: str, family: str = "gemma3") -> str:
    """The reference's system prompt for ``mode`` and the enhancing model's ``family`` ("gemma3", or "gemma4" for
    a dense Gemma 4 instruct model; see prompts/README.md)."""
    name = {"gemma3": "gemma", "gemma4": "gemma4"}[family]
    return (_PROMPTS / f"{name}_{mode}_system_prompt.txt").read_text()


def chat_messages(prompt: str, mode: str, family: str = "gemma3") -> list[dict]:
    user = f"user prompt: {prompt}" if mode == "t2v" else f"User Raw Input Prompt: {prompt}."
    return [{"role": "system", "content": system_prompt(mode, family)}, {"role": "user", "content": user}]


def clean_response(text: str) -> str:
    """ASCII quotes and dashes; drop everything before the first letter."""
    text = text.translate(_ASCII)
    for i, char in enumerate(text):
        if char.isalpha():
            return text[i:]
    return text


def enhance_prompt(gemma, tokenizer, prompt: str, options: PromptEnhancement) -> str:
    """The rewritten prompt; raises on any failure (see ``enhance_or_keep``). ``gemma``: GemmaTextModel,
    ``tokenizer``: GemmaTokenizer."""
    from mlx_lm.generate import generate_step
    from mlx_lm.sample_utils import make_sampler

    options = options.resolved("gemma3")
    hf = tokenizer.hf
    encoded = hf.apply_chat_template(chat_messages(prompt, options.mode), tokenize=True, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    stop = {hf.eos_token_id, hf.convert_tokens_to_ids("<end_of_turn>")} - {None, hf.unk_token_id}
    mx.random.seed(options.seed)
    sampler = make_sampler(temp=options.temperature, top_k=options.top_k)
    generated = []
    for token, _ in generate_step(mx.array(ids), gemma.language_model, max_tokens=options.max_new_tokens,
                                  sampler=sampler):
        token = int(token)
        if token in stop:
            break
        generated.append(token)
    return usable(hf.decode(generated, skip_special_tokens=True).strip())


def usable(text: str) -> str:
    """The cleaned reply; raises when it has no letter at all."""
    text = clean_response(text)
    if not any(c.isalpha() for c in text):
        raise ValueError(f"Gemma returned no usable text ({text!r})")
    return text


def enhance_or_keep(gemma, tokenizer, prompt: str, options: PromptEnhancement, rewrite=None) -> tuple[str, bool]:
    """(prompt actually used, whether it is the enhanced one): on any failure the raw prompt, with a warning.
    ``rewrite(prompt, options)``: the generation (default: the Gemma 3 one, ``enhance_prompt``)."""
    if options.mode == "i2v":
        log.warning("prompt enhancement (i2v): the conditioning image is not shown to Gemma (only its language "
                    "model is loaded); the image-to-video system prompt is used with the text alone")
    try:
        if rewrite is None:
            enhanced = enhance_prompt(gemma, tokenizer, prompt, options)
        else:
            enhanced = rewrite(prompt, options)
    except Exception as e:  # noqa: BLE001 - any failure falls back to the raw prompt, by contract
        log.warning("prompt enhancement failed (%s: %s); using the raw prompt %r", type(e).__name__, e, prompt)
        return prompt, False
    log.info("enhanced prompt: %s", enhanced)
    return enhanced, True
