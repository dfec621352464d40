"""Bad inputs: non-zero exit, one clear message (key, value, rule, fix), no traceback, nothing written."""

import pytest

from ltx2.loading.checkpoint import read_header, save_checkpoint


def _assert_rejected(cli, proc, *fragments):
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert cli.left_behind() == [], f"left behind: {cli.left_behind()}"


@pytest.fixture
def image(tmp_path):
    import imageio.v3 as iio
    import numpy as np

    path = tmp_path / "frame.png"
    iio.imwrite(path, (np.random.default_rng(0).random((40, 60, 3)) * 255).astype("uint8"))
    return path


HYDRA_CASES = {
    "unknown_option": (["guider=stgg"], ["Could not find 'guider/stgg'", "Available options in 'guider'"]),
    "misspelt_key": (["guider.cfg_scal=3"], ["Could not override 'guider.cfg_scal'", "Key 'cfg_scal' not in 'MultiModalSchema'"]),
    "wrong_type": (["seed=abc"], ["Value 'abc' of type 'str' could not be converted to Integer", "seed"]),
    "wrong_type_in_group": (["guider.cfg_scale=high"], ["could not be converted to Float", "cfg_scale"]),
}


@pytest.mark.parametrize("case", HYDRA_CASES)
def test_compose_errors(cli, case):
    overrides, fragments = HYDRA_CASES[case]
    _assert_rejected(cli, cli(*overrides), *fragments)


OUR_CASES = {
    "bad_frame_count": (["num_frames=20"], ["num_frames=20", "8k+1", "Fix: use num_frames=17 or 25"]),
    "bad_size": (["height=100"], ["height=100", "multiple of 32", "Fix: use height=96"]),
    "distilled_size": (["pipeline=distilled", "width=96"], ["width=96", "multiple of 64"]),
    "zero_fps": (["fps=0"], ["fps=0", "positive"]),
    "missing_image": (["conditioning=image"], ["conditioning.path", "required"]),
    "absent_image": (["conditioning=image", "conditioning.path=/nonexistent/frame.png"], ["does not exist"]),
    "strength_range": (["conditioning=image", "conditioning.path={image}", "conditioning.strength=1.5"],
                       ["conditioning.strength=1.5", "between 0.0 and 1.0"]),
    "frame_idx_range": (["conditioning=image", "conditioning.path={image}", "conditioning.frame_idx=40"],
                        ["conditioning.frame_idx=40", "0..16"]),
    "zero_steps": (["scheduler.steps=0"], ["steps=0"]),
    "negative_scale": (["guider.cfg_scale=-1"], ["cfg_scale=-1", ">= 0"]),
    "stg_block_range": (["guider.stg_blocks=[99]"], ["guider.stg_blocks", "0..1"]),
    "batch_passes": (["guider.batch_passes=sometimes"], ["guider.batch_passes='sometimes'", "auto, true, false"]),
    "unknown_sampler": (["pipeline.sampler=rk4"], ["sampler='rk4'", "euler"]),
    "quantize_bits": (["text.quantize_bits=3"], ["text.quantize_bits=3", "4 or 8"]),
    "lora_missing": (["+lora.mine={path:/nonexistent/lora.safetensors,strength:1.0}"],
                     ["lora.mine.path", "does not exist"]),
    "noise_missing": (["noise.from_file=/nonexistent/noise.safetensors"], ["noise.from_file", "does not exist"]),
    "disallowed_target": (["model._target_=os.system"], ["model._target_='os.system'", "ltx2.*"]),
    "prompt_interpolation": (["prompt=${oc.env:HOME}"], ["prompt=", "interpolations", "prompts/"]),
    "empty_prompt": (["prompt=' '"], ["prompt=", "must not be empty"]),
    "unwritable_output": (["paths.output_root=/proc/ltx2-runs"], ["paths.output_root", "cannot be written"]),
}


@pytest.mark.parametrize("case", OUR_CASES)
def test_validation_errors(cli, image, case):
    overrides, fragments = OUR_CASES[case]
    proc = cli(*[o.replace("{image}", str(image)) for o in overrides])
    _assert_rejected(cli, proc, "ltx2: invalid config:", "Fix:", *fragments)


def test_undecodable_image(cli, tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    proc = cli("conditioning=image", f"conditioning.path={bad}")
    _assert_rejected(cli, proc, "conditioning.path", "cannot be decoded as an image")


def _checkpoint_variant(cache_dir, tmp_path, name, edit):
    src = cache_dir / "tiny" / "tiny-ltx2.3.safetensors"
    dst = tmp_path / name
    edit(src, dst)
    return dst


def test_truncated_checkpoint(cli, cache_dir, tmp_path):
    def truncate(src, dst):
        dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])

    path = _checkpoint_variant(cache_dir, tmp_path, "truncated.safetensors", truncate)
    _assert_rejected(cli, cli(f"model.checkpoint={path}"), "model.checkpoint", "is truncated", "Fix:")


def test_checkpoint_without_metadata(cli, cache_dir, tmp_path):
    import mlx.core as mx

    def strip(src, dst):
        save_checkpoint(dst, dict(mx.load(str(src))), {})

    path = _checkpoint_variant(cache_dir, tmp_path, "nometa.safetensors", strip)
    _assert_rejected(cli, cli(f"model.checkpoint={path}"), "model.checkpoint", "no 'config' entry")


def test_wrong_model_checkpoint(cli, cache_dir):
    upsampler = cache_dir / "tiny" / "tiny-upsampler-spatial-x2.safetensors"
    assert "transformer" not in read_header(upsampler).metadata.get("config", "")
    _assert_rejected(cli, cli(f"model.checkpoint={upsampler}"), "model.checkpoint",
                     "not an LTX-2 model checkpoint")
