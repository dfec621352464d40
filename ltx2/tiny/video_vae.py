"""Tiny video VAEs in the official checkpoint format: the ``vae`` metadata section and the ``vae.*`` tensors.

The block *types* and their order are those of the real LTX-2 / LTX-2.3 VAEs, with one layer per ``res_x`` and
small widths. The encoder's width is tied to ``latent_channels`` (128 to match the transformer), so the tiny
encoder keeps its width with ``multiplier: 1`` unless ``latent_channels`` is small enough to double it.
"""

from __future__ import annotations

import numpy as np
from mlx.utils import tree_flatten

from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig
from ltx2.models.video_vae.decoder import VideoDecoder
from ltx2.models.video_vae.encoder import VideoEncoder
from ltx2.models.video_vae.load import DECODER_PREFIX, ENCODER_PREFIX, STATS_KEYS, STATS_PREFIX

_ENCODER = {  # real block lists with num_layers 1; None: the real multiplier, replaced by 1 for wide latents
    "ltx2": [["res_x", 1], ["compress_space_res", 2], ["res_x", 1], ["compress_time_res", 2], ["res_x", 1],
             ["compress_all_res", 2], ["res_x", 1], ["compress_all_res", 2], ["res_x", 1]],
    "ltx2.3": [["res_x", 1], ["compress_space_res", 2], ["res_x", 1], ["compress_time_res", 2], ["res_x", 1],
               ["compress_all_res", 2], ["res_x", 1], ["compress_all_res", 1], ["res_x", 1]],
}
_DECODER = {
    "ltx2": [["res_x", {"num_layers": 1, "inject_noise": False}], ["compress_all", {"residual": True, "multiplier": 2}],
             ["res_x", {"num_layers": 1, "inject_noise": False}], ["compress_all", {"residual": True, "multiplier": 2}],
             ["res_x", {"num_layers": 1, "inject_noise": False}], ["compress_all", {"residual": True, "multiplier": 2}],
             ["res_x", {"num_layers": 1, "inject_noise": False}]],
    "ltx2.3": [["res_x", {"num_layers": 1}], ["compress_space", {"multiplier": 2}], ["res_x", {"num_layers": 1}],
               ["compress_time", {"multiplier": 2}], ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 1}],
               ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 2}], ["res_x", {"num_layers": 1}]],
}
_COMMON = {"_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
           "patch_size": 4, "norm_layer": "pixel_norm", "latent_log_var": "uniform", "scaling_factor": 1.0,
           "use_quant_conv": False, "causal_decoder": False, "timestep_conditioning": False}
WIDE_LATENT = 64  # from this many latent channels on, the tiny encoder does not double its width


def tiny_vae_section(version: str = "ltx2", latent_channels: int = 128, decoder_base_channels: int = 4,
                     **overrides) -> dict:
    """The ``vae`` metadata section of a tiny LTX-2 ("ltx2") or LTX-2.3 ("ltx2.3") video VAE."""
    if version not in _ENCODER:
        raise ValueError(f"tiny VAE version {version!r} is not one of {sorted(_ENCODER)}")
    encoder = [list(b) for b in _ENCODER[version]]
    if latent_channels >= WIDE_LATENT:
        encoder = [[name, 1] if name.endswith("_res") else [name, n] for name, n in encoder]
    encoder = [[name, {"multiplier": n}] if name.endswith("_res") else [name, {"num_layers": n}]
               for name, n in encoder]
    section = dict(_COMMON, latent_channels=latent_channels, encoder_blocks=encoder,
                   decoder_blocks=_DECODER[version], decoder_base_channels=decoder_base_channels)
    if version == "ltx2.3":
        section.update(encoder_base_channels=128, normalize_latent_channels=False, spatial_padding_mode="zeros")
    section.update(overrides)
    return section


def tiny_vae_tensors(section: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 tensors for every ``vae.*`` key that ``section`` needs, in the checkpoint's PyTorch layout."""
    encoder = VideoEncoder(EncoderConfig.from_metadata(section))
    decoder = VideoDecoder(DecoderConfig.from_metadata(section))
    rng = np.random.default_rng(seed)
    tensors = {}
    for prefix, model in ((ENCODER_PREFIX, encoder), (DECODER_PREFIX, decoder)):
        for key, value in sorted(tree_flatten(model.parameters())):
            if not key.startswith("per_channel_statistics."):
                tensors[prefix + key] = _random_tensor(key, _torch_shape(tuple(value.shape)), rng)
    channels = section.get("latent_channels", 128)
    stats = {"std-of-means": rng.uniform(0.5, 1.5, channels), "mean-of-means": 0.1 * rng.standard_normal(channels)}
    tensors.update({STATS_PREFIX + k: stats[k].astype(np.float32) for k in STATS_KEYS})
    # an extra statistic the real files carry and the official code ignores
    tensors[STATS_PREFIX + "mean-of-stds"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    return tensors


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """MLX conv layout (O, *k, I) -> PyTorch (O, I, *k), for 3-D convs and the ``attn`` blocks' 1x1 Conv2d."""
    return (shape[0], shape[-1], *shape[1:-1]) if len(shape) in (4, 5) else shape


def _random_tensor(key: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights ~ N(0, 1/fan_in) keep activations at unit scale; tables and noise scales ~ N(0, 0.1^2)."""
    if key.endswith("timestep_scale_multiplier"):
        return np.array(1000.0, dtype=np.float32)
    values = rng.standard_normal(shape).astype(np.float32)
    if key.endswith(("norm3.weight", "norm.gamma")):
        return 1 + 0.1 * values
    if key.endswith(".weight") and len(shape) >= 2:
        return values / np.sqrt(np.prod(shape[1:]))
    return 0.1 * values
