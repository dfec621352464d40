"""The LTX-2.5 text encoder (Gemma 4 unified, one file) against ltx-core 1.2.0: the reference loads OUR tiny
text-encoder file with its official loader ops (tokenizer op only: the processor op imports torchvision, unusable
in the oracle venv, and only enhancement uses it) and encodes a prompt; the embeddings processor is built from
(connector file, TE file) as its PromptEncoder does. Compared: token ids (exact), every hidden state (prompt rows;
pad rows are never used), the V2 features and the connector outputs.

Acceptance: float32 max abs error <= 1e-4; bfloat16 error (vs the float32 reference) within 2x the reference's own
bfloat16-vs-float32 error. Two configs: the packer recipe's (5 sliding + 1 full layer, GQA 2/1) and one with
``attention_k_eq_v``, 4/2 GQA, two KV-shared layers with double-wide MLPs and a custom layer pattern.

Measured (seed 3, 74 prompt tokens, CPU): float32 hidden states max|err| <= 6.9e-5 (values up to ~30, cosine 1.0),
V2 features <= 8.6e-6, connector outputs <= 1.2e-5; bfloat16 error 0.7x-1.7x the reference's own.
"""

import json
from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.models.text.encoder import TextEncoder
from ltx2.models.text.gemma4 import FULL, SLIDING
from ltx2.tiny.checkpoint import tiny_transformer_section
from ltx2.tiny.gemma4 import TINY_GEMMA4, write_tiny_connector_file, write_tiny_text_encoder_file

TOL = 1e-4
PROMPT = "  A red fox jumps over the lazy dog, slowly, at dusk; the camera pans left.  "
CONFIGS = {
    "recipe": TINY_GEMMA4,
    "k_eq_v_shared": replace(TINY_GEMMA4, num_attention_heads=4, num_key_value_heads=2, attention_k_eq_v=True,
                             num_global_key_value_heads=1, sliding_window=8, num_kv_shared_layers=2,
                             use_double_wide_mlp=True, layer_types=(SLIDING, SLIDING, FULL, SLIDING, SLIDING, FULL)),
}

REFERENCE = """
from ltx_core.loader import SingleGPUModelBuilder
from ltx_core.text_encoders.gemma import EMBEDDINGS_PROCESSOR_KEY_OPS
from ltx_core.text_encoders.gemma.encoders.encoder_configurator import (
    EmbeddingsProcessorConfigurator, GemmaTextEncoderConfigurator, get_gemma_ops)

te_file, tr_file = I["te"], I["tr"]
sd_ops, module_ops = get_gemma_ops(te_file)
module_ops = tuple(op for op in module_ops if op.name != "ProcessorLoad")
for name in ("float32", "bfloat16"):
    dtype = getattr(torch, name)
    te = SingleGPUModelBuilder(model_path=(te_file,),
                               model_class_configurator=GemmaTextEncoderConfigurator.with_gemma_model_path(te_file),
                               model_sd_ops=sd_ops, module_ops=module_ops).build(device=torch.device("cpu"),
                                                                                dtype=dtype).eval()
    ids = te.tokenizer.tokenize_with_weights(I["prompt"])["gemma"]
    O["ids"] = np.array([int(t) for t, _ in ids])
    with torch.no_grad():
        (hs, mask), = te.encode([I["prompt"]])
    O["mask"] = mask
    for i, h in enumerate(hs):
        O[f"{name}.hs{i}"] = h
    ep = SingleGPUModelBuilder(model_path=(tr_file, te_file),
                               model_class_configurator=EmbeddingsProcessorConfigurator.with_gemma_model_path(te_file),
                               model_sd_ops=EMBEDDINGS_PROCESSOR_KEY_OPS).build(device=torch.device("cpu"),
                                                                               dtype=dtype).eval()
    with torch.no_grad():
        video, audio = ep.feature_extractor(hs, mask)
        out = ep.process_hidden_states(hs, mask)
    O[f"{name}.video_features"], O[f"{name}.audio_features"] = video, audio
    O[f"{name}.video"], O[f"{name}.audio"] = out.video_encoding, out.audio_encoding
"""


def _ours(te, tr, dtype):
    with TextEncoder(te, tr, dtype=dtype) as encoder:
        tokens = encoder.tokenize(PROMPT)
        states, mask = encoder.hidden_states(PROMPT)
        video, audio = encoder.processor.feature_extractor(states, mask)
        context = encoder.processor(states, mask)
        out = {f"hs{i}": h for i, h in enumerate(states)}
        out.update(video_features=video, audio_features=audio, video=context.video, audio=context.audio)
        return tokens, {k: np.array(v.astype(mx.float32)) for k, v in out.items()}


