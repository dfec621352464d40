"""The Checkpoint object: today's single file and a one-file-per-component model answer the same questions."""

from __future__ import annotations

import json

import mlx.core as mx
import pytest

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import Checkpoint, read_header, save_checkpoint


def _file(path, sections: dict, tensors: dict):
    save_checkpoint(path, {k: mx.zeros(shape) for k, shape in tensors.items()}, {"config": json.dumps(sections)})
    return path


@pytest.fixture
def single(tmp_path):
    return _file(tmp_path / "model.safetensors", {"transformer": {"num_layers": 3}, "vae": {"dims": 3}},
                 {"model.diffusion_model.proj.weight": (4, 2), "vae.decoder.conv.weight": (2, 2)})


def test_the_single_file_is_every_component(single, tmp_path):
    upsampler = _file(tmp_path / "up.safetensors", {}, {"conv.weight": (1,)})
    checkpoint = Checkpoint.single_file(single, spatial_upsampler=upsampler, temporal_upsampler=None)
    assert checkpoint.path("transformer") == checkpoint.path("video_vae") == checkpoint.path("vocoder") == single
    assert checkpoint.paths() == (single, upsampler)
    assert checkpoint.config("transformer") == {"num_layers": 3} and checkpoint.config("vae") == {"dims": 3}
    assert checkpoint.has("transformer") and checkpoint.has("video_vae") and checkpoint.has("spatial_upsampler")
    assert not checkpoint.has("audio_vae") and not checkpoint.has("vocoder")  # a video-only file: no sections
    assert not checkpoint.has("temporal_upsampler")
    assert checkpoint.header("video_vae") is checkpoint.header("transformer") is read_header(single)  # parsed once


def test_one_file_per_component_is_the_same_object(tmp_path):
    transformer = _file(tmp_path / "transformer.safetensors", {"transformer": {"num_layers": 5}},
                        {"model.diffusion_model.proj.weight": (4, 2)})
    vae = _file(tmp_path / "vae.safetensors", {"vae": {"dims": 3}}, {"vae.decoder.conv.weight": (2, 2)})
    checkpoint = Checkpoint({"transformer": transformer, "video_vae": vae})
    assert checkpoint.config("transformer") == {"num_layers": 5} and checkpoint.config("vae") == {"dims": 3}
    assert list(checkpoint.header("video_vae").tensors) == ["vae.decoder.conv.weight"]
    assert checkpoint.paths() == (transformer, vae)
    with pytest.raises(ConfigError, match=r"model=.audio_vae.: this model has no audio_vae file \(it has "
                                          r"transformer, video_vae\)"):
        checkpoint.path("audio_vae")


def test_a_missing_section_names_the_file(single):
    with pytest.raises(ConfigError, match="the metadata config has no 'vocoder' section"):
        Checkpoint.single_file(single).config("vocoder")
