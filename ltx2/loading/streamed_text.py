"""Gemma streamed from disk layer by layer (``model.offload=disk`` for the text encoder): a Gemma 3 root folder
(Hugging Face shards) or the LTX-2.5 text-encoder file (Gemma 4), encoded with a peak of about two decoder layers
plus the activations instead of the whole language model.

The model is the in-memory one (``GemmaTextModel`` / ``Gemma4TextModel``, which just iterate their ``layers``)
with three parts swapped: ``layers`` becomes a ``StreamedTextLayers`` (``ltx2.loading.layer_stream``: each layer's
tensors read by byte offset on a reader thread one layer ahead, built in the compute dtype, quantized with
``quantize_under`` when text-encoder bits are set, run, evaluated and freed); ``embed_tokens`` becomes an
``EmbeddingRows`` reading only the rows of the prompt's tokens (the 12B table is 2 GB in bf16); the final norm is
loaded. Same tensors, same casts, same quantization: hidden states bit-identical to the in-memory loaders'.
Prompt enhancement (generation) is not offered on a streamed Gemma (it would read every layer per token).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import check_weights, load_weights_strict, read_header
from ltx2.loading.layer_stream import LayerStream
from ltx2.loading.safetensors_io import TensorReader, tensor_index, to_mlx
from ltx2.loading.streaming import AUTO_SHARE, check_offload

log = logging.getLogger(__name__)

Source = tuple[Path, str]  # (file, key in it)


def _widened(stored: np.ndarray, kind: str, dtype: mx.Dtype) -> np.ndarray:
    """bf16 made float32 in the reader thread for a float32 run (exact: the 16 bits move up), else as stored."""
    if dtype != mx.float32 or kind != "BF16":
        return stored
    widened = np.empty(stored.shape, np.uint32)
    np.left_shift(stored, 16, out=widened, dtype=np.uint32)
    return widened.view(np.float32)


def _as_run_dtype(value: mx.array, kind: str, dtype: mx.Dtype) -> mx.array:
    if not (value.dtype == mx.float32 and kind != "F32"):  # not widened by the reader
        value = to_mlx(value, kind)
    return value.astype(dtype) if mx.issubdtype(value.dtype, mx.floating) else value


def quantizable(module: nn.Module, group_size: int) -> bool:
    """What ``ltx2.models.text.gemma.quantize_under`` quantizes: embeddings and linears of a width that is a
    multiple of ``group_size``."""
    return hasattr(module, "to_quantized") and "scales" not in module and module.weight.shape[-1] % group_size == 0


class _Files:
    """One open reader per file (``pread`` is positional: the reader thread and the main thread share them)."""

    def __init__(self):
        self.readers: dict[Path, TensorReader] = {}

    def __call__(self, path: Path) -> TensorReader:
        if path not in self.readers:
            from ltx2.experiment.estimates import available_memory

            available = available_memory()
            self.readers[path] = TensorReader(path, drop_cache=available is not None
                                              and path.stat().st_size > available)
        return self.readers[path]

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()


class StreamedTextLayers(LayerStream):
    """Decoder layers read from their files each time they are iterated. ``sources[i]``: layer ``i``'s parameter
    name (relative to the layer) -> (file, key); ``make(i)``: an empty layer ``i``."""

    thread_name = "ltx2-gemma-reader"

    def __init__(self, sources: list[dict[str, Source]], make: Callable[[int], nn.Module], dtype: mx.Dtype,
                 quantize: tuple[int, int] | None = None, ahead: int = 1):
        super().__init__(len(sources), ahead)
        self.sources, self.make, self.dtype, self.quantize = sources, make, dtype, quantize
        self._files = _Files()

    def _kind(self, source: Source) -> str:
        return tensor_index(source[0])[source[1]].dtype

    def _read(self, index: int) -> dict[str, mx.array]:
        out = {}
        for name, source in self.sources[index].items():
            out[name] = mx.array(_widened(self._files(source[0]).read(source[1]), self._kind(source), self.dtype))
        return out

    def build(self, index: int, raw: dict[str, mx.array] | None = None) -> nn.Module:
        if raw is None:
            raw = self._read(index)
        sources = self.sources[index]
        self.stats.read_bytes += sum(tensor_index(f)[k].nbytes for f, k in sources.values())
        weights = [(name, _as_run_dtype(value, self._kind(sources[name]), self.dtype)) for name, value in raw.items()]
        layer = self.make(index)
        layer.load_weights(weights, strict=True)
        if self.quantize:
            bits, group_size = self.quantize
            nn.quantize(layer, group_size=group_size, bits=bits,
                        class_predicate=lambda _, m: quantizable(m, group_size))
        layer.eval()
        return layer

    def _outputs(self, result):
        return result  # Gemma 3: the hidden state; Gemma 4: (hidden state, (keys, values))

    def _close_files(self) -> None:
        self._files.close()


class EmbeddingRows(nn.Module):
    """An embedding table left on disk: ``__call__(ids)`` reads the rows of the distinct ids, casts them to the run
    dtype (and quantizes them, as the in-memory table would be: groups lie along a row) and gathers. Same numbers
    as ``nn.Embedding`` / ``nn.QuantizedEmbedding`` over the loaded table."""

    def __init__(self, source: Source, dtype: mx.Dtype, quantize: tuple[int, int] | None = None):
        super().__init__()
        # (no tuples or lists here: a Module keeps those as parameters)
        self._path, self._key, self._dtype = source[0], source[1], dtype
        entry = tensor_index(source[0])[source[1]]
        self._kind, self._width = entry.dtype, entry.shape[-1]
        quantized = quantize is not None and entry.shape[-1] % quantize[1] == 0
        self._bits, self._group_size = quantize if quantized else (None, None)
        self._reader: TensorReader | None = None

    def __call__(self, ids: mx.array) -> mx.array:
        distinct, where = np.unique(np.asarray(ids).reshape(-1), return_inverse=True)
        if self._reader is None:
            self._reader = TensorReader(self._path)
        stored = self._reader.read_rows(self._key, distinct)
        rows = _as_run_dtype(mx.array(_widened(stored, self._kind, self._dtype)), self._kind, self._dtype)
        if self._bits:
            rows = mx.dequantize(*mx.quantize(rows, self._group_size, self._bits), group_size=self._group_size,
                                 bits=self._bits)
        return rows[mx.array(where.astype(np.int32))].reshape(*ids.shape, self._width)

    def as_linear(self, x):
        raise ConfigError("model.offload", "disk", "a streamed Gemma reads only its prompts' embedding rows and "
                          "cannot generate (prompt enhancement)", "use model.offload=none with text.enhance_prompt")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def stream_language_model(owner: nn.Module, root: nn.Module, sources: dict[str, Source], layers: str,
                          make: Callable[[int], nn.Module], dtype: mx.Dtype, bits: int | None, group_size: int,
                          what: str, ahead: int = 1) -> int:
    """Swap ``owner``'s ``layers`` / ``embed_tokens`` for streamed ones and load its ``norm``. ``root``: the module
    whose parameter names are ``sources``' keys (each -> (file, key)); ``layers``: the layers' path under it
    (``model.layers``). Checks every name and shape first (one ConfigError). Returns how many layers are quantized
    (the in-memory count)."""
    shapes = {name: SimpleNamespace(shape=tensor_index(f)[k].shape) for name, (f, k) in sources.items()}
    check_weights(root, shapes, what)
    quantize = (bits, group_size) if bits else None
    count = sum(quantizable(m, group_size) for _, m in root.named_modules()) if bits else 0
    per_layer: list[dict[str, Source]] = [{} for _ in range(len(owner.layers))]
    top = layers.rpartition(".")[0]
    top = f"{top}." if top else ""
    for name, source in sources.items():
        if name.startswith(layers + "."):
            index, _, rest = name[len(layers) + 1:].partition(".")
            per_layer[int(index)][rest] = source
    norm = {n[len(top) + len("norm."):]: s for n, s in sources.items() if n.startswith(f"{top}norm.")}
    files = _Files()
    try:
        load_weights_strict(owner.norm, {n: to_mlx(files(f).read(k), tensor_index(f)[k].dtype)
                                         for n, (f, k) in norm.items()}, f"{what} (norm)", dtype)
    finally:
        files.close()
    owner.embed_tokens = EmbeddingRows(sources[f"{top}embed_tokens.weight"], dtype, quantize)
    owner.layers = StreamedTextLayers(per_layer, make, dtype, quantize, ahead)  # a plain attribute: no parameters
    return count


def gemma_bytes(tensors: dict[str, tuple[str, tuple[int, ...]]], dtype_bytes: float, bits: int | None,
                exclude: tuple[str, ...]) -> int:
    from ltx2.experiment import estimates as est

    return est.tensors_bytes(tensors, ("",), dtype_bytes, bits, exclude)


def resolve_text_offload(mode: str, gemma: str | os.PathLike, dtype: str, bits: int | None,
                         available: int | None = None) -> str:
    """``none`` or ``disk`` for the text encoder: ``auto`` streams when Gemma's weights in memory (the planner's
    byte count of its headers) would exceed AUTO_SHARE of the available memory."""
    check_offload(mode)
    if mode != "auto":
        return mode
    from ltx2.experiment import estimates as est
    from ltx2.models.text.gemma import VISION_PREFIXES, gemma_shards
    from ltx2.models.text.te_file import TEXT_ONLY_EXCLUDED, is_text_encoder_file

    b = est.DTYPE_BYTES.get(dtype, 4)
    if is_text_encoder_file(gemma):
        need = gemma_bytes(read_header(gemma).tensors, b, bits, TEXT_ONLY_EXCLUDED)
    else:
        need = sum(gemma_bytes(read_header(f).tensors, b, bits, VISION_PREFIXES) for f in gemma_shards(gemma))
    available = est.available_memory() if available is None else available
    chosen = "disk" if available is not None and need > AUTO_SHARE * available else "none"
    log.info("model.offload=auto: Gemma weights %.2f GiB, available %s -> %s", need / 2**30,
             f"{available / 2**30:.2f} GiB" if available else "unknown", chosen)
    return chosen


# -- the two text encoders ------------------------------------------------------------------------------------------
def load_streamed_gemma(root: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16, quantize_bits: int | None = None,
                        group_size: int = 64, ahead: int = 1):
    """Gemma 3 of a Hugging Face root folder, its layers streamed from the shards (``load_gemma``'s numbers)."""
    from mlx_lm.models import gemma3_text

    from ltx2.models.text.gemma import GemmaTextModel, gemma_shards, language_model_weights, read_gemma_config

    _check_bits(quantize_bits)
    config = read_gemma_config(root)
    keys = {k: (shard, k) for shard in gemma_shards(root) for k in tensor_index(shard)}
    sources = language_model_weights(keys)
    model = GemmaTextModel(config)
    args = gemma3_text.ModelArgs.from_dict(config.mlx_lm_args())
    count = stream_language_model(model.language_model.model, model.language_model, sources, "model.layers",
                                  lambda i: gemma3_text.TransformerBlock(args, i), dtype, quantize_bits, group_size,
                                  f"Gemma language model in {root}", ahead)
    _finish(model, quantize_bits, group_size, count)
    return model


def load_streamed_text_encoder_file(path: str | os.PathLike, dtype: mx.Dtype = mx.bfloat16,
                                    quantize_bits: int | None = None, group_size: int = 64, ahead: int = 1):
    """Gemma 4 of an LTX-2.5 text-encoder file, its layers streamed (``load_text_encoder_file``'s numbers)."""
    from ltx2.models.text.gemma4 import DecoderLayer, Gemma4TextModel
    from ltx2.models.text.te_file import language_model_weights, read_gemma4_config

    _check_bits(quantize_bits)
    config = read_gemma4_config(path)
    sources = language_model_weights({k: (Path(path), k) for k in tensor_index(path)})
    model = Gemma4TextModel(config)
    count = stream_language_model(model, model, sources, "layers", lambda i: DecoderLayer(config, i), dtype,
                                  quantize_bits, group_size, f"Gemma 4 language model in {path}", ahead)
    _finish(model, quantize_bits, group_size, count)
    return model


def _check_bits(bits: int | None) -> None:
    from ltx2.models.text.gemma import QUANT_BITS

    if bits is not None and bits not in QUANT_BITS:
        raise ValueError(f"Gemma quantization bits={bits!r} is not supported: use one of {QUANT_BITS} or None")


def _finish(model: nn.Module, bits: int | None, group_size: int, count: int) -> None:
    if bits:
        model.quantization = {"bits": bits, "group_size": group_size, "layers": count}
    mx.eval([v for _, v in tree_flatten(model.parameters())])
    model.eval()


def load_text_gemma(gemma: str | os.PathLike, dtype: mx.Dtype, quantize_bits: int | None = None):
    """The streamed loader for a Gemma 3 root or an LTX-2.5 text-encoder file (TextEncoder's ``load``)."""
    from ltx2.models.text.te_file import is_text_encoder_file

    load = load_streamed_text_encoder_file if is_text_encoder_file(gemma) else load_streamed_gemma
    log.info("text encoder %s: layers streamed from disk", gemma)
    return load(gemma, dtype, quantize_bits)


def streamed_layers(model: nn.Module) -> StreamedTextLayers | None:
    """The streamed layer list of a Gemma built here (for its ``stats``), None for an in-memory one."""
    for owner in (model, getattr(getattr(model, "language_model", None), "model", None)):
        layers = getattr(owner, "layers", None)
        if isinstance(layers, StreamedTextLayers):
            return layers
    return None
