"""HDR working-space transfer curves and the display tone map (pure numpy).

The HDR IC-LoRA generates video whose decoded pixels, in [0, 1], are codes of a log working space: ARRI LogC3
(EI 800, the default) or ACEScct, named by the LoRA file's ``hdr_transform`` metadata. ``to_linear`` inverts the
curve to scene-linear light ([0, inf), Rec.709 primaries for LogC3: the curve's own; ACEScct's linear side is
ACEScg and is converted to Rec.709 with the standard 3x3 matrix). ``tone_map`` makes the 8-bit preview as the
official EXR -> MP4 step does: exposure 0, clamp to [0, 1], sRGB OETF. Curve constants from the published
specifications (ltx-core 1.2.0 ``ltx_core.hdr`` uses the same numbers)."""

from __future__ import annotations

import numpy as np

TRANSFERS = ("logc3", "acescct")

# ARRI LogC3, EI 800
_A, _B, _C, _D, _E, _F, _CUT = 5.555556, 0.052272, 0.247190, 0.385537, 5.367655, 0.092809, 0.010591
# ACEScct (AMPAS S-2016-001)
_CCT_A, _CCT_B, _CCT_Y_BREAK, _CCT_M, _CCT_OFFSET = 10.5402377416545, 0.0729055341958355, 0.155251141552511, 17.52, 9.72
# ACEScg (AP1, D60) -> linear Rec.709 (D65, Bradford)
_AP1_TO_REC709 = np.array([[1.70505, -0.62179, -0.08326],
                           [-0.13026, 1.14080, -0.01055],
                           [-0.02400, -0.12897, 1.15297]], np.float32)


def logc3_to_linear(code: np.ndarray) -> np.ndarray:
    """LogC3 codes (clamped to [0, 1]) -> scene-linear values."""
    x = np.clip(np.asarray(code, np.float32), 0.0, 1.0)
    from_log = (np.power(np.float32(10.0), (x - _D) / _C) - _B) / _A
    from_lin = (x - _F) / _E
    return np.where(x >= _E * _CUT + _F, from_log, from_lin).astype(np.float32)


def linear_to_logc3(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values -> LogC3 codes in [0, 1] (the forward curve; for tests and conditioning)."""
    x = np.maximum(np.asarray(linear, np.float32), 0.0)
    log_part = _C * np.log10(_A * x + _B) + _D
    return np.clip(np.where(x >= _CUT, log_part, _E * x + _F), 0.0, 1.0).astype(np.float32)


def acescct_to_linear(code: np.ndarray) -> np.ndarray:
    """ACEScct codes (clamped to [0, 1]) -> linear ACEScg values."""
    x = np.clip(np.asarray(code, np.float32), 0.0, 1.0)
    from_log = np.power(np.float32(2.0), x * _CCT_M - _CCT_OFFSET)
    from_lin = (x - _CCT_B) / _CCT_A
    return np.where(x > _CCT_Y_BREAK, from_log, from_lin).astype(np.float32)


def to_linear(code: np.ndarray, transfer: str = "logc3") -> np.ndarray:
    """Working-space codes (..., 3) in [0, 1] -> scene-linear Rec.709 (..., 3), clamped at 0."""
    if transfer == "logc3":
        return np.maximum(logc3_to_linear(code), 0.0)
    if transfer == "acescct":
        return np.maximum(acescct_to_linear(code) @ _AP1_TO_REC709.T, 0.0).astype(np.float32)
    raise ValueError(f"unknown HDR transfer {transfer!r}: one of {TRANSFERS}")


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] (clamped) -> sRGB-encoded [0, 1] (IEC 61966-2-1 OETF)."""
    x = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def tone_map(linear: np.ndarray, exposure: float = 0.0) -> np.ndarray:
    """Scene-linear frames -> uint8 sRGB preview frames: gain 2**exposure, clamp, sRGB OETF, rounded."""
    srgb = linear_to_srgb(np.asarray(linear, np.float32) * np.float32(2.0 ** exposure))
    return (srgb * 255.0 + 0.5).astype(np.uint8)
