"""Audio VAE configuration, read from the checkpoint's ``config.audio_vae`` metadata section
(``model.params.ddconfig`` for the network, ``model.params.sampling_rate`` and ``preprocessing`` for the mel
front end).

Defaults are the official configurator's; they matter only when a key is missing. Note that its attention
defaults (``attn_resolutions`` {8, 16, 32}, ``mid_block_add_attention`` True) differ from the real LTX-2 / LTX-2.3
metadata (none), which is why the section is always parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltx2.errors import ConfigError

# causality axis -> (top, bottom, left, right) zero padding of a 3x3 convolution, of the stride-2 downsample,
# and the axis whose first row the upsample drops (1: time, 2: mel, None: nothing). Time is "height".
CAUSALITY = {
    "height": {"conv": (2, 0, 1, 1), "down": (2, 0, 0, 1), "drop": 1},
    "none": {"conv": (1, 1, 1, 1), "down": (0, 1, 0, 1), "drop": None},
    "width": {"conv": (1, 1, 2, 0), "down": (0, 1, 2, 0), "drop": 2},
    "width-compatibility": {"conv": (1, 1, 2, 0), "down": (0, 1, 1, 0), "drop": None},
}
PIXEL_NORM_EPS = 1e-6
LATENT_DOWNSAMPLE = 4  # the decoder's target length assumes a x4 time compression (official constant)


@dataclass(frozen=True)
class AudioVAEConfig:
    """Both halves of the audio VAE: log-mel (B, T, M, in_channels) <-> latent (B, T', M', z_channels)."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (8, 16, 32)
    resolution: int = 256
    z_channels: int = 8
    double_z: bool = True
    in_channels: int = 2
    out_ch: int = 2
    mel_bins: int = 64
    mid_block_add_attention: bool = True
    causality_axis: str = "height"
    attn_type: str = "vanilla"
    # mel front end (used only when encoding a waveform)
    sample_rate: int = 16000
    hop_length: int = 160
    n_fft: int = 1024

    @property
    def levels(self) -> int:
        return len(self.ch_mult)

    @property
    def latent_mel_bins(self) -> int:
        return self.mel_bins // 2 ** (self.levels - 1)

    @property
    def stats_size(self) -> int:
        """Length of the latent statistics: they index the (channel, mel bin)-flattened latent features."""
        return self.z_channels * self.latent_mel_bins

    @property
    def causal(self) -> bool:
        return self.causality_axis != "none"

    @property
    def latent_rate(self) -> float:
        """Latent frames per second (25 for the real model: 16 kHz, hop 160, x4)."""
        return self.sample_rate / self.hop_length / LATENT_DOWNSAMPLE

    def has_attention(self, resolution: int) -> bool:
        return self.attn_type == "vanilla" and resolution in self.attn_resolutions

    @classmethod
    def from_metadata(cls, section: dict) -> AudioVAEConfig:
        """Build from the ``audio_vae`` section; raise one ConfigError listing every problem."""
        if not isinstance(section, dict):
            raise ConfigError("checkpoint", "config.audio_vae", f"the audio_vae section is {type(section).__name__}, "
                              "not a dict", "use an official LTX-2 / LTX-2.3 checkpoint")
        params = section.get("model", {}).get("params", {})
        dd = params.get("ddconfig", {})
        pre = section.get("preprocessing", {})
        stft, mel = pre.get("stft", {}), pre.get("mel", {})
        problems = []
        mel_bins = dd.get("mel_bins") or mel.get("n_mel_channels") or section.get("variables", {}).get("mel_bins")
        if not isinstance(mel_bins, int) or mel_bins <= 0:
            problems.append(f"mel_bins={mel_bins!r} (need a positive int in model.params.ddconfig.mel_bins or "
                            "preprocessing.mel.n_mel_channels)")
            mel_bins = 64
        causality = dd.get("causality_axis", "height")
        causality = "none" if causality is None else causality
        if causality not in CAUSALITY:
            problems.append(f"causality_axis={causality!r} (supported: {sorted(CAUSALITY)})")
        if dd.get("norm_type", "pixel") != "pixel":
            problems.append(f"norm_type={dd.get('norm_type')!r} (supported: 'pixel'; the official code rejects "
                            "group norm with a causal axis)")
        if dd.get("attn_type", "vanilla") not in ("vanilla", "none"):
            problems.append(f"attn_type={dd.get('attn_type')!r} (supported: 'vanilla', 'none')")
        if dd.get("resamp_with_conv", True) is not True:
            problems.append("resamp_with_conv=False (only the strided-convolution downsample is supported)")
        ch_mult = tuple(dd.get("ch_mult", (1, 2, 4)))
        if not ch_mult or not all(isinstance(m, int) and m > 0 for m in ch_mult):
            problems.append(f"ch_mult={list(ch_mult)!r} (need a non-empty list of positive ints)")
            ch_mult = (1,)
        config = cls(ch=dd.get("ch", 128), ch_mult=ch_mult, num_res_blocks=dd.get("num_res_blocks", 2),
                     attn_resolutions=tuple(dd.get("attn_resolutions", (8, 16, 32))),
                     resolution=dd.get("resolution", 256), z_channels=dd.get("z_channels", 8),
                     double_z=bool(dd.get("double_z", True)), in_channels=dd.get("in_channels", 2),
                     out_ch=dd.get("out_ch", 2), mel_bins=mel_bins,
                     mid_block_add_attention=bool(dd.get("mid_block_add_attention", True)),
                     causality_axis=causality, attn_type=dd.get("attn_type", "vanilla"),
                     sample_rate=params.get("sampling_rate", 16000), hop_length=stft.get("hop_length", 160),
                     n_fft=stft.get("filter_length", 1024))
        if config.levels != 3:
            problems.append(f"ch_mult has {config.levels} levels (the official decoder assumes x4 = 3 levels)")
        elif mel_bins % 4:
            problems.append(f"mel_bins={mel_bins} is not divisible by 4 (two stride-2 downsamples)")
        if not problems and config.ch != config.stats_size:
            problems.append(f"ch={config.ch} but the latent statistics index z_channels*mel_bins/4 = "
                            f"{config.stats_size} features (the official code sizes them by ch, so both must agree)")
        if problems:
            raise ConfigError("checkpoint", "config.audio_vae", "unsupported audio VAE config: " + "; ".join(problems),
                              "use an official LTX-2 / LTX-2.3 checkpoint")
        return config
