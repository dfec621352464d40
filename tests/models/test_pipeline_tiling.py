"""The pipelines' decode tiling (ltx2.models.video_vae.tiling.pipeline_tiling): the size at which it tiles follows
the decoder's own scale factors, and a diffusion decoder's tiles overlap at least its stage-4/5 halos, so that its
tile plan accepts them at the official widths and sizes."""

from ltx2.models.video_vae.config import DecoderConfig
from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
from ltx2.models.video_vae.diffusion_tiling import canvas_shape, stage4_shape, tile_plan
from ltx2.models.video_vae.tiling import TilingConfig, pipeline_tiling
from ltx2.tiny.video_vae25 import tiny_vae25_section


def test_the_threshold_follows_the_decoder_scale_factors():
    small = DecoderConfig.from_metadata(tiny_vae25_section("16x16x4"))  # 4 frames, 16 px per latent cell
    assert small.scale_factors == (4, 16)
    latent = (1, 9, 20, 20, 128)  # 33 x 320 x 320 pixels with it, 65 x 640 x 640 at the official 8 / 32
    assert pipeline_tiling(latent, small) is None
    assert pipeline_tiling(latent) == pipeline_tiling(latent, DecoderConfig.from_metadata(tiny_vae25_section()))
    assert pipeline_tiling(latent) == TilingConfig.default()
    assert pipeline_tiling((1, 3, 4, 6, 128)) is None


def test_diffusion_tiles_overlap_the_halos_and_plan_at_the_official_size():
    config = DiffusionDecoderConfig.from_metadata({"_class_name": "CausalDiffusionVAE"})
    latent = (1, 16, 32, 48, 128)  # 121 frames at 1536 x 1024
    tiling = pipeline_tiling(latent, config)
    frames, pixels = config.min_tile_overlaps
    assert tiling.temporal.overlap_frames >= frames and tiling.spatial.overlap_px >= pixels
    assert (tiling.spatial.tile_px, tiling.temporal.tile_frames) == (512, 64)
    canvas = canvas_shape(config, latent)
    tiles = tile_plan(config, stage4_shape(config, *latent[1:4]), canvas[1:4], tiling)
    assert len(tiles) > 1
    for axis in range(3):  # the tiles cover the canvas
        assert min(t.pixels[axis].start for t in tiles) == 0
        assert max(t.pixels[axis].stop for t in tiles) == canvas[1 + axis]
