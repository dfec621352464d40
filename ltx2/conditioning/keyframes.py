"""Several conditioning images at chosen frames (``conditioning=keyframes``), the official ``--image PATH FRAME_IDX
STRENGTH [CRF]`` given several times.

Each image is preprocessed and VAE-encoded exactly as ``conditioning=image`` does (``ImageConditioning``), at each
stage's size. Two ways to place them, as the reference's helpers do:

* ``items``: an image at frame 0 replaces the first latent frame, the others append keyframe tokens
  (``combined_image_conditionings``: one_stage, two_stage, two_stage_hq, distilled);
* ``guiding_items``: every image, frame 0 included, appends keyframe tokens (with the causal first-frame fix at 0)
  (``image_conditionings_by_adding_guiding_latent``: keyframe_interpolation).
"""

from __future__ import annotations

from collections.abc import Mapping

from ltx2.conditioning.image import ImageConditioning
from ltx2.errors import ConfigError
from ltx2.experiment.validation import check_image, check_range

ENTRY_KEYS = ("path", "frame_idx", "strength", "crf")
EXAMPLE = "conditioning.images='[{path: first.png, frame_idx: 0}, {path: last.png, frame_idx: 120}]'"


class KeyframesConditioning:
    """``conditioning=keyframes``: ``images`` is a list of ``{path, frame_idx, strength=1.0, crf}``; an entry
    without ``crf`` takes ``crf`` (the model's suggested.image_crf: 33, LTX-2.5 18)."""

    def __init__(self, images: list | None = None, crf: int = 33):
        self.raw, self.crf = images, crf

    # -- validation (before any weight is loaded) -------------------------------------------------------------
    def validate(self, num_frames: int, fps: float) -> None:
        images = self.raw
        if not isinstance(images, (list, tuple)) or not images:
            raise ConfigError("conditioning.images", images, "must be a non-empty list of {path, frame_idx, "
                                 "strength, crf} entries", f"set {EXAMPLE}")
        seen: dict[int, int] = {}
        for i, entry in enumerate(images):
            key = f"conditioning.images[{i}]"
            if not isinstance(entry, Mapping):
                raise ConfigError(key, entry, "must be a mapping {path, frame_idx, strength, crf}", f"set {EXAMPLE}")
            unknown = sorted(set(entry) - set(ENTRY_KEYS))
            if unknown:
                raise ConfigError(f"{key}.{unknown[0]}", entry[unknown[0]], f"is not a keyframe key (allowed: "
                                     f"{', '.join(ENTRY_KEYS)})", f"remove {unknown[0]} from the entry")
            for required in ("path", "frame_idx"):
                if entry.get(required) is None:
                    raise ConfigError(f"{key}.{required}", None, "is required", f"set {EXAMPLE}")
            check_image(f"{key}.path", entry["path"])
            frame = entry["frame_idx"]
            if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < num_frames:
                raise ConfigError(f"{key}.frame_idx", frame, f"must be a frame of the video (0..{num_frames - 1})",
                                     f"use a frame_idx between 0 and {num_frames - 1}, or more num_frames")
            if frame in seen:
                raise ConfigError(f"{key}.frame_idx", frame, f"is already conditioned by conditioning.images"
                                     f"[{seen[frame]}] (two images cannot pin the same frame)",
                                     "give each image its own frame_idx")
            seen[frame] = i
            strength = entry.get("strength", 1.0)
            if isinstance(strength, bool) or not isinstance(strength, (int, float)):
                raise ConfigError(f"{key}.strength", strength, "must be a number", "use a strength in [0, 1]")
            check_range(f"{key}.strength", strength, 0.0, 1.0, "use a strength between 0 (free) and 1 (pinned)")
            crf = entry.get("crf", self.crf)
            if isinstance(crf, bool) or not isinstance(crf, int):
                raise ConfigError(f"{key}.crf", crf, "must be an integer", "use crf=33 (the reference's), or 0")
            check_range(f"{key}.crf", crf, 0, 51, "use crf=33 (the reference's), or 0 for none")

    @property
    def images(self) -> list[ImageConditioning]:
        """One ``ImageConditioning`` per entry, in the user's order (the order keyframe tokens are appended)."""
        return [ImageConditioning(e["path"], e["frame_idx"], e.get("strength", 1.0), e.get("crf", self.crf))
                for e in self.raw]

    # -- items at one stage's size ----------------------------------------------------------------------------
    def items(self, models, width: int, height: int, dtype) -> list:
        """Frame 0 replaces the first latent frame; every other image appends keyframe tokens."""
        return [item for image in self.images for item in image.items(models, width, height, dtype)]

    def guiding_items(self, models, width: int, height: int, dtype) -> list:
        """Every image appends keyframe tokens, frame 0 included."""
        return [keyframe_item(image, models, width, height, dtype) for image in self.images]


def keyframe_item(image: ImageConditioning, models, width: int, height: int, dtype):
    """``image`` encoded at (height, width) as appended keyframe tokens at its frame (whatever the frame)."""
    from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex

    (item,) = image.items(models, width, height, dtype)
    if isinstance(item, LatentAtIndex):
        return KeyframeAtFrame(item.latent, item.strength, image.frame_idx)
    return item


def guiding_items(conditioning, models, width: int, height: int, dtype) -> list:
    """All images of ``conditioning`` (keyframes or a single image) as appended keyframe tokens."""
    if isinstance(conditioning, KeyframesConditioning):
        return conditioning.guiding_items(models, width, height, dtype)
    if isinstance(conditioning, ImageConditioning):
        return [keyframe_item(conditioning, models, width, height, dtype)]
    raise TypeError(f"{type(conditioning).__name__} has no images to use as keyframes")