def _err(a, b, rows=None):
    a, b = (x[:, rows] if rows is not None else x for x in (a, b))
    return float(np.abs(a - b).max())


@v12.needed
@pytest.mark.parametrize("name", ["recipe", pytest.param("k_eq_v_shared", marks=pytest.mark.slow)])
def test_gemma4_text_encoder_matches_reference(tmp_path, name):
    config = CONFIGS[name]
    te = write_tiny_text_encoder_file(tmp_path / "tiny-te.safetensors", seed=3, config=config)
    tr = write_tiny_connector_file(tmp_path / "tiny-tr.safetensors", tiny_transformer_section("ltx2.3"), seed=3)
    ref = v12.run(REFERENCE, te=te, tr=tr, prompt=PROMPT)
    tokens, fp32 = _ours(te, tr, "float32")
    _, bf16 = _ours(te, tr, "bfloat16")
    assert np.array(tokens.input_ids)[0].tolist() == ref["ids"].astype(int).tolist()
    assert np.array(tokens.attention_mask)[0].tolist() == ref["mask"][0].astype(int).tolist()
    n = tokens.num_tokens
    rows = slice(-n, None)
    keys = [f"hs{i}" for i in range(config.num_hidden_states)] + ["video_features", "audio_features", "video",
                                                                     "audio"]
    report = []
    for key in keys:
        r = rows if key.startswith("hs") else None
        e32 = _err(fp32[key], ref[f"float32.{key}"], r)
        e16 = _err(bf16[key], ref[f"float32.{key}"], r)
        ref16 = _err(ref[f"bfloat16.{key}"], ref[f"float32.{key}"], r)
        a, b = (x[:, r].ravel() if r is not None else x.ravel() for x in (fp32[key], ref[f"float32.{key}"]))
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        report.append((key, e32, cosine, e16, ref16))
    print(f"\n[{name}] n={n} tokens; key: fp32 max|err|, fp32 cosine, bf16 max|err| vs ref fp32, ref bf16 max|err|")
    for key, e32, cosine, e16, ref16 in report:
        print(f"  {key:15s} {e32:.2e} {cosine:.8f} {e16:.2e} {ref16:.2e}")
    assert all(e32 <= TOL for _, e32, *_ in report), report
    assert all(e16 <= 2 * ref16 + 1e-6 for *_, e16, ref16 in report), report


PACKER = """
import json, tempfile
from pathlib import Path
import safetensors
from transformers import AutoModelForImageTextToText
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from ltx_core.text_encoders.gemma.gemma_assets import GemmaAssets, build_text_encoder_tensors_from_gemma_root

ours = GemmaAssets.load(I["te"])  # the reference reads our file's config, tokenizer and sidecars
cfg = dict(ours.config_dict)
root = Path(tempfile.mkdtemp())
hf = AutoModelForImageTextToText.from_config(CONFIG_MAPPING[cfg["model_type"]].from_dict(cfg))
hf.save_pretrained(root)
(root / "tokenizer.json").write_bytes(ours.tokenizer_json)
for name, data in ours.sidecars.items():
    (root / name).write_bytes(data)
with safetensors.safe_open(I["te"], "pt") as f:
    projection = {k: f.get_tensor(k) for k in f.keys() if k.startswith("text_embedding_projection.")}
tensors, meta = build_text_encoder_tensors_from_gemma_root(str(root), projection, gemma_version=cfg["gemma_version"])
keys = sorted(k for k in tensors if k != "tokenizer_json" and not k.startswith("hf_asset__"))
O["keys"] = np.array(keys)
O["dtypes"] = np.array([str(tensors[k].dtype).removeprefix("torch.") for k in keys])
O["shapes"] = np.array([json.dumps(list(tensors[k].shape)) for k in keys])
O["assets"] = np.array(sorted(k for k in tensors if k == "tokenizer_json" or k.startswith("hf_asset__")))
O["metadata"] = np.array(sorted(meta))
O["version"] = np.array(json.loads(meta["gemma_config"])["gemma_version"])
"""

TOKENS = """
from ltx_core.text_encoders.gemma.encoders.base_encoder import build_gemma_tokenizer
from ltx_core.text_encoders.gemma.gemma_assets import GemmaAssets

tokenizer = build_gemma_tokenizer(GemmaAssets.load(I["te"]))
for i, prompt in enumerate(json.loads(I["prompts"])):
    pairs = tokenizer.tokenize_with_weights(prompt)["gemma"]
    O[f"ids{i}"] = np.array([int(t) for t, _ in pairs])
    O[f"mask{i}"] = np.array([int(w) for _, w in pairs])
"""
_SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "U8": "uint8"}


