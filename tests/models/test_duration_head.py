"""LTX-2.5 duration head: parity with ltx-core 1.2.0 (fp32, a tiny file written by ltx2.tiny.duration_head and
loaded by the official configurator + key ops), and the seconds -> frames rule of the official pipelines."""

import json

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.duration_head import load_duration_head, seconds_to_frames
from ltx2.tiny.duration_head import write_tiny_duration_head

TOLERANCE = 1e-4

REFERENCE = """
from ltx_core.duration_head import DURATION_HEAD_KEY_OPS, DurationHeadConfigurator
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
# the official frames rule, run from its source without importing ltx_pipelines (~10 s of imports)
import ast, importlib.util, pathlib
from ltx_core.types import VIDEO_SCALE_FACTORS, SpatioTemporalScaleFactors
_helpers = pathlib.Path(importlib.util.find_spec("ltx_pipelines").submodule_search_locations[0], "utils", "helpers.py")
_wanted = {"snap_frames_to_grid", "seconds_to_clamped_num_frames"}
_module = ast.Module([n for n in ast.parse(_helpers.read_text()).body
                      if isinstance(n, ast.FunctionDef) and n.name in _wanted], [])
exec(compile(_module, str(_helpers), "exec"))

head = SingleGPUModelBuilder(DurationHeadConfigurator, I["path"], DURATION_HEAD_KEY_OPS).build(
    torch.device("cpu"), torch.float32).eval()
assert not any(p.is_meta for p in head.parameters())
v, a = torch.from_numpy(I["video"]), torch.from_numpy(I["audio"])
with torch.no_grad():
    O["both"], O["video"], O["audio"] = head(v, a), head(v, None), head(None, a)
O["frames"] = np.array([seconds_to_clamped_num_frames(s, frame_rate=fps, min_frames=round(lo * fps),
                                                      max_frames=round(hi * fps))
                        for s, fps, lo, hi in I["frame_cases"]])
"""
FRAME_CASES = [(s, fps, lo, hi) for s in (0.01, 0.3, 0.99, 1.0, 1.02, 4.97, 5.0, 5.05, 19.9, 20.0, 33.0)
               for fps, lo, hi in ((24.0, 1.0, 20.0), (25.0, 1.0, 20.0), (30.0, 0.5, 3.0), (24.0, 2.0, 2.1))]


@pytest.mark.parametrize("seconds, frames", [(4.97, 113), (5.05, 121), (0.3, 25), (1.0, 25), (33.0, 473),
                                             (5.0, 113), (20.0, 473)])
def test_seconds_to_frames_at_24_fps(seconds, frames):
    """The spec's examples: floor to 8k+1; below the 1 s minimum (24 frames) the next grid point up, 25."""
    assert seconds_to_frames(seconds, 24.0) == frames


def test_seconds_to_frames_ceiling_is_capped_at_the_maximum():
    # window [48, 50] frames: 49 is on the grid; [50, 56]: floor 49 < 50, next up 57 > 56, capped to 56
    assert seconds_to_frames(2.0, 24.0, 2.0, 2.1) == 49
    assert seconds_to_frames(1.0, 25.0, 2.0, 2.24) == 56


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    path = write_tiny_duration_head(tmp_path_factory.mktemp("dh") / "duration_head.safetensors", seed=3, num_queries=2)
    rng = np.random.default_rng(0)
    video = rng.standard_normal((1, 24, 32)).astype(np.float32)
    audio = rng.standard_normal((1, 12, 16)).astype(np.float32)
    return path, video, audio, v12.run(REFERENCE, path=path, video=video, audio=audio, frame_cases=FRAME_CASES)


@v12.needed
@pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on
def test_duration_head_matches_1_2_0(case):
    path, video, audio, ref = case
    head = load_duration_head(path)
    for name, ours in (("both", head(mx.array(video), mx.array(audio))), ("video", head(mx.array(video))),
                       ("audio", head(None, mx.array(audio)))):
        ours = np.array(ours)
        err = float(np.abs(ours - ref[name]).max())
        print(f"\nPARITY duration head ({name}): seconds {ours.tolist()} vs {ref[name].tolist()}, "
              f"max abs err {err:.3e}")
        assert ours.shape == (1,) and err <= TOLERANCE * max(1.0, abs(float(ref[name][0])))


@v12.needed
def test_frames_rule_matches_1_2_0(case):
    assert [seconds_to_frames(*c) for c in FRAME_CASES] == case[3]["frames"].tolist()


def test_duration_head_defaults_and_bad_config(tmp_path):
    path = write_tiny_duration_head(tmp_path / "d.safetensors")
    head = load_duration_head(path)
    assert (head.config.video_dim, head.config.audio_dim, head.config.num_pooler_heads) == (32, 16, 4)
    with pytest.raises(ValueError, match="needs the video or the audio"):
        head()
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, {"duration_head.mlp_out.bias": mx.zeros((1,))},
                    {"config": json.dumps({"duration_head": {"pooler_hidden_dim": 30}})})
    with pytest.raises(ConfigError, match="pooler_hidden_dim=30 is not a multiple of num_pooler_heads=4"):
        load_duration_head(bad)

