"""What a run leaves behind, replaying it, reusing its noise, failures and sweeps."""

import json

import mlx.core as mx
import numpy as np
import pytest
from omegaconf import OmegaConf

from ltx2.experiment.record import file_sha256
from ltx2.io.media import read_video


def _one_run(cli, *overrides):
    proc = cli(*overrides)
    assert proc.returncode == 0, proc.stderr
    runs = cli.run_dirs()
    return runs[-1], proc


def test_default_run_directory(cli):
    run_dir, proc = _one_run(cli)
    for name in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "resolved_config.yaml",
                 "run.log", "video.mp4", "run_record.json"):
        assert (run_dir / name).is_file(), name
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["error"] is None
    assert set(record["phases"]) >= {"text_encoding", "denoise", "decode_and_write"}
    assert record["seed"] == 10 and record["choices"]["model"] == "tiny" and record["choices"]["lora"] == []
    assert record["prompt_used"] == record["prompt"]
    assert {"python", "mlx", "ltx2", "hydra", "device", "platform"} <= set(record["environment"])
    assert "commit" in record["git"] and "dirty" in record["git"]
    assert record["weights"]["checkpoint"]["sha256"] and record["weights"]["gemma_root"]["sha256"]
    video = record["outputs"]["video"]
    assert video["sha256"] == file_sha256(run_dir / "video.mp4")
    frames, meta = read_video(run_dir / "video.mp4")
    assert frames.shape == (17, 64, 96, 3) and video["frames"] == 17 and meta["fps"] == 24.0
    assert meta["codec"] == "h264" and "yuv420p" in meta["pix_fmt"]
    resolved = OmegaConf.load(run_dir / "resolved_config.yaml")
    assert resolved.width == 96 and "${" not in OmegaConf.to_yaml(resolved)


def test_rerun_reproduces_the_video(cli):
    first, _ = _one_run(cli, "seed=3", "guider=cfg")
    proc = cli(str(first), module="ltx2.rerun")
    assert proc.returncode == 0, proc.stderr
    second = [d for d in cli.run_dirs() if d != first]
    assert len(second) == 1
    assert cli.record(second[0])["overrides"] == ["seed=3", "guider=cfg"]
    assert cli.record(second[0])["outputs"]["video"]["sha256"] == cli.record(first)["outputs"]["video"]["sha256"]
    # overrides on top of the saved ones win for the same key
    proc = cli(str(first), "seed=4", module="ltx2.rerun")
    assert proc.returncode == 0, proc.stderr
    third = [d for d in cli.run_dirs() if d not in (first, second[0])][0]
    assert cli.record(third)["overrides"] == ["guider=cfg", "seed=4"]
    assert cli.record(third)["outputs"]["video"]["sha256"] != cli.record(first)["outputs"]["video"]["sha256"]


def test_saved_noise_replays_under_another_seed(cli):
    first, _ = _one_run(cli, "seed=5", "output.save_noise=true", "output.save_latents=true")
    assert (first / "noise.safetensors").is_file() and (first / "latents.safetensors").is_file()
    second, _ = _one_run(cli, "seed=6", f"noise.from_file={first / 'noise.safetensors'}", "output.save_latents=true")
    third, _ = _one_run(cli, "seed=6", "output.save_latents=true")
    same = [np.array(mx.load(str(d / "latents.safetensors"))["video"]) for d in (first, second, third)]
    assert np.array_equal(same[0], same[1])  # the noise, not the seed, decides the latents
    assert not np.array_equal(same[0], same[2])


def test_noise_of_another_size_is_refused(cli):
    first, _ = _one_run(cli, "output.save_noise=true")
    proc = cli("num_frames=9", f"noise.from_file={first / 'noise.safetensors'}")
    assert proc.returncode != 0 and "another size or frame count" in proc.stderr
    failed = [d for d in cli.run_dirs() if d != first]
    assert cli.record(failed[0])["status"] == "failed" and not (failed[0] / "video.mp4").exists()


