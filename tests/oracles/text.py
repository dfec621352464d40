"""The ltx-core / transformers oracles for the text-stack parity tests (torch, CPU, float32)."""

from __future__ import annotations

import contextlib

import mlx.core as mx
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ltx_core")


def to_torch(x: mx.array):
    return torch.from_numpy(np.array(x.astype(mx.float32) if x.dtype == mx.bfloat16 else x))


def to_numpy(t) -> np.ndarray:
    return t.detach().float().numpy()


@contextlib.contextmanager
def reference_gemma_dims(hidden_size: int, num_hidden_layers: int):
    """ltx-core sizes its feature extractor from the hard-coded Gemma-3-12B config; shrink it temporarily."""
    from ltx_core.text_encoders.gemma import config as gemma_config

    text = gemma_config.GEMMA3_CONFIG_FOR_LTX.text_config
    saved = text.hidden_size, text.num_hidden_layers
    text.hidden_size, text.num_hidden_layers = hidden_size, num_hidden_layers
    try:
        yield
    finally:
        text.hidden_size, text.num_hidden_layers = saved


def reference_processor(section: dict, hidden_size: int, num_hidden_layers: int, state: dict[str, mx.array]):
    """ltx-core's EmbeddingsProcessor for a transformer ``section``, float32, loaded with ``state``
    (processor keys: feature_extractor.*, video_connector.*, audio_connector.*)."""
    from ltx_core.text_encoders.gemma.encoders.encoder_configurator import EmbeddingsProcessorConfigurator

    with reference_gemma_dims(hidden_size, num_hidden_layers):
        processor = EmbeddingsProcessorConfigurator.from_config({"transformer": section})
    processor = processor.float().eval()
    processor.load_state_dict({k: to_torch(v) for k, v in state.items()}, strict=True)
    return processor
