"""Audio-to-video: the sound's latent stays frozen, the output carries the original waveform, bad audio is refused."""

import mlx.core as mx
import numpy as np
import pytest

from ltx2.io.media import read_wav, write_wav

RATE = 48000


def _tone(path, seconds=1.0, amplitude=0.3, channels=2):
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in (440, 660)[:channels]]).astype(np.float32)
    write_wav(path, wave, RATE)
    return path


def test_a2v_keeps_the_sound(cli, tmp_path, cache_dir):
    tone = _tone(tmp_path / "tone.wav")
    proc = cli("pipeline=a2v", "conditioning=audio", f"conditioning.path={tone}", "conditioning.start_time=0.1",
               "output.save_audio=true", "output.save_latents=true", "width=128")  # two stages: multiples of 64
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and "encode_audio" in record["phases"]
    assert {"denoise_stage_1", "upsample", "load_transformer_stage_2", "denoise_stage_2"} <= set(record["phases"])
    assert mx.load(str(run_dir / "latents.safetensors"))["video"].shape == (1, 3, 2, 4, 128)  # full size
    out, rate = read_wav(run_dir / "audio.wav")
    original, _ = read_wav(tone)
    start = int(0.1 * RATE)
    assert rate == RATE and out.shape == (2, round(17 / 24 * RATE))
    assert np.abs(out - original[:, start: start + out.shape[1]]).max() <= 2 / 32767  # the original, not a decode
    # the audio latent left the loop exactly as the encoder made it
    from ltx2.loading.model_set import ModelSet
    from ltx2.pipelines.a2v import AudioToVideoPipeline
    from ltx2.sampling.latent_state import AudioLatentShape

    models = ModelSet(name="tiny", checkpoint=str(cache_dir / "tiny" / "tiny-ltx2.3.safetensors"), dtype="float32")
    encoded = AudioToVideoPipeline._encode(models, original[:, start: start + out.shape[1]], RATE,
                                           AudioLatentShape.from_video(17, 24.0), mx.float32)
    saved = mx.load(str(run_dir / "latents.safetensors"))["audio"]
    assert np.array_equal(np.array(saved), np.array(encoded))


@pytest.mark.parametrize("case", ["silent", "short", "unreadable", "no_conditioning", "wrong_pipeline"])
def test_a2v_input_errors(cli, tmp_path, case):
    path = tmp_path / "in.wav"
    if case == "silent":
        write_wav(path, np.zeros((2, RATE), np.float32), RATE)
    elif case == "short":
        _tone(path, seconds=0.2, channels=1)
    elif case == "unreadable":
        path.write_text("not audio")
    if case == "no_conditioning":
        overrides = ["pipeline=a2v"]
    elif case == "wrong_pipeline":
        overrides = ["conditioning=audio", f"conditioning.path={_tone(path)}"]
    else:
        overrides = ["pipeline=a2v", "conditioning=audio", f"conditioning.path={path}"]
    proc = cli(*overrides, "width=128")
    expected = {"silent": "is silent", "short": "the video needs 0.71 s", "unreadable": "cannot be decoded as audio",
                "no_conditioning": "needs conditioning=audio", "wrong_pipeline": "pipeline=a2v only"}[case]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "ltx2: invalid config:" in proc.stderr and expected in proc.stderr and "Fix:" in proc.stderr
    assert cli.files() == []


def test_experiment_a2v_composes_and_runs(cli, tmp_path):
    tone = _tone(tmp_path / "tone.wav")
    proc = cli("experiment=a2v", f"conditioning.path={tone}", "width=128", "num_frames=9", "scheduler.steps=2")
    assert proc.returncode == 0, proc.stderr
    record = cli.record(cli.run_dirs()[-1])
    assert record["choices"]["pipeline"] == "a2v" and record["choices"]["conditioning"] == "audio"
    assert "denoise_stage_2" in record["phases"]
    proc = cli("experiment=a2v", f"conditioning.path={tone}", "width=96")  # a given 96 px width: refused
    assert proc.returncode == 2 and "multiple of 64" in proc.stderr
