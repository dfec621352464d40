"""Latent upsampler parity with ltx-core 1.0.0 (fp32, tiny random weights loaded by both from one file)."""

import json

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.model.upsampler import upsample_video
from ltx_core.model.video_vae.ops import PerChannelStatistics as RefStatistics
from oracles.vae import assert_parity, reference_upsampler, to_mlx, to_torch_layout, write_vae

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import read_header, save_checkpoint
from ltx2.models.upsampler import load_latent_statistics, load_upsampler, upsample_latent
from ltx2.tiny.upsampler import write_tiny_upsampler

pytestmark = pytest.mark.usefixtures("op_backend")  # the MLX ops, and the CPU backend forced on

C = 16
CASES = {  # kind, config overrides, expected output shape (B, C, F, H, W) for a (1, C, 3, 4, 6) latent
    "spatial x2": ("spatial-x2", {}, (1, C, 3, 8, 12)),
    "rational x1.5": ("spatial-x1.5", {}, (1, C, 3, 6, 9)),
    "temporal x2": ("temporal-x2", {}, (1, C, 5, 4, 6)),
    "spatiotemporal x2": ("temporal-x2", {"spatial_upsample": True}, (1, C, 5, 8, 12)),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("upsampler")


def _latent():
    return np.random.default_rng(0).standard_normal((1, C, 3, 4, 6)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_upsampler_parity(root, case):
    kind, overrides, shape = CASES[case]
    path = write_tiny_upsampler(root / f"{case}.safetensors", kind, seed=len(case), in_channels=C, **overrides)
    with torch.no_grad():
        ref = reference_upsampler(path)(torch.from_numpy(_latent())).numpy()
    ours = to_torch_layout(load_upsampler(path)(to_mlx(_latent())))
    assert ours.shape == shape
    assert_parity(ours, ref, f"upsampler {case}")


def test_upsample_latent_uses_the_latent_statistics(root, tmp_path):
    """un-normalize -> upsample -> normalize, statistics read from the main checkpoint's vae section."""
    up_path = write_tiny_upsampler(root / "x2.safetensors", "spatial-x2", seed=9, in_channels=C)
    vae_path = write_vae(tmp_path / "vae.safetensors", "ltx2")
    statistics = load_latent_statistics(vae_path)

    class Encoder(torch.nn.Module):  # upsample_video reads only the encoder's statistics
        def __init__(self):
            super().__init__()
            self.per_channel_statistics = RefStatistics(C)
            for key in ("std-of-means", "mean-of-means"):
                self.per_channel_statistics.get_buffer(key).copy_(torch.from_numpy(np.array(statistics[key])))

    with torch.no_grad():
        ref = upsample_video(torch.from_numpy(_latent()), Encoder(), reference_upsampler(up_path)).numpy()
    ours = to_torch_layout(upsample_latent(to_mlx(_latent()), load_upsampler(up_path), statistics))
    assert_parity(ours, ref, "upsample_latent (x2 with statistics)")
    plain = to_torch_layout(load_upsampler(up_path)(to_mlx(_latent())))
    assert np.abs(plain - ours).max() > 1e-2  # the statistics do change the result


def test_upsampler_file_errors_are_clear(root):
    good = write_tiny_upsampler(root / "good.safetensors", "spatial-x2", in_channels=C)
    config = dict(read_header(good).config, rational_resampler=True, spatial_scale=1.25)
    bad = root / "bad.safetensors"
    save_checkpoint(bad, mx.load(str(good)), {"config": json.dumps(config)})
    with pytest.raises(ConfigError, match=r"spatial_scale=1.25 \(supported: \[0.75, 1.5, 2.0, 4.0\]\)"):
        load_upsampler(bad)
    config = dict(read_header(good).config, mid_channels=64)
    save_checkpoint(bad, mx.load(str(good)), {"config": json.dumps(config)})
    with pytest.raises(ConfigError, match=r"latent upsampler in .* does not match its config: .*wrong shape"):
        load_upsampler(bad)
    with pytest.raises(ValueError, match="channels-last"):
        load_upsampler(good)(mx.zeros((1, C, 3, 4, 6)))
