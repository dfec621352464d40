"""Comparing our arrays with the reference's."""

import mlx.core as mx
import numpy as np


def to_numpy(x) -> np.ndarray:
    """mx.array or torch.Tensor -> float32 numpy."""
    if isinstance(x, mx.array):
        return np.array(x.astype(mx.float32))
    return x.detach().float().numpy()


def max_abs_diff(a, b) -> float:
    return float(np.abs(to_numpy(a) - to_numpy(b)).max())
