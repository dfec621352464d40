"""Checks a composed run config before any weight is loaded; each failure names the key, the value, the rule
and the fix. Nothing here loads a model or writes under a final name."""

from __future__ import annotations

import math
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ltx2.errors import ConfigError

ALLOWED_TARGET_PREFIX = "ltx2."
PROMPT_KEYS = ("prompt", "negative_prompt")


def check_config(cfg: DictConfig) -> None:
    """The rules on the config itself, before anything is built from it."""
    check_raw(cfg)
    check_output_root("paths.output_root", cfg.paths.output_root)
    check_model_quantization(cfg.model)


def check_raw(cfg: DictConfig) -> None:
    """Rules on the unresolved config: allowed targets, no interpolation inside prompts, nothing missing."""
    raw = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    for key, target in _targets(raw):
        if not isinstance(target, str) or not target.startswith(ALLOWED_TARGET_PREFIX):
            raise ConfigError(key, target, f"a _target_ must name an {ALLOWED_TARGET_PREFIX}* callable (run "
                                 "directories are shared, and a config must not run arbitrary code)",
                                 "select a config group option instead of overriding _target_")
    for key in PROMPT_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and "${" in value:
            raise ConfigError(key, value, "prompts are taken literally and may not contain ${...} interpolations",
                                 "remove the ${...} part, or put the prompt in a conf/prompts/*.yaml file")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(missing[0], "???", "this value is required and has no default",
                             f"set it on the command line, e.g. {missing[0]}=...")
    try:
        OmegaConf.resolve(OmegaConf.create(raw))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "config"
        raise ConfigError(key, None, f"cannot be resolved ({type(e).__name__}: {e.msg if hasattr(e, 'msg') else e})",
                             "check the ${...} interpolation it uses") from None


