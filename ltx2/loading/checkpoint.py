"""A model's weight files: ``Checkpoint`` (``{component: file}``, resolved once per job), the parsed safetensors
headers behind it (metadata ``config`` JSON and ``model_version``; each component's tensors under its own key
prefix, owned by its loader in ``ltx2/models/<family>/load.py``), and strict loading into MLX modules."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from ltx2.errors import ConfigError
from ltx2.loading.file_identity import file_identity

DTYPES = {"float32": mx.float32, "bfloat16": mx.bfloat16, "float16": mx.float16,
          "fp32": mx.float32, "bf16": mx.bfloat16, "fp16": mx.float16}


def resolve_dtype(dtype: str | mx.Dtype, what: str = "compute") -> mx.Dtype:
    """A dtype name (``float32``/``bf16``/...) or an ``mx.Dtype`` -> ``mx.Dtype``."""
    if isinstance(dtype, mx.Dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"{what} dtype {dtype!r} is not one of {sorted(DTYPES)}")
    return DTYPES[dtype]


OFFICIAL = "point it at an official LTX-2 / LTX-2.3 .safetensors checkpoint"


@dataclass(frozen=True)
class CheckpointHeader:
    path: Path
    metadata: dict[str, str]
    tensors: dict[str, tuple[str, tuple[int, ...]]]  # key -> (safetensors dtype, shape)

    @property
    def config(self) -> dict:
        if "config" not in self.metadata:
            raise ConfigError("checkpoint", str(self.path), "no 'config' entry in the safetensors metadata; an "
                              "official LTX-2 checkpoint carries its architecture there",
                              "re-export it with that metadata")
        return json.loads(self.metadata["config"])

    @property
    def model_version(self) -> str | None:
        return self.metadata.get("model_version")

    def section(self, name: str, hint: str = "") -> dict:
        """One component's section of the ``config`` metadata (``transformer``, ``vae``, ``audio_vae``, ...)."""
        section = self.config.get(name)
        if not isinstance(section, dict):
            raise ConfigError("checkpoint", str(self.path), f"the metadata config has no '{name}' section{hint}",
                              OFFICIAL)
        return section

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return [k for k in self.tensors if k.startswith(prefix)]


# The components of today's single-file LTX-2 / LTX-2.3 release (the text connectors sit with the transformer)
SINGLE_FILE_COMPONENTS = ("transformer", "video_vae", "audio_vae", "vocoder")
# component -> the section of the metadata ``config`` that describes it
SECTION_OF = {"transformer": "transformer", "video_vae": "vae", "audio_vae": "audio_vae", "vocoder": "vocoder"}
COMPONENT_OF = {section: component for component, section in SECTION_OF.items()}


@dataclass(frozen=True)
class Checkpoint:
    """The weight files of one model, ``{component: file}``: transformer, video_vae, audio_vae, vocoder,
    spatial_upsampler (and text_encoder, temporal_upsampler, duration_head where a release ships them). Today's LTX-2 / LTX-2.3
    release is one file for the first four plus the upsampler's own file; a release with one file per component
    is the same object with more files. Headers are parsed once per process (``read_header``'s cache)."""

    files: Mapping[str, Path]

    @classmethod
    def single_file(cls, path: str | os.PathLike, **others: str | os.PathLike | None) -> Checkpoint:
        """One file holding every component of SINGLE_FILE_COMPONENTS, plus ``others`` (e.g.
        ``spatial_upsampler=path``; None: absent)."""
        files = {component: Path(path) for component in SINGLE_FILE_COMPONENTS}
        files.update({component: Path(p) for component, p in others.items() if p})
        return cls(files)

    @classmethod
    def from_files(cls, checkpoint: str | os.PathLike | None = None,
                   **components: str | os.PathLike | None) -> Checkpoint:
        """A single-file checkpoint (LTX-2 / LTX-2.3), one file per component (LTX-2.5: ``transformer``,
        ``text_encoder``, ``video_vae``, ``audio_vae``, ``spatial_upsampler``, ...), or both (a component's own file
        replaces the single file's). The audio VAE file also holds the vocoder. None values are absent."""
        files = {component: Path(checkpoint) for component in SINGLE_FILE_COMPONENTS} if checkpoint else {}
        files.update({component: Path(p) for component, p in components.items() if p})
        if components.get("audio_vae"):
            files["vocoder"] = Path(components["audio_vae"])
        return cls(files)

    def check_files(self, keys: Mapping[str, str], version: str | None = None, model: str = "") -> None:
        """Refuse, from the headers alone, a file given for a component it does not hold (``keys``: component ->
        the config key that named its file), one of another model version than ``version`` ("2.5"), and a text
        encoder that is not the Gemma build the transformer names. Files not on disk are left to the checks that
        report missing files."""
        from ltx2.loading.file_kinds import check_gemma_pairing, check_kind, check_version, file_kinds

        present = {c: k for c, k in keys.items() if c in self.files and self.files[c].is_file()}
        for component, key in present.items():
            header = self.header(component)
            if key != "model.checkpoint":  # the single file: its sections are checked by ltx2.experiment.validation
                check_kind(key, header.path, file_kinds(header.metadata, header.tensors), component)
            if version is not None and (component == "transformer" or key != "model.checkpoint"):
                check_version(key, header.path, header.metadata, version, model)
        if "transformer" in present and "text_encoder" in present:
            check_gemma_pairing(self.files["transformer"], self.header("transformer").metadata,
                                self.files["text_encoder"], self.header("text_encoder").metadata)

    def path(self, component: str) -> Path:
        if component not in self.files:
            raise ConfigError("model", component, f"this model has no {component} file (it has "
                              f"{', '.join(self.files) or 'none'})", f"add the {component} file to the model config")
        return self.files[component]

    def has(self, component: str) -> bool:
        """The component's file exists and, for a component described in the metadata, its section is there
        (a video-only LTX-2 file maps audio_vae to the one file but has no audio_vae section)."""
        path = self.files.get(component)
        if path is None or not path.is_file():
            return False
        section, header = SECTION_OF.get(component), self.header(component)
        return section is None or ("config" in header.metadata and isinstance(header.config.get(section), dict))

    def header(self, component: str) -> CheckpointHeader:
        return read_header(self.path(component))

    def config(self, section: str, hint: str = "") -> dict:
        """One section of the metadata ``config`` (``transformer``, ``vae``, ``audio_vae``, ``vocoder``), from the
        file of the component it describes."""
        return self.header(COMPONENT_OF.get(section, section)).section(section, hint)

    def paths(self) -> tuple[Path, ...]:
        """The distinct files, in component order."""
        return tuple(dict.fromkeys(self.files.values()))


