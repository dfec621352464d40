"""A tiny text stack for the default run and the tests, built offline and deterministic from a seed.

* a Gemma-3-shaped model (6 layers, the 6th global, hidden 24) in a Hugging Face root folder
  (``config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``);
* its tokenizer: byte level (token = 6 + byte value) with Gemma's special tokens
  (``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3, ``<start_of_turn>`` 4, ``<end_of_turn>`` 5), ``<bos>``
  prepended, and a Gemma-style chat template: every distinct prompt gives distinct token ids;
* feature-extractor + connector weights and ``connector_*`` config entries for the tiny single-file
  checkpoints, sized for the tiny transformers (LTX-2: 24-wide contexts; LTX-2.3: 32 video / 16 audio).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.text.config import GemmaConfig, TextProcessorConfig
from ltx2.models.text.gemma import GemmaTextModel
from ltx2.models.text.processor import (
    AUDIO_CONNECTOR_PREFIX,
    FEATURES_PREFIX,
    VIDEO_CONNECTOR_PREFIX,
    EmbeddingsProcessor,
)
from ltx2.tiny.weights import random_weights

TINY_GEMMA = GemmaConfig(hidden_size=24, num_hidden_layers=6, intermediate_size=48, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16, vocab_size=262,
                         sliding_window=1024, max_position_embeddings=4096)
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>")
# Gemma's chat format: the system prompt is prepended to the first user turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\n\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set first = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\n' }}"
    "{% if loop.first %}{{ first }}{% endif %}{{ m['content'] | trim }}{{ '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def tiny_connector_section(section: dict) -> dict:
    """``connector_*`` entries (the real headers' keys, tiny widths) fitting a tiny transformer ``section``:
    LTX-2 connectors as wide as ``caption_channels``, LTX-2.3 ones as wide as the video / audio inner dims."""
    common = {"connector_num_layers": 2, "connector_positional_embedding_max_pos": [4096]}
    if TextProcessorConfig.version_of(section) == 1:
        width = section.get("caption_channels", TINY_GEMMA.hidden_size)
        return {**common, "connector_num_attention_heads": 2, "connector_attention_head_dim": width // 2}
    return {**common, "connector_num_attention_heads": section["num_attention_heads"],
            "connector_attention_head_dim": section["attention_head_dim"],
            "audio_connector_num_attention_heads": section["audio_num_attention_heads"],
            "audio_connector_attention_head_dim": section["audio_attention_head_dim"],
            "connector_apply_gated_attention": True, "connector_learnable_registers_std": 1}


def fits_tiny_gemma(section: dict, gemma: GemmaConfig = TINY_GEMMA) -> bool:
    """Whether the tiny Gemma can feed this section's text stack (LTX-2 features are Gemma's hidden size)."""
    return TextProcessorConfig.version_of(section) == 2 or section.get("caption_channels") == gemma.hidden_size


def tiny_processor_tensors(section: dict, seed: int, gemma: GemmaConfig = TINY_GEMMA) -> dict[str, mx.array]:
    """Random feature-extractor + connector weights under their checkpoint keys, for a transformer ``section``
    that includes the connector entries."""
    processor = EmbeddingsProcessor(TextProcessorConfig.from_metadata(section), gemma, audio=True)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(processor.parameters())}
    renames = (("feature_extractor.", FEATURES_PREFIX), ("video_connector.", VIDEO_CONNECTOR_PREFIX),
               ("audio_connector.", AUDIO_CONNECTOR_PREFIX))
    out = {}
    for key, value in random_weights(shapes, seed + 7919).items():  # own stream, apart from the transformer's
        old, new = next(r for r in renames if key.startswith(r[0]))
        out[new + key.removeprefix(old)] = mx.array(value)
    return out


def tiny_gemma_weights(config: GemmaConfig = TINY_GEMMA, seed: int = 0) -> dict[str, mx.array]:
    """Random Gemma weights under text-only Hugging Face keys (``model.*``). Norm weights are Gemma offsets
    (scale = 1 + w), drawn around 0."""
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(GemmaTextModel(config).language_model.parameters())}
    weights = random_weights(shapes, seed)
    return {k: mx.array(v - 1 if k.endswith("norm.weight") else v) for k, v in weights.items()}


def byte_to_symbol() -> dict[int, str]:
    """The byte-level alphabet: printable Latin-1 bytes map to themselves, the others to 256 + i."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def build_tiny_tokenizer(bos: bool = True):
    """A ``tokenizers.Tokenizer``: byte level, no merges, ``<bos>`` prepended (``bos=False``: nothing added, as
    Gemma 4's tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for b, symbol in byte_to_symbol().items():
        vocab[symbol] = len(SPECIAL_TOKENS) + b
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    if not bos:
        return tokenizer
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", SPECIAL_TOKENS.index("<bos>"))])
    return tokenizer


def write_tiny_gemma_root(folder: str | os.PathLike, seed: int = 0, config: GemmaConfig = TINY_GEMMA,
                          multimodal: bool = False, dtype: mx.Dtype = mx.float32) -> Path:
    """Write a tiny Gemma root in Hugging Face layout. ``multimodal=True`` uses the Gemma3ForConditionalGeneration
    layout (``language_model.model.*`` keys, ``text_config``, plus stand-in vision tensors that must be ignored)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    if tokenizer.get_vocab_size() > config.vocab_size:
        raise ValueError(f"tiny tokenizer has {tokenizer.get_vocab_size()} tokens, more than vocab_size="
                         f"{config.vocab_size}")
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
        "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": 1024, "padding_side": "left",
        "chat_template": CHAT_TEMPLATE}, indent=1))
    hf_config = config.to_hf()
    weights = tiny_gemma_weights(config, seed)
    if multimodal:
        hf_config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                     "text_config": hf_config, "eos_token_id": [1, 106]}
        weights = {"language_model." + k: v for k, v in weights.items()}
        weights["vision_tower.vision_model.embeddings.patch_embedding.weight"] = mx.zeros((4, 3, 2, 2))
        weights["multi_modal_projector.mm_input_projection_weight"] = mx.zeros((4, config.hidden_size))
    (folder / "config.json").write_text(json.dumps(hf_config, indent=1))
    save_checkpoint(folder / "model.safetensors", {k: v.astype(dtype) for k, v in weights.items()}, {"format": "pt"})
    return folder
