"""Image conditioning (image-to-video), preprocessed as the official pipelines do.

image -> RGB uint8 -> optional H.264 round trip at ``crf`` (simulates compressed training data; 0 disables) ->
scale to cover (H, W) with bilinear interpolation (align_corners=False, no antialias), centre crop ->
``x / 127.5 - 1`` -> video VAE encoder (one latent frame). Frame 0 replaces the first latent frame; any other
frame appends keyframe tokens.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile

import numpy as np

from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_image, check_range


class NoConditioning:
    """``conditioning=none``: text-to-video."""

    def validate(self, num_frames: int, fps: float) -> None:
        pass

    def items(self, models, width: int, height: int, dtype) -> list:
        return []


class ImageConditioning:
    """``conditioning=image``: condition pixel frame ``frame_idx`` on the image at ``path``."""

    def __init__(self, path: str, frame_idx: int = 0, strength: float = 1.0, crf: int = 33):
        self.path, self.frame_idx, self.strength, self.crf = path, frame_idx, strength, crf

    def validate(self, num_frames: int, fps: float) -> None:
        check_image("conditioning.path", self.path)
        check_range("conditioning.strength", self.strength, 0.0, 1.0, "use a strength between 0 (free) and 1 (pinned)")
        if not isinstance(self.frame_idx, int) or not 0 <= self.frame_idx < num_frames:
            raise ConfigError("conditioning.frame_idx", self.frame_idx,
                                 f"must be a frame of the video (0..{num_frames - 1})", "use conditioning.frame_idx=0")
        check_range("conditioning.crf", self.crf, 0, 51, "use conditioning.crf=33 (the reference's), or 0 for none")

    def pixels(self, width: int, height: int) -> np.ndarray:
        """(H, W, 3) float32 in [-1, 1]."""
        import imageio.v3 as iio

        image = iio.imread(self.path)
        image = np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image[..., :3]
        if self.crf:
            image = h264_round_trip(image.astype(np.uint8), self.crf)
        return resize_and_center_crop(image.astype(np.float32), height, width) / 127.5 - 1.0

    def items(self, models, width: int, height: int, dtype) -> list:
        import mlx.core as mx

        from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex

        pixels = mx.array(self.pixels(width, height))[None, None]  # (1, 1, H, W, 3): the VAE is channels-last
        latent = models.video_encoder()(pixels.astype(dtype)).transpose(0, 4, 1, 2, 3)  # (1, C, 1, H/32, W/32)
        if self.frame_idx == 0:
            return [LatentAtIndex(latent, self.strength, 0)]
        return [KeyframeAtFrame(latent, self.strength, self.frame_idx)]


def resize_and_center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, C) -> (height, width, C): scale by max(height/h, width/w) to ceil sizes, bilinear
    (align_corners=False), then crop the centre."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    new_h, new_w = math.ceil(h * scale), math.ceil(w * scale)
    resized = _bilinear_axis(_bilinear_axis(image, new_h, 0), new_w, 1)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top:top + height, left:left + width]


def _bilinear_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    n = x.shape[axis]
    if n == size:
        return x
    src = np.maximum((np.arange(size, dtype=np.float64) + 0.5) * (n / size) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = (src - i0).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = size
    frac = frac.reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - frac) + np.take(x, i1, axis=axis) * frac


def h264_round_trip(image: np.ndarray, crf: int) -> np.ndarray:
    """Encode one RGB frame with libx264 at ``crf`` (yuv420p, even size) and decode it back."""
    import imageio_ffmpeg

    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    image = np.ascontiguousarray(image[:h, :w])
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frame.mp4")
        subprocess.run([exe, "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-",
                        "-c:v", "libx264", "-crf", str(crf), "-preset", "veryfast", "-pix_fmt", "yuv420p", path],
                       input=image.tobytes(), check=True)
        out = subprocess.run([exe, "-loglevel", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8)[: h * w * 3].reshape(h, w, 3)