def read_header(path: str | os.PathLike) -> CheckpointHeader:
    """Parse a safetensors header (no tensor data is read). Parsed once per process while the file keeps its
    size, mtime and inode (a real checkpoint's header is megabytes of JSON, and a job reads it ~8 times: checks,
    planner, loaders); callers share the answer and must not change its dicts."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("checkpoint", str(path), "does not exist", OFFICIAL)
    return _read_header(str(path), file_identity(path))


@lru_cache(maxsize=32)
def _read_header(path: str, identity: tuple) -> CheckpointHeader:
    size = identity[1]
    with open(path, "rb") as f:
        raw_len = f.read(8)
        if len(raw_len) != 8:
            raise ConfigError("checkpoint", path, "is not a safetensors file (shorter than 8 bytes)", OFFICIAL)
        (n,) = struct.unpack("<Q", raw_len)
        if n > 100_000_000 or n > size:
            raise ConfigError("checkpoint", path, f"is not a safetensors file (header length {n} is implausible)",
                              OFFICIAL)
        try:
            header = json.loads(f.read(n))
        except json.JSONDecodeError as e:
            raise ConfigError("checkpoint", path, f"is not a safetensors file (bad JSON header: {e})",
                              OFFICIAL) from None
    metadata = header.pop("__metadata__", None) or {}
    tensors = {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items()}
    return CheckpointHeader(Path(path), metadata, tensors)


def load_tensors(path: str | os.PathLike, prefix: str) -> dict[str, mx.array]:
    """Tensors under ``prefix`` (prefix removed). Lazy: nothing is read until evaluated. Float8 tensors (the
    official ``*-fp8`` files) come back decoded to float32 times their scales (ltx2.loading.fp8)."""
    from ltx2.loading.fp8 import dequantize_fp8, has_fp8

    arrays = {k: v for k, v in mx.load(str(path)).items() if k.startswith(prefix)}
    dtypes = read_header(path).tensors
    if has_fp8({k: dtypes[k][0] for k in arrays}):
        arrays = dequantize_fp8(arrays, {k: dtypes[k][0] for k in arrays}, str(path))
    return {k.removeprefix(prefix): v for k, v in arrays.items()}


def load_weights_strict(module: nn.Module, weights: dict[str, mx.array], what: str, dtype: mx.Dtype | None) -> None:
    """Load ``weights`` into ``module``, or raise one ConfigError listing every missing, unexpected or
    mis-shaped tensor. Each tensor is cast and evaluated on its own, so at most one extra tensor is resident."""
    check_weights(module, weights, what)
    loaded = []
    for key in list(weights):
        value = weights.pop(key)
        if dtype is not None and mx.issubdtype(value.dtype, mx.floating):
            value = value.astype(dtype)
        mx.eval(value)
        loaded.append((key, value))
    module.load_weights(loaded, strict=True)


def check_weights(module: nn.Module, weights: dict[str, mx.array], what: str) -> None:
    """Raise one ConfigError listing every missing, unexpected or mis-shaped tensor of ``weights``."""
    expected = dict(tree_flatten(module.parameters()))
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(weights[k].shape)}, model {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(weights)) if tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing: {_short(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected: {_short(unexpected)}" if unexpected else "",
                 f"{len(shapes)} with wrong shape: {_short(shapes)}" if shapes else ""]
        raise ConfigError("weights", what, "does not match its config: " + "; ".join(p for p in parts if p),
                          "use the checkpoint whose metadata config describes these weights")


def load_component(model: nn.Module, path: str | os.PathLike, prefix: str, component: str,
                   dtype: str | mx.Dtype, sanitize=None, extra: dict[str, mx.array] | None = None) -> nn.Module:
    """Load the tensors under ``prefix`` (plus ``extra`` ones) into ``model`` strictly, in ``dtype``, in eval mode.
    ``sanitize`` maps checkpoint layouts to MLX ones; a checkpoint without the component says so."""
    dtype = resolve_dtype(dtype, component)
    if not read_header(path).keys_with_prefix(prefix):
        raise ConfigError("checkpoint", str(path), f"no tensors under '{prefix}' (does this checkpoint include the "
                          f"{component}?)", OFFICIAL)
    weights = {**load_tensors(path, prefix), **(extra or {})}
    load_weights_strict(model, sanitize(weights) if sanitize else weights, f"{component} in {path}", dtype)
    model.eval()
    return model


def per_channel_statistics(path: str | os.PathLike, prefix: str, keys: tuple[str, ...]) -> dict[str, mx.array]:
    """The latent statistics stored beside a VAE, keyed as the VAE modules hold them."""
    stats = load_tensors(path, prefix)
    return {f"per_channel_statistics.{k}": stats[k] for k in keys if k in stats}


def _short(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, mx.array], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.safetensors")
    try:
        mx.save_safetensors(str(tmp), tensors, metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
