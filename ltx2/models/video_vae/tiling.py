"""Tile plans of the official tiled VAE decode / encode: how each axis is split, where each tile's output
goes, and its blend mask. Pure Python + numpy; the official numbers are reproduced exactly.

Decode (latent -> pixels): tiles overlap in latent space; outputs are blended with trapezoid masks
(``sum(tile * mask) / sum(mask)``). Encode (pixels -> latent): tiles overlap in pixel space; outputs are
blended with 0/1 masks so that every shared latent comes from one tile.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

MIN_ENCODE_OVERLAP_PX = 64
MIN_ENCODE_OVERLAP_FRAMES = 16


@dataclass(frozen=True)
class SpatialTiling:
    tile_px: int
    overlap_px: int = 0

    def __post_init__(self):
        if self.tile_px < 64 or self.tile_px % 32:
            raise ValueError(f"spatial tile size {self.tile_px} px must be a multiple of 32 and at least 64")
        if self.overlap_px % 32 or not 0 <= self.overlap_px < self.tile_px:
            raise ValueError(f"spatial tile overlap {self.overlap_px} px must be a multiple of 32 below the tile "
                             f"size {self.tile_px}")


@dataclass(frozen=True)
class TemporalTiling:
    tile_frames: int
    overlap_frames: int = 0

    def __post_init__(self):
        if self.tile_frames < 16 or self.tile_frames % 8:
            raise ValueError(f"temporal tile size {self.tile_frames} frames must be a multiple of 8 and at least 16")
        if self.overlap_frames % 8 or not 0 <= self.overlap_frames < self.tile_frames:
            raise ValueError(f"temporal tile overlap {self.overlap_frames} frames must be a multiple of 8 below "
                             f"the tile size {self.tile_frames}")


@dataclass(frozen=True)
class TilingConfig:
    spatial: SpatialTiling | None = None
    temporal: TemporalTiling | None = None

    @classmethod
    def default(cls) -> TilingConfig:
        """The official pipelines' default: 512 px tiles with 64 px overlap, 64-frame tiles with 24 overlap."""
        return cls(SpatialTiling(512, 64), TemporalTiling(64, 24))


def pipeline_tiling(latent_shape: tuple, config=None) -> TilingConfig | None:
    """The pipelines' decode tiling for a latent (B, F', H', W', C): the official two-stage default (512 px / 64
    frames) once the video is larger than one tile, else none; the scale factors from the decoder's ``config``
    (``DecoderConfig`` / ``DiffusionDecoderConfig``; default the official 8 / 32). A diffusion decoder's tiles
    overlap at least its stage-4/5 halos (``min_tile_overlaps``)."""
    time, space = config.scale_factors if config is not None else (8, 32)
    _, f, h, w, _ = latent_shape
    if (f - 1) * time + 1 <= 64 and h * space <= 512 and w * space <= 512:
        return None
    tiling = TilingConfig.default()
    if hasattr(config, "min_tile_overlaps"):
        frames, pixels = config.min_tile_overlaps
        tiling = TilingConfig(SpatialTiling(tiling.spatial.tile_px, max(tiling.spatial.overlap_px, pixels)),
                              TemporalTiling(tiling.temporal.tile_frames, max(tiling.temporal.overlap_frames, frames)))
    return tiling


@dataclass(frozen=True)
class Interval:
    start: int
    end: int
    left_ramp: int = 0
    right_ramp: int = 0


@dataclass(frozen=True)
class AxisTile:
    """Along one axis: the input slice, where its output goes, and the output's 1-D blend mask."""

    src: slice
    dst: slice
    mask: np.ndarray  # float32, len = dst length


@dataclass(frozen=True)
class Tile:
    axes: tuple[AxisTile, AxisTile, AxisTile]  # frames, height, width

    @property
    def src(self) -> tuple[slice, slice, slice]:
        return tuple(a.src for a in self.axes)

    @property
    def dst(self) -> tuple[slice, slice, slice]:
        return tuple(a.dst for a in self.axes)

    def blend_mask(self) -> np.ndarray:
        """(F, H, W) float32 product of the three 1-D masks."""
        f, h, w = (a.mask for a in self.axes)
        return (f[:, None, None] * h[None, :, None]) * w[None, None, :]


def split_symmetric(length: int, size: int, overlap: int) -> list[Interval]:
    """Tiles of ``size`` every ``size - overlap``, the last one clipped to ``length``; ramps of ``overlap``
    on each shared side."""
    if length <= size:
        return [Interval(0, length)]
    count = (length + size - 2 * overlap - 1) // (size - overlap)
    starts = [i * (size - overlap) for i in range(count)]
    return [Interval(s, length if i == count - 1 else s + size, overlap if i else 0, overlap if i < count - 1 else 0)
            for i, s in enumerate(starts)]


def split_latent_frames(length: int, size: int, overlap: int) -> list[Interval]:
    """Decode time split: every tile after the first starts one latent earlier, with a ramp one longer."""
    tiles = split_symmetric(length, size, overlap)
    if len(tiles) == 1:
        return tiles
    return [tiles[0]] + [Interval(t.start - 1, t.end, t.left_ramp + 1, t.right_ramp) for t in tiles[1:]]


def split_pixel_frames(length: int, size: int, overlap: int) -> list[Interval]:
    """Encode time split: every tile but the last ends one frame later (1 + 8k frames), no right ramps."""
    tiles = split_symmetric(length, size, overlap)
    if len(tiles) == 1:
        return tiles
    last = len(tiles) - 1
    return [Interval(t.start, t.end + (i < last), t.left_ramp, 0) for i, t in enumerate(tiles)]


