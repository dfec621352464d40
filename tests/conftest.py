"""Shared test helpers. `import ltx2` first: it loads the fast BLAS before mlx."""

import ltx2  # noqa: F401

import mlx.core as mx
import numpy as np
import pytest


def to_numpy(x) -> np.ndarray:
    """mx.array or torch.Tensor -> float32 numpy."""
    if isinstance(x, mx.array):
        return np.array(x.astype(mx.float32))
    return x.detach().float().numpy()


def max_abs_diff(a, b) -> float:
    return float(np.abs(to_numpy(a) - to_numpy(b)).max())


@pytest.fixture(scope="session")
def torch_cpu():
    """torch pinned to 2 threads, deterministic."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    return torch
