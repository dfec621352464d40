"""The text encoder a pipeline uses: prompt(s) -> TextContext(s), loading Gemma and the embeddings processor on
first use and freeing them on ``release()`` (or leaving a ``with`` block), so denoising starts without them."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from pathlib import Path

import mlx.core as mx

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import read_header, resolve_dtype
from ltx2.models.text.config import GEMMA_ROOT_FIX, MAX_TOKENS, GemmaConfig
from ltx2.models.text.enhance import PromptEnhancement, enhance_or_keep
from ltx2.models.text.gemma import QUANT_BITS, GemmaTextModel, load_gemma, read_gemma_config
from ltx2.models.text.processor import EmbeddingsProcessor, TextContext, load_embeddings_processor
from ltx2.models.text.tokenizer import GemmaTokenizer, Tokens

# Bump when a code change alters the contexts for the same inputs (invalidates the embedding cache).
TEXT_ENCODING_VERSION = 1


class TextEncoder:
    """Tokenizer + Gemma 3 + embeddings processor of one Gemma root and one LTX checkpoint.

    ``quantize_bits`` (4 or 8) runs Gemma with MLX affine quantization (group size 64); None keeps ``dtype``.
    Components load lazily; ``release()`` frees them (use the encoder as a context manager).
    """

    def __init__(self, gemma_root: str | os.PathLike, checkpoint: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16",
                 quantize_bits: int | None = None, max_length: int = MAX_TOKENS):
        self.gemma_root, self.checkpoint = Path(gemma_root), Path(checkpoint)
        if not self.gemma_root.is_dir():
            raise ConfigError("model.gemma_root", str(self.gemma_root), "is not a folder", GEMMA_ROOT_FIX)
        if not self.checkpoint.is_file():
            raise ConfigError("checkpoint", str(self.checkpoint), "does not exist", "pass the official LTX-2 / "
                              "LTX-2.3 .safetensors (its text connectors live beside the transformer)")
        if quantize_bits is not None and quantize_bits not in QUANT_BITS:
            raise ValueError(f"Gemma quantize_bits={quantize_bits!r} is not supported: use one of {QUANT_BITS} "
                             "or None (unquantized)")
        self.dtype = resolve_dtype(dtype)
        self.quantize_bits = quantize_bits
        self.max_length = max_length
        self.gemma_config: GemmaConfig = read_gemma_config(self.gemma_root)
        self._tokenizer: GemmaTokenizer | None = None
        self._gemma: GemmaTextModel | None = None
        self._processor: EmbeddingsProcessor | None = None

    # -- components, loaded on first use -------------------------------------------------------------------
    @property
    def tokenizer(self) -> GemmaTokenizer:
        if self._tokenizer is None:
            self._tokenizer = GemmaTokenizer(self.gemma_root, self.max_length)
        return self._tokenizer

    @property
    def gemma(self) -> GemmaTextModel:
        if self._gemma is None:
            self._gemma = load_gemma(self.gemma_root, self.dtype, self.quantize_bits)
        return self._gemma

    @property
    def processor(self) -> EmbeddingsProcessor:
        if self._processor is None:
            self._processor = load_embeddings_processor(self.checkpoint, self.gemma_config, self.dtype)
        return self._processor

    @property
    def loaded(self) -> dict[str, bool]:
        return {"gemma": self._gemma is not None, "processor": self._processor is not None}

    # -- encoding ---------------------------------------------------------------------------------------------
    def tokenize(self, prompt: str) -> Tokens:
        return self.tokenizer(prompt)

    def hidden_states(self, prompt: str) -> tuple[list[mx.array], mx.array]:
        """Gemma's L hidden states (1, T, D) of one prompt, evaluated, and its (1, T) mask."""
        tokens = self.tokenize(prompt)
        states = self.gemma.hidden_states(tokens.input_ids, tokens.attention_mask)
        mx.eval(states)
        return states, tokens.attention_mask

    def encode(self, prompts: list[str], release_gemma: bool = True) -> list[TextContext]:
        """Contexts of ``prompts``. As the reference: Gemma runs over every prompt first and (``release_gemma``)
        is freed before the embeddings processor is loaded, so the two never sit in memory together."""
        if isinstance(prompts, str):
            prompts = [prompts]
        raw = [self.hidden_states(p) for p in prompts]
        if release_gemma:
            self.release_gemma()
        contexts = []
        for states, mask in raw:
            context = self.processor(states, mask)
            mx.eval(context.video, context.audio)
            contexts.append(context)
        return contexts

    def enhance(self, prompt: str, options: PromptEnhancement) -> tuple[str, bool]:
        """(prompt to use, enhanced?) — falls back to ``prompt`` with a warning on any failure."""
        try:
            gemma, tokenizer = self.gemma, self.tokenizer
        except Exception as e:  # noqa: BLE001 - enhancement never stops a run
            import logging

            logging.getLogger(__name__).warning("prompt enhancement unavailable (%s); using the raw prompt", e)
            return prompt, False
        return enhance_or_keep(gemma, tokenizer, prompt, options)

    # -- memory -------------------------------------------------------------------------------------------------
    def release_gemma(self) -> None:
        """Free Gemma's weights (the tokenizer is kept; it is small)."""
        self._gemma = None
        _free()

    def release(self) -> None:
        """Free Gemma and the embeddings processor; later calls load them again."""
        self._gemma = None
        self._processor = None
        _free()

    def __enter__(self) -> TextEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # -- identity -------------------------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        return text_encoder_fingerprint(self.gemma_root, self.checkpoint, self.dtype, self.quantize_bits,
                                        self.max_length)


def _free() -> None:
    gc.collect()
    mx.clear_cache()


def text_encoder_fingerprint(gemma_root: str | os.PathLike, checkpoint: str | os.PathLike, dtype: mx.Dtype,
                             quantize_bits: int | None, max_length: int) -> str:
    """Identity of everything that determines the contexts, without reading any weights: every file of the
    Gemma root (relative path, size, mtime), the checkpoint (path, size, mtime, header digest), the dtype,
    quantization, token length and TEXT_ENCODING_VERSION. A changed or replaced file changes it."""
    digest = hashlib.sha256()
    settings = {"version": TEXT_ENCODING_VERSION, "dtype": str(dtype), "quantize_bits": quantize_bits,
                "max_length": max_length}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    root = Path(gemma_root).resolve()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"gemma:{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    checkpoint = Path(checkpoint).resolve()
    stat = checkpoint.stat()
    digest.update(f"checkpoint:{checkpoint}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    header = read_header(checkpoint)
    digest.update(json.dumps([header.metadata, sorted(header.tensors.items())], sort_keys=True, default=str).encode())
    return digest.hexdigest()
