"""The CPU backend: numpy + the loaded BLAS (cblas_sgemm) for float32 on the CPU device."""
