"""The ``model`` config group: the files of one LTX-2 model and the networks built from them.

Networks are built on first use and kept in a process-wide cache keyed on the file identity and dtype, so that
the jobs of a sweep (Hydra's basic launcher runs them in one process) reuse warm weights. LoRAs are fused onto a
copy of the cached base transformer that shares every untouched weight with it: changing a LoRA's strength
re-fuses the LoRA (reading only the LoRA file), it never reloads the base weights. Only the latest fused copy is
kept. ``STATS`` counts what this process loaded and encoded (run records carry the per-job increments).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltx2.loading.checkpoint import Checkpoint
from ltx2.loading.warm_cache import _CACHE, _LOCK, STATS, _identity, cached, cached_kinds, clear_cache, stats  # noqa: F401

log = logging.getLogger(__name__)

def _fused_copy(base, loras, checkpoint: str, dtype: str) -> Any:
    """A transformer sharing ``base``'s weight arrays, with ``loras`` fused into its own copies of the weights they
    touch (MLX arrays are immutable: fusing replaces arrays in the copy, the base is untouched). A quantized base
    gets the LoRAs fused into the checkpoint's full-precision weights, then quantized (read from ``checkpoint``)."""
    from ltx2.loading.lora import fuse_loras

    log.info("fusing %d LoRA(s) onto the cached base transformer: %s", len(loras),
             ", ".join(f"{Path(p).name}@{s:g}" for p, s in loras))
    STATS["fuse:transformer"] += 1
    if getattr(base, "block_source", None) is not None:  # streamed, or pre-quantized: fused per block as read
        from ltx2.loading.streamed_transformer import fused_copy

        return fused_copy(base, loras)
    if getattr(base, "quantization", None) is not None:
        from ltx2.loading.checkpoint import resolve_dtype
        from ltx2.models.transformer.load import full_precision_weights
        from ltx2.models.transformer.quantize import fused_quantized_copy

        full = full_precision_weights(checkpoint, base.config.audio, base.config.video)
        return fused_quantized_copy(base, loras, full, resolve_dtype(dtype))
    copy = type(base)(base.config)
    copy.update(base.parameters())  # the fresh layers' random init is lazy and never evaluated
    copy.eval()
    fuse_loras(copy, loras)
    return copy


# The files a one-file-per-component model (LTX-2.5) names, each under ``model.<component>``; spatial_upsampler
# and distilled_lora are also set by single-file models.
VIDEO_DECODERS = ("diffusion", "conv")  # model.video_decoder: LTX-2.5's default file's, the conv VAE's
SPLIT_COMPONENTS = ("transformer", "text_encoder", "video_vae", "audio_vae", "temporal_upsampler", "duration_head")


