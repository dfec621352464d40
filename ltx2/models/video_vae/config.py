"""Video VAE configuration, read from the checkpoint's ``config.vae`` metadata section.

Two layouts: the flat one of ``CausalVideoAutoencoder`` (LTX-2, LTX-2.3 and the LTX-2.5 conv-decoder file), and the
nested one of LTX-2.5's ``CausalDiffusionVAE`` file (``vae.encoder`` / ``vae.decoder`` sections; its decoder is a
diffusion model this version does not run, its encoder is the conv encoder). Defaults are the official
configurator's (they matter only when a key is missing; note the decoder's ``timestep_conditioning`` defaults to
True there). The block lists default to empty, which builds a useless model, so they are required here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ltx2.errors import ConfigError
from ltx2.models.video_vae.conv import PADDING_MODES

# block name -> (time, height, width) stride
ENCODER_STRIDES = {
    "res_x": (1, 1, 1), "attn": (1, 1, 1), "res_x_y": (1, 1, 1),
    "compress_time": (2, 1, 1), "compress_space": (1, 2, 2), "compress_all": (2, 2, 2), "compress_all_x_y": (2, 2, 2),
    "compress_time_res": (2, 1, 1), "compress_space_res": (1, 2, 2), "compress_all_res": (2, 2, 2),
}
DECODER_STRIDES = {
    "res_x": (1, 1, 1), "attn": (1, 1, 1), "res_x_y": (1, 1, 1),
    "compress_time": (2, 1, 1), "compress_space": (1, 2, 2), "compress_all": (2, 2, 2),
}
CONV_VAE_CLASS = "CausalVideoAutoencoder"  # the official default when ``_class_name`` is absent
CONV_VAE_FILE = "vae/ltx-2.5-video-vae-conv-bf16.safetensors"
SUPPORTED = "use an official LTX-2 / LTX-2.3 / LTX-2.5 video VAE"
LOG_VAR_EXTRA_CHANNELS = {"per_channel": None, "uniform": 1, "constant": 1}  # None: doubles the channels


@dataclass(frozen=True)
class Block:
    """One entry of a block list: its name and parameters (an int entry means ``num_layers``)."""

    name: str
    params: dict

    def get(self, key: str, default=None):
        return self.params.get(key, default)


def _blocks(raw, key: str, strides: dict, problems: list[str]) -> tuple[Block, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{key}={raw!r} (need a non-empty list of [name, params]; the official checkpoints "
                        "carry it in the metadata)")
        return ()
    blocks = []
    for entry in raw:
        name, params = entry if isinstance(entry, (list, tuple)) and len(entry) == 2 else (entry, None)
        params = {"num_layers": params} if isinstance(params, int) else params
        if name not in strides or not isinstance(params, dict):
            problems.append(f"{key} entry {entry!r} (supported blocks: {sorted(strides)})")
            continue
        if name in ("res_x",) and not isinstance(params.get("num_layers"), int):
            problems.append(f"{key} entry {entry!r} needs an int 'num_layers'")
            continue
        blocks.append(Block(name, dict(params)))
    return tuple(blocks)


def vae_class_name(section: dict) -> str:
    """``config.vae._class_name``: ``CausalVideoAutoencoder`` (conv decoder) unless the file says otherwise."""
    return section.get("_class_name", CONV_VAE_CLASS)


def has_conv_decoder(section: dict) -> bool:
    return vae_class_name(section) == CONV_VAE_CLASS


def _common_problems(section: dict, dims=None) -> list[str]:
    problems = []
    dims = section.get("dims", 3) if dims is None else dims
    if dims != 3:
        problems.append(f"dims={dims!r} (supported: 3)")
    if section.get("norm_layer", "pixel_norm") != "pixel_norm":
        problems.append(f"norm_layer={section.get('norm_layer')!r} (supported: 'pixel_norm')")
    return problems


def _factors(blocks: tuple[Block, ...], strides: dict, patch_size: int) -> tuple[int, int]:
    time = math.prod(strides[b.name][0] for b in blocks)
    space = patch_size * math.prod(strides[b.name][1] for b in blocks)
    return time, space


@dataclass(frozen=True)
class EncoderConfig:
    """Video encoder: pixels (B, F, H, W, in_channels) -> normalized latent means (B, F', H', W', latent)."""

    blocks: tuple[Block, ...]
    in_channels: int = 3
    latent_channels: int = 128
    patch_size: int = 4
    latent_log_var: str = "uniform"
    spatial_padding_mode: str = "zeros"

    @property
    def scale_factors(self) -> tuple[int, int]:
        """(time, space): F = time*(F'-1) + 1, H = space*H'."""
        return _factors(self.blocks, ENCODER_STRIDES, self.patch_size)

    @classmethod
    def from_metadata(cls, section: dict) -> EncoderConfig:
        """Build from the ``vae`` section (flat, or nested with an ``encoder`` sub-section whose ``out_channels``
        is the latent width and ``blocks`` the block list); raise one ConfigError listing every problem."""
        if isinstance(section.get("encoder"), dict):
            encoder = section["encoder"]
            latent = encoder.get("out_channels", section.get("latent_channels", 128))
            raw_blocks, key = encoder.get("blocks", encoder.get("encoder_blocks")), "encoder.blocks"
            problems = _common_problems(encoder, encoder.get("dims", section.get("dims", 3)))
        else:
            encoder, latent = section, section.get("latent_channels", 128)
            raw_blocks, key = section.get("encoder_blocks"), "encoder_blocks"
            problems = _common_problems(section)
        blocks = _blocks(raw_blocks, key, ENCODER_STRIDES, problems)
        padding = encoder.get("spatial_padding_mode", section.get("encoder_spatial_padding_mode", "zeros"))
        config = cls(blocks=blocks, in_channels=encoder.get("in_channels", 3), latent_channels=latent,
                     patch_size=encoder.get("patch_size", 4),
                     latent_log_var=encoder.get("latent_log_var", "uniform"), spatial_padding_mode=padding)
        if config.latent_log_var not in LOG_VAR_EXTRA_CHANNELS:
            problems.append(f"latent_log_var={config.latent_log_var!r} (supported: {sorted(LOG_VAR_EXTRA_CHANNELS)})")
        if config.spatial_padding_mode not in PADDING_MODES:
            problems.append(f"spatial_padding_mode={config.spatial_padding_mode!r} (supported: {PADDING_MODES})")
        problems += config._channel_problems() if blocks else []
        if problems:
            raise ConfigError("checkpoint", "config.vae", "unsupported video encoder config: " + "; ".join(problems),
                              SUPPORTED)
        return config

    def block_channels(self) -> list[tuple[int, int]]:
        """(in, out) channels of every block; the encoder's width starts at ``latent_channels``."""
        channels = []
        width = self.latent_channels
        for block in self.blocks:
            grows = block.name in ("res_x_y", "compress_all_x_y") or block.name.endswith("_res")
            new = width * block.get("multiplier", 2) if grows else width
            channels.append((width, new))
            width = new
        return channels

    def _channel_problems(self) -> list[str]:
        problems = []
        for i, (block, (cin, cout)) in enumerate(zip(self.blocks, self.block_channels())):
            if block.name.endswith("_res"):
                volume = math.prod(ENCODER_STRIDES[block.name])
                if cout % volume or (cin * volume) % cout:
                    problems.append(f"encoder block {i} {block.name}: {cin}->{cout} channels is not a whole "
                                    f"space-to-depth regrouping of stride volume {volume}")
        return problems


@dataclass(frozen=True)
class DecoderConfig:
    """Video decoder: latent (B, F', H', W', latent) -> pixels (B, F, H, W, out_channels) in about [-1, 1]."""

    blocks: tuple[Block, ...]  # in checkpoint order; the decoder runs them reversed
    latent_channels: int = 128
    out_channels: int = 3
    patch_size: int = 4
    causal: bool = False
    timestep_conditioning: bool = True
    spatial_padding_mode: str = "reflect"
    base_channels: int = 128
    decode_timestep: float = 0.05
    decode_noise_scale: float = 0.025

    @property
    def scale_factors(self) -> tuple[int, int]:
        return _factors(self.blocks, DECODER_STRIDES, self.patch_size)

    @property
    def width(self) -> int:
        """Feature width after ``conv_in`` (the bottleneck): ``decoder_base_channels`` times the product of the
        upsampling blocks' channel multipliers, so the last block ends at ``decoder_base_channels``."""
        product = 1
        for block in self.blocks:
            if block.name.startswith("compress_"):
                product *= block.get("multiplier", 1)
            elif block.name == "res_x_y":
                product *= block.get("multiplier", 2)
        return self.base_channels * product

    @classmethod
    def from_metadata(cls, section: dict) -> DecoderConfig:
        if not has_conv_decoder(section):
            raise ConfigError("config.vae._class_name", vae_class_name(section),
                              f"config.vae._class_name {vae_class_name(section)!r} is the diffusion video decoder "
                              "(the LTX-2.5 default file), which comes with a later version of ltx2 (its encoder "
                              "loads, its decoder does not)",
                              f"point the model's video_vae file at the conv-decoder file {CONV_VAE_FILE} (class "
                              f"{CONV_VAE_CLASS})")
        problems = _common_problems(section)
        blocks = _blocks(section.get("decoder_blocks"), "decoder_blocks", DECODER_STRIDES, problems)
        config = cls(blocks=blocks, latent_channels=section.get("latent_channels", 128),
                     out_channels=section.get("out_channels", 3), patch_size=section.get("patch_size", 4),
                     causal=bool(section.get("causal_decoder", False)),
                     timestep_conditioning=bool(section.get("timestep_conditioning", True)),
                     spatial_padding_mode=section.get("spatial_padding_mode", "reflect"),
                     base_channels=section.get("decoder_base_channels", 128))
        if config.spatial_padding_mode not in PADDING_MODES:
            problems.append(f"spatial_padding_mode={config.spatial_padding_mode!r} (supported: {PADDING_MODES})")
        problems += config._channel_problems() if blocks else []
        if problems:
            raise ConfigError("checkpoint", "config.vae", "unsupported video decoder config: " + "; ".join(problems),
                              SUPPORTED)
        return config

    def block_channels(self) -> list[tuple[int, int]]:
        """(in, out) channels of every block in run order (reversed block list)."""
        channels = []
        width = self.width
        for block in reversed(self.blocks):
            if block.name == "res_x_y":
                new = width // block.get("multiplier", 2)
            elif block.name.startswith("compress_"):
                new = width // block.get("multiplier", 1)
            else:
                new = width
            channels.append((width, new))
            width = new
        return channels

    def _channel_problems(self) -> list[str]:
        problems = []
        for i, (block, (cin, _)) in enumerate(zip(reversed(self.blocks), self.block_channels())):
            mult = block.get("multiplier", 2 if block.name == "res_x_y" else 1)
            if block.name != "res_x" and cin % mult:
                problems.append(f"decoder up block {i} {block.name}: {cin} channels not divisible by multiplier {mult}")
        return problems
