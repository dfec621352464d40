"""Full-size structure without weights: our Gemma-3-12B and embeddings processors (built lazily, nothing
evaluated) have exactly the reference's parameter names and shapes for the real LTX-2 / LTX-2.3 headers."""

import pytest
from mlx.utils import tree_flatten
from oracles.text import torch

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.config import GemmaConfig, TextProcessorConfig
from ltx2.models.text.gemma import GemmaTextModel, language_model_weights
from ltx2.models.text.processor import EmbeddingsProcessor

# Connector-related entries of the real headers (ltx2-core-spec.md §0.2).
LTX2_19B = {"num_attention_heads": 32, "attention_head_dim": 128, "audio_num_attention_heads": 32,
            "audio_attention_head_dim": 64, "caption_channels": 3840, "rope_type": "split",
            "frequencies_precision": "float64", "connector_num_layers": 2, "connector_num_attention_heads": 30,
            "connector_attention_head_dim": 128, "connector_positional_embedding_max_pos": [4096]}
LTX23_22B = {**LTX2_19B, "caption_proj_before_connector": True, "caption_projection_first_linear": False,
             "caption_projection_second_linear": False, "caption_proj_input_norm": False,
             "connector_apply_gated_attention": True, "connector_num_layers": 8, "connector_num_attention_heads": 32,
             "audio_connector_num_attention_heads": 32, "audio_connector_attention_head_dim": 64,
             "connector_learnable_registers_std": 1}


def shapes(module) -> dict:
    return {k: tuple(v.shape) for k, v in tree_flatten(module.parameters())}


@pytest.mark.parametrize("section", [LTX2_19B, LTX23_22B], ids=["ltx2-19b", "ltx2.3-22b"])
def test_processor_matches_the_reference_layout(section):
    from ltx_core.text_encoders.gemma.encoders.encoder_configurator import EmbeddingsProcessorConfigurator

    with torch.device("meta"):
        reference = EmbeddingsProcessorConfigurator.from_config({"transformer": section})
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    config = TextProcessorConfig.from_metadata(section)
    assert config.max_pos == (4096,) and config.rope_type == "split" and config.float64_rope
    assert shapes(EmbeddingsProcessor(config, GemmaConfig())) == expected


def test_gemma_12b_loads_the_reference_checkpoint_layout():
    """The keys of Gemma3ForConditionalGeneration built from the reference's hard-coded config, mapped by our
    loader, are exactly our language model's parameters (vision tower, projector, lm_head dropped)."""
    from ltx_core.text_encoders.gemma.config import GEMMA3_CONFIG_FOR_LTX
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    with torch.device("meta"):
        reference = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(GEMMA3_CONFIG_FOR_LTX.to_dict()))
    checkpoint = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    mapped = language_model_weights(checkpoint)
    ours = shapes(GemmaTextModel(GemmaConfig()).language_model)
    assert mapped == ours
    assert len(ours) == 1 + 48 * 13 + 1 and ours["model.embed_tokens.weight"] == (262208, 3840)
    old_layout = {k.replace("model.language_model.", "language_model.model.", 1): v for k, v in checkpoint.items()}
    assert language_model_weights(old_layout) == ours  # the transformers 4.5x key layout (HF files)


def test_gemma_config_from_a_real_multimodal_config_json():
    """Only the entries a google/gemma-3-12b-it config.json states; the rest are Gemma 3 defaults."""
    hf = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
          "text_config": {"hidden_size": 3840, "intermediate_size": 15360, "model_type": "gemma3_text",
                          "num_attention_heads": 16, "num_hidden_layers": 48, "num_key_value_heads": 8,
                          "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024},
          "vision_config": {"hidden_size": 1152}}
    assert GemmaConfig.from_hf(hf) == GemmaConfig()
    v5 = {"text_config": {**hf["text_config"], "rope_scaling": None,
                          "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0,
                                                                 "rope_theta": 1e6},
                                              "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}}
    assert GemmaConfig.from_hf(v5) == GemmaConfig()
