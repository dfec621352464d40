"""LoRA presets (conf/lora/): the official camera-control LoRAs and IC-LoRAs by name, resolved through the Hugging
Face cache like the models (here: a temporary cache holding tiny LoRA files under the official repo and file names;
``model.tiny=false`` makes the tiny files stand for a real model, which reads the cache), several at once with
per-LoRA strengths; on the tiny model itself, tiny stand-ins written on first use; and the camera_loras sweep, which
reuses the base weights."""

import json
from pathlib import Path

import pytest
from helpers import compose_run as _compose
from helpers import place_in_hub as _place

from ltx2.loading.hub import parse
from ltx2.tiny.loras import write_tiny_lora

CONF = Path(__file__).resolve().parents[2] / "conf" / "lora"
CAMERA = ["camera_dolly_in", "camera_dolly_out", "camera_dolly_left", "camera_dolly_right", "camera_jib_up",
          "camera_jib_down", "camera_static"]
IC = ["ic_canny_control", "ic_depth_control", "ic_pose_control", "ic_detailer", "ic_ingredients", "ic_union_control",
      "ic_motion_track_control", "ic_pixel_spatial_upscaler", "dubit"]


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory):
    """An HF home whose cache holds tiny LoRAs under the repo / file names of the presets the sweep uses."""
    home = tmp_path_factory.mktemp("hf")
    for i, name in enumerate(["camera_dolly_in", "camera_jib_up"]):
        ref = parse(_preset(name)["path"])
        lora = write_tiny_lora(home / "files" / f"{name}.safetensors", seed=20 + i)
        _place(home / "hub", ref.repo, {ref.filename: lora})
    return home


@pytest.fixture
def hub(hub_home, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(hub_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return hub_home / "hub"


def _preset(name: str) -> dict:
    return dict(_compose([f"lora=[{name}]"]).lora[name])


@pytest.mark.parametrize("name", CAMERA + IC)
def test_presets_name_official_files(name):
    preset = _preset(name)
    ref = parse(preset["path"])
    assert preset["strength"] == 1.0 and ref.repo.startswith("Lightricks/LTX-2") and ref.filename.endswith(
        ".safetensors")
    assert (CONF / f"{name}.yaml").read_text().startswith("# Official")


def test_two_presets_with_strengths_from_the_hub_cache(cli, hub):
    proc = cli("lora=[camera_dolly_in,camera_jib_up]", "lora.camera_dolly_in.strength=0.6", "debug=default",
               "output.save_latents=true", "model.tiny=false")
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["choices"]["lora"] == ["camera_dolly_in", "camera_jib_up"]
    weights = record["weights"]
    assert {"lora:ltx-2-19b-lora-camera-control-dolly-in.safetensors",
            "lora:ltx-2-19b-lora-camera-control-jib-up.safetensors"} <= set(weights)
    assert all(str(hub) in weights[k]["path"] for k in weights if k.startswith("lora:"))
    assert record["process"]["counts"]["fuse:transformer"] == 1
    saved = (run_dir / "resolved_config.yaml").read_text()
    assert "strength: 0.6" in saved and "strength: 1.0" in saved
    # the strength reaches the weights: another strength, another video
    proc = cli("lora=[camera_dolly_in,camera_jib_up]", "lora.camera_dolly_in.strength=1.0", "debug=default",
               "model.tiny=false")
    assert proc.returncode == 0, proc.stderr
    other = cli.record(cli.run_dirs()[-1])
    assert other["outputs"]["video"]["sha256"] != record["outputs"]["video"]["sha256"]


def test_missing_preset_file_names_the_fetch_command(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    proc = cli("lora=[camera_static]", "debug=default", "model.tiny=false")
    assert proc.returncode == 2, proc.stderr
    assert "lora.camera_static.path" in proc.stderr and "ltx2.download" in proc.stderr
    assert "Lightricks/LTX-2-19b-LoRA-Camera-Control-Static" in proc.stderr and not cli.files()


def test_tiny_model_uses_tiny_stand_ins(cli, tmp_path, monkeypatch):
    """The README's camera-LoRA example on the default model, with an empty Hugging Face cache: each preset maps to a
    tiny stand-in under the tiny model's folder (another file per preset, the same file next time), recorded."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    videos = []
    for lora in ("example_camera_dolly_in", "camera_jib_up", "example_camera_dolly_in"):
        proc = cli(f"lora=[{lora}]", "debug=default")
        assert proc.returncode == 0, proc.stderr
        record = cli.record(cli.run_dirs()[-1])
        adapted = record["request"]["adapted"][f"lora.{lora}.path"]
        assert adapted["suggested"] == _preset(lora)["path"] and adapted["rule"].startswith("a tiny model uses")
        name = parse(adapted["suggested"]).filename
        assert adapted["used"] == str(cli.cache / "tiny" / "loras-ltx2.3" / name)
        assert record["weights"][f"lora:{name}"]["path"] == adapted["used"]
        videos.append(record["outputs"]["video"]["sha256"])
    assert videos[0] != videos[1] and videos[0] == videos[2]


@pytest.mark.slow
def test_camera_loras_sweep_reuses_the_base_weights(cli, hub):
    """conf/sweep/camera_loras.yaml as shipped: 3 x 2 strengths of two camera LoRAs, one process."""
    proc = cli("sweep=camera_loras", "debug=default")
    assert proc.returncode == 0, proc.stderr
    sweep_dir = cli.runs / "sweeps" / "camera_loras"
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["totals"]["completed"] == 6
    counts = summary["totals"]["counts_this_invocation"]
    assert counts["load:transformer"] == 1 and counts["fuse:transformer"] == 6  # LoRAs re-fused, base kept
    records = [json.loads((sweep_dir / j["dir"] / "run_record.json").read_text()) for j in summary["jobs"]]
    assert all("load:transformer" not in r["process"]["counts"] for r in records[1:])
    assert len({r["outputs"]["video"]["sha256"] for r in records}) == 6
    strengths = {(r["overrides"][0], r["overrides"][1]) for r in records}
    assert ("lora.camera_dolly_in.strength=0.5", "lora.camera_jib_up.strength=1.0") in strengths
