"""Configuration of LTX-2.5's diffusion video decoder, read from the ``config.vae.decoder`` metadata of a
``CausalDiffusionVAE`` file (keys absent from the file take the official class defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ltx2.errors import ConfigError

Kernel = tuple[int, int, int]
DEFAULT_STAGE_CHANNELS = (1024, 512, 256, 256, 128)
DEFAULT_STAGE_DEPTHS = (4, 6, 4, 2, 8)
DEFAULT_STAGE_KERNELS: tuple[Kernel, ...] = ((3, 7, 7), (3, 7, 7), (3, 5, 5), (3, 5, 5), (3, 3, 3))
DEFAULT_UPSAMPLES: tuple[tuple[Kernel, int], ...] = (((1, 2, 2), 2), ((2, 1, 1), 2), ((2, 2, 2), 1),
                                                     ((2, 2, 2), 2))
SUPPORTED = "use the official LTX-2.5 video VAE file (ltx-2.5-video-vae) or its conv-decoder sibling"


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class DiffusionDecoderConfig:
    """Latent (B, F', H', W', in_channels) -> pixels (B, F, H, W, out_channels) by stages 1-4 (neighborhood-
    attention blocks + pixel-shuffle upsamples, deterministic) and stage 5 (a few Euler steps of a pixel-space
    diffusion model conditioned on the stage-4 output)."""

    in_channels: int = 128
    out_channels: int = 3
    patch_size: int = 4
    head_dim: int = 64
    t_emb_dim: int = 384
    num_steps: int = 2
    timestep_scale_multiplier: float = 1.0
    model_output_type: str = "v"
    stage_channels: tuple[int, ...] = DEFAULT_STAGE_CHANNELS
    stage_depths: tuple[int, ...] = DEFAULT_STAGE_DEPTHS
    stage_kernels: tuple[Kernel, ...] = DEFAULT_STAGE_KERNELS
    upsamples: tuple[tuple[Kernel, int], ...] = DEFAULT_UPSAMPLES
    stage5_kernel: Kernel = (3, 7, 7)
    stage5_channels: int | None = None

    @classmethod
    def from_metadata(cls, section: dict) -> DiffusionDecoderConfig:
        """From the ``vae`` section: decoder fields under ``vae.decoder`` (else ``vae`` itself),
        ``model_output_type`` beside it."""
        dec = section.get("decoder", section)
        if not isinstance(dec, dict):
            raise ConfigError("config.vae.decoder", dec, "must be a JSON object", SUPPORTED)
        arch = {}
        try:
            if "stage_channels" in dec:
                arch["stage_channels"] = tuple(int(c) for c in dec["stage_channels"])
            if "stage_depths" in dec:
                arch["stage_depths"] = tuple(int(d) for d in dec["stage_depths"])
            if "stage_kernels" in dec:
                arch["stage_kernels"] = tuple(tuple(int(k) for k in kernel) for kernel in dec["stage_kernels"])
            if "upsamples" in dec:
                arch["upsamples"] = tuple((tuple(int(s) for s in stride), int(r)) for stride, r in dec["upsamples"])
            if "stage5_kernel" in dec:
                arch["stage5_kernel"] = tuple(int(k) for k in dec["stage5_kernel"])
            if dec.get("stage5_channels") is not None:
                arch["stage5_channels"] = int(dec["stage5_channels"])
        except (TypeError, ValueError) as e:
            raise ConfigError("config.vae.decoder", "stage lists", f"malformed ({e})", SUPPORTED) from None
        config = cls(in_channels=dec.get("in_channels", section.get("latent_channels", 128)),
                     out_channels=dec.get("out_channels", 3), patch_size=dec.get("patch_size", 4),
                     head_dim=dec.get("head_dim", dec.get("na_head_dim", 64)), t_emb_dim=dec.get("t_emb_dim", 384),
                     num_steps=dec.get("default_num_inference_steps", 2),
                     timestep_scale_multiplier=float(dec.get("timestep_scale_multiplier", 1.0)),
                     model_output_type=section.get("model_output_type", "v"), **arch)
        config.check()
        return config

    def check(self) -> None:
        problems = []
        n = len(self.stage_channels)
        if not (n == len(self.stage_depths) == len(self.stage_kernels) == len(self.upsamples) + 1) or n != 5:
            problems.append(f"stage_channels/stage_depths/stage_kernels need 5 entries and upsamples 4 (got "
                            f"{n}/{len(self.stage_depths)}/{len(self.stage_kernels)}/{len(self.upsamples)})")
        for i, (_, reduction) in enumerate(self.upsamples if not problems else ()):
            if self.stage_channels[i] // reduction != self.stage_channels[i + 1]:
                problems.append(f"upsample {i} makes {self.stage_channels[i]}/{reduction} channels, stage {i + 1} "
                                f"has {self.stage_channels[i + 1]}")
        for c in (*self.stage_channels, self.stage5_dim):
            if self.head_dim % 8 or c % self.head_dim:
                problems.append(f"channels {c} must be a multiple of head_dim={self.head_dim} (itself of 8)")
                break
        if self.model_output_type != "v":
            problems.append(f"model_output_type={self.model_output_type!r} (supported: 'v')")
        if self.num_steps < 1:
            problems.append(f"default_num_inference_steps={self.num_steps} (need >= 1)")
        if problems:
            raise ConfigError("checkpoint", "config.vae.decoder",
                              "unsupported diffusion video decoder config: " + "; ".join(problems), SUPPORTED)

    @property
    def context_channels(self) -> int:
        """Width of the stage-4 output (the context stage 5 is conditioned on)."""
        return self.stage_channels[-1]

    @property
    def stage5_dim(self) -> int:
        return self.stage5_channels if self.stage5_channels is not None else self.context_channels

    @property
    def noised_channels(self) -> int:
        return self.out_channels * self.patch_size ** 2

    @property
    def scale_factors(self) -> tuple[int, int]:
        """(time, space): the official 8 and 32 (the decoder assumes the default 32x32x8 latent)."""
        time = math.prod(s[0] for s, _ in self.upsamples)
        space = math.prod(s[1] for s, _ in self.upsamples) * self.patch_size
        return time, space

    @property
    def timesteps(self) -> list[float]:
        """``linspace(1, 1/n, n)`` in float32 (n = 2: [1.0, 0.5])."""
        import numpy as np

        return [float(t) for t in np.linspace(1.0, 1.0 / self.num_steps, self.num_steps, dtype=np.float32)]

    @property
    def min_latent_shape(self) -> Kernel:
        """Smallest latent (T, H, W) for which every stage's attention sees at least its kernel."""
        cumulative, mins = [1, 1, 1], [1, 1, 1]
        for i, (stride, _) in enumerate(self.upsamples):
            for a in range(3):
                mins[a] = max(mins[a], _ceil_div(self.stage_kernels[i][a], cumulative[a]))
            cumulative = [cumulative[a] * stride[a] for a in range(3)]
        for a in range(3):
            mins[a] = max(mins[a], _ceil_div(self.stage5_kernel[a], cumulative[a]))
        return tuple(mins)

    @property
    def trailing_ghost_frames(self) -> int:
        """Copies of the last latent frame run through stages 1-4 (the NATTEN last-frame workaround)."""
        return (self.stage_kernels[0][0] // 2) * 2

    @property
    def tile_min_sizes(self) -> Kernel:
        """Smallest stage-4-input tile (T, H, W)."""
        stride = self.upsamples[3][0]
        return tuple(max(self.stage_kernels[3][a], _ceil_div(self.stage5_kernel[a], stride[a])) for a in range(3))

    @property
    def tile_halos(self) -> tuple[Kernel, Kernel]:
        """One-sided halos of stages 4 and 5 in stage-4-input units."""
        stride = self.upsamples[3][0]
        halo4 = tuple(self.stage_depths[3] * (self.stage_kernels[3][a] // 2) for a in range(3))
        halo5 = tuple(_ceil_div(self.stage_depths[4] * (self.stage5_kernel[a] // 2), stride[a]) for a in range(3))
        return halo4, halo5

    @property
    def stage4_pixel_scale(self) -> Kernel:
        """Pixels per stage-4-input cell along (T, H, W)."""
        st, sh, sw = self.upsamples[3][0]
        return st, sh * self.patch_size, sw * self.patch_size

    @property
    def min_tile_overlaps(self) -> tuple[int, int]:
        """Smallest (frames, pixels) tile overlaps the official tiled decode accepts."""
        halos = self.tile_halos
        pt, ph, _ = self.stage4_pixel_scale
        overlap_t = _ceil_div(max(h[0] for h in halos) * pt, 8) * 8
        overlap_hw = _ceil_div(max(max(h[1], h[2]) for h in halos) * ph, 32) * 32
        return overlap_t, overlap_hw
