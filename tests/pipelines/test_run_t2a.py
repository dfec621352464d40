"""pipeline=t2a from the command line: the run writes audio.wav (rate, channels and duration as requested) and no
video, an audio-only run record, a memory plan without video work, a gallery with an audio player; options a
text-to-audio run would ignore, and models the reference cannot run, are refused in one line before loading."""

from pathlib import Path

import pytest

from ltx2.io.media import read_wav

BWE_RATE = 48000  # the LTX-2.5 vocoder's output rate (bandwidth extension), stereo


def test_t2a_writes_audio_wav_and_no_video(cli):
    proc = cli("model=tiny25", "pipeline=t2a", "num_frames=25", "fps=25", "scheduler.steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = cli.run_dirs()
    assert (run_dir / "audio.wav").is_file()
    assert not list(run_dir.glob("*.mp4")) and not list(run_dir.glob("*.png"))
    waveform, rate = read_wav(run_dir / "audio.wav")
    assert rate == BWE_RATE and waveform.shape == (2, BWE_RATE)  # 25 frames at 25 fps: 1 s
    assert float(abs(waveform).max()) > 0.01
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "t2a"
    assert set(record["outputs"]) == {"audio"}
    assert record["outputs"]["audio"]["sample_rate"] == BWE_RATE and record["outputs"]["audio"]["channels"] == 2
    assert record["outputs"]["audio"]["duration_s"] == 1.0
    assert "width" not in record["request"] and record["request"]["num_frames"] == 25
    assert "decode_and_write" not in record["phases"] and "decode_audio" in record["phases"]
    assert "frames" not in record["quality"] and record["quality"]["silent"] is False
    decode = record["memory_plan"]["phases"]["decode"]["weights_bytes"]
    assert "video decoder" not in decode and "vocoder" in decode
    assert record["process"]["counts"].get("load:video_decoder") is None

    from ltx2.gallery import write_gallery

    page = Path(write_gallery(cli.runs)["index"]).read_text()
    assert "<audio controls" in page and "audio.wav" in page


@pytest.mark.slow
def test_t2a_auto_duration_and_tiny23(cli):
    """num_frames=auto on LTX-2.5 (the duration head reads the audio context); the LTX-2.3 tiny model runs too."""
    proc = cli("model=tiny25", "pipeline=t2a", "num_frames=auto", "scheduler.steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = cli.record(cli.run_dirs()[-1])
    frames = record["duration"]["num_frames"]
    assert record["outputs"]["audio"]["duration_s"] == pytest.approx(frames / 24.0, abs=1e-4)
    proc = cli("model=tiny", "pipeline=t2a", "scheduler.steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cli.record(cli.run_dirs()[-1])["model_version"] == "2.3.0"


REFUSALS = {
    "width": (["width=128"], "width=128: pipeline=t2a makes no picture"),
    "size": (["size=official"], "pipeline=t2a makes no picture"),
    "ltx2": (["model=tiny", "model.checkpoint=${paths.cache_dir}/tiny/tiny-ltx2.safetensors"],
             "pipeline=t2a needs an LTX-2.3 or LTX-2.5 transformer"),
    "guider": (["guider=cfg_star"], "guider='cfg_star': pipeline=t2a guides the audio"),
    "audio_off": (["audio.enabled=false"], "audio.enabled=False: pipeline=t2a makes only sound"),
    "previews": (["output.previews=1"], "output.previews=1: pipeline=t2a has no video latent"),
    "image": (["conditioning=image", "conditioning.path=${paths.cache_dir}/frame.png"],
              "conditioning='image': pipeline=t2a makes sound from text alone"),
}


def test_t2a_refusal_from_the_command_line(cli):
    proc = cli("model=tiny25", "pipeline=t2a", "width=128")
    assert proc.returncode == 2 and REFUSALS["width"][1] in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not cli.files()


DEFAULT = ("width", "ltx2", "image")  # the others run with -m slow


@pytest.mark.parametrize("case", [c if c in DEFAULT else pytest.param(c, marks=pytest.mark.slow)
                                  for c in sorted(REFUSALS)])
def test_t2a_refusals_before_loading(case, cache_dir, tmp_path, monkeypatch):
    """Each rule in-process (``runner.prepare``, what the CLI runs before loading anything): the error, and no
    network loaded."""
    import imageio.v3 as iio
    import numpy as np
    from helpers import compose_run

    from ltx2.errors import ConfigError
    from ltx2.experiment.runner import prepare
    from ltx2.loading import model_set

    monkeypatch.setenv("LTX2_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("LTX2_OUTPUT_ROOT", str(tmp_path / "runs"))
    iio.imwrite(cache_dir / "frame.png", np.zeros((32, 32, 3), np.uint8))
    overrides, expected = REFUSALS[case]
    before = model_set.stats()
    with pytest.raises(ConfigError) as error:
        prepare(compose_run(["model=tiny25", "pipeline=t2a", *overrides]))
    assert expected in str(error.value)
    assert model_set.stats() == before
