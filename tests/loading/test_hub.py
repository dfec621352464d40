"""Real model configs read their files from the Hugging Face cache (offline here: a temporary HF cache holding the
tiny files under the official repo and file names); a missing file fails before loading, naming the repo, the file
and the fetch command; `python -m ltx2.download` reports and fetches."""


import pytest
from helpers import place_in_hub as _place

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path / "hf" / "hub"


def test_missing_file_names_repo_file_and_command(cli, hub):
    proc = cli("model=ltx2_3_22b_dev")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("ltx2: invalid config: model.checkpoint='hf://Lightricks/LTX-2.3/ltx-2.3-22b-dev")
    assert "ltx-2.3-22b-dev.safetensors of Lightricks/LTX-2.3 is not in the Hugging Face cache" in line
    assert str(hub) in line and "python -m ltx2.download model=ltx2_3_22b_dev" in line
    assert not cli.run_dirs()
    proc = cli(module="ltx2.download", *["model=ltx2_3_22b_dev"])
    assert proc.returncode == 1 and "missing  model.checkpoint: ltx-2.3-22b-dev.safetensors" in proc.stdout
    assert "HF_HUB_OFFLINE=1 forbids downloading" in proc.stderr


def test_run_from_the_hf_cache(cli, hub, cache_dir):
    tiny = cache_dir / "tiny"
    _place(hub, "Lightricks/LTX-2.3", {"ltx-2.3-22b-dev.safetensors": tiny / "tiny-ltx2.3.safetensors",
                                       "ltx-2.3-spatial-upscaler-x2-1.1.safetensors":
                                           tiny / "tiny-upsampler-spatial-x2.safetensors"})
    _place(hub, "google/gemma-3-12b-it-qat-q4_0-unquantized",
           {p.name: p for p in (tiny / "tiny-gemma").iterdir()})
    proc = cli("model=ltx2_3_22b_dev", "model.dtype=float32", "model.suggested.stg_blocks=[1]", "debug=default")
    assert proc.returncode == 0, proc.stderr
    record = cli.record(cli.run_dirs()[-1])
    assert record["status"] == "completed"
    assert record["weights"]["checkpoint"]["path"].startswith(str(hub / "models--Lightricks--LTX-2.3" / "snapshots"))
    proc = cli("model=ltx2_3_22b_dev", module="ltx2.download")  # one_stage reads no upsampler and no LoRA
    assert proc.returncode == 0 and "all 2 files are in the Hugging Face cache" in proc.stdout
    assert "skipped  model.distilled_lora: ltx-2.3-22b-distilled-lora-384.safetensors of Lightricks/LTX-2.3 (not " \
           "needed: OneStagePipeline runs no distilled-LoRA stage)" in proc.stdout
    proc = cli("model=ltx2_3_22b_dev", "pipeline=two_stage", module="ltx2.download")  # only the LoRA is missing
    assert proc.returncode == 1 and proc.stdout.count("cached ") == 3
    assert "missing  model.distilled_lora: ltx-2.3-22b-distilled-lora-384.safetensors of Lightricks/LTX-2.3" \
        in proc.stdout
    proc = cli("model=ltx2_3_22b_dev", "pipeline=two_stage", "model.distilled_lora=null", module="ltx2.download")
    assert proc.returncode == 0 and "all 3 files are in the Hugging Face cache" in proc.stdout
