"""Float8 tensors of the official ``*-fp8.safetensors`` checkpoints, decoded to floats at load time.

The official fp8 variants (``ltx-2-19b-dev-fp8``, ``ltx-2.3-22b-dev-fp8``, ...) store the big linear weights of the
transformer blocks as ``F8_E4M3`` (float8 e4m3fn: 4 exponent bits, bias 7, 3 mantissa bits, no infinities, max 448)
in PyTorch layout (out, in), each with two float32 scalars beside it:

    transformer_blocks.10.attn1.to_k.weight        F8_E4M3 (4096, 4096)
    transformer_blocks.10.attn1.to_k.weight_scale  F32 ()    real weight = fp8 value * weight_scale
    transformer_blocks.10.attn1.to_k.input_scale   F32 ()    static activation scale of fp8 matmul kernels

Everything else (biases, norms, adaLN, blocks kept in full precision) is bf16. ``mx.load`` hands F8 tensors back as
raw ``uint8`` codes (lazily), so the header's dtype string says which tensors to decode: each code is decoded
(``mx.from_fp8``, or a 256-entry table; both exact for every code) and multiplied by its ``weight_scale``. The
decode stays lazy, so a loader that evaluates one tensor at a time holds at most one decoded tensor beyond the
model. ``input_scale`` is dropped: we compute in bf16/fp32, not with fp8 activations.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError

FP8_DTYPES = ("F8_E4M3", "F8_E5M2")
WEIGHT_SCALE, INPUT_SCALE = "weight_scale", "input_scale"
E4M3_MAX = 448.0


def _table(exponent_bits: int, mantissa_bits: int, finite_only: bool) -> np.ndarray:
    """float32 value of each of the 256 codes (sign, exponent, mantissa; IEEE-like with subnormals)."""
    bias = 2 ** (exponent_bits - 1) - 1
    codes = np.arange(256)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> mantissa_bits) & (2**exponent_bits - 1)
    mantissa = codes & (2**mantissa_bits - 1)
    fraction = mantissa / 2**mantissa_bits
    values = np.where(exponent == 0, fraction * 2.0 ** (1 - bias), (1 + fraction) * 2.0 ** (exponent - bias))
    top = exponent == 2**exponent_bits - 1
    if finite_only:  # e4m3fn: only S.1111.111 is NaN, the rest of the top exponent are normal numbers
        values = np.where(top & (mantissa == 2**mantissa_bits - 1), np.nan, values)
    else:  # e5m2: IEEE top exponent, infinity and NaNs
        values = np.where(top, np.where(mantissa == 0, np.inf, np.nan), values)
    return (sign * values).astype(np.float32)


TABLES = {"F8_E4M3": _table(4, 3, finite_only=True), "F8_E5M2": _table(5, 2, finite_only=False)}


def decode(codes: mx.array, kind: str = "F8_E4M3") -> mx.array:
    """uint8 codes -> float32 values (lazy). e4m3 through ``mx.from_fp8`` where MLX has it (2.5x faster than the
    table lookup on CPU, equal on all 256 codes: tests/models/test_transformer_quantize.py), else the table."""
    if kind == "F8_E4M3" and hasattr(mx, "from_fp8"):
        return mx.from_fp8(codes, mx.float32)
    return mx.take(mx.array(TABLES[kind]), codes.astype(mx.uint32))


def encode_e4m3(values: np.ndarray) -> np.ndarray:
    """float32 -> nearest e4m3fn code (saturating at +-448, as a clamp then cast does). For writing test files."""
    table = TABLES["F8_E4M3"]
    positive = np.arange(0x7F)  # codes 0x00..0x7e: 0 .. 448, increasing
    grid = table[positive]
    x = np.clip(np.abs(values.astype(np.float32)), 0, E4M3_MAX)
    upper = np.clip(np.searchsorted(grid, x), 1, len(grid) - 1)
    nearer_lower = (x - grid[upper - 1]) <= (grid[upper] - x)
    code = np.where(nearer_lower, upper - 1, upper).astype(np.uint8)
    return np.where(values < 0, code | 0x80, code).astype(np.uint8)


def has_fp8(dtypes: dict[str, str]) -> bool:
    """Float8 tensors or their scales among ``dtypes`` (key -> safetensors dtype string)."""
    return any(d in FP8_DTYPES or k.endswith((f".{WEIGHT_SCALE}", f".{INPUT_SCALE}")) for k, d in dtypes.items())


def dequantize_fp8(tensors: dict[str, mx.array], dtypes: dict[str, str], what: str) -> dict[str, mx.array]:
    """``tensors`` (keys as in the file) with every float8 tensor decoded to float32 times its ``weight_scale``
    (a scalar, or one value per output row), and the ``weight_scale`` / ``input_scale`` entries removed."""
    out = {}
    for key, value in tensors.items():
        module, _, leaf = key.rpartition(".")
        if leaf in (WEIGHT_SCALE, INPUT_SCALE):
            weight = f"{module}.weight"
            if dtypes.get(weight) not in FP8_DTYPES:
                raise ConfigError("checkpoint", what, f"{key} scales {weight}, which is not a float8 tensor "
                                  f"({dtypes.get(weight, 'absent')})", "use a valid official fp8 checkpoint")
            continue
        kind = dtypes.get(key)
        if kind not in FP8_DTYPES:
            out[key] = value
            continue
        decoded = decode(value, kind)
        scale = tensors.get(f"{module}.{WEIGHT_SCALE}") if leaf == "weight" else None
        if scale is not None:
            scale = scale.astype(mx.float32)
            if scale.size == 1:
                scale = scale.reshape(())
            elif decoded.ndim > 1 and scale.size == decoded.shape[0]:
                scale = scale.reshape(-1, *([1] * (decoded.ndim - 1)))  # one scale per output row
            else:
                raise ConfigError("checkpoint", what, f"{module}.{WEIGHT_SCALE} has shape {tuple(scale.shape)}; "
                                  f"expected a scalar or one value per row of the {tuple(decoded.shape)} weight",
                                  "use a valid official fp8 checkpoint")
            decoded = decoded * scale
        out[key] = decoded
    return out


def write_safetensors(path: str | os.PathLike, entries: dict[str, tuple[str, tuple[int, ...], bytes]],
                      metadata: dict[str, str]) -> Path:
    """A safetensors file from raw ``(dtype string, shape, little-endian bytes)`` entries: needed for dtypes MLX
    cannot write (``F8_E4M3``). Written to a temp file, then renamed."""
    from ltx2.loading.safetensors_io import write_streamed

    return write_streamed(path, [(key, *entries[key][:2]) for key in sorted(entries)], lambda key: entries[key][2],
                          metadata)
