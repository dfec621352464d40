"""Deterministic random weights for the tiny fixtures."""

from __future__ import annotations

import numpy as np


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Unit-scale random weights: linear weights ~ N(0, 1/fan_in), norm weights ~ 1 + N(0, 0.1^2), the rest
    ~ N(0, 0.1^2). Drawn in sorted key order, so the same keys and seed give the same numbers."""
    rng = np.random.default_rng(seed)
    out = {}
    for key in sorted(shapes):
        shape = shapes[key]
        values = rng.standard_normal(shape).astype(np.float32)
        if key.endswith("norm.weight"):
            values = 1 + 0.1 * values
        elif key.endswith(".weight") and len(shape) == 2:
            values = values / np.sqrt(shape[1])
        else:
            values = 0.1 * values
        out[key] = values
    return out
