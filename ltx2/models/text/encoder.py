"""The text encoder a pipeline uses: prompt(s) -> TextContext(s), loading Gemma and the embeddings processor on
first use and freeing them on ``release()`` (or leaving a ``with`` block), so denoising starts without them.

Two kinds, chosen from what it is given: a Gemma 3 root folder (LTX-2 / LTX-2.3: ``model.gemma_root``; the text
projection sits with the connectors in the checkpoint) or the LTX-2.5 single text-encoder file (Gemma 4 unified +
tokenizer + text projection, ``model.text_encoder``; the connectors sit with the transformer)."""

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
from ltx2.models.text.enhancer import PromptEnhancer, unified_cannot_enhance
from ltx2.models.text.gemma import QUANT_BITS, GemmaTextModel, load_gemma, read_gemma_config
from ltx2.models.text.gemma4 import MODEL_TYPE as GEMMA4_MODEL_TYPE
from ltx2.models.text.gemma4 import Gemma4Config, Gemma4TextModel
from ltx2.models.text.processor import EmbeddingsProcessor, TextContext, load_embeddings_processor
from ltx2.models.text.te_file import (
    check_gemma_version,
    is_text_encoder_file,
    load_text_encoder_file,
    read_asset,
    read_gemma_hf_config,
)
from ltx2.models.text.tokenizer import FileTokenizer, GemmaTokenizer, Tokens

# Bump when a code change alters the contexts for the same inputs (invalidates the embedding cache).
TEXT_ENCODING_VERSION = 1


