"""conditioning=keyframes and pipeline=keyframe_interpolation (experiment=keyframe_interpolation) on the tiny model
from the command line; the refusals before loading (their numbers: tests/pipelines/test_pipeline_parity_hq_keyframes.py)."""

import mlx.core as mx
import numpy as np
import pytest

from ltx2.conditioning.keyframes import KeyframesConditioning
from ltx2.errors import ConfigError

TINY = ("model=tiny", "width=128", "height=64", "num_frames=9")


@pytest.fixture
def images(tmp_path):
    import imageio.v3 as iio

    paths = []
    for i, size in enumerate(((40, 60), (50, 30))):
        path = tmp_path / f"key{i}.png"
        iio.imwrite(path, (np.random.default_rng(i).random((*size, 3)) * 255).astype("uint8"))
        paths.append(path)
    return paths


def _images(*entries) -> str:
    return "conditioning.images=[" + ", ".join("{" + ", ".join(f"{k}: {v}" for k, v in e.items()) + "}"
                                               for e in entries) + "]"


def _two(images, **second):
    return _images(dict(path=images[0], frame_idx=0), dict(path=images[1], frame_idx=8, strength=0.5, **second))


def test_keyframe_interpolation_experiment_appends_every_image(cli, images):
    proc = cli("experiment=keyframe_interpolation", *TINY, _two(images), "output.save_noise=true")
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "keyframe_interpolation"
    assert record["choices"]["conditioning"] == "keyframes"
    noise = mx.load(str(run_dir / "noise.safetensors"))
    # stage 1 at 32x64: 2 latent frames of 1x2 tokens, plus both images appended (1x2 tokens each)
    assert noise["noise_0"].shape == (1, 2 * 2 + 2 * 2, 128)
    # stage 2 at 64x128: 2 x 2x4 tokens plus 2 x 2x4 appended
    assert noise["noise_2"].shape == (1, 16 + 16, 128)


def test_keyframes_with_two_stage(cli, images):
    """Frame 0 replaces the first latent frame (no tokens added), frame 8 appends tokens (one_stage: the parity
    test; distilled builds its items the same way)."""
    proc = cli("pipeline=two_stage", "conditioning=keyframes", *TINY, _two(images), "output.save_noise=true")
    assert proc.returncode == 0, proc.stderr
    noise = mx.load(str(cli.run_dirs()[-1] / "noise.safetensors"))
    assert noise["noise_0"].shape == (1, 2 * 2 + 2, 128)


def test_keyframe_interpolation_takes_a_single_image(cli, images):
    proc = cli("pipeline=keyframe_interpolation", "conditioning=image", f"conditioning.path={images[1]}",
               "conditioning.frame_idx=0", *TINY, "output.save_noise=true")
    assert proc.returncode == 0, proc.stderr
    noise = mx.load(str(cli.run_dirs()[-1] / "noise.safetensors"))
    assert noise["noise_0"].shape == (1, 2 * 2 + 2, 128)  # appended even at frame 0


def test_refusals_before_loading(cli, images, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    cases = [
        (("pipeline=keyframe_interpolation", *TINY), "needs conditioning=keyframes"),
        (("experiment=keyframe_interpolation", *TINY), "conditioning.images"),
        (("experiment=keyframe_interpolation", *TINY, _images(dict(path=images[0], frame_idx=9))),
         "conditioning.images[0].frame_idx=9"),
        (("conditioning=keyframes", "model=tiny", _images(dict(path=images[0], frame_idx=0),
                                                          dict(path=not_an_image, frame_idx=8))),
         "conditioning.images[1].path"),
    ]
    for overrides, fragment in cases:  # the other rules: test_keyframes_validation (in process)
        proc = cli(*overrides)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not cli.files()


def _refused(images, num_frames=9) -> str:
    with pytest.raises(ConfigError) as e:
        KeyframesConditioning(images).validate(num_frames=num_frames, fps=24.0)
    return str(e.value)


def test_keyframes_validation(images):
    a, b = str(images[0]), str(images[1])
    KeyframesConditioning([dict(path=a, frame_idx=0), dict(path=b, frame_idx=8, strength=0.0, crf=0)]).validate(9, 24)
    assert "non-empty list" in _refused([])
    assert "non-empty list" in _refused(None)
    assert "must be a mapping" in _refused([a])
    assert "conditioning.images[0].frame_idx=None: is required" in _refused([dict(path=a)])
    assert "conditioning.images[0].path=None: is required" in _refused([dict(frame_idx=0)])
    assert "conditioning.images[0].path='/no/such.png'" in _refused([dict(path="/no/such.png", frame_idx=0)])
    assert "0..8" in _refused([dict(path=a, frame_idx=9)])
    assert "0..8" in _refused([dict(path=a, frame_idx=-1)])
    assert "frame_idx=True" in _refused([dict(path=a, frame_idx=True)])
    assert "conditioning.images[1].frame_idx=0: is already conditioned by conditioning.images[0]" in _refused(
        [dict(path=a, frame_idx=0), dict(path=b, frame_idx=0)])
    assert "strength=1.5: must be between 0.0 and 1.0" in _refused([dict(path=a, frame_idx=0, strength=1.5)])
    assert "strength=-0.1" in _refused([dict(path=a, frame_idx=0, strength=-0.1)])
    assert "crf=-1" in _refused([dict(path=a, frame_idx=0, crf=-1)])
    assert "crf=60: must be between 0 and 51" in _refused([dict(path=a, frame_idx=0, crf=60)])
    assert "strength='high': must be a number" in _refused([dict(path=a, frame_idx=0, strength="high")])
    assert "conditioning.images[0].frame=0: is not a keyframe key" in _refused([dict(path=a, frame=0)])
