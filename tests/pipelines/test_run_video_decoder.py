"""``model.video_decoder``: model=tiny25 ships the video VAE as the official LTX-2.5 release does (the diffusion
decoder), a run decodes through it with its canvas noise drawn last from the pipeline's noise (saved with the
stages' noise), and the run record names the decoder that ran; the conv-decoder sibling runs with
``model.video_decoder=conv``; a decoder the file does not carry is one ConfigError line before any weight loads."""

import mlx.core as mx
import pytest

from ltx2.errors import ConfigError
from ltx2.loading.model_set import ModelSet
from ltx2.tiny.codecs25 import CONV_VIDEO_VAE
from ltx2.tiny.ltx25_model import FILES

CHEAP = ("scheduler.steps=2", "guider=none")
CONV_FILE = "model.video_vae=${paths.cache_dir}/tiny/" + CONV_VIDEO_VAE


def _refusal(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ltx2: invalid config: ")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


def test_tiny25_decodes_with_the_diffusion_decoder(cli):
    proc = cli("model=tiny25", "model.video_decoder=diffusion", "output.save_noise=true", *CHEAP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["video_decoder"] == "diffusion"
    assert record["outputs"]["video"]["bytes"] > 0
    noise = mx.load(str(run_dir / "noise.safetensors"))
    names = sorted(noise, key=lambda k: int(k.split("_")[-1]))
    assert len(names) == 3  # video, audio, then the decoder's canvas (96 x 64 padded to the 3 x 3 x 3 latent minimum)
    assert noise[names[-1]].shape == (1, 17, 96, 96, 3)


@pytest.mark.slow  # ~20 s: one more CLI run
def test_tiny25_conv_sibling_decodes_with_the_conv_decoder(cli):
    proc = cli("model=tiny25", CONV_FILE, "model.video_decoder=conv", "output.save_noise=true", *CHEAP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = cli.run_dirs()[-1]
    assert cli.record(run_dir)["video_decoder"] == "conv"
    assert len(mx.load(str(run_dir / "noise.safetensors"))) == 2  # no decoder canvas


def test_a_decoder_the_file_lacks_is_refused_before_loading(cli):
    line = _refusal(cli("model=tiny25", "model.video_decoder=conv", *CHEAP))
    assert "model.video_decoder='conv'" in line and "carries the diffusion decoder only" in line
    assert "video-vae-conv" in line and not cli.files()


@pytest.mark.parametrize("choice, video_vae, carried", [
    ("diffusion", CONV_VIDEO_VAE, "conv"), ("conv", FILES["video_vae"], "diffusion"), ("auto", None, None)])
def test_model_set_refusals(tiny, choice, video_vae, carried):
    files = {c: str(tiny / name) for c, name in FILES.items()}
    if video_vae:
        files["video_vae"] = str(tiny / video_vae)
    with pytest.raises(ConfigError) as refused:
        ModelSet(name="tiny25", dtype="float32", video_decoder=choice, **files).check_video_decoder()
    message = str(refused.value)
    assert "model.video_decoder" in message and (carried is None or f"carries the {carried} decoder" in message)


def test_the_single_file_ltx23_model_has_no_diffusion_decoder(tiny):
    models = ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"), video_decoder="diffusion")
    with pytest.raises(ConfigError, match="LTX-2.5's"):
        models.check_video_decoder()
    for choice in (None, "conv"):  # what the file carries: accepted
        ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"), video_decoder=choice
                 ).check_video_decoder()


@pytest.mark.slow  # ~40 s: two CLI runs
def test_saved_noise_replays_the_diffusion_decode(cli):
    """noise.from_file replays the stages' noise and the decoder's canvas: the same video, frame for frame."""
    import imageio.v3 as iio
    import numpy as np

    assert cli("model=tiny25", "output.save_noise=true", "seed=3", *CHEAP).returncode == 0
    first = cli.run_dirs()[-1]
    proc = cli("model=tiny25", f"noise.from_file={first / 'noise.safetensors'}", "seed=3", *CHEAP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = [d for d in cli.run_dirs() if d != first][-1]
    assert np.array_equal(iio.imread(first / "video.mp4"), iio.imread(second / "video.mp4"))