@v12.needed
def test_tiny_file_has_the_official_packer_layout(tmp_path):
    from ltx2.loading.checkpoint import read_header

    te = write_tiny_text_encoder_file(tmp_path / "tiny-te.safetensors", seed=0)
    ref = v12.run(PACKER, te=te)
    header = read_header(te)
    ours = {k: v for k, v in header.tensors.items() if k != "tokenizer_json" and not k.startswith("hf_asset__")}
    assert sorted(ours) == ref["keys"].tolist()
    assert [_SAFETENSORS_DTYPES[ours[k][0]] for k in sorted(ours)] == ref["dtypes"].tolist()
    assert [list(ours[k][1]) for k in sorted(ours)] == [json.loads(s) for s in ref["shapes"].tolist()]
    assert sorted(k for k in header.tensors if k not in ours) == ref["assets"].tolist()
    assert all(header.tensors[k][0] == "U8" for k in ref["assets"].tolist())
    assert sorted(header.metadata) == ref["metadata"].tolist() == ["format", "gemma_config"]
    assert str(ref["version"]) == "gemma4-12b-ltx-v1"


# A tokenizer config exercising transformers' rules: bos added by the post-processor (no second one), a named
# model-specific token and listed extras that the tokenizer lacks (added as special tokens), left truncation.
RICH_TOKENIZER = {"add_bos_token": True, "image_token": "<image_soft_token>", "truncation_side": "left",
                  "extra_special_tokens": ["<start_of_turn>", "<end_of_turn>", "<new_special>"]}


@v12.needed
@pytest.mark.parametrize("tokenizer_config", [None, RICH_TOKENIZER], ids=["tiny", "rich"])
def test_tokens_match_the_reference_tokenizer(tmp_path, tokenizer_config):
    from ltx2.models.text.encoder import TextEncoder

    te = write_tiny_text_encoder_file(tmp_path / "tiny-te.safetensors", seed=0, tokenizer_config=tokenizer_config)
    tr = write_tiny_connector_file(tmp_path / "tiny-tr.safetensors", tiny_transformer_section("ltx2.3"), seed=0)
    prompts = [PROMPT, "", "   ", "x" * 1500, "x" * 1023, "x" * 1024, "<bos>a <eos> b<pad>",
               "caf\u00e9 \u2014 \U0001f98a", "a <image_soft_token> b <new_special><end_of_turn>",
               "y" * 1100 + "<new_special>"]
    ref = v12.run(TOKENS, te=te, prompts=json.dumps(prompts))
    tokenizer = TextEncoder(te, tr, dtype="float32").tokenizer
    for i, prompt in enumerate(prompts):
        tokens = tokenizer(prompt)
        assert np.array(tokens.input_ids)[0].tolist() == ref[f"ids{i}"].tolist(), prompt[:20]
        assert np.array(tokens.attention_mask)[0].tolist() == ref[f"mask{i}"].tolist(), prompt[:20]


STRUCTURE = """
from transformers import AutoModelForImageTextToText, Gemma4UnifiedConfig

for i, text in enumerate(json.loads(I["variants"])):
    config = Gemma4UnifiedConfig(text_config=text)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    prefix = "model.language_model."
    state = {k.removeprefix(prefix): v for k, v in model.state_dict().items() if k.startswith(prefix)}
    O[f"keys{i}"] = np.array(sorted(state))
    O[f"shapes{i}"] = np.array([json.dumps(list(state[k].shape)) for k in sorted(state)])
    O[f"config{i}"] = np.array(json.dumps(config.to_dict()))
"""
VARIANTS = [{}, {"attention_k_eq_v": True, "num_global_key_value_heads": 2, "num_kv_shared_layers": 6,
                 "use_double_wide_mlp": True}]


@v12.needed
def test_full_size_structure_matches_transformers():
    """transformers 5.14.1's default Gemma4Unified text model (2304 wide, 30 layers) and a k_eq_v / KV-shared
    variant, built on meta from the config dict it serializes: our module has exactly its parameter names
    (layer_scalar included) and shapes; nothing is evaluated."""
    from mlx.utils import tree_flatten

    from ltx2.models.text.gemma4 import Gemma4Config, Gemma4TextModel

    ref = v12.run(STRUCTURE, variants=json.dumps(VARIANTS))
    for i in range(len(VARIANTS)):
        config = Gemma4Config.from_hf(json.loads(str(ref[f"config{i}"])))
        ours = {k: list(v.shape) for k, v in tree_flatten(Gemma4TextModel(config).parameters())}
        assert sorted(ours) == ref[f"keys{i}"].tolist()
        assert [ours[k] for k in sorted(ours)] == [json.loads(s) for s in ref[f"shapes{i}"].tolist()]
