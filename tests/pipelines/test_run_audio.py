"""Joint audio + video generation through `python -m ltx2.run`: the muxed AAC track, audio.wav, audio facts."""

import subprocess

import numpy as np
import pytest

from ltx2.io.media import audio_facts, fit_audio, read_video, read_wav


def _decoded_audio(path):
    """(samples per channel, channels, rate) of the video's audio stream, decoded by ffmpeg."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-i", str(path)], capture_output=True, text=True).stderr
    stream = [line for line in info.splitlines() if "Audio:" in line]
    assert stream, f"no audio stream in {path}:\n{info}"
    assert "aac" in stream[0] and "stereo" in stream[0], stream[0]
    rate = int(stream[0].split(" Hz")[0].split()[-1])
    pcm = subprocess.run([exe, "-v", "error", "-i", str(path), "-map", "0:a", "-f", "s16le", "-ac", "2", "-"],
                         capture_output=True, check=True).stdout
    return len(pcm) // 4, 2, rate


@pytest.mark.parametrize("model,rate", [("tiny-ltx2.3", 48000), ("tiny-ltx2", 24000)])
def test_video_carries_a_stereo_track_as_long_as_the_video(cli, model, rate):
    proc = cli(f"model.checkpoint=${{paths.cache_dir}}/tiny/{model}.safetensors", "output.save_audio=true")
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    frames, meta = read_video(run_dir / "video.mp4")
    video_s = len(frames) / meta["fps"]
    samples, channels, stream_rate = _decoded_audio(run_dir / "video.mp4")
    audio_s = samples / stream_rate
    print(f"\nA/V {model}: video {len(frames)} frames = {video_s:.4f} s, AAC {stream_rate} Hz stereo "
          f"{samples} samples = {audio_s:.4f} s, diff {1000 * (audio_s - video_s):+.1f} ms")
    assert stream_rate == rate and abs(audio_s - video_s) <= 1 / meta["fps"]
    record = cli.record(run_dir)
    facts = record["audio"]
    assert facts["sample_rate"] == rate and facts["channels"] == 2
    assert facts["samples"] == round(17 / 24 * rate) and abs(facts["duration_s"] - 17 / 24) < 1e-5
    assert facts["peak_dbfs"] is not None and facts["rms_dbfs"] < facts["peak_dbfs"] <= 0
    wav, wav_rate = read_wav(run_dir / "audio.wav")
    assert wav_rate == rate and wav.shape == (2, facts["samples"])
    assert record["outputs"]["audio"]["sample_rate"] == rate


def test_audio_disabled_gives_a_silent_video(cli):
    proc = cli("audio.enabled=false", "output.save_audio=true")
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert "audio" not in record and "audio" not in record["outputs"] and not (run_dir / "audio.wav").exists()
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(run_dir / "video.mp4")],
                          capture_output=True, text=True).stderr
    assert "Audio:" not in info


def test_fit_audio_pads_and_trims_to_the_video_duration():
    wave = np.ones((2, 1000), np.float32)
    assert fit_audio(wave, 1000, 1.5).shape == (2, 1500) and fit_audio(wave, 1000, 1.5)[:, 1000:].max() == 0
    assert fit_audio(wave, 1000, 0.5).shape == (2, 500)


def test_audio_facts_warn_on_silent_and_clipped_audio():
    t = np.arange(48000) / 48000
    tone = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2)
    facts = audio_facts(tone, 48000)
    assert facts["warnings"] == [] and abs(facts["peak_dbfs"] - 20 * np.log10(0.5)) < 0.01
    assert abs(facts["rms_dbfs"] - 20 * np.log10(0.5 / np.sqrt(2))) < 0.01 and facts["duration_s"] == 1.0
    assert audio_facts(np.zeros((2, 100)), 48000)["warnings"][0].startswith("silent")
    assert audio_facts(np.clip(4 * tone, -1, 1), 48000)["warnings"][0].startswith("clipped")
