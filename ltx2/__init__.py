"""ltx2: LTX-2 and LTX-2.3 audio-video diffusion on MLX."""

import os

from ltx2.backends.cpu.blas import ensure_fast_blas, mkl_exp

# MLX runs float32 matmuls as TF32 on CUDA (and M5-class GPUs) unless told not to: measured on an H100, the
# transformer's fp32 parity error went from 2e-3 to 1e-5 with it off. Exactness first; bf16 is unaffected.
os.environ.setdefault("MLX_ENABLE_TF32", "0")

ensure_fast_blas()  # must run before anything imports mlx

from ltx2 import ops  # noqa: E402  (mlx is imported from here on)
from ltx2.backends import cpu as _cpu_backend  # noqa: E402

ops.set_reference_exp(mkl_exp)  # host tables with the reference's float32 exp (MKL's VML, when MKL is loaded)
_cpu_backend.register()  # the CPU versions of the ops (none with LTX2_CPU_KERNELS=0)

__version__ = "0.1.0"
