"""Quality signals of a run, from its frames, waveform and final latents (no model weights): black or blank frames,
frozen stretches, flicker, motion, sharpness, NaN/inf latents, audio silence, clipping and loudness.

They land in ``run_record.json["quality"]`` as a flat dict of named numbers and booleans (a boolean per signal
that has a threshold: ``black``, ``blank``, ``frozen``, ``flicker_high``, ``nan``, ``silent``, ``clipped``; the
names of the tripped ones in ``tripped``), one warning line per tripped signal goes to run.log, and
``quality.fail_on=[nan, black, silent]`` ends a run whose signal trips with status ``failed``.

Frames are measured while they stream to the video writer (``VideoSignals.watch``): nothing is decoded twice.
OpenCV does the image work (Farneback optical flow, Laplacian), pyloudnorm the ITU-R BS.1770 loudness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np

log = logging.getLogger("ltx2")

# Thresholds (8-bit luma scale 0..255 unless said otherwise).
BLACK_LUMA = 16.0  # a frame whose mean luma is below this (video black level) is black
BLANK_STD = 2.0  # a frame whose luma varies less than this across the picture is blank (one flat colour)
FROZEN_DIFF = 0.5  # consecutive frames closer than this (mean |difference|) are the same picture
FROZEN_SHARE = 0.5  # a frozen stretch covering at least this share of the video trips ``frozen``
FLICKER_HIGH = 30.0  # mean |frame difference| above this is flicker (noise-like change from frame to frame)
MOTION_WIDTH = 256  # optical flow is measured on frames scaled down to at most this width (speed)
SILENT_DBFS = -60.0  # audio whose RMS level is below this is silent
CLIP_LEVEL, CLIP_SHARE = 0.999, 0.001  # more than 0.1 % of samples at full scale is clipped audio

SIGNALS = ("nan", "black", "blank", "frozen", "flicker_high", "silent", "clipped")
WARNINGS = {
    "nan": "the final latents hold {nonfinite_latents} NaN/inf values",
    "black": "{black_fraction:.0%} of the frames are black (mean luma below 16/255)",
    "blank": "{blank_fraction:.0%} of the frames are blank (one flat colour)",
    "frozen": "frozen: {frozen_frames} consecutive frames are the same picture ({frozen_fraction:.0%} of the video)",
    "flicker_high": "flicker: mean frame-to-frame difference {flicker:.1f}/255 (above 30: noise-like)",
    "silent": "silent audio: RMS {audio_rms_dbfs} dBFS is below -60 dBFS",
    "clipped": "clipped audio: {audio_clipped_fraction:.2%} of the samples at full scale",
}


class QualityFailure(RuntimeError):
    """A run whose quality signal is listed in ``quality.fail_on`` tripped."""


class VideoSignals:
    """Accumulates per-frame measures of uint8 (H, W, 3) frames, one frame in memory at a time."""

    def __init__(self) -> None:
        self.count = 0
        self.black = self.blank = 0
        self.diffs: list[float] = []  # mean |luma difference| to the previous frame
        self.flow: list[float] = []  # mean optical-flow magnitude to the previous frame (pixels of the full frame)
        self.sharpness: list[float] = []  # variance of the Laplacian per frame
        self.seconds = 0.0
        self._prev: np.ndarray | None = None  # previous luma, float32 (H, W)
        self._prev_small: np.ndarray | None = None  # previous luma scaled down, uint8

    def add(self, frame: np.ndarray) -> None:
        import cv2

        start = time.perf_counter()
        gray_u8 = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        gray = gray_u8.astype(np.float32)
        self.count += 1
        self.black += float(gray.mean()) < BLACK_LUMA
        self.blank += float(gray.std()) < BLANK_STD
        self.sharpness.append(float(cv2.Laplacian(gray_u8, cv2.CV_64F).var()))
        scale = min(1.0, MOTION_WIDTH / gray_u8.shape[1])
        small = gray_u8 if scale == 1.0 else cv2.resize(gray_u8, None, fx=scale, fy=scale,
                                                         interpolation=cv2.INTER_AREA)
        if self._prev is not None:
            self.diffs.append(float(np.abs(gray - self._prev).mean()))
            flow = cv2.calcOpticalFlowFarneback(self._prev_small, small, None, 0.5, 3, 15, 3, 7, 1.5, 0)
            self.flow.append(float(np.linalg.norm(flow, axis=-1).mean()) / scale)
        self._prev, self._prev_small = gray, small
        self.seconds += time.perf_counter() - start

    def watch(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass uint8 chunks (F, H, W, 3) or frames (H, W, 3) through unchanged, measuring every frame."""
        for chunk in chunks:
            chunk = np.asarray(chunk)
            for frame in chunk if chunk.ndim == 4 else chunk[None]:
                self.add(frame)
            yield chunk

    def signals(self) -> dict:
        n = max(self.count, 1)
        frozen_run = _longest_run([d < FROZEN_DIFF for d in self.diffs])  # in frame differences
        frozen_frames = frozen_run + 1 if frozen_run else 0
        out = {
            "frames": self.count,
            "black_fraction": round(self.black / n, 4), "blank_fraction": round(self.blank / n, 4),
            "frozen_frames": frozen_frames, "frozen_fraction": round(frozen_frames / n, 4),
            "flicker": round(float(np.mean(self.diffs)), 3) if self.diffs else 0.0,
            "motion": round(float(np.mean(self.flow)), 4) if self.flow else 0.0,
            "sharpness": round(float(np.mean(self.sharpness)), 2) if self.sharpness else 0.0,
        }
        out["black"] = bool(out["black_fraction"] >= 0.5)
        out["blank"] = bool(out["blank_fraction"] >= 0.5)
        out["frozen"] = bool(self.count >= 3 and frozen_frames / n >= FROZEN_SHARE)
        out["flicker_high"] = bool(out["flicker"] > FLICKER_HIGH)
        return out


