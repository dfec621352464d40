"""Transformer configuration, read from the checkpoint's ``config.transformer`` metadata section."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ltx2.errors import ConfigError
from ltx2.models.transformer.rope import ROPE_TYPES

# Values the official configurator asserts; anything else is an architecture this code does not implement.
FIXED_VALUES = {
    "dropout": 0.0, "attention_bias": True, "num_vector_embeds": None, "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000, "use_linear_projection": False, "only_cross_attention": False,
    "cross_attention_norm": True, "double_self_attention": False, "upcast_attention": False,
    "standardization_norm": "rms_norm", "norm_elementwise_affine": False, "qk_norm": "rms_norm",
    "positional_embedding_type": "rope", "use_middle_indices_grid": True,
}
FIXED_AV_VALUES = {"use_audio_video_cross_attention": True, "share_ff": False, "av_cross_ada_norm": True}


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of an LTX-2 ("V1", 19B), LTX-2.3 or LTX-2.5 ("V2", 22B) transformer.

    Defaults are the official (ltx-core 1.2.0) code's defaults, which differ from the real checkpoints' headers
    (frequencies_precision, av_ca_timestep_scale_multiplier): always build from the header. LTX-2.5 adds
    ``ff_bias``/``audio_ff_bias`` (False: bias-free feed-forward linears), ``use_keyframes_abs_pos_embedding``
    (a learned (1, D) vector added to video tokens marked in ``Modality.keyframes_mask``) and
    ``use_prompt_adaln_single`` (False: the text K/V modulation is the static per-block table only).
    ``video=False`` is the audio-only model (1.2.0 ``LTXAudioOnlyModelConfigurator``, text-to-audio): the audio
    stream's layers only, no video or audio-video ones.
    """

    num_attention_heads: int = 32
    attention_head_dim: int = 128
    in_channels: int = 128
    out_channels: int = 128
    num_layers: int = 48
    cross_attention_dim: int = 4096
    caption_channels: int = 3840
    norm_eps: float = 1e-6
    audio: bool = True  # audio-video model; False: video only
    video: bool = True  # False: audio only (needs audio)
    audio_num_attention_heads: int = 32
    audio_attention_head_dim: int = 64
    audio_in_channels: int = 128
    audio_out_channels: int = 128
    audio_cross_attention_dim: int = 2048
    positional_embedding_theta: float = 10000.0
    positional_embedding_max_pos: tuple[int, ...] = (20, 2048, 2048)
    audio_positional_embedding_max_pos: tuple[int, ...] = (20,)
    timestep_scale_multiplier: float = 1000
    av_ca_timestep_scale_multiplier: float = 1
    rope_type: str = "split"
    frequencies_precision: str = "float32"
    apply_gated_attention: bool = False
    cross_attention_adaln: bool = False
    caption_proj_before_connector: bool = False
    ff_bias: bool = True
    audio_ff_bias: bool = True
    use_keyframes_abs_pos_embedding: bool = False
    use_prompt_adaln_single: bool = True
    connector_ff_bias: bool = True  # the text connectors stored beside the transformer (ltx2.models.text)

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def audio_inner_dim(self) -> int:
        return self.audio_num_attention_heads * self.audio_attention_head_dim

    @property
    def float64_rope(self) -> bool:
        return self.frequencies_precision == "float64"

    @property
    def adaln_coefficient(self) -> int:
        return 9 if self.cross_attention_adaln else 6

    @property
    def has_prompt_adaln(self) -> bool:
        """The per-step prompt AdaLN (``prompt_adaln_single``) exists: cross-attention AdaLN and not switched off."""
        return self.cross_attention_adaln and self.use_prompt_adaln_single

    @property
    def has_caption_projection(self) -> bool:
        return not self.caption_proj_before_connector

    @property
    def cross_pe_max_pos(self) -> int:
        return max(self.positional_embedding_max_pos[0], self.audio_positional_embedding_max_pos[0])

    @classmethod
    def from_metadata(cls, section: dict, audio: bool = True, video: bool = True) -> TransformerConfig:
        """Build from the ``transformer`` section; raise one ConfigError listing every problem. ``video=False``:
        the audio-only model of the same file (its audio-video checks do not apply)."""
        if not (audio or video):
            raise ValueError("a transformer needs audio or video (or both)")
        problems = [f"{k}={section.get(k)!r} (supported: {v!r})" for k, v in FIXED_VALUES.items()
                    if section.get(k) != v]
        if audio and video:
            problems += [f"{k}={section.get(k)!r} (supported: {v!r})" for k, v in FIXED_AV_VALUES.items()
                         if section.get(k) != v]
        known = {f.name for f in fields(cls)}
        values = {k: section[k] for k in known if k in section and k not in ("audio", "video")}
        for key in ("positional_embedding_max_pos", "audio_positional_embedding_max_pos"):
            if key in values:
                values[key] = tuple(values[key])
        if values.get("frequencies_precision") in (None, False):
            values["frequencies_precision"] = "float32"
        for key in ("apply_gated_attention", "cross_attention_adaln", "caption_proj_before_connector",
                    "use_keyframes_abs_pos_embedding"):
            values[key] = bool(values.get(key, False))
        for key in ("ff_bias", "audio_ff_bias", "use_prompt_adaln_single", "connector_ff_bias"):
            values[key] = bool(values.get(key, True))
        config = cls(audio=audio, video=video, **values)
        problems += config._consistency_problems()
        if problems:
            raise ConfigError("checkpoint", "config.transformer",
                              "unsupported transformer config: " + "; ".join(problems),
                              "use an official LTX-2 / LTX-2.3 / LTX-2.5 checkpoint")
        return config

    def _consistency_problems(self) -> list[str]:
        problems = []
        if self.rope_type not in ROPE_TYPES:
            problems.append(f"rope_type={self.rope_type!r} (supported: {ROPE_TYPES})")
        if self.frequencies_precision not in ("float32", "float64"):
            problems.append(f"frequencies_precision={self.frequencies_precision!r} (supported: 'float64' or absent)")
        if self.cross_attention_dim != self.inner_dim:
            problems.append(f"cross_attention_dim={self.cross_attention_dim} must equal heads*head_dim={self.inner_dim}")
        if len(self.positional_embedding_max_pos) != 3:
            problems.append(f"positional_embedding_max_pos={list(self.positional_embedding_max_pos)} needs 3 axes")
        if self.audio:
            if self.audio_cross_attention_dim != self.audio_inner_dim:
                problems.append(f"audio_cross_attention_dim={self.audio_cross_attention_dim} must equal "
                                f"audio heads*head_dim={self.audio_inner_dim}")
            if self.video and self.num_attention_heads != self.audio_num_attention_heads:  # 1.2.0's AV check
                problems.append("an audio-video transformer needs num_attention_heads == audio_num_attention_heads "
                                f"(got {self.num_attention_heads} and {self.audio_num_attention_heads})")
        return problems
