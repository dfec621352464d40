"""The DFR canvas / tile / stitch arithmetic (ltx2/pipelines/dfr_layout.py) against ltx-pipelines 1.2.0's own
``dfr_layout`` functions, run in the oracle venv on every frame count from 9 to 505 and tile counts 1 to 5 (on the
canvas's seams and on the seams of one and two x2 temporal rounds), one subprocess."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12

from ltx2.pipelines import dfr_layout as layout

FRAMES = list(range(9, 506, 8))
COUNTS = [1, 2, 3, 4, 5]

SCRIPT = '''
from ltx_pipelines.dfr_layout import resolve_canvas, stitch_tile_latents, tile_ranges
out = {"canvas": [], "tiles": []}
for n in I["frames"]:
    c, s, pos = resolve_canvas(n)
    out["canvas"].append([c, s, pos])
    for r in range(3):  # the seams of round r: positions x 2**r on the canvas of that round
        frames, seams = (c - 1) * 2**r + 1, [p * 2**r for p in pos]
        for k in I["counts"]:
            out["tiles"].append([[list(x) if isinstance(x, tuple) else x for x in t]
                                 for t in tile_ranges(seams, frames, k)])
g = torch.Generator().manual_seed(1)
seams = [24, 48, 72, 96]
tiles = tile_ranges(seams, 97, 3)
lat = [torch.randn(1, 2, t.latent_end_exclusive - t.latent_start, 1, 2, generator=g) for t in tiles]
for i, x in enumerate(lat):
    O[f"tile_{i}"] = x
O["stitched"] = stitch_tile_latents(lat, tiles)
O["json"] = np.array(json.dumps(out))
'''


def _ours(tile: layout.Tile) -> list:
    return [tile.pixel_start, tile.pixel_end, tile.latent_start, tile.latent_end, list(tile.anchors),
            list(tile.slots), tile.drop]


@v12.needed
def test_layout_matches_1_2_0():
    ref = v12.run(SCRIPT, frames=FRAMES, counts=COUNTS)
    expected = json.loads(str(ref["json"]))
    tiles = iter(expected["tiles"])
    for n, (c, s, pos) in zip(FRAMES, expected["canvas"]):
        assert layout.canvas(n) == (c, s, tuple(pos)), n
        for r in range(3):
            frames, seams = (c - 1) * 2**r + 1, [p * 2**r for p in pos]
            for k in COUNTS:
                assert [_ours(t) for t in layout.tiles(seams, frames, k)] == next(tiles), (n, r, k)
    # the stitch, channels-first as the reference's (B, C, T, H, W)
    ours = layout.stitch([mx.array(ref[f"tile_{i}"]) for i in range(3)], layout.tiles([24, 48, 72, 96], 97, 3),
                         axis=2)
    assert np.array_equal(np.array(ours), ref["stitched"])


def test_canvas_and_tiles_properties():
    """Canvas: whole segments, last frame a seam; tiles: gapless ownership (the stitch is the canvas's latent
    length), every window starting on frame 0 or a seam."""
    for n in FRAMES:
        c, s, pos = layout.canvas(n)
        assert c >= n and (c - 1) % s == 0 and pos[-1] == c - 1 and pos[0] == s
        for k in COUNTS:
            tiles = layout.tiles(pos, c, k)
            assert sum(t.latent_end - t.latent_start - t.drop for t in tiles) == (c - 1) // 8 + 1
            assert all(t.pixel_start == 0 or t.pixel_start in pos for t in tiles)


@pytest.mark.parametrize("n", [0, 1, 8, 10])
def test_canvas_refuses_frame_counts_off_the_grid(n):
    with pytest.raises(ValueError):
        layout.canvas(n)
