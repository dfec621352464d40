"""Stepwise previews (``output.previews=N``): the denoised estimate x0 every N steps (and at the last step of each
loop), written while the run goes as ``previews/<loop>_step<k>.png`` and an animated ``progress.webp``.

Cheap decode: x0 tokens (128 latent channels) go through a linear map to RGB, fitted by least squares to the
model's own VAE decoder (``fit_projection``: decode a small random latent, average the decoded pixels over each
latent cell -- 32x32 pixels, 8 frames -- and solve ``[latent, 1] @ W = rgb`` with a small ridge penalty, on 3 x 12 x 12 latent cells). One matrix product per preview,
at latent resolution (1/32 of the picture), shown enlarged; the fit is made once per decoder and process.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger("ltx2")
RIDGE = 1e-3  # ridge penalty per sample (keeps the 129 x 3 fit stable on a few hundred latent cells)
PREVIEW_WIDTH = 256  # previews are enlarged (nearest) to at least this width
_PROJECTIONS: dict[int, np.ndarray] = {}  # id(decoder) -> (129, 3) least-squares map


def fit_projection(decoder, seed: int = 0, grid: tuple[int, int, int] = (3, 12, 12)) -> np.ndarray:
    """(129, 3) map from [128 latent channels, 1] to RGB in [-1, 1], fitted to ``decoder`` on a random latent."""
    import mlx.core as mx

    from ltx2.models.video_vae.tiled import decode_video

    f, h, w = grid
    latent = mx.random.normal((1, f, h, w, 128), key=mx.random.key(seed))  # channels-last (1, F', H', W', C)
    frames = np.concatenate(list(decode_video(decoder, latent)), axis=0).astype(np.float32) / 127.5 - 1.0
    return fit_to_pixels(np.array(latent[0]), frames)


def fit_to_pixels(latent: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Least-squares map from latent cells (F', H', W', C) to their mean pixels (frames (1 + 8 (F'-1), H, W, 3))."""
    target = cell_means(frames, latent.shape[:3])
    x = np.concatenate([latent.reshape(-1, latent.shape[-1]), np.ones((target.size // 3, 1))], axis=1)
    x, y = x.astype(np.float64), target.reshape(-1, 3).astype(np.float64)
    ridge = RIDGE * len(x) * np.eye(x.shape[1])
    ridge[-1, -1] = 0.0  # the bias is not shrunk
    return np.linalg.solve(x.T @ x + ridge, x.T @ y).astype(np.float32)


def cell_means(frames: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Mean pixel of each latent cell: frame 0 alone for latent frame 0, then 8 frames per latent frame."""
    f, h, w = grid
    groups = [frames[:1]] + [frames[1 + 8 * (i - 1): 1 + 8 * i] for i in range(1, f)]
    means = []
    for group in groups:
        g = group.mean(axis=0)
        means.append(g.reshape(h, g.shape[0] // h, w, g.shape[1] // w, 3).mean(axis=(1, 3)))
    return np.stack(means)  # (F', H', W', 3)


def project(latent: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Latent (..., 128) -> uint8 RGB (..., 3)."""
    rgb = latent.astype(np.float32) @ weights[:-1] + weights[-1]
    return np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)


class PreviewWriter:
    """A ``run_loop`` step hook writing previews of the video x0 every ``every`` steps into ``run_dir``."""

    def __init__(self, job, run_dir: Path, every: int) -> None:
        self.job, self.dir, self.every = job, Path(run_dir), int(every)
        self.images: list[np.ndarray] = []
        self.files: list[str] = []
        self.failed = False

    def __call__(self, info, title: str) -> None:
        step = info.index + 1
        if self.failed or (step % self.every and step != info.total):
            return
        try:
            self._write(info, title.replace(" ", "_"), step)
        except Exception as e:  # noqa: BLE001 - a preview must never end a run
            self.failed = True
            log.warning("previews: stopped (%s: %s)", type(e).__name__, e)

    def _grid(self, tokens: int) -> tuple[int, int, int]:
        """(F', H', W') of the video tokens: the full size, or half of it (a two-stage first stage)."""
        f = (self.job.num_frames - 1) // 8 + 1
        for scale in (1, 2):
            h, w = self.job.height // 32 // scale, self.job.width // 32 // scale
            if f * h * w <= tokens:
                return f, h, w
        raise ValueError(f"cannot place {tokens} video tokens on a latent grid")

    def _write(self, info, title: str, step: int) -> None:
        import mlx.core as mx
        from PIL import Image

        decoder = self.job.models.video_decoder()
        if id(decoder) not in _PROJECTIONS:
            _PROJECTIONS[id(decoder)] = fit_projection(decoder)
        x0 = np.array(info.denoised_video[0].astype(mx.float32))  # (T, 128) tokens
        f, h, w = self._grid(x0.shape[0])
        rgb = project(x0[: f * h * w].reshape(f, h, w, -1), _PROJECTIONS[id(decoder)])  # (F', H', W', 3)
        strip = np.concatenate(list(rgb), axis=1)  # latent frames side by side (H', F' W', 3)
        zoom = max(1, PREVIEW_WIDTH // max(w, 1))
        image = strip.repeat(zoom, axis=0).repeat(zoom, axis=1)
        folder = self.dir / "previews"
        folder.mkdir(exist_ok=True)
        name = f"previews/{title}_step{step:03d}.png"
        Image.fromarray(image).save(self.dir / name)
        self.files.append(name)
        self.images.append(image)
        frames = [Image.fromarray(i) for i in self.images if i.shape == image.shape] or [Image.fromarray(image)]
        tmp = self.dir / f".progress.tmp-{os.getpid()}.webp"
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=400, loop=0, lossless=True)
        os.replace(tmp, self.dir / "progress.webp")
        log.info("preview: %s (sigma %.3f)", name, info.sigma_next)


@contextmanager
def attached(job, every: int, run_dir: Path):
    """Hooks a PreviewWriter into the denoising loops for the duration of ``job`` (``every`` <= 0: nothing)."""
    from ltx2.pipelines import common

    if not every or every <= 0:
        yield None
        return
    writer = PreviewWriter(job, run_dir, every)
    common.STEP_HOOKS.append(writer)
    try:
        yield writer
    finally:
        common.STEP_HOOKS.remove(writer)
        if job.record is not None and writer.files:
            job.record.set(previews={"every": int(every), "files": writer.files, "animation": "progress.webp",
                                     "decode": "linear latent-to-RGB map fitted to the VAE decoder"})
