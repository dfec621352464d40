"""The transformer built around ``StreamedBlocks`` (ltx2.loading.streaming): ``model.offload=disk``, pre-quantized
files (``python -m ltx2.quantize``) in memory or streamed, and LoRA-fused copies of either."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from ltx2.errors import ConfigError
from ltx2.loading.checkpoint import check_weights, read_header, resolve_dtype
from ltx2.loading.safetensors_io import tensor_index
from ltx2.loading.streaming import BLOCKS, StreamedBlocks, StreamedLora, file_quantization

log = logging.getLogger(__name__)

def load_offloaded_transformer(path: str | os.PathLike, dtype: str | mx.Dtype = "bfloat16", quantize: int | None = None,
                               group_size: int = 64, offload: str = "disk", audio: bool | None = None,
                               ahead: int = 1, video: bool = True):
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
        config = TransformerConfig.from_metadata(header.section("transformer"), audio=audio, video=video)
    except ConfigError as e:
        raise e.about("checkpoint", str(path)) from None
    names = sanitize({k[len(PREFIX):]: None for k in header.tensors if k.startswith(PREFIX)}, audio, video)
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
    top = {k: v for k, v in sanitize(load_tensors(path, PREFIX), audio, video).items()
           if not k.startswith(BLOCKS)}
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
        parsed.append(StreamedLora(str(path), float(strength),
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
