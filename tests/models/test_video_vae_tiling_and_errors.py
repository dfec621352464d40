"""Tile plans equal to ltx-core's, and the clear errors for inputs, configs and checkpoints."""

import json
import types

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.model.video_vae import SpatialTilingConfig, TemporalTilingConfig, VideoDecoder
from ltx_core.model.video_vae import TilingConfig as RefTiling
from ltx_core.model.video_vae.video_vae import prepare_tiles_for_encoding
from ltx_core.types import SpatioTemporalScaleFactors
from oracles.vae import LATENT, write_vae

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.models.video_vae import (
    DecoderConfig,
    EncoderConfig,
    load_video_decoder,
    load_video_encoder,
    pixels_from_uint8,
    pixels_to_uint8,
)
from ltx2.models.video_vae.tiling import SpatialTiling, TemporalTiling, TilingConfig, decode_plan, encode_plan
from ltx2.tiny.video_vae import tiny_vae_section


def _plan(tiles):
    """(src, dst, mask) per tile over the F, H, W axes, comparable between the two implementations."""
    return [tuple((a.src.start, a.src.stop, a.dst.start, a.dst.stop, a.mask) for a in t.axes) for t in tiles]


def _assert_same_plan(ours, ref):
    assert len(ours) == len(ref)
    for tile, ref_tile in zip(ours, ref):
        assert [axis[:4] for axis in tile] == [axis[:4] for axis in ref_tile]
        for axis, ref_axis in zip(tile, ref_tile):  # float32 linspace: numpy and torch may differ by an ulp
            np.testing.assert_allclose(axis[4], ref_axis[4], rtol=0, atol=1e-6)


def _ref_plan(tiles, out_len):
    plan = []
    for t in tiles:
        axes = []
        for axis in (2, 3, 4):
            src, dst, mask = t.in_coords[axis], t.out_coords[axis], t.masks_1d[axis]
            stop = out_len[axis - 2] if dst.stop is None else dst.stop
            mask = np.ones(stop - dst.start) if mask is None else mask.numpy()
            axes.append((src.start, src.stop, dst.start, stop, mask))
        plan.append(tuple(axes))
    return plan


@pytest.mark.parametrize("latent_fhw,tiles", [
    ((16, 16, 24), ((512, 64), (64, 24))),   # the pipelines' default on 121 frames 512x768
    ((16, 32, 48), ((512, 64), (64, 24))),   # 1024x1536: short-axis tiles scaled (11 vs 16 latents)
    ((5, 8, 12), ((128, 32), (16, 8))),      # the benchmark's plan
    ((7, 5, 3), ((96, 64), (32, 16))),
])
def test_decode_plan_matches_reference(latent_fhw, tiles):
    (px, px_ov), (fr, fr_ov) = tiles
    ref_tiling = RefTiling(SpatialTilingConfig(px, px_ov), TemporalTilingConfig(fr, fr_ov))
    planner = types.SimpleNamespace(video_downscale_factors=SpatioTemporalScaleFactors(time=8, width=32, height=32))
    ref = VideoDecoder._prepare_tiles(planner, torch.empty(1, 1, *latent_fhw), ref_tiling)
    ours = decode_plan(latent_fhw, TilingConfig(SpatialTiling(px, px_ov), TemporalTiling(fr, fr_ov)))
    out_len = (1 + 8 * (latent_fhw[0] - 1), 32 * latent_fhw[1], 32 * latent_fhw[2])
    _assert_same_plan(_plan(ours), _ref_plan(ref, out_len))


