"""The CPU backend: numpy + the loaded BLAS (cblas_sgemm) for float32 on the CPU device.

``register()`` (called by ``import ltx2``) registers this backend's version of each op it speeds up, with the rule
for when it applies: float32 on the CPU device, and per op a size above which a host synchronisation pays
(``transformer.active``, ``conv3d.applies``). ``LTX2_CPU_KERNELS=0`` registers none: the MLX versions in
``ltx2/ops.py`` then run everywhere, as on GPUs. (This file imports nothing at load: ``ltx2/__init__`` loads
``blas.py`` from this package before mlx may be imported.)
"""

from __future__ import annotations

NAME = "cpu"
_registered = False


def register() -> bool:
    """Register the CPU versions of the ops (once); False when ``LTX2_CPU_KERNELS=0`` keeps them out."""
    from ltx2 import ops
    from ltx2.backends.cpu import conv3d, elementwise, pool, transformer

    global _registered
    if _registered or not pool.enabled():
        return _registered
    for op, applies, run in [
        ("linear", transformer.linear_applies, transformer.linear),
        ("linear_gelu", transformer.linear_gelu_applies, transformer.linear_gelu),
        ("rms_norm_modulate", transformer.rms_norm_modulate_applies, transformer.rms_norm_modulate),
        ("qk_norm_rope", transformer.qk_norm_rope_applies, transformer.qk_norm_rope),
        ("attention", transformer.attention_applies, transformer.attention),
        ("cos_sin", transformer.cos_sin_applies, transformer.cos_sin),
        ("silu", elementwise.silu_applies, elementwise.silu),
        ("norm_silu", elementwise.norm_silu_applies, elementwise.norm_silu),
        ("snake", elementwise.snake_applies, elementwise.snake),
        ("conv3d", conv3d.applies, conv3d.conv3d),
    ]:
        ops.register(op, NAME, applies, run)
    _registered = True
    return True
