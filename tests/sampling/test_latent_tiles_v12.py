"""The stage-2 latent tiles (``ltx2.sampling.latent_tiles``) against ltx-core 1.2.0's ``TileCountConfig`` tiles
(``VideoModalityTilingHelper`` builds them so: ``split_by_count`` per axis, trapezoid masks) after the HDR
pipeline's clamp, on grids from the tiny test size to 4K / 161 frames: the same slices in the same order and the
same blend masks. (Those masks are not a partition of unity everywhere: where the first tiles absorb a remainder
cell, or an overlap is clamped, the sum exceeds 1 on a few cells; the reference does not renormalize, nor do we.)"""

from __future__ import annotations

import numpy as np
from oracles import v12

from ltx2.sampling.latent_tiles import latent_tiles

GRIDS = [(3, 4, 4), (5, 4, 4), (2, 2, 2), (21, 34, 60), (16, 68, 120), (7, 9, 13), (1, 5, 3)]
COUNTS = [((2, 8), (2, 6), (2, 6)), ((3, 2), (1, 0), (4, 1)), ((1, 3), (3, 5), (2, 0))]

SCRIPT = """
from ltx_core.tiling import DimensionTilingConfig, TileCountConfig, create_tiles, identity_mapping_operation
from ltx_pipelines.hdr_ic_lora import _clamp_tile_to_latent
k = 0
for grid in I["grids"]:
    for counts in I["counts"]:
        cfg = TileCountConfig(*(DimensionTilingConfig(c, o) for c, o in counts))
        cfg = _clamp_tile_to_latent(cfg, tuple(grid))
        tiles = create_tiles(torch.Size(grid), list(cfg.to_splitters(None, causal_temporal=False)),
                             [identity_mapping_operation] * 3)
        O[f"slices_{k}"] = np.array([[s.start, s.stop] for t in tiles for s in t.in_coords], np.float32)
        for i, t in enumerate(tiles):
            O[f"mask_{k}_{i}"] = t.blend_mask
        k += 1
"""


@v12.needed
def test_latent_tiles_match_1_2_0():
    ref = v12.run(SCRIPT, grids=GRIDS, counts=COUNTS)
    k = 0
    for grid in GRIDS:
        for counts in COUNTS:
            tiles = latent_tiles(grid, counts)
            ours = np.array([[s.start, s.stop] for t in tiles for s in t.slices], np.float32)
            np.testing.assert_array_equal(ours, ref[f"slices_{k}"], err_msg=f"{grid} {counts}")
            for i, tile in enumerate(tiles):
                np.testing.assert_allclose(tile.mask, ref[f"mask_{k}_{i}"], atol=1e-6, err_msg=f"{grid} {counts}")
            k += 1
