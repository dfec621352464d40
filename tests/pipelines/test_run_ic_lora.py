"""pipeline=ic_lora with conditioning=reference_video from the command line, through conf/experiment/ic_lora.yaml
with a tiny IC-LoRA in place of the hf:// file (its numbers: tests/pipelines/test_ic_lora_parity.py), and the refusals that
come before any weight is loaded."""

import mlx.core as mx
import numpy as np
import pytest

from ltx2.io.media import read_video, write_video
from ltx2.tiny.loras import write_tiny_ic_lora


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import imageio.v3 as iio

    folder = tmp_path_factory.mktemp("ic_inputs")
    rng = np.random.default_rng(5)
    for frames in (9, 10, 17):
        write_video(folder / f"ref{frames}.mp4", iter([(rng.random((frames, 64, 96, 3)) * 255).astype(np.uint8)]), 24.0)
    write_video(folder / "mask4.mp4", iter([np.full((4, 64, 96, 3), 200, np.uint8)]), 24.0)
    iio.imwrite(folder / "mask.png", np.tile(np.linspace(0, 255, 96).astype(np.uint8), (64, 1)))
    (folder / "notes.mp4").write_text("not a video")
    return {"ref": folder / "ref9.mp4", "ref10": folder / "ref10.mp4", "ref17": folder / "ref17.mp4", "mask4": folder / "mask4.mp4",
            "mask": folder / "mask.png", "junk": folder / "notes.mp4",
            "ic1": write_tiny_ic_lora(folder / "ic1.safetensors", reference_downscale_factor=1),
            "ic2": write_tiny_ic_lora(folder / "ic2.safetensors", seed=8, reference_downscale_factor=2),
            "ic3": write_tiny_ic_lora(folder / "ic3.safetensors", seed=9, reference_downscale_factor=3)}


def _base(inputs, *extra):
    return ("experiment=ic_lora", f"conditioning.path={inputs['ref']}", f"lora.ic_pose_control.path={inputs['ic1']}",
            "width=128", "height=64", "num_frames=9", *extra)


def test_ic_lora_experiment_runs_both_stages_and_skip(cli, inputs):
    proc = cli(*_base(inputs, f"conditioning.attention_mask={inputs['mask']}", "conditioning.attention_strength=0.7",
                      "output.save_latents=true"))
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "ic_lora"
    assert record["choices"]["conditioning"] == "reference_video" and record["choices"]["lora"] == ["ic_pose_control"]
    assert {"denoise_stage_1", "upsample", "denoise_stage_2"} <= set(record["phases"])
    assert record["process"]["counts"]["fuse:transformer"] == 1  # the IC-LoRA for stage 1; stage 2 has none
    frames, _ = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 64, 128, 3)
    full = mx.load(str(run_dir / "latents.safetensors"))["video"]
    assert full.shape == (1, 2, 2, 4, 128)

    proc = cli(*_base(inputs, "pipeline.skip_stage_2=true", "model.spatial_upsampler=null"))
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert "upsample" not in record["phases"] and "denoise_stage_2" not in record["phases"]
    frames, _ = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 32, 64, 3)  # half the requested size


REFUSALS = {
    "no reference conditioning": (("pipeline=ic_lora", "width=128", "height=64"), "conditioning=reference_video"),
    "reference without ic_lora": (("conditioning=reference_video", "conditioning.path={ref}"),
                                  "drives pipeline=ic_lora only"),
    "no IC-LoRA": (("pipeline=ic_lora", "conditioning=reference_video", "conditioning.path={ref}", "width=128",
                    "height=64", "num_frames=9", "model.tiny=false"), "needs an IC-LoRA"),  # tiny: a stand-in
    "missing file": (("conditioning.path=/no/such/ref.mp4",), "does not exist"),
    "undecodable file": (("conditioning.path={junk}",), "cannot be decoded"),
    "frames not 8k+1": (("conditioning.path={ref10}", "num_frames=17"), "8k+1"),
    "strength above 1": (("conditioning.strength=1.5",), "conditioning.strength=1.5"),
    "attention below 0": (("conditioning.attention_strength=-0.1",), "conditioning.attention_strength=-0.1"),
    "mask frames": (("conditioning.path={ref17}", "num_frames=17", "conditioning.attention_mask={mask4}"),
                    "do not group onto the reference's 3 latent frames"),
    "image beyond the clip": (("conditioning.images=[{{path:{mask},frame_idx:20}}]",),
                              "conditioning.images[0].frame_idx=20"),
    "downscale factor vs size": (("lora.ic_pose_control.path={ic2}",), "height=64: the IC-LoRA's reference_downscale"),
    "conflicting factors": (("+lora.other={{path:{ic3},strength:1.0}}", "lora.ic_pose_control.path={ic2}",
                             "width=768", "height=768"), "cannot be combined"),
}


CLI_REFUSALS = ("no reference conditioning", "conflicting factors")


def _overrides(inputs, case):
    overrides, expected = REFUSALS[case]
    overrides = [o.format(**{k: str(v) for k, v in inputs.items()}) for o in overrides]
    full = overrides if overrides[0].startswith(("pipeline=", "conditioning=reference")) else _base(inputs, *overrides)
    return list(full), expected


@pytest.mark.parametrize("case", CLI_REFUSALS)
def test_ic_lora_refusals_from_the_command_line(cli, inputs, case):
    overrides, expected = _overrides(inputs, case)
    proc = cli(*overrides)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not cli.files()


@pytest.mark.parametrize("case", sorted(set(REFUSALS) - set(CLI_REFUSALS)))
def test_ic_lora_refusals_before_loading(inputs, case, cache_dir, tmp_path, monkeypatch):
    """The same checks in-process (``runner.prepare``, which the CLI runs before loading anything): the error, and
    no network loaded."""
    from helpers import compose_run as _compose

    from ltx2.errors import ConfigError
    from ltx2.experiment.runner import prepare
    from ltx2.loading import model_set

    monkeypatch.setenv("LTX2_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("LTX2_OUTPUT_ROOT", str(tmp_path / "runs"))
    overrides, expected = _overrides(inputs, case)
    before = model_set.stats()
    with pytest.raises(ConfigError) as error:
        prepare(_compose(overrides))
    assert expected in str(error.value)
    assert model_set.stats() == before
