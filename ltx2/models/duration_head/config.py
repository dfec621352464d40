"""Duration head configuration. As the official configurator: the input widths are the connectors' output widths
(``config.transformer.cross_attention_dim`` / ``audio_cross_attention_dim``, 4096 / 2048 when absent), the head's
own sizes come from ``config.duration_head`` (pooler 256, 1 query, 4 heads, MLP 256 when absent)."""

from __future__ import annotations

from dataclasses import dataclass

from ltx2.errors import ConfigError


@dataclass(frozen=True)
class DurationHeadConfig:
    video_dim: int = 4096
    audio_dim: int = 2048
    pooler_hidden_dim: int = 256
    num_queries: int = 1
    num_pooler_heads: int = 4
    mlp_hidden: int = 256

    @classmethod
    def from_metadata(cls, config: dict) -> DurationHeadConfig:
        """Build from the whole metadata ``config`` dict (it may have neither section); one ConfigError lists every
        problem."""
        transformer = config.get("transformer") if isinstance(config.get("transformer"), dict) else {}
        head = config.get("duration_head") if isinstance(config.get("duration_head"), dict) else {}
        values = {"video_dim": transformer.get("cross_attention_dim", 4096),
                  "audio_dim": transformer.get("audio_cross_attention_dim", 2048),
                  **{k: head.get(k, d) for k, d in (("pooler_hidden_dim", 256), ("num_queries", 1),
                                                     ("num_pooler_heads", 4), ("mlp_hidden", 256))}}
        problems = [f"{k}={v!r} (need a positive int)" for k, v in values.items()
                    if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        if not problems and values["pooler_hidden_dim"] % values["num_pooler_heads"]:
            problems.append(f"pooler_hidden_dim={values['pooler_hidden_dim']} is not a multiple of "
                            f"num_pooler_heads={values['num_pooler_heads']}")
        if problems:
            raise ConfigError("checkpoint", "config.duration_head", "unsupported duration head config: "
                              + "; ".join(problems), "use the official LTX-2.5 duration-head file")
        return cls(**values)
