"""Source-video conditioning (retake, official ``RetakePipeline``): an existing clip whose frames and sound become
the initial latents, and a time range ``[start_time, end_time)`` that is regenerated while the rest is kept.

The output has the source's size, frame count and fps: the top-level ``width``, ``height``, ``num_frames`` and
``fps`` follow it. Left at their defaults they simply take the source's values; set explicitly to something else
they are refused (a retake cannot resize or retime the clip).
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_file

REQUEST_KEYS = ("width", "height", "num_frames", "fps")


@dataclass(frozen=True)
class SourceFacts:
    width: int
    height: int
    frames: int
    fps: float
    audio_rate: int | None  # None: the file has no audio track

    @property
    def duration(self) -> float:
        return self.frames / self.fps


class SourceVideoConditioning:
    """``conditioning=source_video``: ``path`` (any video ffmpeg reads), the range ``[start_time, end_time)`` in
    seconds to regenerate, and per modality whether to regenerate it there (``regenerate_video``,
    ``regenerate_audio``; false keeps that modality as it is everywhere). A source without an audio track gets
    its whole soundtrack generated (as the reference does: no audio latent, mask all ones)."""

    GROUP_OPTION = "source_video"
    PIPELINE = "retake"  # the only pipeline that takes it
    ENHANCE_MODE = "t2v"  # prompt enhancement: no image to describe (the reference passes none)

    def __init__(self, path: str, start_time: float = 0.0, end_time: float | None = None,
                 regenerate_video: bool = True, regenerate_audio: bool = True):
        self.path, self.start_time, self.end_time = path, start_time, end_time
        self.regenerate_video, self.regenerate_audio = regenerate_video, regenerate_audio

    # -- checks (no weights) -------------------------------------------------------------------------------------
    @cached_property
    def facts(self) -> SourceFacts:
        """Size, frame count and fps of the video stream, the audio track's sample rate (decodes the file)."""
        import imageio_ffmpeg

        check_file("conditioning.path", self.path, "the source video", "set conditioning.path to a video file")
        try:
            reader = imageio_ffmpeg.read_frames(str(self.path))
            meta = next(reader)
            reader.close()
            frames, _ = imageio_ffmpeg.count_frames_and_secs(str(self.path))
        except (OSError, RuntimeError, StopIteration, ValueError) as e:
            raise ConfigError("conditioning.path", self.path, f"cannot be decoded as a video ({type(e).__name__})",
                                 "use an MP4, MOV, MKV or other file ffmpeg reads") from None
        width, height = meta["size"]
        return SourceFacts(int(width), int(height), int(frames), float(meta["fps"]), _audio_rate(Path(self.path)))

    def request(self, cfg: DictConfig) -> dict:
        """The source's ``width``/``height``/``num_frames``/``fps`` for the run. A value the user set explicitly
        (not the ``${model.suggested.*}`` default) must agree with the source's."""
        facts = self.facts
        source = {"width": facts.width, "height": facts.height, "num_frames": facts.frames, "fps": facts.fps}
        raw = OmegaConf.to_container(cfg, resolve=False)
        for key in REQUEST_KEYS:
            given = raw.get(key)
            if isinstance(given, str) and "${" in given:
                continue  # not set by the user: follows the source
            same = math.isclose(float(given), source[key], rel_tol=1e-6) if key == "fps" else given == source[key]
            if not same:
                raise ConfigError(key, given, f"a retake keeps the source video's size, frames and fps "
                                     f"({facts.width}x{facts.height}, {facts.frames} frames at {facts.fps:g} fps)",
                                     f"remove {key}={given} from the overrides (it follows conditioning.path)")
        if (facts.frames - 1) % 8:
            lower = max(1, (facts.frames - 1) // 8 * 8 + 1)
            raise ConfigError("conditioning.path", self.path, f"has {facts.frames} frames; the VAE needs 8k+1 "
                                 "(1, 9, 17, ..., 121)", f"trim the clip to {lower} frames (e.g. ffmpeg -frames:v "
                                 f"{lower})")
        for key, value in (("width", facts.width), ("height", facts.height)):
            if value % 32:
                raise ConfigError("conditioning.path", self.path, f"is {facts.width}x{facts.height}; its {key} "
                                     "must be a multiple of 32", f"crop or scale the clip to {value // 32 * 32 or 32} "
                                     f"pixels {key}")
        return source

    def validate(self, num_frames: int, fps: float) -> None:
        duration = self.facts.duration
        for key in ("regenerate_video", "regenerate_audio"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"conditioning.{key}", getattr(self, key), "must be true or false",
                                     f"conditioning.{key}=true")
        if not (self.regenerate_video or self.regenerate_audio):
            raise ConfigError("conditioning.regenerate_video", False, "with regenerate_audio=false too nothing "
                                 "would be regenerated", "set conditioning.regenerate_video=true or "
                                 "conditioning.regenerate_audio=true")
        if self.end_time is None:
            raise ConfigError("conditioning.end_time", None, "the range to regenerate needs an end",
                                 f"set conditioning.end_time (the clip lasts {duration:.3f} s)")
        for key in ("start_time", "end_time"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"conditioning.{key}", value, "must be a number of seconds",
                                     f"conditioning.{key}=0.5")
        if not 0 <= self.start_time < self.end_time <= duration + 1e-9:
            raise ConfigError("conditioning.start_time..end_time", f"{self.start_time}..{self.end_time}",
                                 f"needs 0 <= start_time < end_time <= {duration:.4f} (the clip's duration: "
                                 f"{self.facts.frames} frames at {self.facts.fps:g} fps)",
                                 f"choose a range inside the clip, e.g. conditioning.start_time=0 "
                                 f"conditioning.end_time={duration / 2:.3f}")

    def items(self, models, width: int, height: int, dtype) -> list:
        return []  # the retake pipeline encodes the source itself

    # -- media --------------------------------------------------------------------------------------------------
    def pixels(self) -> np.ndarray:
        """(F, H, W, 3) float32 in [-1, 1]: every frame, as decoded (rgb24), ``x / 127.5 - 1``."""
        from ltx2.io.media import read_video

        frames, _ = read_video(self.path)
        return frames[: self.facts.frames].astype(np.float32) / 127.5 - 1.0

    def waveform(self) -> tuple[np.ndarray, int] | None:
        """(stereo waveform (2, S) float32 in [-1, 1], the track's own sample rate), or None without audio.
        Decoded by ffmpeg with the container's edit list applied (encoder priming samples dropped). The reference
        decodes with PyAV after a seek to 0, which turns the first AAC frame (1024 samples) into silence."""
        import imageio_ffmpeg

        rate = self.facts.audio_rate
        if rate is None:
            return None
        out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(self.path), "-vn",
                              "-f", "f32le", "-ac", "2", "-ar", str(rate), "-"], capture_output=True, check=True).stdout
        samples = np.frombuffer(out, np.float32)
        return samples.reshape(-1, 2).T.copy(), rate

    def masks(self, video_shape, audio_shape, fps: float):
        """Denoise masks (1 = regenerate) per latent token: video (1, F'*H'*W', 1), audio (1, T, 1), float32.
        A token is regenerated when its time span overlaps ``[start_time, end_time)`` (official
        ``TemporalRegionMask``); a modality not regenerated gets all zeros."""
        import mlx.core as mx

        from ltx2.models.transformer.positions import audio_positions, video_positions

        def overlap(bounds: np.ndarray, enabled: bool) -> np.ndarray:  # bounds (T, 2) seconds, float32
            start, end = np.float32(self.start_time), np.float32(self.end_time)
            inside = (bounds[:, 1] > start) & (bounds[:, 0] < end) if enabled else np.zeros(len(bounds), bool)
            return inside.astype(np.float32)[None, :, None]

        video_bounds = np.array(video_positions(video_shape.frames, video_shape.height, video_shape.width, fps))[0, 0]
        audio_bounds = np.array(audio_positions(audio_shape.frames))[0, 0]
        return (mx.array(overlap(video_bounds, self.regenerate_video)),
                mx.array(overlap(audio_bounds, self.regenerate_audio)))


def _audio_rate(path: Path) -> int | None:
    """The first audio stream's sample rate from ffmpeg's stream listing, None when there is none."""
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True, check=False).stderr  # "ffmpeg -i" alone exits 1 (no output file)
    match = re.search(r"Stream #\S+.*?: Audio: [^\n]*?(\d+) Hz", info)
    return int(match.group(1)) if match else None
