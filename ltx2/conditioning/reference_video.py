"""Reference-video conditioning for IC-LoRAs (``conditioning=reference_video``, drives ``pipeline=ic_lora``).

The reference video (a control signal: depth, pose, edges, ...) is read up to ``num_frames`` frames, each frame
scaled to cover and centre-cropped to the stage-1 size divided by the LoRA's ``reference_downscale_factor``
(bilinear, as images), ``x / 127.5 - 1``, encoded by the video VAE and appended as reference tokens
(``ltx2.conditioning.reference_latent``). ``attention_strength`` (in [0, 1]) scales how much noisy and reference
tokens attend to each other; ``attention_mask`` (a grayscale video or still image, white = full strength) makes it
per region: read at the stage-1 size, channel mean mapped to [0, 1], reduced to the reference latent grid and
multiplied by ``attention_strength``. A still mask applies to every frame. Optional ``images`` condition frames
as ``conditioning=image`` does, at both stages.
"""

from __future__ import annotations

import numpy as np

from ltx2.conditioning.image import ImageConditioning, resize_and_center_crop
from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_file, check_range


class ReferenceVideoConditioning:
    """``conditioning=reference_video``."""

    GROUP_OPTION = "reference_video"
    PIPELINE = "ic_lora"  # the only pipeline that takes it

    def __init__(self, path: str, strength: float = 1.0, attention_strength: float = 1.0,
                 attention_mask: str | None = None, images: list | None = None):
        self.path, self.strength, self.attention_strength = path, strength, attention_strength
        self.attention_mask = attention_mask
        self.images = [ImageConditioning(**image) for image in (images or [])]

    # -- checks before any weight is loaded -------------------------------------------------------------------
    def validate(self, num_frames: int, fps: float) -> None:
        frames = self._frame_count("conditioning.path", self.path, "the reference video", num_frames)
        if (frames - 1) % 8:
            raise ConfigError("conditioning.path", self.path,
                                 f"gives {frames} frames (at most num_frames={num_frames} are used); the video VAE "
                                 "needs 8k+1 frames (1, 9, 17, ...)",
                                 f"trim the reference to {(frames - 1) // 8 * 8 + 1} frames or lower num_frames")
        check_range("conditioning.strength", self.strength, 0.0, 1.0,
                    "use a strength between 0 (reference denoised too) and 1 (reference kept clean)")
        check_range("conditioning.attention_strength", self.attention_strength, 0.0, 1.0,
                    "use an attention strength between 0 (ignore the reference) and 1 (full attention)")
        if self.attention_mask is not None:
            mask_frames = self._frame_count("conditioning.attention_mask", self.attention_mask, "the attention mask",
                                            num_frames)
            latent_frames = (frames - 1) // 8 + 1
            if mask_frames > 1 and latent_frames > 1 and (mask_frames - 1) % (latent_frames - 1):
                raise ConfigError("conditioning.attention_mask", self.attention_mask,
                                     f"has {mask_frames} frames, which do not group onto the reference's "
                                     f"{latent_frames} latent frames ((frames - 1) must be a multiple of "
                                     f"{latent_frames - 1})", f"give the mask {frames} frames (as the reference) "
                                     "or use a still image")
        for i, image in enumerate(self.images):
            try:
                image.validate(num_frames, fps)
            except ConfigError as e:
                raise ConfigError(e.key.replace("conditioning.", f"conditioning.images[{i}]."), e.value, e.rule,
                                     e.fix.replace("conditioning.", f"conditioning.images[{i}].")) from None

    @staticmethod
    def _frame_count(key: str, path: str, what: str, cap: int) -> int:
        check_file(key, path, what, f"set {key} to an existing video (or image) file")
        try:
            frames = read_frames(path, cap)
        except Exception as e:  # noqa: BLE001 - any decoder failure means the same thing to the user
            raise ConfigError(key, path, f"{what} cannot be decoded ({type(e).__name__})",
                                 "use an MP4/WebM/GIF video or a PNG/JPEG image") from None
        if len(frames) == 0:
            raise ConfigError(key, path, f"{what} has no frames", "use a video with at least one frame")
        return len(frames)

    # -- conditioning items -------------------------------------------------------------------------------------
    def items(self, models, width: int, height: int, dtype) -> list:
        """Image items at this stage's size (both stages)."""
        return [item for image in self.images for item in image.items(models, width, height, dtype)]

    def reference_pixels(self, width: int, height: int, num_frames: int) -> np.ndarray:
        """(F, height, width, 3) float32 in [-1, 1]."""
        return np.stack([resize_and_center_crop(f.astype(np.float32), height, width)
                         for f in read_frames(self.path, num_frames)]) / 127.5 - 1.0

    def mask_pixels(self, width: int, height: int, num_frames: int, reference_frames: int) -> np.ndarray:
        """(F, height, width) float32 in [0, 1]: channel mean of the normalized frames mapped back to [0, 1]; a
        still image is repeated for every reference frame."""
        frames = [resize_and_center_crop(f.astype(np.float32), height, width)
                  for f in read_frames(self.attention_mask, num_frames)]
        mask = ((np.stack(frames) / 127.5 - 1.0).mean(axis=-1) + 1.0) / 2.0
        if mask.shape[0] == 1 and reference_frames > 1:
            mask = np.repeat(mask, reference_frames, axis=0)
        return np.clip(mask, 0.0, 1.0)

    def reference_items(self, models, width: int, height: int, num_frames: int, downscale_factor: int,
                        dtype) -> list:
        """The reference item for a stage of ``width`` x ``height`` (the reference is read at that size divided
        by ``downscale_factor``)."""
        import mlx.core as mx

        from ltx2.conditioning.reference_latent import ReferenceLatent, mask_to_latent

        pixels = self.reference_pixels(width // downscale_factor, height // downscale_factor, num_frames)
        latent = models.video_encoder()(mx.array(pixels)[None].astype(dtype)).transpose(0, 4, 1, 2, 3)
        _, _, f, h, w = latent.shape  # (1, C, F', H', W')
        attention = None
        if self.attention_mask is not None:
            mask = self.mask_pixels(width, height, num_frames, pixels.shape[0])
            attention = mx.array(mask_to_latent(mask, f, h, w))[None] * self.attention_strength
        elif self.attention_strength < 1.0:
            attention = float(self.attention_strength)
        return [ReferenceLatent(latent, float(self.strength), downscale_factor, attention)]


def read_frames(path: str, cap: int) -> list[np.ndarray]:
    """The first ``cap`` frames of a video (or the one frame of an image) as uint8 (H, W, 3)."""
    from ltx2.io.media import read_video

    frames, _ = read_video(path)
    return list(frames[:cap])
