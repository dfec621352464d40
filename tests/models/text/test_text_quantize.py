"""Gemma quantized to 8 / 4 bits (MLX affine, group 64) against the unquantized float32 model, on a tiny
quantizable Gemma (hidden 64) and through an LTX-2.3-shaped embeddings processor.

Measured (seed 5, two prompts): hidden states max|q - f| / max|f| ~2.4e-2 (8 bit), ~0.42 (4 bit); final
video context relative RMS error ~7e-3 (8 bit), ~0.15 (4 bit); weights 0.29x / 0.16x of float32.
"""

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.config import GemmaConfig, TextProcessorConfig
from ltx2.models.text.gemma import GemmaTextModel, load_gemma, parameter_bytes
from ltx2.models.text.processor import EmbeddingsProcessor
from ltx2.models.text.tokenizer import GemmaTokenizer
from ltx2.tiny.checkpoint import random_weights, tiny_transformer_section
from ltx2.tiny.text import write_tiny_gemma_root

QUANTIZABLE_GEMMA = GemmaConfig(hidden_size=64, num_hidden_layers=6, intermediate_size=128, num_attention_heads=4,
                                num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, vocab_size=262,
                                max_position_embeddings=4096)
PROMPTS = ["A red fox jumps over the lazy dog at dusk.", "Close-up of rain drops on a window, soft piano music."]
# bits -> (hidden-state relative max error, context relative RMS error, weight bytes vs float32): bounds ~2x measured
BOUNDS = {8: (0.05, 0.02, 0.30), 4: (0.8, 0.3, 0.17)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_tiny_gemma_root(tmp_path_factory.mktemp("qgemma"), seed=5, config=QUANTIZABLE_GEMMA)
    processor = EmbeddingsProcessor(TextProcessorConfig.from_metadata(tiny_transformer_section("ltx2.3")),
                                    QUANTIZABLE_GEMMA)
    shapes = {k: v.shape for k, v in tree_flatten(processor.parameters())}
    processor.load_weights([(k, mx.array(v)) for k, v in random_weights(shapes, 1).items()])
    return root, GemmaTokenizer(root, 256), processor, load_gemma(root, mx.float32)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_gemma_error_is_bounded(setup, bits):
    root, tokenizer, processor, full = setup
    quantized = load_gemma(root, mx.float32, quantize_bits=bits)
    assert quantized.quantization == {"bits": bits, "group_size": 64, "layers": 6 * 7 + 1}
    size_ratio = parameter_bytes(quantized) / parameter_bytes(full)
    hs_errors, ctx_errors = [], []
    for prompt in PROMPTS:
        tokens = tokenizer(prompt)
        n = tokens.num_tokens
        f = full.hidden_states(tokens.input_ids, tokens.attention_mask)
        q = quantized.hidden_states(tokens.input_ids, tokens.attention_mask)
        hs_errors += [float(mx.abs(a[:, -n:] - b[:, -n:]).max() / mx.abs(a[:, -n:]).max())
                      for a, b in zip(f, q, strict=True)]
        cf, cq = processor(f, tokens.attention_mask), processor(q, tokens.attention_mask)
        ctx_errors += [float(mx.sqrt(mx.mean((x - y) ** 2)) / mx.sqrt(mx.mean(x**2)))
                       for x, y in ((cf.video, cq.video), (cf.audio, cq.audio))]
    print(f"{bits}-bit Gemma: hidden states rel max err {max(hs_errors):.3e}, context rel RMS err "
          f"{max(ctx_errors):.3e}, weights {size_ratio:.2f}x float32")
    hs_bound, ctx_bound, size_bound = BOUNDS[bits]
    assert max(hs_errors) < hs_bound and max(ctx_errors) < ctx_bound and size_ratio < size_bound
    assert max(ctx_errors) > 0  # it really is quantized


def test_layers_with_unaligned_width_stay_unquantized(tiny_text):
    model = load_gemma(tiny_text["gemma"], mx.float32, quantize_bits=8)
    assert model.quantization["layers"] == 0  # input widths 24, 32 and 48: none is a multiple of 64; still runs


def test_quantizing_while_loading_equals_quantizing_after(setup):
    """load_gemma quantizes part by part (low peak memory); same numbers as quantizing the loaded model."""
    root, tokenizer, _, _ = setup
    streamed = load_gemma(root, mx.float32, quantize_bits=4)
    after = load_gemma(root, mx.float32)
    after.quantize(4)
    assert streamed.quantization == after.quantization
    tokens = tokenizer(PROMPTS[0])
    for a, b in zip(streamed.hidden_states(tokens.input_ids, tokens.attention_mask),
                    after.hidden_states(tokens.input_ids, tokens.attention_mask), strict=True):
        assert float(mx.abs(a - b).max()) == 0


def test_quantized_load_never_holds_the_unquantized_model(tmp_path):
    """Peak memory of a 4-bit load stays well under the float32 model's size (measured: 36 MB vs 126 MB)."""
    config = GemmaConfig(hidden_size=512, num_hidden_layers=8, intermediate_size=2048, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=128, query_pre_attn_scalar=128, vocab_size=262)
    root = write_tiny_gemma_root(tmp_path, config=config)
    mx.clear_cache()
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    model = load_gemma(root, mx.float32, quantize_bits=4)
    peak = mx.get_peak_memory() - base
    full_bytes = 4 * sum(v.size for _, v in tree_flatten(GemmaTextModel(config).language_model.parameters()))
    print(f"4-bit load: peak {peak / 1e6:.0f} MB, quantized {parameter_bytes(model) / 1e6:.0f} MB, "
          f"float32 model {full_bytes / 1e6:.0f} MB")
    assert peak < 0.4 * full_bytes