class TextEncoder:
    """Tokenizer + Gemma + embeddings processor of one Gemma source and one LTX checkpoint (the file holding the
    text connectors: the single-file LTX-2 / 2.3 checkpoint or the LTX-2.5 transformer file).

    ``gemma``: a Gemma 3 root folder, or an LTX-2.5 text-encoder ``.safetensors`` file (Gemma 4).
    ``quantize_bits`` (4 or 8) runs Gemma with MLX affine quantization (group size 64); None keeps ``dtype``.
    ``enhancer``: a separate prompt-enhancing Gemma folder (``model.prompt_enhancer``; ltx2/models/text/enhancer.py),
    needed to enhance with the LTX-2.5 text encoder; without it a Gemma 3 root enhances with its own model.
    Components load lazily; ``release()`` frees them (use the encoder as a context manager). ``load``: how Gemma
    is built, ``(gemma, dtype, quantize_bits) -> model`` (default: in memory; ``ltx2.loading.streamed_text``
    streams its layers from disk, same numbers).
    """

    def __init__(self, gemma: str | os.PathLike, checkpoint: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16",
                 quantize_bits: int | None = None, max_length: int = MAX_TOKENS, load=None,
                 enhancer: str | os.PathLike | None = None):
        self.gemma_root, self.checkpoint = Path(gemma), Path(checkpoint)
        self.enhancer_root = Path(enhancer) if enhancer else None
        self.is_file = is_text_encoder_file(self.gemma_root)
        if self.is_file and not self.gemma_root.is_file():
            raise ConfigError("model.text_encoder", str(self.gemma_root), "does not exist", "pass the LTX-2.5 "
                              "text-encoder file (gemma4-12b-with-proj-ltx-2.5-*.safetensors)")
        if not self.is_file and not self.gemma_root.is_dir():
            raise ConfigError("model.gemma_root", str(self.gemma_root), "is not a folder", GEMMA_ROOT_FIX)
        if not self.checkpoint.is_file():
            raise ConfigError("checkpoint", str(self.checkpoint), "does not exist", "pass the official LTX-2 / "
                              "LTX-2.3 .safetensors (or the LTX-2.5 transformer file): the text connectors live "
                              "beside the transformer")
        if quantize_bits is not None and quantize_bits not in QUANT_BITS:
            raise ValueError(f"Gemma quantize_bits={quantize_bits!r} is not supported: use one of {QUANT_BITS} "
                             "or None (unquantized)")
        self.dtype = resolve_dtype(dtype)
        self.quantize_bits = quantize_bits
        self.max_length = max_length
        self._load = load
        if self.is_file:
            hf = read_gemma_hf_config(self.gemma_root)
            self.gemma_config: GemmaConfig | Gemma4Config = Gemma4Config.from_hf(hf, str(self.gemma_root))
        else:
            self.gemma_config = read_gemma_config(self.gemma_root)
            hf = json.loads((self.gemma_root / "config.json").read_text())
        check_gemma_version(self.checkpoint, hf, str(self.gemma_root))
        self._tokenizer: GemmaTokenizer | FileTokenizer | None = None
        self._gemma: GemmaTextModel | Gemma4TextModel | None = None
        self._processor: EmbeddingsProcessor | None = None

    @property
    def family(self) -> str:
        """``gemma3`` (a root folder) or ``gemma4_unified`` (the LTX-2.5 text-encoder file)."""
        return GEMMA4_MODEL_TYPE if self.is_file else "gemma3"

    # -- components, loaded on first use -------------------------------------------------------------------
    @property
    def tokenizer(self) -> GemmaTokenizer | FileTokenizer:
        if self._tokenizer is None:
            if self.is_file:
                config = read_asset(self.gemma_root, "tokenizer_config.json")
                data = read_asset(self.gemma_root, "tokenizer.json")
                if data is None or config is None:
                    raise ConfigError("model.text_encoder", str(self.gemma_root), "has no tokenizer ('tokenizer_json' "
                                      "and 'hf_asset__tokenizer_config.json')", "use the official LTX-2.5 "
                                      "text-encoder file")
                self._tokenizer = FileTokenizer(data, json.loads(config), self.max_length, str(self.gemma_root))
            else:
                self._tokenizer = GemmaTokenizer(self.gemma_root, self.max_length)
        return self._tokenizer

    @property
    def gemma(self) -> GemmaTextModel | Gemma4TextModel:
        if self._gemma is None:
            load = self._load or (load_text_encoder_file if self.is_file else load_gemma)
            self._gemma = load(self.gemma_root, self.dtype, self.quantize_bits)
        return self._gemma

    @property
    def processor(self) -> EmbeddingsProcessor:
        if self._processor is None:
            self._processor = load_embeddings_processor(
                self.checkpoint, self.gemma_config, self.dtype,
                projection_path=self.gemma_root if self.is_file else None)
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

    def enhancer(self) -> PromptEnhancer | None:
        """The separate enhancing model, when one is set (checked: a generative Gemma folder)."""
        return PromptEnhancer(self.enhancer_root, self.dtype, self.quantize_bits) if self.enhancer_root else None

    def enhancement_for(self, options: PromptEnhancement) -> PromptEnhancement:
        """``options`` completed for the model that will enhance (its family's generation settings and, for a
        separate enhancer, its identity): what the embedding cache key must include. The LTX-2.5 text encoder
        without an enhancer is refused with a ConfigError (it cannot generate), as the reference."""
        enhancer = self.enhancer()
        if enhancer is not None:
            return enhancer.settings(options)
        if self.is_file:
            raise unified_cannot_enhance(str(self.gemma_root))
        return options.resolved("gemma3")

    def enhance(self, prompt: str, options: PromptEnhancement) -> tuple[str, bool]:
        """(prompt to use, enhanced?) — falls back to ``prompt`` with a warning on any failure. With a separate
        enhancer (``enhancer``) it rewrites; else a Gemma 3 root rewrites with its own model and the LTX-2.5 text
        encoder is refused (``enhancement_for``)."""
        options = self.enhancement_for(options)
        enhancer = self.enhancer()
        if enhancer is not None:
            self.release_gemma()  # the two Gemmas never sit in memory together
            return enhancer.enhance(prompt, options)
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
    Gemma root (relative path, size, mtime) or the text-encoder file (name, size, mtime, and the family key
    ``gemma4_unified``), the checkpoint (path, size, mtime, header digest), the dtype,
    quantization, token length and TEXT_ENCODING_VERSION. A changed or replaced file changes it."""
    digest = hashlib.sha256()
    settings = {"version": TEXT_ENCODING_VERSION, "dtype": str(dtype), "quantize_bits": quantize_bits,
                "max_length": max_length}
    root = Path(gemma_root).resolve()
    if is_text_encoder_file(root):  # Gemma 4 file: its own family key, so it never shares an entry with Gemma 3
        settings["text_encoder"] = GEMMA4_MODEL_TYPE
    digest.update(json.dumps(settings, sort_keys=True).encode())
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        stat = path.stat()
        name = path.name if path == root else path.relative_to(root)
        digest.update(f"gemma:{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    checkpoint = Path(checkpoint).resolve()
    stat = checkpoint.stat()
    digest.update(f"checkpoint:{checkpoint}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    header = read_header(checkpoint)
    digest.update(json.dumps([header.metadata, sorted(header.tensors.items())], sort_keys=True, default=str).encode())
    return digest.hexdigest()
