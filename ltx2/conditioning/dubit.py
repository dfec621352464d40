"""Dub-It input (``conditioning=dubit``, drives ``pipeline=dubit``; official ``DubItPipeline``'s
``--reference-video``): a clip of someone speaking. Its frames are the IC-LoRA's reference video (read at each
stage's size divided by the LoRA's ``reference_downscale_factor``, as ``conditioning=reference_video``) and its
soundtrack (the whole track) is the voice the new speech keeps: encoded by the audio VAE and appended as
reference audio tokens. ``audio_path`` (an extension of ours) takes the voice from another file instead.

The frame count and fps are the clip's (the count snapped down to 8k+1, as the reference does): ``num_frames``
and ``fps`` follow it; set explicitly to something else they are refused. Width and height are free (multiples of
64). The prompt says what is said.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_file, check_range

SILENT_PEAK_DBFS = -60.0


class DubItConditioning:
    """``conditioning=dubit``: ``path`` (the clip, with sound unless ``audio_path``), ``strength`` (of the
    reference video tokens: 1 keeps them clean), ``audio_path`` (optional voice file: WAV, or anything ffmpeg
    reads)."""

    GROUP_OPTION = "dubit"
    PIPELINE = "dubit"  # the only pipeline that takes it
    ENHANCE_MODE = "t2v"  # prompt enhancement: no image to describe (the reference passes none)

    def __init__(self, path: str, strength: float = 1.0, audio_path: str | None = None):
        self.path, self.strength, self.audio_path = path, strength, audio_path

    @cached_property
    def source(self):
        from ltx2.conditioning.source_video import SourceVideoConditioning

        return SourceVideoConditioning(self.path)

    def frames(self) -> int:
        """The clip's frame count snapped down to 8k+1 (ltx-pipelines ``snap_frames_to_grid``)."""
        return (self.source.facts.frames - 1) // 8 * 8 + 1

    # -- checks (no weights) -------------------------------------------------------------------------------------
    def request(self, cfg: DictConfig) -> dict:
        """``num_frames`` and ``fps`` of the clip; a value the user set explicitly must agree."""
        facts, frames = self.source.facts, self.frames()
        wanted = {"num_frames": frames, "fps": facts.fps}
        raw = OmegaConf.to_container(cfg, resolve=False)
        for key, value in wanted.items():
            given = raw.get(key)
            if isinstance(given, str) and "${" in given:
                continue  # not set by the user: follows the clip
            same = math.isclose(float(given), value, rel_tol=1e-6) if key == "fps" else given == value
            if not same:
                raise ConfigError(key, given, f"pipeline=dubit takes the frame count and fps of the clip ({frames} "
                                  f"frames at {facts.fps:g} fps)", f"remove {key}={given} from the overrides (it "
                                  "follows conditioning.path)")
        return wanted

    def validate(self, num_frames: int, fps: float) -> None:
        check_range("conditioning.strength", self.strength, 0.0, 1.0,
                    "use a strength between 0 (reference denoised too) and 1 (reference kept clean)")
        self.source.facts  # noqa: B018 - exists and decodes, else one ConfigError line
        if self.audio_path is not None:
            check_file("conditioning.audio_path", self.audio_path, "the voice file",
                       "set conditioning.audio_path to an audio file, or null to use the clip's soundtrack")
        elif self.source.facts.audio_rate is None:
            raise ConfigError("conditioning.path", self.path, "has no audio track: Dub-It takes the speaker's voice "
                              "from it", "use a clip with sound, or give the voice as "
                              "conditioning.audio_path=voice.wav")
        waveform, _ = self.voice()
        peak = float(np.abs(waveform).max()) if waveform.size else 0.0
        if peak == 0.0 or 20 * np.log10(peak) < SILENT_PEAK_DBFS:
            key, value = ("conditioning.audio_path", self.audio_path) if self.audio_path else ("conditioning.path",
                                                                                              self.path)
            raise ConfigError(key, value, f"is silent (peak below {SILENT_PEAK_DBFS:.0f} dBFS): there is no voice "
                              "to keep", "use a recording of the speaker")

    def items(self, models, width: int, height: int, dtype) -> list:
        return []  # the dubit pipeline builds its reference items itself

    # -- media ---------------------------------------------------------------------------------------------------
    def voice(self) -> tuple[np.ndarray, int]:
        """(stereo waveform (2, S) float32 in [-1, 1], sample rate): the whole soundtrack of the clip, or of
        ``audio_path``."""
        import subprocess
        from pathlib import Path

        if self.audio_path is None:
            waveform, rate = self.source.waveform()
        else:
            from ltx2.conditioning.audio import _read_audio

            try:
                waveform, rate = _read_audio(Path(self.audio_path))
            except (OSError, ValueError, subprocess.CalledProcessError) as e:
                raise ConfigError("conditioning.audio_path", self.audio_path, f"cannot be decoded as audio "
                                  f"({type(e).__name__})",
                                  "use a WAV, MP3, FLAC, AAC or other file ffmpeg reads") from None
        if waveform.shape[0] == 1:
            waveform = np.repeat(waveform, 2, axis=0)
        return np.ascontiguousarray(waveform[:2]), rate

    def reference_items(self, models, width: int, height: int, num_frames: int, downscale_factor: int,
                        dtype) -> list:
        """The reference-video item for a stage of ``width`` x ``height`` (``conditioning=reference_video``'s,
        full attention)."""
        from ltx2.conditioning.reference_video import ReferenceVideoConditioning

        return ReferenceVideoConditioning(self.path, self.strength).reference_items(models, width, height, num_frames,
                                                                                    downscale_factor, dtype)
