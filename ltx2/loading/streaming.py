"""Transformer blocks streamed from disk (``model.offload=disk``): run a model larger than memory.

The transformer's top-level layers (patchify, adaLN, caption projections, output: ~2% of the weights) are loaded
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
``StreamedBlocks.stats`` splits the time into waiting for reads and computing. The model around it (loading,
pre-quantized files, LoRA copies): ``ltx2.loading.streamed_transformer``; the reader thread and iteration are
``ltx2.loading.layer_stream.LayerStream``, shared with the streamed Gemma layers.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import read_header
from ltx2.loading.layer_stream import LayerStream, StreamStats  # noqa: F401  (StreamStats: re-exported)
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
    from ltx2.experiment.estimates import available_memory
    from ltx2.models.transformer.load import PREFIX

    tensors = read_header(path).tensors
    need = est.tensors_bytes(tensors, (PREFIX,), est.DTYPE_BYTES.get(dtype, 4), quantize)
    available = available_memory() if available is None else available
    chosen = "disk" if available is not None and need > AUTO_SHARE * available else "none"
    log.info("model.offload=auto: transformer weights %.2f GiB, available %s -> %s", need / 2**30,
             f"{available / 2**30:.2f} GiB" if available else "unknown", chosen)
    return chosen


@dataclass(frozen=True)
class StreamedLora:
    path: str
    strength: float
    modules: dict[str, tuple[str, str]]  # model module -> (A key, B key) in the LoRA file


class StreamedBlocks(LayerStream):
    """The transformer's blocks, read from ``path`` each time they are iterated (see the module docstring)."""

    thread_name = "ltx2-block-reader"

    def __init__(self, path: str | os.PathLike, prefix: str, config, dtype: mx.Dtype, keys: list[list[str]],
                 quantize: tuple[int, int] | None = None, prequantized: set[str] | None = None,
                 loras: tuple[StreamedLora, ...] = (), ahead: int = 1):
        super().__init__(len(keys), ahead)
        self.path, self.prefix, self.config, self.dtype = Path(path), prefix, config, dtype
        self.keys = keys  # per block: file keys (prefix included)
        self.quantize = quantize  # (bits, group_size): quantize float linears while reading
        self.prequantized = prequantized or set()  # module paths stored packed in the file
        self.loras = loras
        self._open: tuple[TensorReader, list[TensorReader]] | None = None
        self._entries = tensor_index(path)
        self._dtypes = {k: e.dtype for k, e in self._entries.items()}

    def with_loras(self, loras: tuple[StreamedLora, ...]) -> StreamedBlocks:
        return StreamedBlocks(self.path, self.prefix, self.config, self.dtype, self.keys, self.quantize,
                              self.prequantized, loras, self.ahead)

    # -- reading (the reader thread) --------------------------------------------------------------------------
    def _read(self, index: int) -> tuple[dict, list]:
        """Block ``index``'s tensors and LoRA pairs as MLX arrays of the stored bytes (no op: see ``to_mlx``)."""
        reader, lora_readers = self._readers()
        tensors = {k: mx.array(self._widened(k, reader.read(k), reader)) for k in self.keys[index]}
        block = f"{BLOCKS}{index}."
        pairs = []
        for lora, lreader in zip(self.loras, lora_readers):
            mine = {m: ab for m, ab in lora.modules.items() if m.startswith(block)}
            pairs.append({m: tuple((mx.array(lreader.read(k)), lreader.index[k].dtype) for k in ab)
                          for m, ab in mine.items()})
        return tensors, pairs

    def _widened(self, key: str, stored: np.ndarray, reader: TensorReader) -> np.ndarray:
        """For a float32 run, bf16 and float8 weights are made float32 here, in the reader thread (MLX's CPU cast
        and float8 decode of a block on the main thread took as long as the block's forward, or three times).
        Exact and bit-identical to ``load_tensors``: bf16's 16 bits move up; float8 codes go through the
        decoding table (the same values as ``mx.from_fp8``) times the float32 ``weight_scale``."""
        from ltx2.loading.fp8 import FP8_DTYPES, TABLES, WEIGHT_SCALE

        kind = self._dtypes[key]
        if self.dtype != mx.float32 or (kind != "BF16" and kind not in FP8_DTYPES):
            return stored
        if kind == "BF16":
            widened = np.empty(stored.shape, np.uint32)
            np.left_shift(stored, 16, out=widened, dtype=np.uint32)  # one pass, no temporary
            return widened.view(np.float32)
        decoded = np.take(TABLES[kind], stored)
        scale_key = f"{key.rpartition('.')[0]}.{WEIGHT_SCALE}"
        if key.endswith(".weight") and scale_key in self._entries:
            scale = reader.read(scale_key).astype(np.float32)
            if scale.size == 1:
                decoded *= scale.reshape(())
            elif decoded.ndim > 1 and scale.size == decoded.shape[0]:
                decoded *= scale.reshape(-1, *([1] * (decoded.ndim - 1)))
            else:
                return stored  # left to dequantize_fp8, which names the problem
        return decoded

    # -- building (the main thread) ---------------------------------------------------------------------------
    def build(self, index: int, raw: tuple[dict, list] | None = None) -> nn.Module:
        """Block ``index`` with its weights (lazy: evaluated with the block's forward)."""
        from ltx2.loading.fp8 import FP8_DTYPES, INPUT_SCALE, WEIGHT_SCALE, dequantize_fp8, has_fp8
        from ltx2.loading.lora import add_deltas, lora_delta
        from ltx2.models.transformer.block import TransformerBlock

        if raw is None:
            raw = self._read(index)
        tensors, decoded = {}, set()  # decoded: float8 weights the reader made float32 (their scales applied)
        for key, value in raw[0].items():
            if value.dtype == mx.float32 and self._dtypes[key] != "F32":  # widened by the reader
                if self._dtypes[key] in FP8_DTYPES:
                    decoded.add(key)
                tensors[key] = value
            else:
                tensors[key] = to_mlx(value, self._dtypes[key])
        for key in decoded:
            module = key.rpartition(".")[0]
            tensors.pop(f"{module}.{WEIGHT_SCALE}", None)
            tensors.pop(f"{module}.{INPUT_SCALE}", None)
        pairs = [{m: tuple(to_mlx(v, d) for v, d in ab) for m, ab in block_pairs.items()} for block_pairs in raw[1]]
        self.stats.read_bytes += sum(self._entries[k].nbytes for k in tensors)
        dtypes = {k: "F32" if k in decoded else self._dtypes[k] for k in tensors}
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

    def _readers(self) -> tuple[TensorReader, list[TensorReader]]:
        """Open descriptors of the checkpoint and the LoRA files (``pread`` is positional: threads share them)."""
        if self._open is None:
            from ltx2.experiment.estimates import available_memory

            available = available_memory()
            larger = available is not None and self.path.stat().st_size > available
            self._open = (TensorReader(self.path, drop_cache=larger), [TensorReader(lora.path) for lora in self.loras])
        return self._open

    def _outputs(self, result):
        return [s.x for s in result if s is not None]  # (video, audio) states

    def _close_files(self) -> None:
        if self._open is not None:
            for reader in (self._open[0], *self._open[1]):
                reader.close()
            self._open = None
