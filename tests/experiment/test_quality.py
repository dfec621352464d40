"""Quality signals: each fires on a made-up video or waveform made to trip it, none fires on a moving pattern with a
tone; a tiny run records them, warns in run.log, and quality.fail_on ends it as failed."""

import json

import numpy as np
import pytest

from ltx2.errors import ConfigError
from ltx2.experiment.quality import (
    QualityFailure,
    RunQuality,
    audio_signals,
    judge,
    latent_signals,
    video_signals,
)

F, H, W, RATE = 24, 64, 96, 48000


def moving_pattern(frames: int = F, shift: int = 2) -> np.ndarray:
    """A smooth 2-D colour pattern sliding ``shift`` pixels right per frame: (F, H, W, 3) uint8."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(frames):
        u = (x - shift * i) / W * 2 * np.pi
        v = y / H * 2 * np.pi
        base = 0.5 + 0.25 * np.cos(4 * u) + 0.2 * np.sin(2 * v + u)
        out.append(np.stack([base, 0.8 * base + 0.1, 1 - 0.7 * base], -1))
    return (np.clip(np.stack(out), 0, 1) * 255).astype(np.uint8)


def tone(seconds: float = 2.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = amplitude * np.sin(2 * np.pi * 440 * t)
    return np.stack([wave, wave]).astype(np.float32)


def test_moving_pattern_with_a_tone_trips_nothing():
    video = video_signals(moving_pattern())
    audio = audio_signals(tone(), RATE)
    signals = {**video, **audio, **latent_signals({"video": np.zeros((1, 4, 8))})}
    assert judge(signals) == []
    assert 1.0 < video["motion"] < 3.5  # ~2 px per frame
    assert 0 < video["flicker"] < 30 and video["sharpness"] > 0 and video["frozen_frames"] == 0
    assert -25 < audio["audio_lufs"] < -5  # a 0.3-peak stereo 440 Hz tone
    assert audio["audio_peak_dbfs"] == pytest.approx(20 * np.log10(0.3), abs=0.05)


def test_all_black_video_is_black_blank_and_frozen():
    signals = video_signals(np.zeros((F, H, W, 3), np.uint8))
    assert {"black", "blank", "frozen"} <= set(judge(signals))
    assert signals["black_fraction"] == 1.0 and signals["frozen_frames"] == F


def test_frozen_picture_is_frozen_but_not_black():
    still = moving_pattern(1)[0]
    frames = np.concatenate([moving_pattern(4), np.repeat(still[None], F - 4, axis=0)])
    signals = video_signals(frames)
    assert judge(signals) == ["frozen"]
    assert signals["frozen_frames"] == F - 4 and signals["motion"] < 1.0


def test_noise_video_flickers():
    frames = np.random.default_rng(0).integers(0, 256, (F, H, W, 3), dtype=np.uint8)
    signals = video_signals(frames)
    assert judge(signals) == ["flicker_high"]
    assert signals["flicker"] > 45  # luma of independent uniform RGB noise: ~57 apart on average


def test_silent_and_clipped_audio():
    assert judge(audio_signals(np.zeros((2, RATE)), RATE)) == ["silent"]
    assert audio_signals(np.zeros((2, RATE)), RATE)["audio_lufs"] is None
    assert judge(audio_signals(1e-5 * tone(), RATE)) == ["silent"]
    clipped = audio_signals(np.clip(tone(amplitude=1.6), -1, 1), RATE)
    assert judge(clipped) == ["clipped"] and clipped["audio_clipped_fraction"] > 0.3


def test_nan_latents():
    latents = {"video": np.array([[0.0, np.nan, np.inf]]), "audio": np.zeros(3)}
    assert latent_signals(latents) == {"nonfinite_latents": 2, "nan": True}


def test_fail_on_raises_for_a_tripped_signal_only():
    black = np.zeros((1, 8, H, W, 3), np.uint8)
    check = RunQuality({"fail_on": ["black"]})
    list(check.watch(black))
    with pytest.raises(QualityFailure, match="black"):
        check.finish(None, {}, None)
    calm = RunQuality({"fail_on": ["black", "silent"]})
    list(calm.watch(moving_pattern()[None]))
    assert calm.finish(None, {}, (tone(), RATE))["tripped"] == []
    with pytest.raises(ConfigError, match="quality.fail_on"):
        RunQuality({"fail_on": ["blurry"]})


def test_tiny_run_records_warns_and_fails_on_request(cli):
    """The tiny model's random weights make noise-like frames: flicker trips, and fail_on=[flicker_high] fails
    the run with that reason (the video is still written)."""
    proc = cli("quality.fail_on=[flicker_high]")  # 17 frames: 0.71 s, loud enough for a LUFS reading
    assert proc.returncode != 0
    (run_dir,) = cli.run_dirs()
    record = cli.record(run_dir)
    assert record["status"] == "failed" and "flicker_high" in record["error"]
    quality = record["quality"]
    assert quality["flicker_high"] is True and quality["nan"] is False and quality["silent"] is False
    assert isinstance(quality["audio_lufs"], float) and quality["frames"] == 17
    assert "quality" in record["phases"] and (run_dir / "video.mp4").is_file()
    log = (run_dir / "run.log").read_text()
    assert "WARNING] - quality: flicker: mean frame-to-frame difference" in log
    proc = cli("quality.fail_on=[blurry]", "debug=default")
    assert proc.returncode == 2 and "quality.fail_on=['blurry']" in proc.stderr
    assert len(cli.run_dirs()) == 1  # refused before anything was written
    json.dumps(quality)  # plain JSON types only
