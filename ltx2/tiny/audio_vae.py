"""Tiny audio VAEs in the official checkpoint format: the ``audio_vae`` metadata section and its tensors.

The structure is the real one (3 levels, causal along time, pixel norm, no attention, 64 mel bins, z 8 so the
latent has the transformer's 8 x 16 = 128 features) with fewer blocks; ``ch`` must equal z * mel_bins / 4
because the official code sizes the latent statistics by ``ch``.
"""

from __future__ import annotations

import numpy as np
from mlx.utils import tree_flatten

from ltx2.models.audio_vae.config import AudioVAEConfig
from ltx2.models.audio_vae.decoder import AudioDecoder
from ltx2.models.audio_vae.encoder import AudioEncoder
from ltx2.models.audio_vae.load import DECODER_PREFIX, ENCODER_PREFIX, STATS_KEYS, STATS_PREFIX


def tiny_audio_vae_section(z_channels: int = 8, mel_bins: int = 64, ch_mult=(1, 1, 1), num_res_blocks: int = 1,
                           **ddconfig) -> dict:
    """The ``audio_vae`` metadata section (same layout for LTX-2 and LTX-2.3)."""
    dd = {"double_z": True, "mel_bins": mel_bins, "z_channels": z_channels, "resolution": 256,
          "downsample_time": False, "in_channels": 2, "out_ch": 2, "ch": z_channels * mel_bins // 4,
          "ch_mult": list(ch_mult), "num_res_blocks": num_res_blocks, "attn_resolutions": [], "dropout": 0.0,
          "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height"}
    dd.update(ddconfig)
    return {"model": {"params": {"sampling_rate": 16000, "ddconfig": dd}},
            "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
                              "mel": {"n_mel_channels": mel_bins, "mel_fmin": 0, "mel_fmax": 8000}}}


def tiny_audio_vae_tensors(section: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 tensors for every ``audio_vae.*`` key, in the checkpoint's PyTorch layout."""
    config = AudioVAEConfig.from_metadata(section)
    rng = np.random.default_rng(seed + 7)
    tensors = {}
    for prefix, model in ((ENCODER_PREFIX, AudioEncoder(config)), (DECODER_PREFIX, AudioDecoder(config))):
        for key, value in sorted(tree_flatten(model.parameters())):
            if key.startswith("per_channel_statistics."):
                continue
            shape = tuple(value.shape)
            shape = (shape[0], shape[-1], *shape[1:-1]) if len(shape) == 4 else shape
            values = rng.standard_normal(shape).astype(np.float32)
            tensors[prefix + key] = (values / np.sqrt(np.prod(shape[1:])) if len(shape) == 4 else 0.1 * values)
    n = config.stats_size
    stats = {"std-of-means": rng.uniform(0.5, 1.5, n), "mean-of-means": 0.1 * rng.standard_normal(n)}
    tensors.update({STATS_PREFIX + k: stats[k].astype(np.float32) for k in STATS_KEYS})
    tensors[STATS_PREFIX + "mean-of-stds"] = rng.uniform(0.5, 1.5, n).astype(np.float32)  # unused, like the real files
    return tensors
