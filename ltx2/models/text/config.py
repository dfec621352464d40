"""Text-stack configuration: the Gemma 3 language model (from the Gemma root's ``config.json``) and the
feature extractor + connectors (from the LTX checkpoint's ``config.transformer`` section)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ltx2.errors import ConfigError
from ltx2.models.transformer.rope import ROPE_TYPES

GEMMA_ROOT_FIX = ("set model.gemma_root to a Hugging Face Gemma 3 folder (config.json, model*.safetensors, "
                  "tokenizer files)")

# The reference's tokenizer length (LTXVGemmaTokenizer(root, 1024)) and its fixed register count.
MAX_TOKENS = 1024
NUM_REGISTERS = 128

# Keys whose presence selects the LTX-2.3 ("V2") feature extractor, with the only values it supports.
V2_KEYS = {
    "caption_proj_before_connector": True, "caption_projection_first_linear": False,
    "caption_proj_input_norm": False, "caption_projection_second_linear": False,
}


@dataclass(frozen=True)
class GemmaConfig:
    """Gemma 3 text model. Defaults are the Gemma-3-12B values the reference hard-codes
    (``GEMMA3_CONFIG_FOR_LTX``); a root's ``config.json`` overrides the entries it states."""

    hidden_size: int = 3840
    num_hidden_layers: int = 48
    intermediate_size: int = 15360
    num_attention_heads: int = 16
    num_key_value_heads: int = 8
    head_dim: int = 256
    rms_norm_eps: float = 1e-6
    vocab_size: int = 262208
    query_pre_attn_scalar: float = 256
    rope_theta: float = 1_000_000.0  # global (full-attention) layers
    rope_linear_factor: float = 8.0  # linear RoPE scaling of the global layers (1 = none)
    rope_local_base_freq: float = 10_000.0  # sliding-window layers
    sliding_window: int = 1024
    sliding_window_pattern: int = 6  # every 6th layer is global
    max_position_embeddings: int = 131072

    @property
    def num_hidden_states(self) -> int:
        """Embedding output + one per layer (the last one after the final norm)."""
        return self.num_hidden_layers + 1

    @classmethod
    def from_hf(cls, hf: dict) -> GemmaConfig:
        """From a Hugging Face ``config.json`` (multimodal ``Gemma3Config`` with ``text_config``, or text-only)."""
        text = dict(hf.get("text_config") or hf)
        if "vocab_size" not in text and "vocab_size" in hf:
            text["vocab_size"] = hf["vocab_size"]
        values = {f.name: text[f.name] for f in fields(cls) if f.name in text and text[f.name] is not None}
        values.update(_rope_values(text))
        act = text.get("hidden_activation") or text.get("hidden_act") or "gelu_pytorch_tanh"
        problems = [] if act == "gelu_pytorch_tanh" else [f"hidden_activation={act!r} (supported: 'gelu_pytorch_tanh')"]
        for key in ("attn_logit_softcapping", "final_logit_softcapping"):
            if text.get(key) is not None:
                problems.append(f"{key}={text[key]!r} (supported: null)")
        if text.get("attention_bias"):
            problems.append("attention_bias=True (supported: False)")
        if problems:
            raise ConfigError("model.gemma_root", "config.json", "unsupported Gemma config: " + "; ".join(problems),
                              "use a Gemma 3 text model folder")
        return cls(**values)

    def mlx_lm_args(self) -> dict:
        """Arguments of ``mlx_lm.models.gemma3_text.ModelArgs``."""
        scaling = {"rope_type": "linear", "factor": self.rope_linear_factor} if self.rope_linear_factor != 1 else None
        return dict(model_type="gemma3_text", hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
                    intermediate_size=self.intermediate_size, num_attention_heads=self.num_attention_heads,
                    num_key_value_heads=self.num_key_value_heads, head_dim=self.head_dim,
                    rms_norm_eps=self.rms_norm_eps, vocab_size=self.vocab_size, rope_theta=self.rope_theta,
                    rope_local_base_freq=self.rope_local_base_freq, query_pre_attn_scalar=self.query_pre_attn_scalar,
                    sliding_window=self.sliding_window, sliding_window_pattern=self.sliding_window_pattern,
                    max_position_embeddings=self.max_position_embeddings, rope_scaling=scaling)

    def to_hf(self) -> dict:
        """A text-only ``config.json`` (``Gemma3ForCausalLM``) describing this model."""
        linear = self.rope_linear_factor != 1
        rope_scaling = {"rope_type": "linear", "factor": self.rope_linear_factor} if linear else None
        return {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
                "hidden_size": self.hidden_size, "num_hidden_layers": self.num_hidden_layers,
                "intermediate_size": self.intermediate_size, "num_attention_heads": self.num_attention_heads,
                "num_key_value_heads": self.num_key_value_heads, "head_dim": self.head_dim,
                "rms_norm_eps": self.rms_norm_eps, "vocab_size": self.vocab_size,
                "query_pre_attn_scalar": self.query_pre_attn_scalar, "rope_theta": self.rope_theta,
                "rope_scaling": rope_scaling, "rope_local_base_freq": self.rope_local_base_freq,
                "sliding_window": self.sliding_window, "sliding_window_pattern": self.sliding_window_pattern,
                "max_position_embeddings": self.max_position_embeddings, "hidden_activation": "gelu_pytorch_tanh",
                "pad_token_id": 0, "eos_token_id": [1, 106], "bos_token_id": 2, "tie_word_embeddings": True,
                "torch_dtype": "float32"}