def test_failed_run_leaves_no_video(cli, cache_dir, tmp_path):
    """A checkpoint that passes validation but whose VAE weights are missing fails while loading the decoder."""
    from ltx2.loading.checkpoint import read_header, save_checkpoint

    src = cache_dir / "tiny" / "tiny-ltx2.3.safetensors"
    tensors = {k: v for k, v in mx.load(str(src)).items() if not k.startswith("vae.decoder.")}
    broken = tmp_path / "no-decoder.safetensors"
    save_checkpoint(broken, tensors, read_header(src).metadata)
    proc = cli(f"model.checkpoint={broken}")
    assert proc.returncode != 0
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "failed" and "no tensors under 'vae.decoder.'" in record["error"]
    assert not (run_dir / "video.mp4").exists()
    assert not any(p.name.startswith(".video") for p in run_dir.iterdir())  # no temp file left either


def test_image_to_video_and_distilled(cli, tmp_path):
    import imageio.v3 as iio

    image = tmp_path / "frame.png"
    iio.imwrite(image, (np.random.default_rng(1).random((50, 70, 3)) * 255).astype("uint8"))
    run_dir, _ = _one_run(cli, "conditioning=image", f"conditioning.path={image}", "conditioning.frame_idx=8")
    assert cli.record(run_dir)["choices"]["conditioning"] == "image"
    run_dir, _ = _one_run(cli, "pipeline=distilled", "width=128", "height=64", "num_frames=9")
    record = cli.record(run_dir)
    assert {"denoise_stage_1", "upsample", "denoise_stage_2"} <= set(record["phases"])
    frames, _ = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 64, 128, 3)


# choice -> (denoiser calls, transformer passes per call) on the tiny model (4 steps). The default run: Euler and
# guider=multimodal, 4 calls of 4 passes (positive, negative, STG, audio<->video isolated).
CHOICES = {
    "pipeline.sampler=heun": (7, 4),  # two calls per step, the last step (to sigma 0) an Euler one
    "pipeline.sampler=res2s": (9, 4),  # two calls per step, then x0 at sigma 0
    "guider=none": (4, 1),
    "guider=cfg": (4, 2),
    "guider=cfg_star": (4, 2),
    "guider=apg": (4, 2),
    "guider=stg": (4, 3),
    "guider=hq": (4, 3),  # no STG
    "scheduler=linear_quadratic": (4, 4),  # same step count, other sigmas
    "scheduler=distilled": (8, 4),  # its 8 fixed sigmas
}


@pytest.mark.slow
def test_every_sampler_and_guider_changes_what_it_should(cli):
    """Each choice changes the transformer passes it should (process.counts of the run record) and the output."""
    default, _ = _one_run(cli, "num_frames=9", "output.save_latents=true")
    base = cli.record(default)
    counts = base["process"]["counts"]
    assert (counts["denoise:calls"], counts["transformer:passes"]) == (4, 16)
    for choice, (calls, per_call) in CHOICES.items():
        run_dir, _ = _one_run(cli, choice, "num_frames=9", "output.save_latents=true")
        record = cli.record(run_dir)
        assert record["overrides"][0] == choice
        counts = record["process"]["counts"]
        assert (counts["denoise:calls"], counts["transformer:passes"]) == (calls, calls * per_call), choice
        assert record["outputs"]["latents"]["sha256"] != base["outputs"]["latents"]["sha256"], choice


def test_sweep_keeps_the_model_warm(cli):
    proc = cli("-m", "seed=0,1", "guider=none")
    assert proc.returncode == 0, proc.stderr
    runs = cli.run_dirs()
    assert len(runs) == 2 and all(cli.record(d)["status"] == "completed" for d in runs)
    logs = [(d / "run.log").read_text() for d in runs]
    assert "loading transformer" in logs[0] and "loading transformer" not in logs[1]
    assert json.loads((runs[1] / "run_record.json").read_text())["overrides"] == ["seed=1", "guider=none"]


def test_weight_fingerprint_is_reused_only_while_the_file_is_unchanged(tmp_path):
    import os

    from ltx2.experiment.record import weight_fingerprint

    f = tmp_path / "w.safetensors"
    f.write_bytes(b"a" * 100)
    first = weight_fingerprint(f)
    assert weight_fingerprint(f) == first and first["sha256"] == file_sha256(f)
    mtime = f.stat().st_mtime_ns
    f.write_bytes(b"b" * 100)  # same size, rewritten in place: the mtime tells
    os.utime(f, ns=(mtime + 10**9, mtime + 10**9))
    assert weight_fingerprint(f)["sha256"] == file_sha256(f) != first["sha256"]