def _targets(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if k == "_target_":
                yield key, v
            else:
                yield from _targets(v, key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _targets(v, f"{prefix}[{i}]")


def check_request(cfg: DictConfig, resolution_multiple: int) -> None:
    """The model's rules on the request: frame count, size, fps, seed."""
    frames = cfg.num_frames
    if frames < 1 or (frames - 1) % 8:
        lower = max(1, (frames - 1) // 8 * 8 + 1)
        raise ConfigError("num_frames", frames, "the VAE needs 8k+1 frames (1, 9, 17, ..., 121)",
                             f"use num_frames={lower} or {lower + 8}")
    for key in ("height", "width"):
        value = cfg[key]
        if value < resolution_multiple or value % resolution_multiple:
            near = max(resolution_multiple, round(value / resolution_multiple) * resolution_multiple)
            raise ConfigError(key, value, f"must be a positive multiple of {resolution_multiple} for this pipeline",
                                 f"use {key}={near}")
    if not (cfg.fps > 0 and math.isfinite(cfg.fps)):
        raise ConfigError("fps", cfg.fps, "must be a positive number", "use fps=24")
    if not cfg.prompt.strip():
        raise ConfigError("prompt", cfg.prompt, "must not be empty", "describe the video: prompt='a fox in snow'")


def check_range(key: str, value: float, low: float, high: float, fix: str) -> None:
    if not (low <= value <= high):
        raise ConfigError(key, value, f"must be between {low} and {high}", fix)


def check_model_files(checkpoint, gemma_root: str | None, need_upsampler: bool) -> None:
    """The model's files (an ltx2.loading.checkpoint.Checkpoint): complete safetensors with the metadata sections
    the run needs, the Gemma root, and the spatial upsampler when a stage runs it."""
    needed = {"transformer": "transformer", "video_vae": "vae"}  # component -> metadata section every run needs
    by_file: dict = {}
    for component, section in needed.items():
        by_file.setdefault(checkpoint.path(component), []).append((component, section))
    for path, parts in by_file.items():
        single = checkpoint.files.get("transformer") == checkpoint.files.get("video_vae")  # LTX-2 / LTX-2.3
        key = f"model.{parts[0][0]}" if not single else "model.checkpoint"
        check_checkpoint(key, str(path), tuple(section for _, section in parts))
    if "text_encoder" in checkpoint.files:  # one text-encoder file (LTX-2.5), checked by ModelSet.check_files
        check_file("model.text_encoder", str(checkpoint.path("text_encoder")), "the text-encoder file",
                   "set model.text_encoder=/path/to/the-text-encoder.safetensors")
    elif not gemma_root or not (Path(gemma_root) / "config.json").is_file():
        raise ConfigError("model.gemma_root", gemma_root, "must be a Gemma 3 folder (config.json, "
                          "model*.safetensors, tokenizer files)",
                          "download google/gemma-3-12b-it and set model.gemma_root=/path/to/it")
    if need_upsampler:
        upsampler = checkpoint.files.get("spatial_upsampler")
        check_checkpoint("model.spatial_upsampler", str(upsampler) if upsampler else None, ())


def check_loras(entries: DictConfig | None, loras: tuple[tuple[str, float], ...]) -> None:
    """Each selected LoRA file (``lora.<name>.path``, resolved) exists."""
    for name, (path, _) in zip((entries or {}).keys(), loras):
        key = f"lora.{name}.path"
        check_file(key, path, "the LoRA file", f"set {key} to an existing .safetensors")


def check_stg_blocks(guidance, checkpoint) -> None:
    """The guider's perturbed blocks exist in this model's transformer."""
    layers = checkpoint.config("transformer").get("num_layers", 48)
    for key, blocks in guidance.stg_block_lists():
        bad = [b for b in blocks if not 0 <= b < layers]
        if bad:
            raise ConfigError(key, blocks, f"STG blocks must be in 0..{layers - 1} for this model "
                              f"({layers} blocks)", f"{key}=[{min(layers - 1, 29)}]")


def check_conditioning_fits(pipeline, conditioning, choice: str | None) -> None:
    """The conditioning is one the pipeline takes, and a conditioning that drives one pipeline only gets it."""
    if hasattr(pipeline, "check_conditioning"):  # a pipeline's own rule on the conditioning it takes
        pipeline.check_conditioning(conditioning)
    needed = getattr(pipeline, "CONDITIONING", None)
    if needed is not None and not isinstance(conditioning, needed):
        raise ConfigError("conditioning", choice, f"this pipeline needs conditioning={needed.GROUP_OPTION}",
                          f"add conditioning={needed.GROUP_OPTION} conditioning.path=...")
    only = getattr(conditioning, "PIPELINE", None)  # conditioning that only one pipeline takes
    if only and needed is not type(conditioning):
        raise ConfigError("conditioning", conditioning.GROUP_OPTION, f"{conditioning.GROUP_OPTION} conditioning "
                          f"drives pipeline={only} only", f"add pipeline={only}")


def check_text_quantization(bits: int | None) -> None:
    if bits is not None and bits not in (4, 8):
        raise ConfigError("text.quantize_bits", bits, "Gemma can be quantized to 4 or 8 bits",
                          "use text.quantize_bits=8, 4, or null")


def check_checkpoint(key: str, path: str | None, sections: tuple[str, ...]) -> None:
    """The file exists, is a complete safetensors file, and its metadata has the ``sections`` this run needs."""
    from ltx2.loading.checkpoint import read_header

    if not path:
        raise ConfigError(key, path, "a checkpoint file is required", f"set {key}=/path/to/model.safetensors")
    try:
        header = read_header(path)
        _check_complete(Path(path))
        config = header.config
    except ConfigError as e:
        raise ConfigError(key, path, e.rule, "point it at an official LTX-2 single-file checkpoint") from None
    missing = [s for s in sections if s not in config]
    if missing:
        raise ConfigError(key, path, f"the checkpoint's metadata has no {', '.join(missing)} section (found: "
                             f"{', '.join(config) or 'none'}); it is not an LTX-2 model checkpoint",
                             "point it at an official LTX-2 single-file checkpoint (e.g. ltx-2-19b-dev.safetensors)")


def _check_complete(path: Path) -> None:
    """A truncated download has tensors whose byte ranges run past the end of the file."""
    import json

    size = path.stat().st_size
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise ConfigError("checkpoint", str(path), f"is truncated: its tensors need {8 + n + end} bytes, the file "
                          f"has {size} (an interrupted download?)", "download it again")


def check_file(key: str, path: str | None, what: str, fix: str) -> Path:
    if not path or not Path(path).is_file():
        raise ConfigError(key, path, f"{what} does not exist", fix)
    if not os.access(path, os.R_OK):
        raise ConfigError(key, path, f"{what} is not readable", "check its permissions")
    return Path(path)


def check_image(key: str, path: str | None) -> None:
    check_file(key, path, "the image", f"set {key} to an existing PNG/JPEG file")
    try:
        import imageio.v3 as iio

        image = iio.imread(path)
    except Exception as e:  # noqa: BLE001 - any decoder failure means the same thing to the user
        raise ConfigError(key, path, f"cannot be decoded as an image ({type(e).__name__})",
                             "use a PNG or JPEG file") from None
    if image.ndim not in (2, 3):
        raise ConfigError(key, path, f"is not a still image (shape {image.shape})", "use a PNG or JPEG file")


def check_output_root(key: str, root: str) -> None:
    """The output root can be written to: tested with a temp file (removed) in it or, while it does not exist yet,
    in its nearest existing parent. Creates nothing, so a run refused later leaves no folder behind."""
    path = Path(root).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        if not path.is_dir():
            raise NotADirectoryError(20, "not a directory", str(path))
        with tempfile.NamedTemporaryFile(dir=path, prefix=".ltx2-write-test-"):
            pass
    except OSError as e:
        raise ConfigError(key, root, f"cannot be written to ({e.strerror or e})",
                          f"choose a writable folder: {key}=/path/to/runs (or set LTX2_OUTPUT_ROOT)") from None


def check_model_quantization(model: DictConfig) -> None:
    """``model.quantize`` / ``model.quantize_group_size``: bits MLX can quantize the transformer to."""
    from ltx2.models.transformer.quantize import GROUP_SIZES, QUANT_BITS

    bits, group = model.get("quantize"), model.get("quantize_group_size", 64)
    if bits is not None and (isinstance(bits, bool) or bits not in QUANT_BITS):
        raise ConfigError("model.quantize", bits, "the transformer's weights can be quantized to 8 or 4 bits",
                             "use model.quantize=8, model.quantize=4, or model.quantize=null (unquantized)")
    if isinstance(group, bool) or group not in GROUP_SIZES:
        raise ConfigError("model.quantize_group_size", group, f"MLX quantizes in groups of {GROUP_SIZES}",
                             "use model.quantize_group_size=64 (the default)")