def _rope_values(text: dict) -> dict:
    """RoPE settings from either the transformers 4.x names (rope_theta, rope_scaling, rope_local_base_freq)
    or the 5.x ``rope_parameters`` {full_attention: {...}, sliding_attention: {...}}."""
    out = {}
    params = text.get("rope_parameters")
    if isinstance(params, dict) and "full_attention" in params:
        full, local = params.get("full_attention") or {}, params.get("sliding_attention") or {}
        if "rope_theta" in full:
            out["rope_theta"] = full["rope_theta"]
        if "rope_theta" in local:
            out["rope_local_base_freq"] = local["rope_theta"]
        scaling = full
    else:
        scaling = text.get("rope_scaling")
    if isinstance(scaling, dict):
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "linear":
            out["rope_linear_factor"] = float(scaling["factor"])
        elif kind == "default":
            out["rope_linear_factor"] = 1.0
        else:
            raise ConfigError("model.gemma_root", "config.json", f"unsupported Gemma rope scaling {kind!r} (supported: "
                              "'linear' or none)", "use a Gemma 3 text model folder")
    elif "rope_scaling" in text and scaling is None:
        out["rope_linear_factor"] = 1.0
    return out


@dataclass(frozen=True)
class ConnectorConfig:
    """One Embeddings1DConnector: ``num_layers`` pre-norm blocks of width ``heads * head_dim``."""

    heads: int
    head_dim: int
    num_layers: int
    gated: bool

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim


@dataclass(frozen=True)
class TextProcessorConfig:
    """Feature extractor + video/audio connectors, read from the checkpoint's ``transformer`` section.

    ``version`` is 1 (LTX-2: shared 3840-wide features, caption projection inside the transformer) or
    2 (LTX-2.3: per-token RMS features projected straight to the transformer's video/audio widths).
    """

    version: int
    video: ConnectorConfig
    audio: ConnectorConfig
    rope_type: str = "interleaved"
    float64_rope: bool = False
    rope_theta: float = 10000.0
    max_pos: tuple[int, ...] = (1,)
    video_features: int = 0  # V2: width of video_aggregate_embed's output (transformer video inner dim)
    audio_features: int = 0  # V2: audio inner dim

    @classmethod
    def from_metadata(cls, section: dict) -> TextProcessorConfig:
        """Build from the ``transformer`` section, with the reference configurators' defaults (which differ
        from the real headers: interleaved RoPE, float32 grid, max_pos [1])."""
        version = cls.version_of(section)

        def pick(audio: bool, key: str, default):
            value = section.get(f"connector_{key}", default)
            return section.get(f"audio_connector_{key}", value) if audio else value

        gated = bool(section.get("connector_apply_gated_attention", False))
        video, audio = (ConnectorConfig(pick(a, "num_attention_heads", 30), pick(a, "attention_head_dim", 128),
                                        pick(a, "num_layers", 2), gated) for a in (False, True))
        precision = section.get("frequencies_precision", False)
        config = cls(version=version, video=video, audio=audio, rope_type=section.get("rope_type", "interleaved"),
                     float64_rope=precision == "float64",
                     rope_theta=float(section.get("positional_embedding_theta", 10000.0)),
                     max_pos=tuple(section.get("connector_positional_embedding_max_pos", [1])),
                     video_features=section.get("num_attention_heads", 32) * section.get("attention_head_dim", 128)
                     if version == 2 else 0,
                     audio_features=section.get("audio_num_attention_heads", 32)
                     * section.get("audio_attention_head_dim", 64) if version == 2 else 0)
        problems = []
        if config.rope_type not in ROPE_TYPES:
            problems.append(f"rope_type={config.rope_type!r} (supported: {ROPE_TYPES})")
        if len(config.max_pos) != 1:
            problems.append(f"connector_positional_embedding_max_pos={list(config.max_pos)} needs exactly 1 axis")
        if version == 2 and (config.video.dim != config.video_features or config.audio.dim != config.audio_features):
            problems.append(f"LTX-2.3 connectors ({config.video.dim}, {config.audio.dim} wide) must match the "
                            f"transformer's inner dims ({config.video_features}, {config.audio_features})")
        if version == 1 and config.video.dim != config.audio.dim:
            problems.append(f"LTX-2 connectors share one feature width but are {config.video.dim} (video) and "
                            f"{config.audio.dim} (audio) wide")
        if problems:
            raise ConfigError("checkpoint", "config.transformer", "unsupported text connector config: "
                              + "; ".join(problems), "use an official LTX-2 / LTX-2.3 checkpoint")
        return config

    @staticmethod
    def version_of(section: dict) -> int:
        """1 (LTX-2) or 2 (LTX-2.3) from the caption_proj* keys, as the reference selects its feature extractor."""
        return _feature_extractor_version(section)


def _feature_extractor_version(section: dict) -> int:
    present = V2_KEYS.keys() & section.keys()
    if not present:
        return 1
    missing = sorted(V2_KEYS.keys() - present)
    wrong = [f"{k}={section[k]!r} (expected {V2_KEYS[k]!r})" for k in sorted(present) if section[k] != V2_KEYS[k]]
    if missing or wrong:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
        raise ConfigError("checkpoint", "config.transformer", "the transformer config is neither LTX-2 (none of the "
                          "caption_proj* keys) nor LTX-2.3 (all four with fixed values): " + "; ".join(problems),
                          "use an official LTX-2 / LTX-2.3 checkpoint")
    return 2
