"""Vocoder configuration from the checkpoint's ``config.vocoder`` metadata section.

* LTX-2: a flat section -> one HiFi-GAN-style generator (``resblock "1"``, leaky ReLU), 24 kHz stereo.
* LTX-2.3: ``{"vocoder": {...}, "bwe": {...}}`` -> a BigVGAN-v2 generator (``resblock "AMP1"``, SnakeBeta) at
  ``bwe.input_sampling_rate`` plus the bandwidth-extension stage to ``bwe.output_sampling_rate`` (48 kHz).

Defaults are the official configurator's (used only for missing keys).
"""

from __future__ import annotations

from dataclasses import dataclass

from ltx2.errors import ConfigError

MEL_INPUT_CHANNELS = 128  # stereo x 64 mel bins: fixed by the official conv_pre


@dataclass(frozen=True)
class GeneratorConfig:
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    upsample_rates: tuple[int, ...] = (6, 5, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 15, 8, 4, 4)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_initial_channel: int = 1024
    resblock: str = "1"
    output_sampling_rate: int = 24000
    activation: str = "snake"
    use_tanh_at_final: bool = True
    apply_final_activation: bool = True
    use_bias_at_final: bool = True

    @property
    def amp(self) -> bool:
        return self.resblock == "AMP1"

    @property
    def upsampling(self) -> int:
        total = 1
        for rate in self.upsample_rates:
            total *= rate
        return total

    def channels(self, stage: int) -> int:
        """Width after upsample stage ``stage`` (stage -1: after conv_pre)."""
        return self.upsample_initial_channel // 2 ** (stage + 1)

    @classmethod
    def parse(cls, raw: dict, where: str, problems: list[str], resblock: str, activation: str | None = None,
              apply_final_activation: bool = True, output_sampling_rate: int | None = None) -> GeneratorConfig:
        if not isinstance(raw, dict):
            problems.append(f"{where} is {raw!r}, not a dict")
            return cls()
        if raw.get("resblock", "1") != resblock:
            problems.append(f"{where}.resblock={raw.get('resblock', '1')!r} (supported here: {resblock!r})")
        if raw.get("stereo") is not True:
            problems.append(f"{where}.stereo={raw.get('stereo')!r} (supported: true)")
        if activation is not None and raw.get("activation", "snake") != activation:
            problems.append(f"{where}.activation={raw.get('activation', 'snake')!r} (supported: {activation!r})")
        config = cls(
            resblock_kernel_sizes=tuple(raw.get("resblock_kernel_sizes", (3, 7, 11))),
            upsample_rates=tuple(raw.get("upsample_rates", (6, 5, 2, 2, 2))),
            upsample_kernel_sizes=tuple(raw.get("upsample_kernel_sizes", (16, 15, 8, 4, 4))),
            resblock_dilation_sizes=tuple(tuple(d) for d in raw.get("resblock_dilation_sizes",
                                                                    ((1, 3, 5), (1, 3, 5), (1, 3, 5)))),
            upsample_initial_channel=raw.get("upsample_initial_channel", 1024), resblock=resblock,
            output_sampling_rate=(output_sampling_rate if output_sampling_rate is not None
                                  else raw.get("output_sampling_rate", 24000)),
            activation=raw.get("activation", "snake"), use_tanh_at_final=bool(raw.get("use_tanh_at_final", True)),
            apply_final_activation=apply_final_activation, use_bias_at_final=bool(raw.get("use_bias_at_final", True)))
        if len(config.upsample_rates) != len(config.upsample_kernel_sizes) or not config.upsample_rates:
            problems.append(f"{where}: upsample_rates {list(config.upsample_rates)} and upsample_kernel_sizes "
                            f"{list(config.upsample_kernel_sizes)} need the same non-zero length")
        if len(config.resblock_kernel_sizes) != len(config.resblock_dilation_sizes):
            problems.append(f"{where}: resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if any(len(d) != 3 for d in config.resblock_dilation_sizes):
            problems.append(f"{where}: every resblock_dilation_sizes entry needs 3 dilations")
        if any(k % 2 == 0 for k in config.resblock_kernel_sizes):
            problems.append(f"{where}: resblock_kernel_sizes {list(config.resblock_kernel_sizes)} must be odd")
        if config.upsample_initial_channel % 2 ** len(config.upsample_rates):
            problems.append(f"{where}: upsample_initial_channel {config.upsample_initial_channel} is not divisible "
                            f"by 2^{len(config.upsample_rates)}")
        return config


@dataclass(frozen=True)
class BWEConfig:
    generator: GeneratorConfig
    input_sampling_rate: int = 16000
    output_sampling_rate: int = 48000
    hop_length: int = 80
    n_fft: int = 512
    num_mels: int = 64


@dataclass(frozen=True)
class VocoderConfig:
    """The main generator, and the bandwidth extension when the checkpoint has one."""

    generator: GeneratorConfig
    bwe: BWEConfig | None = None

    @property
    def output_sampling_rate(self) -> int:
        return self.bwe.output_sampling_rate if self.bwe else self.generator.output_sampling_rate

    @property
    def kind(self) -> str:
        return "bigvgan-v2+bwe" if self.bwe else "hifigan"

    @classmethod
    def from_metadata(cls, section: dict) -> VocoderConfig:
        """Build from the ``vocoder`` section; raise one ConfigError listing every problem."""
        if not isinstance(section, dict):
            raise ConfigError("checkpoint", "config.vocoder", f"the vocoder section is {type(section).__name__}, "
                              "not a dict", "use an official LTX-2 / LTX-2.3 checkpoint")
        problems: list[str] = []
        if "bwe" not in section:
            config = cls(GeneratorConfig.parse(section, "vocoder", problems, "1"))
        else:
            bwe = section["bwe"] if isinstance(section["bwe"], dict) else {}
            missing = [k for k in ("input_sampling_rate", "output_sampling_rate", "hop_length", "n_fft", "num_mels")
                       if k not in bwe]
            if missing:
                problems.append(f"vocoder.bwe lacks {missing}")
                bwe = {**bwe, **{k: getattr(BWEConfig, k) for k in missing}}
            main = GeneratorConfig.parse(section.get("vocoder", {}), "vocoder.vocoder", problems, "AMP1",
                                         "snakebeta", output_sampling_rate=bwe["input_sampling_rate"])
            gen = GeneratorConfig.parse(bwe, "vocoder.bwe", problems, "AMP1", "snakebeta",
                                        apply_final_activation=False, output_sampling_rate=bwe["output_sampling_rate"])
            config = cls(main, BWEConfig(gen, bwe["input_sampling_rate"], bwe["output_sampling_rate"],
                                         bwe["hop_length"], bwe["n_fft"], bwe["num_mels"]))
            if bwe["num_mels"] * 2 != MEL_INPUT_CHANNELS:
                problems.append(f"vocoder.bwe.num_mels={bwe['num_mels']} (the generator input is fixed at "
                                f"{MEL_INPUT_CHANNELS} = 2 x 64)")
            ratio = bwe["output_sampling_rate"] / bwe["input_sampling_rate"]
            if ratio != int(ratio) or gen.upsampling != bwe["hop_length"] * int(ratio):
                problems.append(f"vocoder.bwe: {bwe['input_sampling_rate']} -> {bwe['output_sampling_rate']} Hz is "
                                f"not an integer ratio matching upsample_rates x{gen.upsampling} / hop "
                                f"{bwe['hop_length']}")
        if problems:
            raise ConfigError("checkpoint", "config.vocoder", "unsupported vocoder config: " + "; ".join(problems),
                              "use an official LTX-2 / LTX-2.3 checkpoint")
        return config
