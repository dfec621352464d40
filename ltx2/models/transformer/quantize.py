"""The transformer with MLX affine-quantized weights (``model.quantize=8|4``).

Which layers: the linear layers inside ``transformer_blocks`` (attention q/k/v/out of the video, audio and
cross-modal attentions, the feed-forwards): at 19B they hold ~98% of the transformer's weights (1.44 GiB float32
per block, 1.28 GiB outside the 48 blocks). Kept in the compute dtype:
- ``to_gate_logits`` (LTX-2.3's per-head gates, out = heads: a few KB per block, and they gate whole heads);
- everything outside the blocks: patchify / proj_out (the latent in/out projections), the adaLN and timestep
  embedders (they modulate every block: an error there shifts every block's scale, shift and gate) and the
  caption projections (~2% of the weights together);
- a linear whose input width is not a multiple of the group size (MLX quantizes groups along the input).
The official fp8 files also keep the first and last blocks in bf16; here every block is quantized (measured on the
tiny model: see tests/models/test_transformer_quantize.py; the 19B-width figures in tools/bench_quant.py).

Loading quantizes part by part (the top-level layers, then one block at a time), so the peak memory is the
quantized model plus one block in the compute dtype. LoRAs are fused in full precision *before* quantizing: the
weights a LoRA touches are read again from the checkpoint, fused, then quantized into a copy of the cached model
that shares every other array with it (``fused_quantized_copy``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from ltx2.loading.checkpoint import check_weights

log = logging.getLogger(__name__)

QUANT_BITS = (4, 8)
GROUP_SIZES = (32, 64, 128)
_KEPT = ("to_gate_logits",)


@dataclass(frozen=True)
class Quantization:
    """How a loaded transformer is quantized (``model.quantization``; absent on an unquantized model)."""

    bits: int
    group_size: int
    layers: int  # linear layers quantized


def check_quantization(bits, group_size) -> None:
    """ValueError naming the bad value (the runner turns the same rule into a ConfigError first)."""
    if bits is not None and (isinstance(bits, bool) or bits not in QUANT_BITS):
        raise ValueError(f"transformer quantization bits={bits!r} is not supported: use one of {QUANT_BITS} or None")
    if isinstance(group_size, bool) or group_size not in GROUP_SIZES:
        raise ValueError(f"transformer quantization group_size={group_size!r} is not one of {GROUP_SIZES}")


def quantizable(path: str, module: nn.Module, group_size: int) -> bool:
    """The layer policy above, for ``nn.quantize``'s ``class_predicate`` (paths relative to the LTXModel)."""
    return (isinstance(module, nn.Linear) and path.startswith("transformer_blocks.")
            and not path.endswith(_KEPT) and module.weight.shape[-1] % group_size == 0)


def quantize_transformer(model: nn.Module, bits: int, group_size: int = 64, under: str = "") -> int:
    """Quantize the chosen linears of ``model`` (those under the module path ``under``, default all) in place;
    returns how many were quantized."""
    check_quantization(bits, group_size)

    def chosen(path: str, module: nn.Module) -> bool:
        inside = not under or path == under or path.startswith(under + ".")
        return inside and quantizable(path, module, group_size)

    count = sum(chosen(p, m) for p, m in model.named_modules())
    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=chosen)
    return count


def load_quantizing(model: nn.Module, weights: dict[str, mx.array], what: str, dtype: mx.Dtype, bits: int,
                    group_size: int) -> None:
    """Load ``weights`` (full precision, lazy) into the unquantized ``model`` and quantize it, one part at a time:
    every key is checked first (one ConfigError for all problems), then the top-level tensors, then each block
    is cast, loaded, quantized and evaluated before the next is read."""
    check_weights(model, weights, what)
    blocks = [f"transformer_blocks.{i}." for i in range(len(model.transformer_blocks))]
    parts = [[k for k in weights if not k.startswith("transformer_blocks.")]]
    parts += [[k for k in weights if k.startswith(prefix)] for prefix in blocks]
    quantized = 0
    for index, keys in enumerate(parts):
        loaded = []
        for key in keys:
            value = weights.pop(key)
            if mx.issubdtype(value.dtype, mx.floating):
                value = value.astype(dtype)
            mx.eval(value)
            loaded.append((key, value))
        model.load_weights(loaded, strict=False)
        if index:
            path = blocks[index - 1].rstrip(".")
            quantized += quantize_transformer(model, bits, group_size, under=path)
            mx.eval(model.transformer_blocks[index - 1].parameters())
    mx.eval(model.parameters())
    kept = [p for p, m in model.named_modules() if isinstance(m, nn.Linear) and p.startswith("transformer_blocks.")
            and not p.endswith(_KEPT)]
    log.info("transformer quantized to %d bits (group size %d): %d linear layers", bits, group_size, quantized)
    if kept:
        log.warning("transformer quantization: %d block linears have an input width not divisible by group_size=%d "
                    "and stay in %s (e.g. %s)", len(kept), group_size, dtype, kept[0])
    model.quantization = Quantization(bits, group_size, quantized)


def fused_quantized_copy(base: nn.Module, loras, full_weights: dict[str, mx.array], dtype: mx.Dtype) -> nn.Module:
    """A copy of the quantized ``base`` sharing its arrays, with ``loras`` fused in full precision into the weights
    they touch: ``full_weights`` (model keys -> the checkpoint's weights, lazy) gives W, the fused W + delta is
    computed in ``dtype`` and only then quantized like the base's layer. Returns the copy."""
    from ltx2.loading.lora import fused_weights

    bits, group_size = base.quantization.bits, base.quantization.group_size
    copy = type(base)(base.config)
    nn.quantize(copy, group_size=group_size, bits=bits,
                class_predicate=lambda p, m: quantizable(p, m, group_size))  # same structure; lazy, never evaluated
    copy.update(base.parameters())
    copy.eval()
    copy.quantization = base.quantization
    params = {k: v.astype(dtype) for k, v in full_weights.items()}
    for key, weight in fused_weights(params, loras):
        path = key.removesuffix(".weight")
        module = _submodule(copy, path)
        if isinstance(module, nn.QuantizedLinear):
            linear = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in module)
            linear.weight = weight
            if "bias" in module:
                linear.bias = module.bias
            module = nn.QuantizedLinear.from_linear(linear, group_size, bits)
            _set_submodule(copy, path, module)
        else:
            module.weight = weight
        mx.eval(module.parameters())
    return copy


def parameter_bytes(model: nn.Module) -> int:
    return sum(v.nbytes for _, v in tree_flatten(model.parameters()))


def _submodule(module: nn.Module, path: str):
    for name in path.split("."):
        module = module[int(name)] if isinstance(module, list) else module[name]
    return module


def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = _submodule(root, parent_path) if parent_path else root
    if isinstance(parent, list):
        parent[int(name)] = new
    else:
        parent[name] = new
