"""The full-size LTX-2.5 layout without weights: the parameter names and shapes ltx2 builds from the real 2.5
transformer header equal the reference's (ltx-core 1.2.0 built on the meta device, as the key lists of
shared/reference/ltx25/keys were made). MLX arrays are lazy: the modules are built, their shapes read, nothing is
evaluated (no memory)."""

import numpy as np
import pytest
from mlx.utils import tree_flatten
from oracles import v12

from ltx2.models.text.config import TextProcessorConfig
from ltx2.models.text.connector import Embeddings1DConnector
from ltx2.models.transformer.config import FIXED_AV_VALUES, FIXED_VALUES, TransformerConfig
from ltx2.models.transformer.model import LTXModel

# The LTX-2.3 22B header (ltx2-core-spec.md section 0.2, the values keys/README.md names) + the 2.5 flags
HEADER_23 = {
    **FIXED_VALUES, **FIXED_AV_VALUES,
    "num_layers": 48, "num_attention_heads": 32, "attention_head_dim": 128, "in_channels": 128, "out_channels": 128,
    "cross_attention_dim": 4096, "caption_channels": 3840, "norm_eps": 1e-6, "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64, "audio_out_channels": 128, "audio_cross_attention_dim": 2048,
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_positional_embedding_max_pos": [20], "rope_type": "split", "frequencies_precision": "float64",
    "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0, "apply_gated_attention": True,
    "cross_attention_adaln": True, "caption_proj_before_connector": True, "caption_projection_first_linear": False,
    "caption_projection_second_linear": False, "caption_proj_input_norm": False,
    "connector_apply_gated_attention": True, "connector_num_layers": 8, "connector_num_attention_heads": 32,
    "connector_attention_head_dim": 128, "audio_connector_num_attention_heads": 32,
    "audio_connector_attention_head_dim": 64, "connector_positional_embedding_max_pos": [4096],
}
HEADER_25 = {**HEADER_23, "ff_bias": False, "use_keyframes_abs_pos_embedding": True}

REFERENCE = """
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
from ltx_core.text_encoders.gemma.embeddings_connector import (
    AudioEmbeddings1DConnectorConfigurator, Embeddings1DConnectorConfigurator)
header = json.loads(I["header"])
with torch.device("meta"):
    modules = {"transformer": LTXModelConfigurator.from_metadata({"config": {"transformer": header}}),
               "no_prompt_adaln": LTXModelConfigurator.from_metadata(
                   {"config": {"transformer": dict(header, use_prompt_adaln_single=False)}}),
               "video": Embeddings1DConnectorConfigurator.from_metadata({"config": {"transformer": header}}),
               "audio": AudioEmbeddings1DConnectorConfigurator.from_metadata({"config": {"transformer": header}})}
for name, module in modules.items():
    sd = module.state_dict()
    O[name + "_keys"] = np.array(list(sd))
    O[name + "_shapes"] = np.array([list(v.shape) + [-1] * (4 - v.dim()) for v in sd.values()])
"""


@pytest.fixture(scope="module")
def reference():
    import json

    out = v12.run(REFERENCE, header=json.dumps(HEADER_25))
    return {name: {str(k): tuple(int(n) for n in s if n >= 0) for k, s in zip(out[name + "_keys"],
                                                                             out[name + "_shapes"])}
            for name in ("transformer", "no_prompt_adaln", "video", "audio")}


def shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in tree_flatten(module.parameters())}  # shapes only: never evaluated


@v12.needed
@pytest.mark.parametrize("name,overrides", [("transformer", {}),
                                            ("no_prompt_adaln", {"use_prompt_adaln_single": False})])
def test_transformer_layout_matches_reference(reference, name, overrides):
    ours = shapes(LTXModel(TransformerConfig.from_metadata({**HEADER_25, **overrides})))
    ref = reference[name]
    if not overrides:  # the spec's count (section 0.4): 4091 tensors, 18.988 B parameters
        assert len(ref) == 4091 and round(sum(int(np.prod(s)) for s in ours.values()) / 1e9, 3) == 18.988
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}


@v12.needed
@pytest.mark.parametrize("which", ["video", "audio"])
def test_connector_layout_matches_reference(reference, which):
    """The connectors the 2.5 transformer file carries (``model.diffusion_model.{which}_embeddings_connector.``)."""
    config = TextProcessorConfig.from_metadata(HEADER_25)
    assert shapes(Embeddings1DConnector(getattr(config, which))) == reference[which]