@dataclass(init=False)
class ModelSet:
    """Files of a model (mirroring the official CLI's flags) and lazy accessors for its networks.

    Either one ``checkpoint`` (LTX-2 / LTX-2.3: transformer, VAEs and vocoder in one file) or one file per
    component (``transformer=``, ``text_encoder=``, ``video_vae=``, ``audio_vae=``, ``temporal_upsampler=``,
    ``duration_head=``: LTX-2.5), plus ``spatial_upsampler`` and ``distilled_lora``; a component's own file
    replaces the checkpoint's. ``version`` ("2.5"): the model version a preset is, files of another are refused."""

    name: str
    checkpoint: str | None = None
    gemma_root: str | None = None
    spatial_upsampler: str | None = None
    distilled_lora: str | None = None
    dtype: str = "bfloat16"
    tiny: bool = False
    suggested: dict = field(default_factory=dict)
    loras: tuple[tuple[str, float], ...] = ()
    quantize: int | None = None  # transformer weights: None (dtype), 8 or 4 bits (MLX affine)
    quantize_group_size: int = 64
    version: str | None = None
    component_files: dict = field(default_factory=dict)  # component of SPLIT_COMPONENTS -> its file
    # transformer blocks and Gemma layers: none (in memory), disk (streamed per forward), auto (each decided from its
    # own weights and the available memory: ltx2.loading.streaming, ltx2.loading.streamed_text)
    offload: str = "none"
    requested_decoder: str | None = None  # model.video_decoder: None (the file's decoder), diffusion or conv
    prompt_enhancer: str | None = None  # a generative Gemma folder for text.enhance_prompt (LTX-2.5 needs one)

    def __init__(self, name: str, checkpoint: str | None = None, gemma_root: str | None = None,
                 spatial_upsampler: str | None = None, distilled_lora: str | None = None, dtype: str = "bfloat16",
                 tiny: bool = False, suggested: dict | None = None, loras=(), quantize: int | None = None,
                 quantize_group_size: int = 64, version: str | None = None, offload: str = "none",
                 video_decoder: str | None = None, prompt_enhancer: str | None = None,
                 **component_files: str | None):
        # (an explicit __init__: model.transformer / model.text_encoder are files here, and methods below)
        unknown = sorted(set(component_files) - set(SPLIT_COMPONENTS))
        if unknown:
            raise TypeError(f"ModelSet got unexpected keys {unknown} (files: {', '.join(SPLIT_COMPONENTS)})")
        self.name, self.checkpoint, self.gemma_root = name, checkpoint, gemma_root
        self.spatial_upsampler, self.distilled_lora, self.dtype, self.tiny = spatial_upsampler, distilled_lora, dtype, tiny
        self.suggested = dict(suggested or {})
        self.loras = loras
        self.quantize, self.quantize_group_size = quantize, quantize_group_size
        self.version = None if version is None else str(version)
        self.offload = offload
        self.requested_decoder = video_decoder
        self.prompt_enhancer = prompt_enhancer
        self.component_files = {c: p for c, p in component_files.items() if p}
        self.__post_init__()

    def __post_init__(self):
        from ltx2.errors import ConfigError
        from ltx2.loading.streaming import check_offload
        from ltx2.models.transformer.quantize import check_quantization

        self.loras = tuple((str(path), float(strength)) for path, strength in self.loras)
        check_quantization(self.quantize, self.quantize_group_size)
        if not self.checkpoint and not self.component_files.get("transformer"):
            raise ConfigError("model.checkpoint", None, "a model needs its weight files: model.checkpoint (one file, "
                              "LTX-2 / LTX-2.3) or model.transformer and the other component files (LTX-2.5)",
                              "choose a model preset (model=ltx2_3_22b_dev, model=ltx2_5_22b_dev, ...) or set "
                              "model.checkpoint=/path/to/file.safetensors")
        check_offload(self.offload)
        if self.requested_decoder not in (None, *VIDEO_DECODERS):
            raise ConfigError("model.video_decoder", self.requested_decoder,
                              f"must be one of {', '.join(VIDEO_DECODERS)} or null (the decoder the video-VAE file "
                              "carries)", "model.video_decoder=null")

    @property
    def files(self) -> Checkpoint:
        """The model's weight files by component (the single-file checkpoint and/or each component's own file, plus
        the spatial upsampler)."""
        return Checkpoint.from_files(self.checkpoint, spatial_upsampler=self.spatial_upsampler, **self.component_files)

    def file_keys(self) -> dict[str, str]:
        """component -> the config key that names its file (``model.checkpoint`` for the single file's transformer)."""
        keys = {} if not self.checkpoint else {"transformer": "model.checkpoint"}
        keys.update({c: f"model.{c}" for c in self.component_files})
        if self.spatial_upsampler:
            keys["spatial_upsampler"] = "model.spatial_upsampler"
        return keys

    def resolve_files(self, need_upsampler: bool = False, need_distilled_lora: bool = False,
                      need_enhancer: bool = False) -> None:
        """hf:// references -> files in the local Hugging Face cache (ltx2.loading.hub). The checkpoint (or the
        transformer, video VAE and text encoder files) and Gemma (and the upsampler / distilled LoRA when the
        pipeline needs them) must be there; others are resolved when present. Then the files present are checked
        from their headers (right component, right model version, matching Gemma build), before any loading."""
        from ltx2.loading.hub import resolve

        self.checkpoint = resolve("model.checkpoint", self.checkpoint, self.name)
        self.gemma_root = resolve("model.gemma_root", self.gemma_root, self.name)
        for component, value in list(self.component_files.items()):
            self.component_files[component] = resolve(f"model.{component}", value, self.name,
                                                      required=component in ("transformer", "text_encoder",
                                                                             "video_vae"))
        self.spatial_upsampler = resolve("model.spatial_upsampler", self.spatial_upsampler, self.name,
                                         required=need_upsampler)
        self.distilled_lora = resolve("model.distilled_lora", self.distilled_lora, self.name,
                                      required=need_distilled_lora)
        self.prompt_enhancer = resolve("model.prompt_enhancer", self.prompt_enhancer, self.name, required=need_enhancer)
        if need_enhancer:
            self.check_enhancer()
        self.check_files()

    def check_enhancer(self) -> None:
        """text.enhance_prompt: LTX-2.5 needs model.prompt_enhancer, a generative Gemma folder (ConfigError)."""
        from ltx2.models.text.enhancer import enhancer_family, unified_cannot_enhance

        if not self.prompt_enhancer:
            if self.component_files.get("text_encoder"):
                raise unified_cannot_enhance(self.component_files["text_encoder"])
            return
        if not (self.tiny and not Path(self.prompt_enhancer).exists()):  # (a tiny one is written on first use)
            enhancer_family(self.prompt_enhancer)

    def check_files(self) -> None:
        """Each named file on disk holds its component and fits this model (ltx2.loading.file_kinds)."""
        self.files.check_files(self.file_keys(), self.version, self.name)

    def ensure_files(self, seed: int = 0) -> None:
        """``tiny``: write the tiny official-format files on first use (no download)."""
        if not self.tiny:
            return
        from ltx2.tiny.checkpoint import write_tiny_files
        from ltx2.tiny.ltx25_model import write_tiny_ltx25_model

        needed = [self.checkpoint, self.gemma_root, self.spatial_upsampler, self.distilled_lora,
                  *self.component_files.values()]
        folder = Path(next(p for p in needed if p)).parent
        if self.prompt_enhancer and not Path(self.prompt_enhancer).exists():
            from ltx2.tiny.gemma4_dense import write_tiny_gemma4_dense_root

            write_tiny_gemma4_dense_root(self.prompt_enhancer, seed)
        if not all(p is None or Path(p).exists() for p in needed):
            log.info("building the tiny model files in %s", folder)
            # one-file LTX-2 / 2.3 (model=tiny) or one file per component (model=tiny25)
            (write_tiny_ltx25_model if self.component_files.get("transformer") else write_tiny_files)(folder, seed)

    # -- networks -------------------------------------------------------------------------------------------------
    def transformer(self, extra_loras: tuple[tuple[str, float], ...] = (), include_selected: bool = True,
                    audio_only: bool = False):
        """X0 model (velocity model wrapped to return denoised latents), LoRAs fused: the selected ones (not with
        ``include_selected=False``: IC-LoRA's stage 2), then ``extra_loras`` (a pipeline's own, e.g. the distilled
        LoRA of a refinement stage). ``audio_only``: the audio stream's layers only, video weights never read
        (text-to-audio)."""
        from ltx2.loading.streamed_transformer import load_offloaded_transformer
        from ltx2.loading.streaming import file_quantization
        from ltx2.models.transformer import X0Model
        from ltx2.models.transformer.load import load_transformer

        quantization = None if self.quantize is None else (self.quantize, self.quantize_group_size)
        path = self.files.path("transformer")
        streamed = self.resolved_offload() == "disk"
        base_key = (("transformer", _identity(path), self.dtype, quantization) + (("disk",) if streamed else ())
                    + (("audio_only",) if audio_only else ()))
        video = not audio_only
        if streamed or file_quantization(path) is not None:
            build = lambda: load_offloaded_transformer(path, self.dtype, self.quantize,  # noqa: E731
                                                       self.quantize_group_size, self.resolved_offload(),
                                                       video=video)
        else:
            build = lambda: load_transformer(path, self.dtype, quantize=self.quantize,  # noqa: E731
                                             group_size=self.quantize_group_size, video=video)
        base = cached(base_key, build)
        extra = tuple((str(path), float(strength)) for path, strength in extra_loras)
        selected = (self.loras if include_selected else ()) + extra
        if not selected:
            return X0Model(base)
        loras = tuple((path, _identity(path), strength) for path, strength in selected)
        with _LOCK:
            held = _CACHE.get(("transformer+lora",))
            if held is None or held[0] != (base_key, loras):
                _CACHE.pop(("transformer+lora",), None)  # one fused copy at a time
                held = ((base_key, loras), _fused_copy(base, selected, self.files.path("transformer"), self.dtype))
                _CACHE[("transformer+lora",)] = held
            return X0Model(held[1])

    def resolved_offload(self) -> str:
        """``none`` or ``disk`` (``auto`` decided once from the transformer's size and the available memory)."""
        if self.offload == "auto" and getattr(self, "_auto_offload", None) is None:
            from ltx2.loading.streaming import resolve_offload

            self._auto_offload = resolve_offload("auto", self.files.path("transformer"), self.dtype, self.quantize)
        return self._auto_offload if self.offload == "auto" else self.offload

    def video_encoder(self):
        from ltx2.models.video_vae.load import load_video_encoder

        path = self.files.path("video_vae")
        return cached(("video_encoder", _identity(path), self.dtype), lambda: load_video_encoder(path, self.dtype))

    def video_decoder_config(self):
        """The video decoder's configuration from the video-VAE file's header (``DecoderConfig`` or
        ``DiffusionDecoderConfig``); no tensor read."""
        from ltx2.models.video_vae.load import decoder_config

        return decoder_config(self.files.path("video_vae"))

    def check_video_decoder(self) -> None:
        """``model.video_decoder``, when set, names the decoder the video-VAE file carries: 1.2.0 picks the decoder
        from the file's metadata (``config.vae._class_name``), and a file carries one decoder."""
        from ltx2.errors import ConfigError
        from ltx2.models.video_vae.load import is_diffusion_video_vae

        if self.requested_decoder is None:
            return
        path = self.files.path("video_vae")
        carried = "diffusion" if is_diffusion_video_vae(path) else "conv"
        if carried == self.requested_decoder:
            return
        key = self.file_keys().get("video_vae", "model.checkpoint")
        if self.requested_decoder == "conv":
            fix = ("set model.video_vae to the conv-decoder file (LTX-2.5: ltx-2.5-video-vae-conv-bf16.safetensors) "
                   "or model.video_decoder=null")
        elif self.version == "2.5" or "video_vae" in self.component_files:
            fix = ("set model.video_vae to LTX-2.5's diffusion-decoder file (ltx-2.5-video-vae-bf16.safetensors) or "
                   "model.video_decoder=null")
        else:
            fix = "the diffusion decoder is LTX-2.5's (model=ltx2_5_22b_*): use model.video_decoder=null here"
        raise ConfigError("model.video_decoder", self.requested_decoder,
                          f"the video-VAE file ({key}={path}) carries the {carried} decoder only (the decoder is "
                          "chosen from the file's metadata, config.vae._class_name)", fix)

    def video_decoder(self):
        from ltx2.models.video_vae.load import load_video_decoder

        path = self.files.path("video_vae")
        return cached(("video_decoder", _identity(path), self.dtype), lambda: load_video_decoder(path, self.dtype))

    def has_audio(self) -> bool:
        """Whether the checkpoint carries an audio VAE decoder and a vocoder (audio-video model)."""
        from ltx2.models.audio_vae.load import has_audio_vae
        from ltx2.models.vocoder.load import PREFIX as VOCODER_PREFIX

        files = self.files
        return (files.has("audio_vae") and has_audio_vae(files.path("audio_vae")) and files.has("vocoder")
                and bool(files.header("vocoder").keys_with_prefix(VOCODER_PREFIX)))

    def audio_encoder(self):
        from ltx2.models.audio_vae.load import load_audio_encoder

        path = self.files.path("audio_vae")
        return cached(("audio_encoder", _identity(path), self.dtype), lambda: load_audio_encoder(path, self.dtype))

    def audio_decoder(self):
        from ltx2.models.audio_vae.load import load_audio_decoder

        path = self.files.path("audio_vae")
        return cached(("audio_decoder", _identity(path), self.dtype), lambda: load_audio_decoder(path, self.dtype))

    def vocoder(self):
        """Float32 always: the vocoder is small and bf16 costs ~1e-3 of waveform accuracy."""
        from ltx2.models.vocoder.load import load_vocoder

        path = self.files.path("vocoder")
        return cached(("vocoder", _identity(path)), lambda: load_vocoder(path, "float32"))

    def upsampler(self):
        from ltx2.models.upsampler.load import load_upsampler

        if not self.spatial_upsampler:
            raise ValueError(f"model {self.name} has no spatial upsampler: set model.spatial_upsampler=/path/to/file")
        path = self.files.path("spatial_upsampler")
        return cached(("upsampler", _identity(path), self.dtype), lambda: load_upsampler(path, self.dtype))

    def text_encoder(self, quantize_bits: int | None = None):
        """Text encoder (Gemma + embeddings processor). Not cached: it frees itself after encoding. The model's
        text-encoder file when it has one (LTX-2.5: Gemma 4), else its Gemma 3 root (LTX-2 / LTX-2.3)."""
        from ltx2.models.text.encoder import TextEncoder

        gemma = self.text_gemma()
        if not gemma:
            raise ValueError(f"model {self.name} has no text encoder: set model.gemma_root=/path/to/gemma-3-12b-it "
                             "(LTX-2 / LTX-2.3) or the LTX-2.5 text-encoder file")
        load = None
        if self.resolved_text_offload(quantize_bits) == "disk":
            from ltx2.loading.streamed_text import load_text_gemma as load
        return TextEncoder(gemma, self.files.path("transformer"), self.dtype, quantize_bits=quantize_bits, load=load,
                           enhancer=self.prompt_enhancer)

    def text_gemma(self) -> str | None:
        """The Gemma the text encoder reads: the model's text-encoder file (LTX-2.5), else its Gemma 3 root."""
        return self.files.path("text_encoder") if self.files.has("text_encoder") else self.gemma_root

    def resolved_text_offload(self, quantize_bits: int | None = None) -> str:
        """``none`` or ``disk`` for the Gemma layers (``auto``: from Gemma's size and the available memory)."""
        if self.offload != "auto":
            return self.offload
        gemma = self.text_gemma()
        if not gemma or not Path(gemma).exists():  # nothing to measure (a plan made before the download)
            return "none"
        cache = self.__dict__.setdefault("_auto_text_offload", {})
        if quantize_bits not in cache:
            from ltx2.loading.streamed_text import resolve_text_offload

            cache[quantize_bits] = resolve_text_offload("auto", gemma, self.dtype, quantize_bits)
        return cache[quantize_bits]

    def weight_files(self) -> dict[str, str]:
        files = {"checkpoint": self.checkpoint, "gemma_root": self.gemma_root,
                 "spatial_upsampler": self.spatial_upsampler, "distilled_lora": self.distilled_lora,
                 "prompt_enhancer": self.prompt_enhancer, **self.component_files}
        files.update({f"lora:{Path(p).name}": p for p, _ in self.loras})
        return {k: v for k, v in files.items() if v and not str(v).startswith("hf://")}  # hf://: not fetched
