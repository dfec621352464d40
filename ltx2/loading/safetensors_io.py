"""Safetensors files read and written one tensor at a time, by byte offset.

``TensorReader`` reads a tensor's bytes with ``pread`` into a fresh numpy buffer: the file is never mapped, so the
process's resident memory counts only the tensors held (pages of a mapped file would count while touched), and
a reader thread can fetch the next tensors while MLX computes (the read releases the GIL). ``write_streamed``
writes a file from a list of (key, dtype, shape) and a function producing each tensor's bytes, so a file larger
than memory can be written (the full-size synthetic checkpoints, a quantized copy of a real one).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.loading.file_identity import file_identity

# safetensors dtype string -> numpy dtype of the stored bytes (bf16 and float8 travel as raw unsigned integers)
NUMPY_OF = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32, "F64": np.float64, "U8": np.uint8,
            "I8": np.int8, "U16": np.uint16, "I16": np.int16, "U32": np.uint32, "I32": np.int32, "U64": np.uint64,
            "I64": np.int64, "BOOL": np.bool_, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8}
ITEM_BYTES = {k: np.dtype(v).itemsize for k, v in NUMPY_OF.items()}
SAFETENSORS_OF = {mx.bfloat16: "BF16", mx.float16: "F16", mx.float32: "F32", mx.uint32: "U32", mx.uint8: "U8",
                  mx.int32: "I32", mx.int64: "I64"}


@dataclass(frozen=True)
class TensorEntry:
    dtype: str  # safetensors dtype string
    shape: tuple[int, ...]
    start: int  # absolute byte offsets in the file
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def tensor_index(path: str | os.PathLike) -> dict[str, TensorEntry]:
    """Key -> where its bytes are, from the header (parsed once per file version)."""
    return _tensor_index(str(path), file_identity(path))


@lru_cache(maxsize=16)
def _tensor_index(path: str, identity: tuple) -> dict[str, TensorEntry]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: TensorEntry(v["dtype"], tuple(v["shape"]), base + v["data_offsets"][0], base + v["data_offsets"][1])
            for k, v in header.items()}


class TensorReader:
    """``read(key)`` -> the tensor as a numpy array of its stored bytes (see NUMPY_OF); one open descriptor."""

    def __init__(self, path: str | os.PathLike, drop_cache: bool = False):
        self.path = Path(path)
        self.index = tensor_index(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        # a file larger than memory gains nothing from the page cache: drop what was read (others keep theirs)
        self.drop_cache = drop_cache and hasattr(os, "posix_fadvise")

    def read(self, key: str) -> np.ndarray:
        entry = self.index[key]
        buffer = np.empty(entry.nbytes, np.uint8)
        view, done = memoryview(buffer), 0
        while done < entry.nbytes:
            got = os.preadv(self._fd, [view[done:]], entry.start + done)
            if got <= 0:
                raise OSError(f"{self.path}: unexpected end of file reading {key}")
            done += got
        if self.drop_cache:
            os.posix_fadvise(self._fd, entry.start, entry.nbytes, os.POSIX_FADV_DONTNEED)
        return buffer.view(NUMPY_OF[entry.dtype]).reshape(entry.shape)

    def read_rows(self, key: str, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (indices along the first axis) of a tensor, as ``read(key)[rows]`` without reading the
        rest (an embedding table's rows for a prompt's tokens)."""
        entry = self.index[key]
        row_bytes = entry.nbytes // entry.shape[0]
        buffer = np.empty((len(rows), row_bytes), np.uint8)
        for slot, row in enumerate(np.asarray(rows, np.int64)):
            if not 0 <= row < entry.shape[0]:
                raise IndexError(f"{self.path}: row {row} of {key} (shape {entry.shape})")
            if os.preadv(self._fd, [memoryview(buffer[slot])], entry.start + int(row) * row_bytes) != row_bytes:
                raise OSError(f"{self.path}: unexpected end of file reading {key}")
        return buffer.view(NUMPY_OF[entry.dtype]).reshape(len(rows), *entry.shape[1:])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        self.close()


def to_mlx(array: np.ndarray | mx.array, dtype: str) -> mx.array:
    """Stored bytes (``TensorReader.read``) -> an MLX array with the same bits as ``mx.load`` gives (float8: the
    raw uint8 codes, as ``mx.load`` returns them). A reader thread may make the array (``mx.array(numpy)``, a
    copy and no op); the bf16 view is an op and must run on the thread that evaluates it."""
    out = array if isinstance(array, mx.array) else mx.array(array)
    return out.view(mx.bfloat16) if dtype == "BF16" else out


def to_bytes(value: mx.array | np.ndarray) -> bytes:
    """Little-endian bytes of an MLX (bf16 included) or numpy array."""
    if isinstance(value, mx.array):
        if value.dtype == mx.bfloat16:
            value = value.view(mx.uint16)
        value = np.asarray(value)
    return np.ascontiguousarray(value).tobytes()


def write_streamed(path: str | os.PathLike, specs: Iterable[tuple[str, str, tuple[int, ...]]],
                   produce: Callable[[str], bytes | Iterable[bytes]], metadata: dict[str, str]) -> Path:
    """Write a safetensors file tensor by tensor: ``specs`` gives (key, dtype string, shape) in file order,
    ``produce(key)`` the tensor's bytes when its turn comes (only one is held), or an iterable of byte chunks
    (a tensor larger than one should hold). Temp file, then renamed."""
    specs = list(specs)
    header: dict = {"__metadata__": metadata}
    offset = 0
    for key, dtype, shape in specs:
        size = math.prod(shape) * ITEM_BYTES[dtype]
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.safetensors")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for key, dtype, shape in specs:
                data = produce(key)
                expected = header[key]["data_offsets"][1] - header[key]["data_offsets"][0]
                written = 0
                for chunk in data if isinstance(data, (list, tuple)) or hasattr(data, "__next__") else (data,):
                    f.write(chunk)
                    written += memoryview(chunk).nbytes
                del data
                if written != expected:
                    raise ValueError(f"{key}: produced {written} bytes, its {dtype} {shape} needs {expected}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def require_file(path: str | os.PathLike, key: str = "model.checkpoint") -> Path:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(key, str(path), "does not exist", "point it at a .safetensors checkpoint")
    return path
