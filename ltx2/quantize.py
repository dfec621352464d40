"""`python -m ltx2.quantize model=<preset or file.safetensors> bits=8|4 [group_size=64] [dtype=bfloat16] [out=PATH]`:
write a copy of a checkpoint whose transformer block linears are MLX affine-quantized, once, so that later runs
load it (``model.checkpoint=PATH``) without re-quantizing, in memory or streamed (``model.offload=disk``).

The copy is the whole checkpoint (VAE, vocoder, text connectors copied byte for byte); each quantized linear
``K.weight`` becomes ``K.weight`` (uint32, packed), ``K.scales`` and ``K.biases`` (``dtype``), exactly what
``model.quantize=bits`` computes at load time (same layer policy: ltx2.models.transformer.quantize; float8 weights
are decoded times their scales first). The metadata keeps the original ``config`` and adds ``quantization``
(``{"bits", "group_size", "dtype"}``). Written tensor by tensor: memory stays at about one tensor.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import mlx.core as mx

from ltx2.errors import ConfigError

ARGS = {"model": None, "bits": "8", "group_size": "64", "dtype": "bfloat16", "out": None}


def quantized_modules(path: str | os.PathLike, group_size: int) -> set[str]:
    """File-key module names (``model.diffusion_model.transformer_blocks.N...``) that ``model.quantize`` would
    quantize in this checkpoint."""
    from ltx2.loading.checkpoint import read_header
    from ltx2.models.transformer.block import TransformerBlock
    from ltx2.models.transformer.config import TransformerConfig
    from ltx2.models.transformer.load import PREFIX
    from ltx2.models.transformer.quantize import quantizable

    header = read_header(path)
    audio = f"{PREFIX}audio_patchify_proj.weight" in header.tensors
    config = TransformerConfig.from_metadata(header.section("transformer"), audio=audio)
    block = TransformerBlock(0, config)
    relative = [p for p, m in block.named_modules() if quantizable(f"transformer_blocks.0.{p}", m, group_size)]
    return {f"{PREFIX}transformer_blocks.{i}.{p}" for i in range(config.num_layers) for p in relative
            if f"{PREFIX}transformer_blocks.{i}.{p}.weight" in header.tensors}


def quantize_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, bits: int = 8, group_size: int = 64,
                        dtype: str = "bfloat16") -> Path:
    """Write the quantized copy of ``src`` to ``dst`` (see the module docstring); returns ``dst``."""
    from ltx2.loading.checkpoint import read_header, resolve_dtype
    from ltx2.loading.fp8 import INPUT_SCALE, WEIGHT_SCALE, dequantize_fp8
    from ltx2.loading.safetensors_io import SAFETENSORS_OF, TensorReader, tensor_index, to_bytes, to_mlx, write_streamed
    from ltx2.loading.streaming import QUANTIZATION_KEY
    from ltx2.models.transformer.quantize import check_quantization

    check_quantization(bits, group_size)
    compute = resolve_dtype(dtype)
    header = read_header(src)
    if QUANTIZATION_KEY in header.metadata:
        raise ConfigError("model", str(src), "is already quantized", "quantize the full-precision checkpoint")
    index = tensor_index(src)
    modules = quantized_modules(src, group_size)
    specs = []
    for key, entry in index.items():
        module, _, leaf = key.rpartition(".")
        if module in modules and leaf in (WEIGHT_SCALE, INPUT_SCALE):
            continue  # float8 scales: folded into the quantized weight
        if module in modules and leaf == "weight":
            out_dim, in_dim = entry.shape
            specs.append((key, "U32", (out_dim, in_dim * bits // 32)))
            for part in ("scales", "biases"):
                specs.append((f"{module}.{part}", SAFETENSORS_OF[compute], (out_dim, in_dim // group_size)))
        else:
            specs.append((key, entry.dtype, entry.shape))
    reader = TensorReader(src)
    held: dict[str, bytes] = {}

    def produce(key: str) -> bytes:
        if key in held:
            return held.pop(key)
        module, _, leaf = key.rpartition(".")
        if module not in modules or leaf != "weight":
            return reader.read(key).tobytes()
        tensors = {k: to_mlx(reader.read(k), index[k].dtype) for k in (key, f"{module}.{WEIGHT_SCALE}")
                   if k in index}
        weight = dequantize_fp8(tensors, {k: index[k].dtype for k in tensors}, str(src))[key].astype(compute)
        packed, scales, biases = mx.quantize(weight, group_size, bits)
        mx.eval(packed, scales, biases)
        held.update({f"{module}.scales": to_bytes(scales), f"{module}.biases": to_bytes(biases)})
        return to_bytes(packed)

    metadata = dict(header.metadata)
    metadata[QUANTIZATION_KEY] = json.dumps({"bits": bits, "group_size": group_size, "dtype": str(dtype)})
    try:
        return write_streamed(dst, specs, produce, metadata)
    finally:
        reader.close()


def _parse(argv: list[str]) -> dict[str, str]:
    args = dict(ARGS)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in ARGS:
            raise ConfigError(key or arg, value or arg, f"is not an argument of ltx2.quantize ({', '.join(ARGS)})",
                              "run python -m ltx2.quantize model=<preset or file> bits=8")
        args[key] = value
    if not args["model"]:
        raise ConfigError("model", None, "is required", "pass model=<preset> or model=/path/to/file.safetensors")
    return args


def _checkpoint_of(model: str) -> Path:
    if model.endswith(".safetensors") or os.sep in model:
        return Path(model)
    from ltx2.download import compose
    from ltx2.loading.hub import resolve

    cfg = compose([f"model={model}"])
    return Path(resolve("model.checkpoint", cfg.model.checkpoint, model))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        args = _parse(argv)
        bits, group = int(args["bits"]), int(args["group_size"])
        src = _checkpoint_of(args["model"])
        if not src.is_file():
            raise ConfigError("model", str(src), "does not exist", "download it first: python -m ltx2.download")
        dst = Path(args["out"] or src.with_name(f"{src.stem}-q{bits}.safetensors"))
        start = time.perf_counter()
        quantize_checkpoint(src, dst, bits, group, args["dtype"])
    except (ConfigError, ValueError) as e:
        print(f"ltx2: {e}", file=sys.stderr)
        return 2
    print(f"wrote {dst} ({dst.stat().st_size / 1e9:.2f} GB, from {src.stat().st_size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - start:.0f} s; run with model.checkpoint={dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