@pytest.mark.parametrize("video_fhw,tiles", [
    ((33, 256, 256), ((128, 64), (24, 16))),
    ((121, 512, 768), ((512, 64), (64, 24))),
    ((49, 320, 192), ((128, 32), (32, 8))),    # overlaps below the minimum are raised to 64 px / 16 frames
])
def test_encode_plan_matches_reference(video_fhw, tiles):
    (px, px_ov), (fr, fr_ov) = tiles
    ref_tiling = RefTiling(SpatialTilingConfig(px, px_ov), TemporalTilingConfig(fr, fr_ov))
    ref = prepare_tiles_for_encoding(torch.empty(1, 1, *video_fhw), ref_tiling)
    if px_ov < 64 or fr_ov < 16:
        with pytest.warns(UserWarning, match="below the minimum"):
            ours = encode_plan(video_fhw, TilingConfig(SpatialTiling(px, px_ov), TemporalTiling(fr, fr_ov)))
    else:
        ours = encode_plan(video_fhw, TilingConfig(SpatialTiling(px, px_ov), TemporalTiling(fr, fr_ov)))
    out_len = (1 + (video_fhw[0] - 1) // 8, video_fhw[1] // 32, video_fhw[2] // 32)
    _assert_same_plan(_plan(ours), _ref_plan(ref, out_len))


def test_decode_plan_covers_every_pixel_with_positive_weight():
    """The blend divides by the summed masks, so every output pixel needs some weight (a constant decoder then
    blends to exactly that constant)."""
    tiles = decode_plan((9, 7, 11), TilingConfig(SpatialTiling(128, 64), TemporalTiling(32, 16)))
    total = np.zeros((65, 224, 352), dtype=np.float32)
    for tile in tiles:
        total[tile.dst] += tile.blend_mask()
    assert len(tiles) > 8 and total.min() > 0.05


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    return write_vae(tmp_path_factory.mktemp("vae") / "ltx2.safetensors", "ltx2")


@pytest.mark.parametrize("shape,message", [
    ((1, 20, 64, 64, 3), r"20 frames; the encoder needs 1 \+ 8\*k frames. Fix: trim it to 17 or pad it to 25"),
    ((1, 17, 80, 64, 3), r"height is 80; it must be a multiple of 32. Fix: resize or crop to 64"),
    ((1, 17, 64, 48, 3), r"width is 48; it must be a multiple of 32"),
    ((1, 3, 17, 64, 64), r"last axis, the encoder takes 3. Fix: pass channels-last"),
    ((17, 64, 64, 3), r"add a batch axis"),
])
def test_encoder_refuses_bad_video_shapes(vae_file, shape, message):
    with pytest.raises(ConfigError, match=message):
        load_video_encoder(vae_file)(mx.zeros(shape))


def test_encoder_refuses_pixels_outside_minus_one_one(vae_file):
    encoder = load_video_encoder(vae_file)
    frames = np.full((1, 9, 32, 32, 3), 200, dtype=np.uint8)
    with pytest.raises(ConfigError, match=r"dtype is .*uint8; the encoder takes floats.*pixels_from_uint8"):
        encoder(mx.array(frames))
    with pytest.raises(ConfigError, match=r"values span \[200, 200\].*\[-1, 1\]"):
        encoder(mx.array(frames).astype(mx.float32))
    assert encoder(pixels_from_uint8(frames)).shape == (1, 2, 1, 1, LATENT)


def test_decoder_refuses_channels_first_latent(vae_file):
    with pytest.raises(ConfigError, match=r"channels-last. Fix: transpose from \(B, C, F, H, W\)"):
        load_video_decoder(vae_file)(mx.zeros((1, LATENT, 3, 2, 2)))


def test_uint8_conversion_truncates_like_the_reference():
    x = mx.array([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0])
    ref = (((torch.tensor(np.array(x)) + 1) / 2).clamp(0, 1) * 255).to(torch.uint8).numpy()
    assert np.array(pixels_to_uint8(x)).tolist() == ref.tolist() == [0, 0, 127, 254, 255, 255]


def test_config_errors_list_every_problem():
    section = tiny_vae_section("ltx2", norm_layer="group_norm", spatial_padding_mode="circular")
    del section["encoder_blocks"]
    with pytest.raises(ConfigError) as info:
        EncoderConfig.from_metadata(section)
    text = str(info.value)
    assert "norm_layer='group_norm' (supported: 'pixel_norm')" in text
    assert "encoder_blocks=None (need a non-empty list" in text
    assert "spatial_padding_mode='circular'" in text
    with pytest.raises(ConfigError, match=r"decoder_blocks entry \['attn_res_x'.*supported blocks"):
        DecoderConfig.from_metadata(tiny_vae_section("ltx2", decoder_blocks=[["attn_res_x", {"num_layers": 1}]]))


def test_checkpoint_errors_are_clear(vae_file, tmp_path):
    tensors = mx.load(str(vae_file))
    config = {"vae": tiny_vae_section("ltx2", latent_channels=LATENT, decoder_base_channels=8)}
    dropped = {k: v for k, v in tensors.items() if k != "vae.decoder.conv_out.conv.bias"}
    save_checkpoint(tmp_path / "a.safetensors", dropped, {"config": json.dumps(config)})
    with pytest.raises(ConfigError, match=r"video decoder in .* 1 missing: conv_out.conv.bias"):
        load_video_decoder(tmp_path / "a.safetensors")
    tc = {"vae": dict(config["vae"], timestep_conditioning=True)}  # metadata says tc, tensors do not have it
    save_checkpoint(tmp_path / "b.safetensors", tensors, {"config": json.dumps(tc)})
    with pytest.raises(ConfigError, match=r"missing: .*last_scale_shift_table"):
        load_video_decoder(tmp_path / "b.safetensors")
    save_checkpoint(tmp_path / "c.safetensors", tensors, {"config": json.dumps({"transformer": {}})})
    with pytest.raises(ConfigError, match=r"no 'vae' section"):
        load_video_encoder(tmp_path / "c.safetensors")
