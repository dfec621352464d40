"""Models shipped one file per component (LTX-2.5): presets naming each file, the Checkpoint resolving components
from them, and the header checks that refuse a file of the wrong kind, of another model version or paired with
another Gemma build, in one line, before any weights are read."""

from __future__ import annotations

import json

import mlx.core as mx
import pytest
from helpers import HUB_COMMIT, compose_run, place_in_hub
from omegaconf import OmegaConf

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import Checkpoint, save_checkpoint
from ltx2.loading.file_kinds import file_kinds, parse_version
from ltx2.loading.model_set import ModelSet
from ltx2.tiny.checkpoint import write_tiny_checkpoint
from ltx2.tiny.ltx25 import GEMMA_VERSION, write_tiny_ltx25_transformer

HF = "hf://Lightricks/LTX-2.5/"
PRESET_FILES = {
    "text_encoder": "text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors",
    "video_vae": "vae/ltx-2.5-video-vae-bf16.safetensors",
    "audio_vae": "vae/ltx-2.5-audio-vae-bf16.safetensors",
    "spatial_upsampler": "latent_upscale_models/ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors",
    "temporal_upsampler": "latent_upscale_models/ltx-2.5-latent-temporal-upscaler-x2-bf16-1.0.safetensors",
    "duration_head": "model_patches/ltx-2.5-duration-head-bf16.safetensors",
}


