"""The arithmetic of detail-fidelity rendering (``pipeline=dfr``, ltx-pipelines 1.2.0 ``dfr_layout``), pure
functions: the keyframe canvas (frame count padded to whole segments of 24 or 32 frames, one generated keyframe
slot at every segment end), the temporal tiles of a refine round (contiguous runs of segments, each non-first tile
reaching one segment back over the seam it shares with the previous one) and the stitch of the tiles' latents.

Frames are pixel frames; latent index ``i`` covers pixel frames ``8(i-1)+1 .. 8i`` (index 0: frame 0 alone)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TEMPORAL_SCALE = 8
SEGMENT_CANDIDATES = (24, 32)
TILE_LEAD_SEGMENTS = 1  # a non-first tile starts one segment before the ones it owns


@dataclass(frozen=True)
class Tile:
    """One temporal tile: pixel frames ``pixel_start..pixel_end`` (inclusive), latent frames
    ``latent_start..latent_end - 1``; ``anchors``: the segment-end keyframes inside it (pixel frames, frame 0
    excluded), pinned from the previous round; ``slots``: the segment midpoints it generates keyframes at;
    ``drop``: the leading latent frames the stitch discards (the lead-in and the seam latent the previous tile
    keeps)."""

    pixel_start: int
    pixel_end: int
    latent_start: int
    latent_end: int
    anchors: tuple[int, ...]
    slots: tuple[int, ...]
    drop: int

    @property
    def frames(self) -> int:
        """Pixel frames the tile denoises (a whole number of latent frames)."""
        return (self.latent_end - self.latent_start - 1) * TEMPORAL_SCALE + 1


def segment_length(content_frames: int) -> int:
    """The candidate segment length that pads ``content_frames`` (num_frames - 1) least; ties take the longer."""
    if content_frames < 1:
        raise ValueError(f"content_frames must be >= 1, got {content_frames}")
    best = None
    for segment in SEGMENT_CANDIDATES:
        pad = -content_frames % segment
        if best is None or pad < best[1] or (pad == best[1] and segment > best[0]):
            best = (segment, pad)
    return best[0]


def canvas(num_frames: int) -> tuple[int, int, tuple[int, ...]]:
    """(canvas frames, segment length, keyframe positions S, 2S, ..., canvas - 1): ``num_frames - 1`` padded up to
    whole segments; frame 0 is never a position, the last frame always is."""
    if num_frames < 2 or (num_frames - 1) % TEMPORAL_SCALE:
        raise ValueError(f"num_frames must be 8k + 1 with k >= 1, got {num_frames}")
    content = num_frames - 1
    segment = segment_length(content)
    padded = content + (-content % segment)
    return padded + 1, segment, tuple(range(segment, padded + 1, segment))


def latent_index(pixel_frame: int) -> int:
    """The latent frame holding ``pixel_frame`` (which must be 0 or on an 8-frame border)."""
    if pixel_frame < 0 or (pixel_frame and pixel_frame % TEMPORAL_SCALE):
        raise ValueError(f"pixel frame {pixel_frame} is not 0 nor on an x{TEMPORAL_SCALE} latent border")
    return pixel_frame // TEMPORAL_SCALE


def owned_segments(segments: int, tiles: int) -> list[int]:
    """``segments`` split into ``tiles`` contiguous runs, the longer runs first."""
    if segments < 1 or tiles < 1:
        raise ValueError(f"need at least one segment and one tile, got {segments} and {tiles}")
    base, extra = divmod(segments, tiles)
    return [base + (i < extra) for i in range(tiles)]


def tiles(seams: Sequence[int], num_frames: int, count: int, lead: int = TILE_LEAD_SEGMENTS) -> list[Tile]:
    """The canvas (keyframe ``seams``, its last frame the last seam) in ``count`` tiles (at most one per segment)."""
    seams = [int(s) for s in seams]
    if not seams or seams[-1] != num_frames - 1:
        raise ValueError(f"the last seam must be the last frame {num_frames - 1}, got {seams}")
    if lead < 1:
        raise ValueError(f"lead must be >= 1, got {lead}")
    bounds = [0, *seams]
    for a, b in zip(bounds, bounds[1:]):
        if b <= a or (b - a) % TEMPORAL_SCALE or (b - a) // TEMPORAL_SCALE < 2:
            raise ValueError(f"seams {seams}: each segment must span 2 or more whole latent frames")
    out, own = [], 0
    for i, run in enumerate(owned_segments(len(seams), min(count, len(seams)))):
        start = max(0, own - (lead if i else 0))
        drop = latent_index(bounds[own]) - latent_index(bounds[start]) + (1 if own else 0)
        out.append(Tile(bounds[start], bounds[own + run], latent_index(bounds[start]),
                        latent_index(bounds[own + run]) + 1,
                        tuple(bounds[j] for j in range(start, own + run + 1) if bounds[j]),
                        tuple((bounds[j] + bounds[j + 1]) // 2 for j in range(start, own + run)), drop))
        own += run
    return out


def stitch(latents: Sequence, tile_list: Sequence[Tile], axis: int = 1):
    """The tiles' latents joined along ``axis`` (their latent frames), each without its first ``drop`` frames."""
    import mlx.core as mx

    if len(latents) != len(tile_list) or not latents:
        raise ValueError(f"{len(latents)} tile latents for {len(tile_list)} tiles")
    pieces = []
    for latent, tile in zip(latents, tile_list):
        if latent.shape[axis] != tile.latent_end - tile.latent_start:
            raise ValueError(f"a tile latent of {latent.shape[axis]} frames for latent frames "
                             f"{tile.latent_start}..{tile.latent_end - 1}")
        pieces.append(mx.take(latent, mx.arange(tile.drop, latent.shape[axis]), axis=axis))
    return mx.concatenate(pieces, axis=axis)


def local(frames: Sequence[int], start: int) -> tuple[int, ...]:
    """Pixel frames of the canvas -> frames of a tile starting at ``start``."""
    return tuple(int(f) - start for f in frames)
