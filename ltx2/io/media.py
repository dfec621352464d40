"""Writing videos: H.264 / yuv420p MP4 through imageio-ffmpeg, atomically (temp file, then rename)."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
                audio: tuple[np.ndarray, int] | None = None) -> dict:
    """Stream uint8 frame chunks ``(F, H, W, 3)`` (or single ``(H, W, 3)`` frames) into an MP4.

    ``audio``: ``(waveform (channels, samples) float in [-1, 1], sample_rate)``, muxed as AAC.
    The file appears under ``path`` only when complete. Returns ``{"frames", "width", "height", "fps"}``.
    """
    import imageio_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    wav = path.with_name(f".{path.stem}.tmp-{os.getpid()}.wav") if audio is not None else None
    writer, count, size = None, 0, None
    try:
        if audio is not None:
            _write_wav(wav, *audio)
        for frame in _frames(frames):
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = imageio_ffmpeg.write_frames(
                    str(tmp), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
                    quality=None, output_params=["-crf", "18", "-movflags", "+faststart"], ffmpeg_log_level="error",
                    audio_path=str(wav) if wav else None, audio_codec="aac" if wav else None)
                writer.send(None)
            writer.send(np.ascontiguousarray(frame))
            count += 1
        if writer is None:
            raise ValueError("no frames to write")
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        if wav is not None:
            wav.unlink(missing_ok=True)
    return {"frames": count, "width": size[0], "height": size[1], "fps": fps}


def _frames(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.dtype != np.uint8 or chunk.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 (..., H, W, 3), got {chunk.dtype} {chunk.shape}")
        yield from (chunk if chunk.ndim == 4 else chunk[None])


def _write_wav(path: Path, waveform: np.ndarray, sample_rate: int) -> None:
    waveform = np.atleast_2d(np.asarray(waveform, np.float32))
    pcm = (np.clip(waveform, -1, 1) * 32767).astype("<i2").T  # (samples, channels)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(pcm.shape[1])
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM WAV of ``waveform`` (channels, samples) in [-1, 1], written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        _write_wav(tmp, waveform, sample_rate)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV -> (waveform (channels, samples) float32 in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is read here (sample width {f.getsampwidth()} bytes)")
        channels, rate = f.getnchannels(), f.getframerate()
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, channels)
    return (pcm.T.astype(np.float32) / 32768.0), rate


def fit_audio(waveform: np.ndarray, sample_rate: int, duration_s: float) -> np.ndarray:
    """Trim or zero-pad ``waveform`` (channels, samples) to ``round(duration * rate)`` samples, so the muxed
    track lasts exactly as long as the video (the muxer would otherwise cut or extend it)."""
    target = int(round(duration_s * sample_rate))
    waveform = np.asarray(waveform, np.float32)[:, :target]
    if waveform.shape[1] < target:
        waveform = np.pad(waveform, [(0, 0), (0, target - waveform.shape[1])])
    return waveform


SILENT_DBFS = -60.0


def audio_facts(waveform: np.ndarray, sample_rate: int) -> dict:
    """Sample rate, channels, duration, peak and RMS level in dBFS, and warnings for silent or clipped audio."""
    x = np.asarray(waveform, np.float64)
    peak = float(np.abs(x).max()) if x.size else 0.0
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0

    def dbfs(v: float) -> float | None:
        return round(20 * np.log10(v), 2) if v > 0 else None

    warnings = []
    if rms == 0 or 20 * np.log10(max(rms, 1e-12)) < SILENT_DBFS:
        warnings.append(f"silent: RMS {dbfs(rms)} dBFS is below {SILENT_DBFS} dBFS")
    clipped = float(np.mean(np.abs(x) >= 0.999)) if x.size else 0.0
    if clipped > 0.001:
        warnings.append(f"clipped: {100 * clipped:.2f}% of samples at full scale")
    return {"sample_rate": int(sample_rate), "channels": int(x.shape[0]), "samples": int(x.shape[1]),
            "duration_s": round(x.shape[1] / sample_rate, 6), "peak_dbfs": dbfs(peak), "rms_dbfs": dbfs(rms),
            "clipped_fraction": round(clipped, 6), "warnings": warnings}


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Decode a whole video to uint8 (F, H, W, 3) and its metadata (for tests and conditioning)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    return np.stack(frames), meta
