"""Transformer blocks streamed from disk (``model.offload=disk``): run a model larger than memory.

The transformer's top-level layers (patchify, adaLN, caption projections, output: ~3% of the weights) are loaded
once; its ``transformer_blocks`` list is replaced by a ``StreamedBlocks`` sequence. Iterating it (the forward's
``for block in self.transformer_blocks``) reads each block's tensors from the safetensors file by byte offset
(``ltx2.loading.safetensors_io``: ``pread`` into fresh buffers, never a mapping), builds the block in the compute
dtype (float8 decoded times its scales, LoRAs fused in full precision, then MLX-quantized when asked, the same
operations in the same order as the in-memory loaders, so outputs are bit-identical), yields it, and evaluates the
block's outputs before the next is built, so its weights are freed. A reader thread fetches the next ``ahead``
blocks while the current one computes. Pre-quantized files (``python -m ltx2.quantize``: packed weights, scales and
biases, metadata ``quantization``) are read as they are, never re-quantized.

Peak memory is then the top-level weights + about three blocks (the one computing, the one read ahead, and the
raw buffer being converted) + the forward's activations (``ltx2.experiment.estimates.streamed_transformer``).
``StreamedBlocks.stats`` splits the time into waiting for reads and computing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import check_weights, read_header, resolve_dtype
from ltx2.loading.safetensors_io import TensorReader, tensor_index, to_mlx

log = logging.getLogger(__name__)

OFFLOAD_MODES = ("none", "disk", "auto")
QUANTIZATION_KEY = "quantization"  # metadata of a pre-quantized file: {"bits", "group_size", "dtype"}
BLOCKS = "transformer_blocks."
# model.offload=auto streams when the transformer's in-memory weights exceed this share of the available memory
AUTO_SHARE = 0.6


def check_offload(value) -> str:
    if value not in OFFLOAD_MODES:
        raise ConfigError("model.offload", value, f"is one of {OFFLOAD_MODES}",
                          "use model.offload=none (all in memory), disk (blocks streamed) or auto")
    return value


def file_quantization(path: str | os.PathLike) -> dict | None:
    """``{"bits", "group_size", "dtype"}`` of a pre-quantized file (ltx2.quantize), None for a float file."""
    raw = read_header(path).metadata.get(QUANTIZATION_KEY)
    return json.loads(raw) if raw else None


def resolve_offload(mode: str, path: str | os.PathLike, dtype: str, quantize: int | None,
                    available: int | None = None) -> str:
    """``none`` or ``disk``: ``auto`` streams when the transformer's weights in memory would exceed AUTO_SHARE of
    the available memory (the planner's byte count of the checkpoint header)."""
    check_offload(mode)
    if mode != "auto":
        return mode
    from ltx2.experiment import estimates as est
    from ltx2.experiment.planner import available_memory
    from ltx2.models.transformer.load import PREFIX

    tensors = read_header(path).tensors
    need = est.tensors_bytes(tensors, (PREFIX,), est.DTYPE_BYTES.get(dtype, 4), quantize)
    available = available_memory() if available is None else available
    chosen = "disk" if available is not None and need > AUTO_SHARE * available else "none"
    log.info("model.offload=auto: transformer weights %.2f GiB, available %s -> %s", need / 2**30,
             f"{available / 2**30:.2f} GiB" if available else "unknown", chosen)
    return chosen


@dataclass
class StreamStats:
    """Where a streamed forward's time goes: ``read_s`` waiting for a block's bytes, ``compute_s`` building the
    block (cast, decode, fuse, quantize) and running it; ``read_bytes`` read from disk."""

    read_s: float = 0.0
    compute_s: float = 0.0
    read_bytes: int = 0
    blocks: int = 0

    def reset(self) -> None:
        self.read_s = self.compute_s = 0.0
        self.read_bytes = self.blocks = 0


class _Evaluated:
    """A block that evaluates its outputs (so its weights can go before the next block is built)."""

    def __init__(self, block: nn.Module, stats: StreamStats):
        self.block, self.stats = block, stats

    def __call__(self, video, audio, perturbations):
        start = time.perf_counter()
        video, audio = self.block(video, audio, perturbations)
        mx.eval([s.x for s in (video, audio) if s is not None])
        self.stats.compute_s += time.perf_counter() - start
        return video, audio


@dataclass(frozen=True)
class _Lora:
    path: str
    strength: float
    modules: dict[str, tuple[str, str]]  # model module -> (A key, B key) in the LoRA file


class StreamedBlocks:
    """The transformer's blocks, read from ``path`` each time they are iterated (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, prefix: str, config, dtype: mx.Dtype, keys: list[list[str]],
                 quantize: tuple[int, int] | None = None, prequantized: set[str] | None = None,
                 loras: tuple[_Lora, ...] = (), ahead: int = 1):
        self.path, self.prefix, self.config, self.dtype = Path(path), prefix, config, dtype
        self.keys = keys  # per block: file keys (prefix included)
        self.quantize = quantize  # (bits, group_size): quantize float linears while reading
        self.prequantized = prequantized or set()  # module paths stored packed in the file
        self.loras, self.ahead = loras, max(1, ahead)
        self.stats = StreamStats()
        self._dtypes = {k: e.dtype for k, e in tensor_index(path).items()}

    def __len__(self) -> int:
        return len(self.keys)

    def with_loras(self, loras: tuple[_Lora, ...]) -> StreamedBlocks:
        return StreamedBlocks(self.path, self.prefix, self.config, self.dtype, self.keys, self.quantize,
                              self.prequantized, loras, self.ahead)

    # -- reading (the reader thread) --------------------------------------------------------------------------
    def _read(self, index: int, reader: TensorReader, lora_readers: list[TensorReader]) -> tuple[dict, list]:
        """Block ``index``'s tensors and LoRA pairs as MLX arrays of the stored bytes (no op: see ``to_mlx``)."""
        tensors = {k: mx.array(reader.read(k)) for k in self.keys[index]}
        block = f"{BLOCKS}{index}."
        pairs = []
        for lora, lreader in zip(self.loras, lora_readers):
            mine = {m: ab for m, ab in lora.modules.items() if m.startswith(block)}
            pairs.append({m: tuple((mx.array(lreader.read(k)), lreader.index[k].dtype) for k in ab)
                          for m, ab in mine.items()})
        return tensors, pairs

    # -- building (the main thread) ---------------------------------------------------------------------------
    def build(self, index: int, raw: tuple[dict, list] | None = None) -> nn.Module:
        """Block ``index`` with its weights (lazy: evaluated with the block's forward)."""
        from ltx2.loading.fp8 import dequantize_fp8, has_fp8
        from ltx2.loading.lora import add_deltas, lora_delta
        from ltx2.models.transformer.block import TransformerBlock

        if raw is None:
            with _Readers(self) as readers:
                raw = self._read(index, *readers.get())
        tensors = {k: to_mlx(v, self._dtypes[k]) for k, v in raw[0].items()}
        pairs = [{m: tuple(to_mlx(v, d) for v, d in ab) for m, ab in block_pairs.items()} for block_pairs in raw[1]]
        self.stats.read_bytes += sum(v.nbytes for v in tensors.values())
        dtypes = {k: self._dtypes[k] for k in tensors}
        if has_fp8(dtypes):
            tensors = dequantize_fp8(tensors, dtypes, str(self.path))
        root = f"{BLOCKS}{index}."
        weights = {}
        for key, value in tensors.items():
            name = key[len(self.prefix):]
            module = name.rpartition(".")[0]
            packed = module in self.prequantized and name.endswith(".weight")
            if mx.issubdtype(value.dtype, mx.floating) and not packed:
                value = value.astype(self.dtype)
            weights[name] = value
        deltas: dict[str, list[mx.array]] = {}
        for lora, block_pairs in zip(self.loras, pairs):
            for module, (a, b) in block_pairs.items():
                key = f"{module}.weight"
                if module in self.prequantized:  # no full-precision weight in the file: fuse into the dequantized one
                    weights[key] = mx.dequantize(weights[key], weights[f"{module}.scales"],
                                                 weights[f"{module}.biases"], self._group_size, self._bits)
                deltas.setdefault(key, []).append(lora_delta(a, b, lora.strength, weights[key].dtype))
        for key, parts in deltas.items():
            weights[key] = add_deltas(weights[key], parts)
        block = TransformerBlock(index, self.config)
        quantized = self._quantized_modules(block, root)
        if quantized:
            bits, group_size = self._bits, self._group_size
            for module in quantized:
                if f"{module}.scales" not in weights or f"{module}.weight" in deltas:
                    w, scales, biases = mx.quantize(weights[f"{module}.weight"], group_size, bits)
                    weights.update({f"{module}.weight": w, f"{module}.scales": scales, f"{module}.biases": biases})
            relative = {m[len(root):] for m in quantized}
            nn.quantize(block, group_size=group_size, bits=bits, class_predicate=lambda p, m: p in relative)
        block.load_weights([(k[len(root):], v) for k, v in weights.items()], strict=True)
        block.eval()
        return block

    @property
    def _bits(self) -> int:
        return self.quantize[0]

    @property
    def _group_size(self) -> int:
        return self.quantize[1]

    def _quantized_modules(self, block: nn.Module, root: str) -> list[str]:
        if self.prequantized:
            return sorted(m for m in self.prequantized if m.startswith(root))
        if self.quantize is None:
            return []
        from ltx2.models.transformer.quantize import quantizable

        return [root + p for p, m in block.named_modules() if quantizable(root + p, m, self._group_size)]

    def __getitem__(self, index: int) -> nn.Module:
        return self.build(index)

    def __iter__(self):
        with _Readers(self) as readers, ThreadPoolExecutor(1, thread_name_prefix="ltx2-block-reader") as pool:
            pending = [pool.submit(self._read, i, *readers.get()) for i in range(min(self.ahead, len(self)))]
            for index in range(len(self)):
                start = time.perf_counter()
                raw = pending.pop(0).result()
                self.stats.read_s += time.perf_counter() - start
                following = index + len(pending) + 1
                if following < len(self):
                    pending.append(pool.submit(self._read, following, *readers.get()))
                start = time.perf_counter()
                block = self.build(index, raw)
                del raw
                self.stats.compute_s += time.perf_counter() - start
                self.stats.blocks += 1
                yield _Evaluated(block, self.stats)
                del block


class _Readers:
    """Open descriptors of the checkpoint and the LoRA files for one pass."""

    def __init__(self, blocks: StreamedBlocks):
        self.blocks = blocks

    def __enter__(self):
        self.main = TensorReader(self.blocks.path)
        self.loras = [TensorReader(lora.path) for lora in self.blocks.loras]
        return self

    def get(self) -> tuple[TensorReader, list[TensorReader]]:
        return self.main, self.loras

    def __exit__(self, *exc):
        for reader in (self.main, *self.loras):
            reader.close()


# -- the streamed model ---------------------------------------------------------------------------------------------
def load_offloaded_transformer(path: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16", quantize: int | None = None,
                               group_size: int = 64, offload: str = "disk", audio: bool | None = None,
                               ahead: int = 1):
    """The transformer of ``path`` with its blocks streamed from disk (``offload="disk"``) or, for a pre-quantized
    file with ``offload="none"``, built once in memory from the packed tensors. ``model.block_source`` is the
    ``StreamedBlocks`` either way (LoRA copies read the blocks they touch from it)."""
    from ltx2.loading.checkpoint import load_tensors, load_weights_strict
    from ltx2.models.transformer.config import TransformerConfig
    from ltx2.models.transformer.load import PREFIX, sanitize
    from ltx2.models.transformer.model import LTXModel
    from ltx2.models.transformer.quantize import Quantization, check_quantization

    dtype = resolve_dtype(dtype)
    header = read_header(path)
    stored = file_quantization(path)
    if stored is not None:
        if quantize is not None and quantize != stored["bits"]:
            raise ConfigError("model.quantize", quantize, f"{path} is already quantized to {stored['bits']} bits",
                              "use model.quantize=null with a pre-quantized checkpoint")
        quantize, group_size = int(stored["bits"]), int(stored["group_size"])
    check_quantization(quantize, group_size)
    if audio is None:
        audio = f"{PREFIX}audio_patchify_proj.weight" in header.tensors
    try:
        config = TransformerConfig.from_metadata(header.section("transformer"), audio=audio)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    names = sanitize({k[len(PREFIX):]: None for k in header.tensors if k.startswith(PREFIX)}, audio)
    prequantized = {n.removesuffix(".scales") for n in names if n.endswith(".scales")} if stored else set()
    model = LTXModel(config)
    if prequantized:
        nn.quantize(model, group_size=group_size, bits=quantize, class_predicate=lambda p, m: p in prequantized)
    what = f"transformer in {path}"
    _check_shapes(model, {n: header.tensors[PREFIX + n][1] for n in names}, what)
    count = len(model.transformer_blocks)
    block_keys: list[list[str]] = [[] for _ in range(count)]
    for name in names:
        if name.startswith(BLOCKS):
            block_keys[int(name.split(".", 2)[1])].append(PREFIX + name)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(LTXModel(config).parameters()) if k.startswith(BLOCKS)}
    blocks = StreamedBlocks(path, PREFIX, config, dtype, block_keys,
                            (quantize, group_size) if quantize else None, prequantized, ahead=ahead)
    blocks.shapes = shapes
    top = {k: v for k, v in sanitize(load_tensors(path, PREFIX), audio).items() if not k.startswith(BLOCKS)}
    model.transformer_blocks = blocks  # a plain attribute now: the block list leaves the module's parameters
    load_weights_strict(model, top, what, dtype)
    if offload != "disk":
        built = []
        for index in range(count):
            built.append(blocks.build(index))
            mx.eval(built[-1].parameters())
        model.transformer_blocks = built
    model.block_source = blocks
    model.eval()
    if quantize:
        from ltx2.models.transformer.block import TransformerBlock

        layers = len(prequantized) or len(blocks._quantized_modules(TransformerBlock(0, config), f"{BLOCKS}0.")) * count
        model.quantization = Quantization(quantize, group_size, layers)
    log.info("transformer %s: %d blocks %s", path, count, "streamed from disk" if offload == "disk" else "in memory")
    return model


