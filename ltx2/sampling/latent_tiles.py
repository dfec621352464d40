"""Tiles of a video latent grid by tile COUNT (ltx-core 1.2.0 ``TileCountConfig`` + ``split_by_count``), for
denoising a large latent tile by tile (the HDR pipeline's stage 2) and blending the tiles back with trapezoid
masks (premultiplied and summed, not renormalized: as the reference, whose masks sum to 1 except on a few cells
where a remainder cell or a clamped overlap makes tiles overlap more than their ramps).

Per axis ``(count, overlap)`` in latent cells: the overlap is first clamped to ``size - count`` (one tile when
the axis has fewer cells than tiles), the tile length is ``(size + overlap * (count - 1)) // count`` and the
first ``remainder`` tiles take one extra cell. Tiles are ordered frames slowest, width fastest (the order the
reference seeds each tile's noise by)."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np

from ltx2.models.video_vae.tiling import trapezoid_mask

log = logging.getLogger("ltx2")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    left_ramp: int = 0
    right_ramp: int = 0

    @property
    def mask(self) -> np.ndarray:
        return trapezoid_mask(self.end - self.start, self.left_ramp, self.right_ramp, left_from_zero=False)


@dataclass(frozen=True)
class LatentTile:
    """One tile: its (frames, height, width) slices of the latent grid and its blend mask (f, h, w)."""

    slices: tuple[slice, slice, slice]
    mask: np.ndarray


def clamp_axis(count: int, overlap: int, size: int, axis: str = "") -> tuple[int, int]:
    """The (count, overlap) the reference actually uses on an axis of ``size`` cells."""
    if count <= 1:
        return count, overlap
    if size < count:
        log.warning("%s tiling: %d cells < %d tiles: one tile on this axis", axis, size, count)
        return 1, 0
    if overlap > size - count:
        log.warning("%s tiling: overlap %d clamped to %d", axis, overlap, size - count)
        return count, size - count
    return count, overlap


def _split_by_size(tile: int, overlap: int, size: int) -> list[Span]:
    if size <= tile:
        return [Span(0, size)]
    step = tile - overlap
    amount = (size + tile - 2 * overlap - 1) // step
    return ([Span(0, tile, 0, overlap)] + [Span(i * step, i * step + tile, overlap, overlap)
                                            for i in range(1, amount - 1)]
            + [Span((amount - 1) * step, size, overlap, 0)])


def split_axis(count: int, overlap: int, size: int) -> list[Span]:
    """``count`` overlapping spans covering ``size`` cells (after ``clamp_axis``)."""
    if count <= 1 and overlap == 0:
        return [Span(0, size)]
    if count > size:
        raise ValueError(f"{count} tiles do not fit {size} cells")
    if count == 1:
        return [Span(0, size)]
    total = size + overlap * (count - 1)
    tile, remainder = total // count, total % count
    if tile <= overlap:
        raise ValueError(f"tile length {tile} <= overlap {overlap} ({count} tiles over {size} cells)")
    spans = _split_by_size(tile, overlap, size - remainder)
    return [Span(s.start + min(i, remainder), s.end + min(i, remainder) + (1 if i < remainder else 0),
                 s.left_ramp, s.right_ramp) for i, s in enumerate(spans)]


def latent_tiles(grid: tuple[int, int, int], counts: tuple[tuple[int, int], ...]) -> list[LatentTile]:
    """Tiles of a (frames, height, width) latent grid; ``counts``: (count, overlap) per axis."""
    axes = [split_axis(*clamp_axis(c, o, n, name), n)
            for (c, o), n, name in zip(counts, grid, ("frames", "height", "width"), strict=True)]
    tiles = []
    for f, h, w in itertools.product(*axes):
        mask = f.mask[:, None, None] * h.mask[None, :, None] * w.mask[None, None, :]
        tiles.append(LatentTile((slice(f.start, f.end), slice(h.start, h.end), slice(w.start, w.end)), mask))
    return tiles
