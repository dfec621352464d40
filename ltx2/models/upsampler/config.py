"""Latent upsampler configuration, read from the flat ``config`` metadata of its own checkpoint file."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ltx2.errors import ConfigError

# spatial scale -> (upsample by, then blur-downsample by)
RATIONAL_SCALES = {0.75: (3, 4), 1.5: (3, 2), 2.0: (2, 1), 4.0: (4, 1)}
GROUP_NORM_GROUPS = 32


@dataclass(frozen=True)
class UpsamplerConfig:
    """Defaults are the official configurator's; the released x2 file has ``mid_channels`` 1024."""

    in_channels: int = 128
    mid_channels: int = 512
    num_blocks_per_stage: int = 4
    dims: int = 3
    spatial_upsample: bool = True
    temporal_upsample: bool = False
    spatial_scale: float = 2.0
    rational_resampler: bool = False

    @property
    def kind(self) -> str:
        if self.spatial_upsample and self.temporal_upsample:
            return "spatiotemporal"
        if self.temporal_upsample:
            return "temporal"
        return "rational" if self.rational_resampler else "spatial"

    @property
    def rational(self) -> tuple[int, int]:
        return RATIONAL_SCALES[float(self.spatial_scale)]

    @classmethod
    def from_metadata(cls, section: dict) -> UpsamplerConfig:
        """Build from the file's flat config; raise one ConfigError listing every problem."""
        known = {f.name for f in fields(cls)}
        config = cls(**{k: section[k] for k in known if k in section})
        problems = []
        if config.dims != 3:
            problems.append(f"dims={config.dims!r} (supported: 3, as the released upsamplers)")
        if not (config.spatial_upsample or config.temporal_upsample):
            problems.append("spatial_upsample and temporal_upsample are both false (one must be true)")
        if config.mid_channels % GROUP_NORM_GROUPS:
            problems.append(f"mid_channels={config.mid_channels} must be a multiple of {GROUP_NORM_GROUPS} "
                            "(GroupNorm groups)")
        if config.kind == "rational" and float(config.spatial_scale) not in RATIONAL_SCALES:
            problems.append(f"spatial_scale={config.spatial_scale!r} (supported: {sorted(RATIONAL_SCALES)})")
        if config.kind == "spatial" and float(config.spatial_scale) != 2.0:
            problems.append(f"spatial_scale={config.spatial_scale!r} without rational_resampler (only 2.0 is built "
                            "that way; set rational_resampler for other scales)")
        if problems:
            raise ConfigError("checkpoint", "config", "unsupported latent upsampler config: " + "; ".join(problems),
                              "use an official LTX-2 / LTX-2.3 latent upsampler file")
        return config
