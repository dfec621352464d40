"""Geometry of LTX-2.5's diffusion video decode: padding a latent to the decoder's minimum, resizing an axis,
the stage-4 grid, and the official tile plan (stages 1-3 run once on the whole latent; stages 4-5 run per tile
of the stage-4 grid, and the tiles' pixels are blended with 1-D trapezoid ramps).

Channels-last throughout: latent (B, F', H', W', C), pixels (B, F, H, W, C).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.tiling import TilingConfig


def resize_axis(x: mx.array, axis: int, size: int, mode: str) -> tuple[mx.array, int]:
    """Pad or crop ``axis`` to ``size``: ``repeat_last`` appends copies of the last slice / drops from the end;
    ``symmetric`` replicates the edges (``need // 2`` before, the rest after) / crops both ends the same way.
    Returns the array and how many entries were added (or removed) before."""
    length = x.shape[axis]
    if length == size:
        return x, 0
    index = [slice(None)] * x.ndim
    if length < size:
        need = size - length
        before = 0 if mode == "repeat_last" else need // 2
        first = x[tuple(index[:axis] + [slice(0, 1)])]
        last = x[tuple(index[:axis] + [slice(length - 1, length)])]
        parts = ([mx.repeat(first, before, axis=axis)] if before else []) + [x, mx.repeat(last, need - before,
                                                                                          axis=axis)]
        return mx.concatenate(parts, axis=axis), before
    need = length - size
    before = 0 if mode == "repeat_last" else need // 2
    return x[tuple(index[:axis] + [slice(before, before + size)])], before


def pad_to_min_latent(latent: mx.array, config: DiffusionDecoderConfig) -> tuple[mx.array, tuple[int, int]]:
    """Pad a latent (B, F', H', W', C) to ``config.min_latent_shape``: frames by repeating the last, rows and
    columns symmetric. Returns it and the (rows, columns) added before."""
    min_t, min_h, min_w = config.min_latent_shape
    x, before_h, before_w = latent, 0, 0
    if x.shape[1] < min_t:
        x, _ = resize_axis(x, 1, min_t, "repeat_last")
    if x.shape[2] < min_h:
        x, before_h = resize_axis(x, 2, min_h, "symmetric")
    if x.shape[3] < min_w:
        x, before_w = resize_axis(x, 3, min_w, "symmetric")
    return x, (before_h, before_w)


def canvas_shape(config: DiffusionDecoderConfig, latent_shape: tuple[int, ...]) -> tuple[int, int, int, int, int]:
    """Shape (B, F, H, W, out_channels) of the noise canvas the decoder starts from, for a latent of
    ``latent_shape`` (B, F', H', W', C): the pixel size of the latent after padding to the decoder's minimum."""
    b, f, h, w = latent_shape[:4]
    min_t, min_h, min_w = config.min_latent_shape
    time, space = config.scale_factors
    return b, (max(f, min_t) - 1) * time + 1, max(h, min_h) * space, max(w, min_w) * space, config.out_channels


def stage4_shape(config: DiffusionDecoderConfig, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """Stage-4 input (T, H, W) of a latent (after the first three upsamples, first frames dropped)."""
    t, h, w = frames, height, width
    for (st, sh, sw), _ in config.upsamples[:3]:
        t, h, w = t * st - (1 if st == 2 else 0), h * sh, w * sw
    return t, h, w


@dataclass(frozen=True)
class AxisSpan:
    start: int
    end: int
    left_ramp: int = 0
    right_ramp: int = 0


def _split_by_size(length: int, size: int, overlap: int, min_size: int) -> list[AxisSpan]:
    if length < min_size or length <= size:
        return [AxisSpan(0, length)]
    amount = (length + size - 2 * overlap - 1) // (size - overlap)
    spans = [AxisSpan(0, size, 0, overlap)]
    spans += [AxisSpan(i * (size - overlap), i * (size - overlap) + size, overlap, overlap)
              for i in range(1, amount - 1)]
    spans.append(AxisSpan((amount - 1) * (size - overlap), length, overlap, 0))
    last = spans[-1]
    if len(spans) > 1 and last.end - last.start < min_size:
        start = last.end - min_size
        new_overlap = spans[-2].end - start
        spans[-2] = AxisSpan(spans[-2].start, spans[-2].end, spans[-2].left_ramp, new_overlap)
        spans[-1] = AxisSpan(start, last.end, new_overlap, 0)
    for i in range(1, len(spans)):
        if spans[i].start < 0 or spans[i - 1].end - spans[i].start > spans[i].end - spans[i].start:
            raise ConfigError("tiling", f"{size} cells (overlap {overlap})", f"leaves an invalid tile over an axis of "
                              f"{length} stage-4 cells", "use larger tiles or less overlap")
    return spans


def _trapezoid(length: int, left: int, right: int) -> np.ndarray:
    """The official blend ramp (symmetric: neither end reaches 0)."""
    mask = np.ones(length, np.float32)
    left, right = max(0, min(left, length)), max(0, min(right, length))
    if left:
        mask[:left] *= np.linspace(0.0, 1.0, left + 2, dtype=np.float32)[1:-1]
    if right:
        mask[-right:] *= np.linspace(1.0, 0.0, right + 2, dtype=np.float32)[1:-1]
    return np.clip(mask, 0, 1)


@dataclass(frozen=True)
class DiffusionTile:
    """A stage-4-grid tile: its cells (T, H, W slices of the stage-4 input), its pixels on the canvas, and the
    pixels' 1-D blend masks (None: untiled axis)."""

    cells: tuple[slice, slice, slice]
    pixels: tuple[slice, slice, slice]
    masks: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]

    def blend_mask(self) -> np.ndarray | None:
        """(f, h, w) product of the masks, or None when no axis is tiled."""
        if all(m is None for m in self.masks):
            return None
        lengths = [s.stop - s.start for s in self.pixels]
        parts = [np.ones(n, np.float32) if m is None else m for m, n in zip(self.masks, lengths)]
        return parts[0][:, None, None] * parts[1][None, :, None] * parts[2][None, None, :]


def tile_plan(config: DiffusionDecoderConfig, s4: tuple[int, int, int], canvas: tuple[int, int, int],
              tiling: TilingConfig | None) -> list[DiffusionTile]:
    """The official tiles for a stage-4 grid ``s4`` (T, H, W) whose pixels fill ``canvas`` (F, H, W)."""
    scale = config.stage4_pixel_scale
    strides = config.upsamples[3][0]
    if tiling is not None:
        overlap_t, overlap_hw = config.min_tile_overlaps
        for name, size, overlap, need in (
                ("tiling.temporal.overlap_frames", tiling.temporal, getattr(tiling.temporal, "overlap_frames", 0),
                 overlap_t),
                ("tiling.spatial.overlap_px", tiling.spatial, getattr(tiling.spatial, "overlap_px", 0), overlap_hw)):
            if size is not None and overlap < need:
                raise ConfigError(name, overlap, f"is below the {need} the diffusion video decoder needs (its "
                                  "stage-4/5 halos)", f"use an overlap of at least {need}")
    sizes = [None, None, None]
    if tiling is not None and tiling.temporal is not None:
        sizes[0] = (tiling.temporal.tile_frames, tiling.temporal.overlap_frames)
    if tiling is not None and tiling.spatial is not None:
        sizes[1] = sizes[2] = (tiling.spatial.tile_px, tiling.spatial.overlap_px)
    axes = []
    for a in range(3):
        if sizes[a] is None:
            axes.append([(slice(0, s4[a]), slice(0, canvas[a]), None)])
            continue
        tile, overlap = sizes[a][0] // scale[a], sizes[a][1] // scale[a]
        tile = max(2, overlap + 1, tile)
        specs = []
        for span in _split_by_size(s4[a], tile, overlap, config.tile_min_sizes[a]):
            start, end = span.start * strides[a], span.end * strides[a]
            left, right = span.left_ramp * strides[a], span.right_ramp * strides[a]
            if a == 0 and strides[a] == 2:
                end -= 1
                start -= 1 if span.start != 0 else 0
            else:
                p = config.patch_size
                start, end, left, right = start * p, end * p, left * p, right * p
            specs.append((slice(span.start, span.end), slice(start, end), _trapezoid(end - start, left, right)))
        axes.append(specs)
    return [DiffusionTile((t[0], h[0], w[0]), (t[1], h[1], w[1]), (t[2], h[2], w[2]))
            for t, h, w in itertools.product(*axes)]
