"""Audio conditioning (audio-to-video): a sound file drives the video; its latent is frozen while the video is
denoised, and the output carries the original waveform (official ``A2VidPipelineTwoStage``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_file

SILENT_PEAK_DBFS = -60.0
DECODE_RATE = 48000  # non-WAV files are decoded by ffmpeg at this rate (WAV files keep theirs)


class AudioConditioning:
    """``conditioning=audio``: ``path`` (WAV, or anything ffmpeg reads), from ``start_time`` seconds, at most
    ``max_duration`` seconds (default: the video's duration)."""

    GROUP_OPTION = "audio"
    PIPELINE = "a2v"  # the only pipeline that takes it
    ENHANCE_MODE = "t2v"  # prompt enhancement: no image to describe (the reference passes none)

    def __init__(self, path: str, start_time: float = 0.0, max_duration: float | None = None):
        self.path, self.start_time, self.max_duration = path, start_time, max_duration

    def validate(self, num_frames: int, fps: float) -> None:
        check_file("conditioning.path", self.path, "the audio file", "set conditioning.path to an audio file")
        if self.start_time < 0:
            raise ConfigError("conditioning.start_time", self.start_time, "must be >= 0",
                                 "use conditioning.start_time=0")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ConfigError("conditioning.max_duration", self.max_duration, "must be positive (seconds) or null",
                                 "use conditioning.max_duration=null")
        waveform, rate = self.waveform(num_frames / fps)
        needed = num_frames / fps
        have = waveform.shape[1] / rate
        if have + 1.0 / fps < needed:
            raise ConfigError("conditioning.path", self.path,
                                 f"has {have:.2f} s of audio from {self.start_time} s, the video needs {needed:.2f} s "
                                 f"({num_frames} frames at {fps} fps)",
                                 f"use num_frames={max(1, int(have * fps) // 8 * 8 + 1)}, an earlier "
                                 "conditioning.start_time, or a longer file")
        peak = float(np.abs(waveform).max()) if waveform.size else 0.0
        if peak == 0.0 or 20 * np.log10(peak) < SILENT_PEAK_DBFS:
            raise ConfigError("conditioning.path", self.path, f"is silent (peak below {SILENT_PEAK_DBFS:.0f} dBFS "
                                 f"in the {needed:.2f} s used)", "choose a file (or a start_time) with sound")

    def waveform(self, duration: float) -> tuple[np.ndarray, int]:
        """(stereo waveform (2, S) float32 in [-1, 1], sample rate) of the window the video uses."""
        try:
            waveform, rate = _read_audio(Path(self.path))
        except (OSError, ValueError, subprocess.CalledProcessError) as e:
            raise ConfigError("conditioning.path", self.path, f"cannot be decoded as audio ({type(e).__name__})",
                                 "use a WAV, MP3, FLAC, AAC or other file ffmpeg reads") from None
        if waveform.shape[0] == 1:
            waveform = np.repeat(waveform, 2, axis=0)
        length = duration if self.max_duration is None else min(duration, self.max_duration)
        start = int(round(self.start_time * rate))
        return np.ascontiguousarray(waveform[:2, start: start + int(round(length * rate))]), rate

    def items(self, models, width: int, height: int, dtype) -> list:
        return []  # the a2v pipeline reads the waveform itself


def _read_audio(path: Path) -> tuple[np.ndarray, int]:
    from ltx2.io.media import read_wav

    if path.suffix.lower() == ".wav":
        try:
            return read_wav(path)
        except (ValueError, EOFError, Exception):  # noqa: BLE001 - not a 16-bit PCM WAV: let ffmpeg try
            pass
    import imageio_ffmpeg

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-vn", "-f", "f32le",
                          "-ac", "2", "-ar", str(DECODE_RATE), "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(out, np.float32)
    if samples.size == 0:
        raise ValueError(f"{path} has no audio stream")
    return samples.reshape(-1, 2).T.copy(), DECODE_RATE
