"""ltx2: LTX-2 and LTX-2.3 audio-video diffusion on MLX."""

from ltx2._blas import ensure_fast_blas

ensure_fast_blas()  # must run before anything imports mlx

__version__ = "0.1.0"
