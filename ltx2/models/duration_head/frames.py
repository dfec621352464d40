"""Predicted seconds -> a frame count on the video VAE's causal grid (``k * time_scale + 1``), as the official
pipelines do it (``seconds_to_clamped_num_frames`` with ``[round(min_s * fps), round(max_s * fps)]``)."""

from __future__ import annotations

DEFAULT_MIN_SECONDS = 1.0
DEFAULT_MAX_SECONDS = 20.0


def seconds_to_frames(seconds: float, fps: float, min_seconds: float = DEFAULT_MIN_SECONDS,
                      max_seconds: float = DEFAULT_MAX_SECONDS, time_scale: int = 8) -> int:
    """``round(seconds * fps)`` clamped to ``[round(min_seconds * fps), round(max_seconds * fps)]``, floored to the
    grid; when the floor falls below the minimum, the next grid point up (capped at the maximum). Python's
    ``round`` (half to even), as the reference."""
    low, high = round(min_seconds * fps), round(max_seconds * fps)
    if low < 1 or high < low:
        raise ValueError(f"need 1 <= round(min_seconds * fps) <= round(max_seconds * fps); got {low}, {high}")
    raw = max(low, min(round(seconds * fps), high))
    frames = (raw - 1) // time_scale * time_scale + 1
    if frames < low:
        frames = min(-(-(low - 1) // time_scale) * time_scale + 1, high)
    return frames
