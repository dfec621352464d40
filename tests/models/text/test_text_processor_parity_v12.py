"""The embeddings processor (feature extractor + connectors) against ltx-core 1.2.0 (the oracle venv), float32,
on a batch whose prompts are padded differently: 1.2.0 reads the prompt tokens from the binary mask wherever they
are (V1 feature extractor) and moves them to the front (stable, order kept) before the connectors; 1.0.0 assumed
one left-padded run (the same for one left-padded prompt, as the runs have). Acceptance: max abs error <= 1e-4."""

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.loading.checkpoint import load_tensors, read_header
from ltx2.models.text.processor import load_embeddings_processor, sanitize
from ltx2.tiny.text import TINY_GEMMA

T = 256

SCRIPT = '''
from types import SimpleNamespace
from ltx_core.text_encoders.gemma.encoders import encoder_configurator as ec
# the processor's own parts, as its configurator builds them (the tiny Gemma's sizes in place of its config file)
metadata = {"config": {"transformer": I["section"]}}
gemma = SimpleNamespace(hidden_size=I["hidden_size"], num_hidden_layers=I["layers"] - 1)
processor = ec.EmbeddingsProcessor(video_connector=ec.Embeddings1DConnectorConfigurator.from_metadata(metadata),
                                   audio_connector=ec.AudioEmbeddings1DConnectorConfigurator.from_metadata(metadata),
                                   feature_extractor=ec._create_feature_extractor(I["section"], gemma)).float().eval()
state = {k[len("w:"):]: torch.from_numpy(I[k]) for k in I if k.startswith("w:")}
processor.load_state_dict(state, strict=True)
states = tuple(torch.from_numpy(I[f"h{i}"]) for i in range(I["layers"]))
with torch.no_grad():
    out = processor.process_hidden_states(states, torch.from_numpy(I["mask"]).long(), "left")
O["video"], O["audio"] = out.video_encoding, out.audio_encoding
'''


@v12.needed
@pytest.mark.parametrize("version", ["ltx2", "ltx2.3"])
def test_processor_with_mixed_padding_matches_1_2_0(tiny, version):
    """Batch of 3: left padding (37 tokens), right padding (50 tokens) and two separate runs of tokens."""
    path = tiny / f"tiny-{version}.safetensors"
    ours = load_embeddings_processor(path, TINY_GEMMA, dtype=mx.float32)
    rng = np.random.default_rng(5)
    states = [((1 + 3 * i) * rng.standard_normal((3, T, TINY_GEMMA.hidden_size))).astype(np.float32)
              for i in range(TINY_GEMMA.num_hidden_states)]
    mask = np.zeros((3, T), np.int32)
    mask[0, T - 37:] = 1
    mask[1, :50] = 1
    mask[2, 20:60] = mask[2, 150:170] = 1
    context = ours([mx.array(s) for s in states], mx.array(mask))
    weights = {f"w:{k}": np.array(v.astype(mx.float32)) for k, v in sanitize(load_tensors(path, "")).items()}
    ref = v12.run(SCRIPT, hidden_size=TINY_GEMMA.hidden_size, section=read_header(path).config["transformer"],
                  layers=len(states), mask=mask, **{f"h{i}": s for i, s in enumerate(states)}, **weights)
    for name, o in (("video", context.video), ("audio", context.audio)):
        err = float(np.abs(np.array(o) - ref[name]).max())
        print(f"PARITY-1.2.0 text processor {version} mixed padding {name}: max abs err {err:.2e}")
        assert err <= 1e-4
