"""Tiny text stacks shared by the text tests (built once per session, offline)."""

import pytest

import ltx2  # noqa: F401  (fast BLAS before mlx)
from ltx2.tiny.checkpoint import write_tiny_checkpoint
from ltx2.tiny.text import write_tiny_gemma_root


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory):
    """{"gemma": tiny Gemma root, "ltx2": checkpoint, "ltx2.3": checkpoint}."""
    folder = tmp_path_factory.mktemp("tiny_text")
    out = {"gemma": write_tiny_gemma_root(folder / "tiny-gemma", seed=0)}
    for version in ("ltx2", "ltx2.3"):
        out[version] = write_tiny_checkpoint(folder / f"tiny-{version}.safetensors", version, seed=0)
    return out