def _longest_run(flags: list[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def video_signals(frames: np.ndarray) -> dict:
    """Signals of a whole uint8 video (F, H, W, 3)."""
    stats = VideoSignals()
    for frame in frames:
        stats.add(frame)
    return stats.signals()


def audio_signals(waveform: np.ndarray, sample_rate: int) -> dict:
    """Peak / RMS level (dBFS), clipped share, integrated loudness (LUFS; None for silence or under 0.4 s) of
    ``waveform`` (channels, samples) in [-1, 1]."""
    import pyloudnorm

    x = np.atleast_2d(np.asarray(waveform, np.float64))
    peak = float(np.abs(x).max()) if x.size else 0.0
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL)) if x.size else 0.0
    lufs = None
    if x.shape[1] >= int(0.4 * sample_rate) and rms > 0:
        value = pyloudnorm.Meter(int(sample_rate)).integrated_loudness(x.T)
        lufs = round(float(value), 2) if np.isfinite(value) else None

    def dbfs(v: float) -> float | None:
        return round(20 * float(np.log10(v)), 2) if v > 0 else None

    return {"audio_peak_dbfs": dbfs(peak), "audio_rms_dbfs": dbfs(rms), "audio_clipped_fraction": round(clipped, 6),
            "audio_lufs": lufs, "silent": bool(rms == 0 or 20 * np.log10(rms) < SILENT_DBFS),
            "clipped": bool(clipped > CLIP_SHARE)}


def latent_signals(latents: dict) -> dict:
    """Count of NaN/inf values in the final latents (any dict of arrays)."""
    bad = 0
    for value in (latents or {}).values():
        if type(value).__module__.startswith("mlx"):
            import mlx.core as mx

            value = value.astype(mx.float32)
        array = np.asarray(value, np.float32)
        bad += int(array.size - np.isfinite(array).sum())
    return {"nonfinite_latents": bad, "nan": bad > 0}


def judge(signals: dict) -> list[str]:
    """Names of the tripped signals, in ``SIGNALS`` order."""
    return [name for name in SIGNALS if signals.get(name)]


def _import_libraries() -> None:
    try:
        import cv2  # noqa: F401
        import pyloudnorm  # noqa: F401
    except ImportError:  # reported where they are used
        pass


_preload: threading.Thread | None = None


def preload_libraries() -> None:
    """Import OpenCV and pyloudnorm (1-2 s cold) in a background thread while the weights load and the
    transformer runs, so that a single run does not wait for them when its frames arrive."""
    global _preload
    if _preload is None:
        _preload = threading.Thread(target=_import_libraries, name="ltx2-quality-import", daemon=True)
        _preload.start()


class RunQuality:
    """The runner's handle: measure the frames while they are written, then record, warn and (opt-in) fail.

    settings: the ``quality`` node (``enabled``, ``fail_on``) or None (defaults: enabled, fail on nothing)."""

    def __init__(self, settings=None) -> None:
        settings = settings or {}
        self.enabled = bool(settings.get("enabled", True))
        self.fail_on = [str(s) for s in (settings.get("fail_on") or [])]
        unknown = [s for s in self.fail_on if s not in SIGNALS]
        if unknown:
            from ltx2.errors import ConfigError

            raise ConfigError("quality.fail_on", unknown, f"signals are {', '.join(SIGNALS)}",
                              "quality.fail_on=[nan,black,silent]")
        self.video = VideoSignals()
        if self.enabled:
            preload_libraries()

    def watch(self, chunks: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
        return self.video.watch(chunks) if self.enabled else chunks

    def finish(self, record, latents: dict | None, audio: tuple[np.ndarray, int] | None) -> dict:
        """Record ``quality`` (and its seconds as phase ``quality``), log a warning per tripped signal; raise
        QualityFailure when one of ``fail_on`` tripped."""
        if not self.enabled:
            return {}
        start = time.perf_counter()
        signals = self.video.signals() if self.video.count else {}  # no frames: an audio-only run (t2a)
        signals.update(latent_signals(latents))
        if audio is not None:
            signals.update(audio_signals(*audio))
        tripped = judge(signals)
        signals["tripped"] = tripped
        seconds = self.video.seconds + time.perf_counter() - start
        signals["seconds"] = round(seconds, 3)
        if record is not None:
            record.data["phases"]["quality"] = round(seconds, 3)
            record.set(quality=signals)
        for name in tripped:
            log.warning("quality: %s", WARNINGS[name].format(**signals))
        failing = [name for name in tripped if name in self.fail_on]
        if failing:
            raise QualityFailure(f"quality signals {', '.join(failing)} tripped (quality.fail_on="
                                 f"[{','.join(self.fail_on)}]): " + "; ".join(WARNINGS[n].format(**signals)
                                                                              for n in failing))
        return signals
