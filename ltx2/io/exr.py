"""OpenEXR frames through OpenImageIO (the ``hdr`` extra: ``pip install 'ltx2[hdr]'``): float RGB written as
half floats with ZIP compression and a Rec.709 chromaticities tag, as the official HDR pipeline writes them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)  # R, G, B, white (x, y)


def missing() -> str | None:
    """Why EXR files cannot be written here, or None."""
    try:
        import OpenImageIO  # noqa: F401
    except ImportError:
        return "OpenImageIO is not installed: pip install 'ltx2[hdr]' (or: pip install openimageio)"
    return None


def write_exr(path: str | os.PathLike, image: np.ndarray, half: bool = True) -> None:
    """One (H, W, 3) float frame -> ``path`` (written to a temp name, then renamed)."""
    import OpenImageIO as oiio

    path = Path(path)
    pixels = np.ascontiguousarray(np.asarray(image, np.float32))
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.HALF if half else oiio.FLOAT)
    spec.channelnames = ("R", "G", "B")[:c]
    spec.attribute("compression", "zip")
    spec.attribute("chromaticities", "float[8]", REC709_CHROMATICITIES)
    spec.attribute("colorSpace", "lin_rec709")
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.exr")
    out = oiio.ImageOutput.create(str(tmp))
    if out is None:
        raise RuntimeError(f"OpenImageIO has no EXR writer: {oiio.geterror()}")
    try:
        if not out.open(str(tmp), spec) or not out.write_image(pixels):
            raise RuntimeError(f"writing {path}: {out.geterror()}")
    finally:
        out.close()
    os.replace(tmp, path)


def read_exr(path: str | os.PathLike) -> np.ndarray:
    """An EXR file -> (H, W, C) float32."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise RuntimeError(f"reading {path}: {buf.geterror()}")
    return np.asarray(buf.get_pixels(oiio.FLOAT), np.float32)
