"""Loading the transformer from official-format checkpoints: formats, dtypes and clear errors."""

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import read_header, save_checkpoint
from ltx2.models.transformer.load import PREFIX, load_transformer
from ltx2.tiny.checkpoint import VERSIONS, tiny_transformer_section, write_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return {v: write_tiny_checkpoint(folder / f"{v}.safetensors", v, seed=3) for v in VERSIONS}


def _rewrite(src, dst, edit_tensors=None, metadata=None):
    tensors = dict(mx.load(str(src)))
    header = read_header(src)
    if edit_tensors:
        edit_tensors(tensors)
    save_checkpoint(dst, tensors, header.metadata if metadata is None else metadata)
    return dst


def test_tiny_checkpoints_are_official_format_and_deterministic(tiny, tmp_path):
    header = read_header(tiny["ltx2.3"])
    assert header.model_version == "2.3.0" and read_header(tiny["ltx2"]).model_version.startswith("2.0")
    assert header.config["transformer"]["cross_attention_adaln"] is True
    components = ("vae.", "text_embedding_projection.", "audio_vae.", "vocoder.")  # others share the file
    assert all(k.startswith((PREFIX, *components)) for k in header.tensors)
    assert PREFIX + "transformer_blocks.1.attn1.to_q.weight" in header.tensors
    again = write_tiny_checkpoint(tmp_path / "again.safetensors", "ltx2.3", seed=3)
    other = write_tiny_checkpoint(tmp_path / "other.safetensors", "ltx2.3", seed=4)
    a, b, c = (dict(mx.load(str(p))) for p in (tiny["ltx2.3"], again, other))
    key = PREFIX + "transformer_blocks.0.attn1.to_q.weight"
    assert np.array_equal(np.array(a[key]), np.array(b[key])) and not np.array_equal(np.array(a[key]), np.array(c[key]))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_compute_dtype(tiny, dtype):
    model = load_transformer(tiny["ltx2"], dtype)
    params = dict(tree_flatten(model.parameters()))
    assert {v.dtype for v in params.values()} == {getattr(mx, dtype)}
    stored = mx.load(str(tiny["ltx2"]))
    for name in ("transformer_blocks.0.attn1.to_q.weight", "proj_out.bias", "scale_shift_table"):
        expected = stored[PREFIX + name].astype(getattr(mx, dtype))  # each tensor is the file's, cast once
        assert mx.array_equal(params[name], expected), name


def test_other_components_in_the_file_are_ignored(tiny, tmp_path):
    def add_foreign(t):
        t["vae.decoder.conv_in.weight"] = mx.zeros((2, 2))
        t[PREFIX + "video_embeddings_connector.learnable_registers"] = mx.zeros((128, 24))

    path = _rewrite(tiny["ltx2"], tmp_path / "with_vae.safetensors", add_foreign)
    params = dict(tree_flatten(load_transformer(path, "float32").parameters()))
    plain = dict(tree_flatten(load_transformer(tiny["ltx2"], "float32").parameters()))
    assert params.keys() == plain.keys()  # the foreign tensors became no parameter
    assert all(mx.array_equal(params[k], plain[k]) for k in plain)


def test_video_only_model_does_not_need_audio_weights(tiny, tmp_path):
    def drop_audio(t):
        for k in [k for k in t if "audio" in k or "av_ca" in k or "a2v" in k]:
            del t[k]

    path = _rewrite(tiny["ltx2"], tmp_path / "video.safetensors", drop_audio)
    assert load_transformer(path, "float32").config.audio is False  # detected from the keys


def test_missing_and_unexpected_keys_are_listed(tiny, tmp_path):
    def damage(t):
        del t[PREFIX + "transformer_blocks.1.attn2.to_k.bias"]
        del t[PREFIX + "proj_out.weight"]
        t[PREFIX + "transformer_blocks.0.attn1.extra"] = mx.zeros((3,))

    path = _rewrite(tiny["ltx2"], tmp_path / "damaged.safetensors", damage)
    with pytest.raises(ConfigError) as err:
        load_transformer(path, "float32")
    message = str(err.value)
    assert "2 missing" in message and "proj_out.weight" in message and "transformer_blocks.1.attn2.to_k.bias" in message
    assert "1 unexpected" in message and "transformer_blocks.0.attn1.extra" in message


def test_wrong_shape_is_reported(tiny, tmp_path):
    def reshape(t):
        t[PREFIX + "patchify_proj.weight"] = mx.zeros((32, 64))

    path = _rewrite(tiny["ltx2"], tmp_path / "shape.safetensors", reshape)
    with pytest.raises(ConfigError, match=r"wrong shape: patchify_proj.weight: checkpoint \(32, 64\), model \(32, 128\)"):
        load_transformer(path, "float32")


def test_no_config_metadata(tiny, tmp_path):
    path = _rewrite(tiny["ltx2"], tmp_path / "nometa.safetensors", metadata={"model_version": "2.0.0"})
    with pytest.raises(ConfigError, match="no 'config' entry"):
        load_transformer(path)


def test_unsupported_config_values_are_all_listed(tiny, tmp_path):
    section = tiny_transformer_section("ltx2", rope_type="spiral", activation_fn="relu", qk_norm="layer_norm")
    path = _rewrite(tiny["ltx2"], tmp_path / "bad.safetensors",
                    metadata={"config": json.dumps({"transformer": section}), "model_version": "2.0.0"})
    with pytest.raises(ConfigError) as err:
        load_transformer(path)
    for fragment in ("rope_type='spiral'", "activation_fn='relu'", "qk_norm='layer_norm'"):
        assert fragment in str(err.value)


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(ConfigError, match="not a safetensors file"):
        load_transformer(junk)
    with pytest.raises(ConfigError, match="does not exist"):
        load_transformer(tmp_path / "missing.safetensors")


def test_unknown_dtype(tiny):
    with pytest.raises(ValueError, match="compute dtype 'float8'"):
        load_transformer(tiny["ltx2"], "float8")