def _file(path, tensors: dict, metadata: dict):
    save_checkpoint(path, {k: mx.zeros(shape) for k, shape in tensors.items()},
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    return path


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Stand-ins for the LTX-2.5 files: the tiny transformer (real), header-only text encoder and VAEs."""
    folder = tmp_path_factory.mktemp("split")
    return {
        "transformer": write_tiny_ltx25_transformer(folder / "transformer.safetensors", seed=0),
        "text_encoder": _file(folder / "te.safetensors", {"text_embedding_projection.video_aggregate_embed.weight":
                                                          (4, 4), "model.layers.0.mlp.up_proj.weight": (2, 2)},
                              {"gemma_config": {"model_type": "gemma4_unified", "gemma_version": GEMMA_VERSION},
                               "format": "pt"}),
        "video_vae": _file(folder / "vae.safetensors", {"decoder.conv_in.weight": (2, 2), "encoder.conv.weight": (2,)},
                           {"config": {"vae": {"_class_name": "CausalDiffusionVAE"}}, "model_version": "2.5.0"}),
        "audio_vae": _file(folder / "audio.safetensors", {"audio_vae.decoder.conv.weight": (2,),
                                                          "vocoder.conv_pre.weight": (2,)},
                           {"config": {"audio_vae": {}, "vocoder": {}}}),
        "spatial_upsampler": _file(folder / "up.safetensors", {"res_blocks.0.conv1.weight": (2,)},
                                   {"config": {"_class_name": "LatentUpsampler", "spatial_upsample": True,
                                               "temporal_upsample": False}}),
        "ltx23": write_tiny_checkpoint(folder / "tiny-ltx2.3.safetensors", "ltx2.3", seed=0),
        "folder": folder,
    }


def _models(split, **changes) -> ModelSet:
    files = {c: str(split[c]) for c in ("transformer", "text_encoder", "video_vae", "audio_vae")}
    files.update(changes)
    return ModelSet(name="ltx2_5_22b_dev", version="2.5", dtype="float32",
                    spatial_upsampler=str(split["spatial_upsampler"]), **files)


def test_presets_name_one_official_file_per_component():
    for variant in ("dev", "distilled"):
        model = OmegaConf.to_container(compose_run([f"model=ltx2_5_22b_{variant}"]).model, resolve=True)
        assert model["checkpoint"] is None and model["gemma_root"] is None and model["version"] == "2.5"
        assert model["transformer"] == f"{HF}diffusion_models/ltx-2.5-22b-{variant}-transformer-bf16.safetensors"
        assert {k: model[k] for k in PRESET_FILES} == {k: HF + v for k, v in PRESET_FILES.items()}
        assert model["distilled_lora"] == (None if variant == "distilled" else
                                           f"{HF}loras/ltx-2.5-22b-distilled-lora-450-bf16.safetensors")
        assert model["suggested"]["steps"] == 30 and model["suggested"]["stg_blocks"] == [28]


def test_components_resolve_from_split_files(split):
    models = _models(split)
    files = models.files
    assert files.path("transformer") == split["transformer"] and files.path("vocoder") == split["audio_vae"]
    assert files.config("transformer")["use_keyframes_abs_pos_embedding"] is True
    assert files.config("vae") == {"_class_name": "CausalDiffusionVAE"}
    assert files.has("audio_vae") and files.has("vocoder") and files.has("text_encoder")
    models.check_files()  # the right kinds, version 2.5, the Gemma build the transformer names
    x0 = models.transformer()  # the transformer comes from model.transformer
    assert "keyframes_abs_pos_embedding" in x0.velocity_model and not x0.velocity_model.config.ff_bias
    assert models.weight_files()["transformer"] == str(split["transformer"])


def test_single_file_models_keep_working(split):
    models = ModelSet(name="tiny", checkpoint=str(split["ltx23"]), dtype="float32")
    assert models.files.path("transformer") == models.files.path("video_vae") == split["ltx23"]
    models.check_files()
    assert models.transformer().velocity_model.config.ff_bias  # LTX-2.3: feed-forward biases
    with pytest.raises(ConfigError, match=r"model\.checkpoint=None: a model needs its weight files"):
        ModelSet(name="none")


@pytest.mark.parametrize("component,wrong,said", [
    ("transformer", "video_vae", "is not a transformer file (its metadata and keys show: video VAE)"),
    ("video_vae", "audio_vae", "is not a video VAE file (its metadata and keys show: audio VAE, vocoder)"),
    ("text_encoder", "transformer", "is not a text encoder file"),
    ("audio_vae", "spatial_upsampler", "is not an audio VAE file (its metadata and keys show: spatial upsampler)"),
])
def test_a_file_of_the_wrong_kind_is_refused(split, component, wrong, said):
    with pytest.raises(ConfigError) as e:
        _models(split, **{component: str(split[wrong])}).check_files()
    assert str(e.value).startswith(f"model.{component}='{split[wrong]}': {said}") and "\n" not in str(e.value)


def test_a_file_of_another_version_is_refused(split):
    with pytest.raises(ConfigError) as e:
        _models(split, transformer=str(split["ltx23"])).check_files()
    assert ("is an LTX-2.3 file (model_version='2.3.0'); model=ltx2_5_22b_dev is LTX-2.5 and files are not "
            "interchangeable") in str(e.value)
    with pytest.raises(ConfigError, match="is an LTX-2.3 file"):  # a single-file 2.3 checkpoint in a 2.5 preset
        ModelSet(name="ltx2_5_22b_dev", version="2.5", checkpoint=str(split["ltx23"])).check_files()
    assert parse_version("2.3.rc1") == (2, 3) and parse_version("2.4-rc2") == (2, 4) and parse_version(None) == ()


def test_a_text_encoder_of_another_gemma_build_is_refused(split, tmp_path):
    stock = _file(tmp_path / "stock-gemma4.safetensors", {"model.layers.0.mlp.up_proj.weight": (2, 2)},
                  {"gemma_config": {"model_type": "gemma4_unified", "gemma_version": "gemma4-12b"}})
    with pytest.raises(ConfigError) as e:
        _models(split, text_encoder=str(stock)).check_files()
    assert "is Gemma build 'gemma4-12b' but the transformer" in str(e.value) and GEMMA_VERSION in str(e.value)
    unnamed = write_tiny_ltx25_transformer(tmp_path / "unnamed.safetensors", gemma_version=None)
    with pytest.raises(ConfigError, match="names no gemma_source_checkpoint"):
        _models(split, transformer=str(unnamed)).check_files()


def test_file_kinds_from_headers(split):
    from ltx2.loading.checkpoint import read_header

    kinds = {name: file_kinds(read_header(split[name]).metadata, read_header(split[name]).tensors)
             for name in ("transformer", "text_encoder", "video_vae", "audio_vae", "spatial_upsampler", "ltx23")}
    assert kinds["transformer"] == {"transformer"} and kinds["text_encoder"] == {"text_encoder"}
    assert kinds["audio_vae"] == {"audio_vae", "vocoder"} and kinds["spatial_upsampler"] == {"spatial_upsampler"}
    assert {"transformer", "video_vae", "audio_vae", "vocoder"} <= kinds["ltx23"]


def test_cli_refuses_a_wrong_file_before_loading(cli, split):
    proc = cli("model=ltx2_5_22b_dev", f"model.transformer={split['video_vae']}",
               *(f"model.{c}={split[c]}" for c in ("text_encoder", "video_vae", "audio_vae")))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ltx2: invalid config: model.transformer='{split['video_vae']}': is not a transformer file (its metadata "
        "and keys show: video VAE). Fix: set model.transformer to the transformer file of the model")
    assert not cli.run_dirs()


def test_missing_split_file_names_the_fetch_command(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    proc = cli("model=ltx2_5_22b_distilled")
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and line.startswith(
        f"ltx2: invalid config: model.transformer='{HF}diffusion_models/ltx-2.5-22b-distilled-transformer-bf16")
    assert "python -m ltx2.download model=ltx2_5_22b_distilled" in line


def test_download_fetches_what_the_pipeline_reads(cli, split, tmp_path, monkeypatch):
    hub = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    (hub / "models--Lightricks--LTX-2.5" / "snapshots" / HUB_COMMIT / "diffusion_models").mkdir(parents=True)
    place_in_hub(hub, "Lightricks/LTX-2.5", {
        "diffusion_models/ltx-2.5-22b-distilled-transformer-bf16.safetensors": split["transformer"]})
    proc = cli("model=ltx2_5_22b_distilled", module="ltx2.download")  # one_stage: no upsampler, no LoRA
    out = proc.stdout
    assert proc.returncode == 1 and "cached   model.transformer" in out
    assert all(f"missing  model.{c}" in out for c in ("text_encoder", "video_vae", "audio_vae"))
    assert "skipped  model.spatial_upsampler" in out and "skipped  model.temporal_upsampler" in out
    assert "skipped  model.duration_head" in out and "3 of 4 files are not in the Hugging Face cache" in proc.stderr
    proc = cli("model=ltx2_5_22b_distilled", "pipeline=distilled", "audio.enabled=false", module="ltx2.download")
    assert "missing  model.spatial_upsampler" in proc.stdout and "skipped  model.audio_vae" in proc.stdout


def test_run_validation_names_the_component_keys(split, tmp_path):
    from ltx2.experiment.validation import check_model_files

    parts = {"transformer": split["transformer"], "text_encoder": split["text_encoder"]}
    check_model_files(Checkpoint.from_files(video_vae=split["video_vae"], **parts), None, need_upsampler=False)
    bare = _file(tmp_path / "bare.safetensors", {"decoder.conv.weight": (2,)}, {"config": {}})
    with pytest.raises(ConfigError, match=r"^model\.video_vae=.*has no vae section"):
        check_model_files(Checkpoint.from_files(video_vae=bare, **parts), None, need_upsampler=False)