def _check_shapes(model: nn.Module, shapes: dict[str, tuple[int, ...]], what: str) -> None:
    """One ConfigError for every missing, unexpected or mis-shaped tensor (float8 scales aside), before any read."""
    from ltx2.loading.fp8 import INPUT_SCALE, WEIGHT_SCALE

    held = {k: SimpleNamespace(shape=s) for k, s in shapes.items()
            if not k.endswith((f".{WEIGHT_SCALE}", f".{INPUT_SCALE}"))}
    check_weights(model, held, what)


def fused_copy(base: nn.Module, loras) -> nn.Module:
    """A transformer sharing ``base``'s top-level weights, with the ``(path, strength)`` LoRAs fused: top-level
    weights now (in memory), block weights as each block is read (streamed) or into rebuilt copies of the blocks
    they touch (a pre-quantized model held in memory)."""
    from ltx2.loading.lora import add_deltas, lora_delta, matched_modules, read_lora

    source: StreamedBlocks = base.block_source
    top = {k: v for k, v in tree_flatten(base.parameters()) if not k.startswith(BLOCKS)}
    keys = set(source.shapes) | {k for k in top if k.endswith(".weight")}
    parsed, top_deltas = [], {}
    for path, strength in loras:
        pairs = read_lora(path)  # checks the pairs are complete; lazy, nothing read
        matched = matched_modules(path, pairs, keys)
        files = _lora_keys(path)
        for module in matched:
            a, b = pairs[module]
            weight_shape = source.shapes.get(f"{module}.weight") or tuple(top[f"{module}.weight"].shape)
            if (b.shape[0], a.shape[1]) != weight_shape:
                raise ConfigError("lora", str(path), f"{module} gives a {(b.shape[0], a.shape[1])} delta for a "
                                  f"{weight_shape} weight", "use a LoRA trained for this model")
            if not module.startswith(BLOCKS):
                weight = top[f"{module}.weight"]
                top_deltas.setdefault(f"{module}.weight", []).append(lora_delta(a, b, strength, weight.dtype))
        parsed.append(_Lora(str(path), float(strength),
                            {m: files[m] for m in sorted(matched) if m.startswith(BLOCKS)}))
    copy = type(base)(base.config)
    streamed = source.with_loras(tuple(parsed))
    streamed.shapes = source.shapes
    copy.transformer_blocks = streamed
    copy.update(tree_unflatten(list(top.items())))  # the fresh top-level layers' random init is never evaluated
    copy.load_weights([(k, add_deltas(top[k], parts)) for k, parts in top_deltas.items()], strict=False)
    mx.eval(copy.parameters())
    if not isinstance(base.transformer_blocks, StreamedBlocks):  # in memory: rebuild only the blocks LoRAs touch
        touched = {int(m.split(".", 2)[1]) for lora in parsed for m in lora.modules}
        built = [streamed.build(i) if i in touched else block for i, block in enumerate(base.transformer_blocks)]
        for i in touched:
            mx.eval(built[i].parameters())
        copy.transformer_blocks = built
    copy.block_source = streamed
    copy.quantization = getattr(base, "quantization", None)
    copy.eval()
    return copy


def _lora_keys(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """Model module -> (A key, B key) in a LoRA file (ComfyUI ``diffusion_model.`` prefix or none)."""
    out: dict[str, list[str]] = {}
    for key in tensor_index(path):
        name = key.replace("diffusion_model.", "")
        for slot, suffix in enumerate((".lora_A.weight", ".lora_B.weight")):
            if name.endswith(suffix):
                out.setdefault(name[: -len(suffix)], [None, None])[slot] = key
    return {m: (a, b) for m, (a, b) in out.items() if a and b}