def trapezoid_mask(length: int, left: int, right: int, left_from_zero: bool) -> np.ndarray:
    """Ones with linear ramps. Left ramp ``left_from_zero``: 0, 1/r, ..; else 1/(r+1) .. r/(r+1) (no 0 or 1);
    right ramp: r/(r+1) .. 1/(r+1)."""
    mask = np.ones(length, dtype=np.float32)
    left, right = max(0, min(left, length)), max(0, min(right, length))
    if left:
        ramp = np.linspace(0.0, 1.0, left + (1 if left_from_zero else 2), dtype=np.float32)[:-1]
        mask[:left] *= ramp if left_from_zero else ramp[1:]
    if right:
        mask[length - right:] *= np.linspace(1.0, 0.0, right + 2, dtype=np.float32)[1:-1]
    return np.clip(mask, 0, 1)


def rectangular_mask(length: int, left: int, right: int) -> np.ndarray:
    mask = np.ones(length, dtype=np.float32)
    mask[:left] = 0
    if right:
        mask[length - right:] = 0
    return mask


def _whole(length: int, out_length: int) -> list[AxisTile]:
    return [AxisTile(slice(0, length), slice(0, out_length), np.ones(out_length, dtype=np.float32))]


def decode_plan(latent_fhw: tuple[int, int, int], tiling: TilingConfig | None, time_factor: int = 8,
                space_factor: int = 32) -> list[Tile]:
    """Tiles of a (F', H', W') latent, ordered frames-major, then height, then width (as the official code)."""
    frames, height, width = latent_fhw
    axes = [_whole(frames, 1 + (frames - 1) * time_factor), _whole(height, height * space_factor),
            _whole(width, width * space_factor)]
    if tiling is not None and tiling.spatial is not None:
        size, overlap = tiling.spatial.tile_px // space_factor, tiling.spatial.overlap_px // space_factor
        long_side = max(height, width)
        for axis, length in ((1, height), (2, width)):
            # the shorter side gets proportionally shorter tiles (Python's round, as the official code)
            tile = max(max(2, overlap + 1), round(size * length / long_side))
            axes[axis] = [AxisTile(slice(i.start, i.end), slice(i.start * space_factor, i.end * space_factor),
                                   trapezoid_mask((i.end - i.start) * space_factor, i.left_ramp * space_factor,
                                                  i.right_ramp * space_factor, False))
                          for i in split_symmetric(length, tile, overlap)]
    if tiling is not None and tiling.temporal is not None:
        size, overlap = tiling.temporal.tile_frames // time_factor, tiling.temporal.overlap_frames // time_factor
        axes[0] = [_latent_to_frames(i, time_factor) for i in split_latent_frames(frames, size, overlap)]
    return [Tile(t) for t in itertools.product(*axes)]


def _latent_to_frames(i: Interval, scale: int) -> AxisTile:
    start, stop = i.start * scale, 1 + (i.end - 1) * scale
    left = 0 if i.left_ramp == 0 else 1 + (i.left_ramp - 1) * scale
    return AxisTile(slice(i.start, i.end), slice(start, stop), trapezoid_mask(stop - start, left, i.right_ramp * scale,
                                                                                True))


def encode_plan(video_fhw: tuple[int, int, int], tiling: TilingConfig | None, time_factor: int = 8,
                space_factor: int = 32) -> list[Tile]:
    """Tiles of a (F, H, W) video. Overlaps below 64 px / 16 frames are raised to that minimum (with a
    warning), as the official code does: each tile's border latents are then dropped."""
    frames, height, width = video_fhw
    axes = [_whole(frames, 1 + (frames - 1) // time_factor), _whole(height, height // space_factor),
            _whole(width, width // space_factor)]
    if tiling is not None and tiling.spatial is not None:
        overlap = _at_least(tiling.spatial.overlap_px, MIN_ENCODE_OVERLAP_PX, "spatial overlap (px)")
        for axis, length in ((1, height), (2, width)):
            axes[axis] = [_pixels_to_latent(i, space_factor)
                          for i in split_symmetric(length, tiling.spatial.tile_px, overlap)]
    if tiling is not None and tiling.temporal is not None:
        overlap = _at_least(tiling.temporal.overlap_frames, MIN_ENCODE_OVERLAP_FRAMES, "temporal overlap (frames)")
        axes[0] = [_frames_to_latent(i, time_factor)
                   for i in split_pixel_frames(frames, tiling.temporal.tile_frames, overlap)]
    return [Tile(t) for t in itertools.product(*axes)]


def _at_least(value: int, minimum: int, what: str) -> int:
    if value < minimum:
        warnings.warn(f"tiled encode: {what} {value} is below the minimum {minimum}; using {minimum}", stacklevel=3)
    return max(value, minimum)


def _pixels_to_latent(i: Interval, scale: int) -> AxisTile:
    start, stop = i.start // scale, i.end // scale
    mask = rectangular_mask(stop - start, max(0, i.left_ramp // scale - 1), 0 if i.right_ramp == 0 else 1)
    return AxisTile(slice(i.start, i.end), slice(start, stop), mask)


def _frames_to_latent(i: Interval, scale: int) -> AxisTile:
    start, stop = i.start // scale, (i.end - 1) // scale + 1
    left = 0 if i.left_ramp == 0 else 1 + (i.left_ramp - 1) // scale
    return AxisTile(slice(i.start, i.end), slice(start, stop), rectangular_mask(stop - start, left, 0))
