"""Planning before the download (plan=true on hf:// files not in the cache, ltx2/experiment/plan_offline.py): the
shapes kept as data (ltx2.loading.known_shapes) give the same plan as the files themselves. Here the data is made
from the tiny files' headers, and the plan from their shape-only copies is compared with the plan from the files."""

import json
import math

import pytest

from ltx2.errors import ConfigError
from ltx2.experiment.plan_offline import stand_in_missing
from ltx2.experiment.plan_fit import alternatives
from ltx2.experiment.planner import Request, plan_run
from ltx2.loading import known_shapes
from ltx2.loading.model_set import ModelSet
from ltx2.loading.warm_cache import clear_cache
from ltx2.pipelines.two_stage import TwoStagePipeline

REPO = "hf://ltx2-tests/tiny-release"
FILES = {"checkpoint": "tiny-ltx2.3.safetensors", "gemma_root": "tiny-gemma",
         "spatial_upsampler": "tiny-upsampler-spatial-x2.safetensors",
         "distilled_lora": "tiny-ltx2.3-distilled-lora.safetensors"}


@pytest.fixture
def release(tiny, tmp_path, monkeypatch):
    """A release file of the tiny files' digests, keyed by hf:// references that no cache holds."""
    digests = {name: known_shapes.digest_path(tiny / name) for name in FILES.values()}
    data = {"release": "tiny test release", "files": {f"{REPO}/{name}": name for name in FILES.values()},
            "digests": digests}
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "tiny.json").write_text(json.dumps(data))
    monkeypatch.setenv("LTX2_RELEASE_SHAPES", str(tmp_path / "releases"))
    return tmp_path


def test_fold_is_undone_by_unfold(tiny):
    header = known_shapes.read_header(tiny / FILES["checkpoint"])
    rows = known_shapes.fold(header.tensors)
    assert len(rows) < len(header.tensors) / 2  # blocks and layers share rows
    assert known_shapes.unfold(rows) == header.tensors


def test_the_plan_from_known_shapes_equals_the_plan_from_the_files(tiny, release):
    clear_cache()  # networks an earlier test built from the tiny files would count as already held in one plan only
    real = ModelSet(name="tiny", dtype="float32", **{k: str(tiny / v) for k, v in FILES.items()})
    ahead = ModelSet(name="tiny", dtype="float32", **{k: f"{REPO}/{v}" for k, v in FILES.items()})
    notes = stand_in_missing(ahead, release / "copies", need_upsampler=True, need_distilled_lora=True)
    ahead.resolve_files(need_upsampler=True, need_distilled_lora=True)  # the header checks pass on the copies
    assert str(release / "copies") in ahead.checkpoint and str(release / "copies") in ahead.gemma_root
    assert "tiny test release" in notes[0] and all(v in notes[0] for v in FILES.values())
    pipeline = TwoStagePipeline()
    for request in (Request(width=256, height=192, num_frames=25, fps=24.0, dtype="float32"),
                    Request(width=128, height=128, num_frames=9, fps=24.0, dtype="bfloat16", quantize_bits=8,
                            text_quantize_bits=4, offload="disk", image_conditioning=True)):
        ours, theirs = (plan_run(m, pipeline, request, available=None, base=0) for m in (ahead, real))
        assert ours.as_dict() == theirs.as_dict()
        over = (theirs.peak * 9) // 10
        ours, theirs = (plan_run(m, pipeline, request, available=over, base=0) for m in (ahead, real))
        offered = alternatives(theirs, real, pipeline, True, 32)
        assert offered and alternatives(ours, ahead, pipeline, True, 32) == offered


def test_unknown_required_files_are_one_line_and_present_files_are_checked(tiny, release):
    unknown = ModelSet(name="tiny", checkpoint="hf://ltx2-tests/elsewhere/model.safetensors",
                       gemma_root=f"{REPO}/tiny-gemma")
    with pytest.raises(ConfigError, match="does not know the shapes"):
        stand_in_missing(unknown, release / "copies", need_upsampler=False, need_distilled_lora=False)
    same = known_shapes.known(f"{REPO}/{FILES['checkpoint']}")["digest"]
    assert known_shapes.differences(tiny / FILES["checkpoint"], same) == []
    assert known_shapes.differences(tiny / "tiny-ltx2.safetensors", same)  # another model: named differences


def test_the_kept_ltx23_shapes_are_the_real_model():
    """The committed data (tools/make_release_shapes.py): the 22B transformer and text processor parameter counts
    of ltx2-core-spec.md 0.3, the fp8 file's float8 block linears."""
    kept = known_shapes.releases(str(known_shapes.RELEASES))
    entry = kept["hf://Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors"]["digest"]
    tensors = known_shapes.unfold(entry["tensors"])
    count = sum(math.prod(s) for k, (_, s) in tensors.items()
                if k.startswith("model.diffusion_model.") and "embeddings_connector" not in k)
    assert abs(count / 18.989e9 - 1) < 1e-3
    fp8 = known_shapes.unfold(kept["hf://Lightricks/LTX-2.3-fp8/ltx-2.3-22b-dev-fp8.safetensors"]["digest"]["tensors"])
    assert sum(d == "F8_E4M3" for d, _ in fp8.values()) > 1000
    assert json.loads(entry["metadata"]["config"])["transformer"]["num_layers"] == 48


@pytest.mark.slow  # a CLI run (~12 s)
def test_plan_true_for_a_real_preset_before_the_download(cli):
    result = cli("model=ltx2_3_22b_dev", "plan=true", "plan.memory_gb=16")
    assert result.returncode == 0, result.stderr[-2000:]
    for phase in ("text_encoding", "denoise", "decode"):
        assert f"| {phase} |" in result.stdout
    assert "available 16.00 GiB" in result.stdout
    if "planned before the download" in result.stdout:  # (a machine with the files plans from them)
        assert "does not fit; these would: model.offload=disk" in result.stdout
    assert cli.left_behind() == []
    refused = cli("model=ltx2_5_22b_dev", "plan=true")
    assert refused.returncode == 2 and "does not know the shapes" in refused.stderr
