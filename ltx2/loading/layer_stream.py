"""A list of layers read from disk each time it is iterated: the machinery shared by the streamed transformer
blocks (``ltx2.loading.streaming.StreamedBlocks``) and the streamed Gemma layers (``ltx2.loading.streamed_text``).

A model's forward iterates its layer list (``for layer in self.layers``); a ``LayerStream`` in its place reads
layer ``i``'s tensors on a reader thread (``_read``: bytes only, the read releases the GIL), builds the layer on
the main thread (``build``: cast, decode, quantize, as the in-memory loader does), yields it wrapped so that its
outputs are evaluated before the next layer is built (its weights are then freed), and keeps ``ahead`` layers
being read in front. After the last layer it reads the first one again for the next forward.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn


@dataclass
class StreamStats:
    """Where a streamed forward's time goes: ``read_s`` waiting for a layer's bytes, ``compute_s`` building the
    layer (cast, decode, fuse, quantize) and running it; ``read_bytes`` read from disk."""

    read_s: float = 0.0
    compute_s: float = 0.0
    read_bytes: int = 0
    blocks: int = 0  # layers built

    def reset(self) -> None:
        self.read_s = self.compute_s = 0.0
        self.read_bytes = self.blocks = 0


class Evaluated:
    """A layer that evaluates its outputs (``outputs(result)``: the arrays to evaluate), so its weights can go
    before the next layer is built. Other attributes are the layer's (``layer.self_attn.is_sliding``)."""

    def __init__(self, layer: nn.Module, stats: StreamStats, outputs: Callable[[Any], Any]):
        self.layer, self.stats, self.outputs = layer, stats, outputs

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        result = self.layer(*args, **kwargs)
        mx.eval(self.outputs(result))
        self.stats.compute_s += time.perf_counter() - start
        return result

    def __getattr__(self, name: str):
        return getattr(self.layer, name)


class LayerStream:
    """Subclasses give ``_read(index)`` (reader thread: the layer's stored bytes), ``build(index, raw)`` (main
    thread: the module) and ``_outputs(result)`` (the arrays of a layer's result to evaluate)."""

    thread_name = "ltx2-layer-reader"

    def __init__(self, count: int, ahead: int = 1):
        self.count, self.ahead = count, max(1, ahead)
        self.stats = StreamStats()
        self._pool: ThreadPoolExecutor | None = None
        self._first = None  # the next forward's first layer, being read

    def __len__(self) -> int:
        return self.count

    def _read(self, index: int):
        raise NotImplementedError

    def build(self, index: int, raw=None) -> nn.Module:
        raise NotImplementedError

    def _outputs(self, result):
        return result

    def _close_files(self) -> None:
        """Close what ``_read`` opened (it reopens on the next use)."""

    def __getitem__(self, index: int) -> nn.Module:
        return self.build(index)

    def _submit(self, index: int):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=self.thread_name)
        return self._pool.submit(self._read, index)

    def __iter__(self):
        """Layers in order. The reader thread stays ``ahead`` layers in front and, after the last layer, reads the
        first one for the next forward (a sampler calls the model again at once)."""
        count = len(self)
        pending = deque([self._first if self._first is not None else self._submit(0)])
        self._first = None
        following = 1
        while len(pending) < self.ahead and following < count:
            pending.append(self._submit(following))
            following += 1
        for index in range(count):
            start = time.perf_counter()
            raw = pending.popleft().result()
            self.stats.read_s += time.perf_counter() - start
            if following < count:
                pending.append(self._submit(following))
                following += 1
            elif index == count - 1:
                self._first = self._submit(0)
            start = time.perf_counter()
            layer = self.build(index, raw)
            del raw
            self.stats.compute_s += time.perf_counter() - start
            self.stats.blocks += 1
            yield Evaluated(layer, self.stats, self._outputs)
            del layer

    def release(self) -> None:
        """Drop the layer read ahead for a next forward and close the files (they reopen on the next use)."""
        self._first = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._close_files()

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
