"""3-D convolutions of the video VAE and the latent upsampler, channels-last ``(B, F, H, W, C)``.

A convolution here is "unfold the 3x3 spatial neighbourhood into channels, then matmuls over the temporal taps"
(MLX's CPU ``conv3d`` measured ~2x slower than this on the VAE's layers). The unfolded buffer is built for a
few frames (or a band of rows) at a time so that it stays small next to the activations.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ltx2.backends.cpu import conv3d as cpu_conv
from ltx2.models.video_vae.layout import Prologue

PADDING_MODES = ("zeros", "reflect")
# Largest unfolded (im2col) buffer built at once; bigger inputs are convolved a few frames at a time.
UNFOLD_BUDGET_BYTES = 96 * 2**20
# Below this many output channels, all temporal taps go into one wider matmul (see _conv_merged_time_taps).
MERGED_TAPS_BELOW = 512


def pad_space(x: mx.array, mode: str, pad: int = 1) -> mx.array:
    """Pad H and W (axes 2, 3) by ``pad``: ``zeros``, or ``reflect`` (mirror without repeating the edge)."""
    if pad == 0:
        return x
    if mode == "zeros":
        return mx.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)])
    if mode != "reflect":
        raise ValueError(f"spatial padding mode {mode!r} is not one of {PADDING_MODES}")
    for axis in (2, 3):
        n = x.shape[axis]
        if n <= pad:
            raise ValueError(f"reflect padding by {pad} needs more than {pad} pixels on axis {axis}, got {n}")
        front = [mx.take(x, mx.array([i]), axis=axis) for i in range(pad, 0, -1)]
        back = [mx.take(x, mx.array([n - 1 - i]), axis=axis) for i in range(1, pad + 1)]
        x = mx.concatenate(front + [x] + back, axis=axis)
    return x


def conv3d_valid(x: mx.array, weight: mx.array, bias: mx.array | None,
                 stride: tuple[int, int, int] = (1, 1, 1), time_pad: tuple[int, int] = (0, 0),
                 space_pad: str | None = None, prologue: Prologue | None = None) -> mx.array:
    """3-D convolution without implicit padding. x: (B, T, H, W, I), weight: (O, kT, kH, kW, I) ->
    (B, T', H', W', O). ``time_pad`` (front, back) repeats the edge frames and ``space_pad`` ("zeros" or
    "reflect") pads H and W by 1. ``prologue`` (norm + SiLU) is applied to x first."""
    if cpu_conv.applies(x, weight, stride):
        return cpu_conv.conv3d_3x3x3(x, weight, bias, time_pad, space_pad, prologue)
    if prologue is not None:
        x = prologue(x)
    if weight.shape[0] < MERGED_TAPS_BELOW and weight.shape[1] > 1 and stride[0] == 1:
        return _conv_merged_time_taps(x, weight, bias, stride, time_pad, space_pad)
    return _conv_per_time_tap(x, weight, bias, stride, time_pad, space_pad)


def _conv_per_time_tap(x, weight, bias, stride, time_pad, space_pad) -> mx.array:
    """Wide outputs: unfold a few frames at a time, one matmul per temporal tap accumulated with addmm."""
    out_ch, kt, kh, kw, in_ch = weight.shape
    st, sh, sw = stride
    front, back = time_pad
    grow = 2 if space_pad else 0
    b, t, h, w = x.shape[0], x.shape[1] + front + back, x.shape[2] + grow, x.shape[3] + grow
    t_out, h_out, w_out = (t - kt) // st + 1, (h - kh) // sh + 1, (w - kw) // sw + 1
    # (kT, kH*kW*I, O): one matmul operand per temporal tap, rows ordered (kh, kw, i) like the unfold below
    taps = weight.reshape(out_ch, kt, kh * kw * in_ch).transpose(1, 2, 0)
    frame_bytes = b * h_out * w_out * kh * kw * in_ch * x.itemsize
    step = max(1, min(t_out, UNFOLD_BUDGET_BYTES // max(1, frame_bytes * st)))
    chunks = []
    for t0 in range(0, t_out, step):
        n = min(step, t_out - t0)
        frames = _padded_frames(x, t0 * st, (t0 + n - 1) * st + kt, front)  # the frames these n outputs read
        if space_pad:
            frames = pad_space(frames, space_pad)
        cols = _unfold_space(frames, kh, kw, sh, sw, h_out, w_out)  # (B, frames, H', W', kH*kW*I)
        out = None
        for dt in range(kt):
            rows = cols[:, dt: dt + (n - 1) * st + 1: st].reshape(-1, cols.shape[-1])
            if out is None:
                out = rows @ taps[dt] if bias is None else mx.addmm(bias, rows, taps[dt])
            else:
                out = mx.addmm(out, rows, taps[dt])
        chunks.append(out.reshape(b, n, h_out, w_out, out_ch))
    return chunks[0] if len(chunks) == 1 else mx.concatenate(chunks, axis=1)


def _conv_merged_time_taps(x, weight, bias, stride, time_pad, space_pad) -> mx.array:
    """Narrow outputs (BLAS is slow for N ~ 128): one matmul computes all temporal taps side by side
    (N = kT*O) for every padded frame of a band of rows, then the taps are summed shifted in time."""
    out_ch, kt, kh, kw, in_ch = weight.shape
    _, sh, sw = stride
    front, back = time_pad
    if space_pad:
        x = pad_space(x, space_pad)
    b, t, h, w = x.shape[0], x.shape[1] + front + back, x.shape[2], x.shape[3]
    t_out, h_out, w_out = t - kt + 1, (h - kh) // sh + 1, (w - kw) // sw + 1
    merged = weight.transpose(2, 3, 4, 1, 0).reshape(kh * kw * in_ch, kt * out_ch)  # columns ordered (tap, o)
    row_bytes = b * t * w_out * kh * kw * in_ch * x.itemsize
    step = max(1, min(h_out, UNFOLD_BUDGET_BYTES // max(1, row_bytes)))
    bands = []
    for h0 in range(0, h_out, step):
        n = min(step, h_out - h0)
        band = x[:, :, h0 * sh: (h0 + n - 1) * sh + kh]
        band = _padded_frames(band, 0, t, front)
        cols = _unfold_space(band, kh, kw, sh, sw, n, w_out)  # (B, T+pad, n, W', kH*kW*I)
        taps = (cols.reshape(-1, cols.shape[-1]) @ merged).reshape(b, t, n, w_out, kt, out_ch)
        out = taps[:, :t_out, :, :, 0]
        for dt in range(1, kt):
            out = out + taps[:, dt: dt + t_out, :, :, dt]
        bands.append(out if bias is None else out + bias)
    return bands[0] if len(bands) == 1 else mx.concatenate(bands, axis=2)


def _padded_frames(x: mx.array, start: int, stop: int, front: int) -> mx.array:
    """Frames [start, stop) of ``x`` padded in time by ``front`` copies of frame 0 (and copies of the last
    frame past its end), without building the padded tensor."""
    first, last = start - front, stop - front  # in x's own frame indices
    n = x.shape[1]
    parts = [x[:, :1]] * max(0, min(0, last) - first)
    if max(first, 0) < min(last, n):
        parts.append(x[:, max(first, 0): min(last, n)])
    parts += [x[:, -1:]] * max(0, last - max(first, n))
    return parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=1)


def _unfold_space(x: mx.array, kh: int, kw: int, sh: int, sw: int, h_out: int, w_out: int) -> mx.array:
    if kh == kw == 1 and sh == sw == 1:
        return x
    shifted = [x[:, :, i: i + (h_out - 1) * sh + 1: sh, j: j + (w_out - 1) * sw + 1: sw]
               for i in range(kh) for j in range(kw)]
    return mx.concatenate(shifted, axis=-1)


class Conv3dParams(nn.Module):
    """``weight`` (O, kT, kH, kW, I) and ``bias`` (O,) of a 3-D convolution (MLX layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (3, 3, 3)):
        super().__init__()
        scale = (in_channels * kernel[0] * kernel[1] * kernel[2]) ** -0.5
        self.weight = mx.random.uniform(-scale, scale, (out_channels, *kernel, in_channels))
        self.bias = mx.zeros((out_channels,))


class CausalConv3d(nn.Module):
    """3x3x3 convolution that pads time by repeating edge frames and H/W by ``padding_mode`` (key ``conv``)."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str,
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.padding_mode = padding_mode
        self.stride = stride
        self.conv = Conv3dParams(in_channels, out_channels)

    def __call__(self, x: mx.array, causal: bool = True, prologue: Prologue | None = None) -> mx.array:
        time_pad = (2, 0) if causal else (1, 1)  # repeated edge frames
        return conv3d_valid(x, self.conv.weight, self.conv.bias, self.stride, time_pad, self.padding_mode, prologue)


def zero_padded_conv3d(x: mx.array, weight: mx.array, bias: mx.array) -> mx.array:
    """Convolution with zero padding of ``k//2`` on every axis (torch ``Conv3d(padding=1)``)."""
    _, kt, kh, kw, _ = weight.shape
    x = mx.pad(x, [(0, 0), (kt // 2, kt // 2), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    return conv3d_valid(x, weight, bias)


def torch_to_mlx_conv(weight: mx.array) -> mx.array:
    """PyTorch conv weight (O, I, *k) -> MLX (O, *k, I)."""
    return mx.moveaxis(weight, 1, -1)


def mlx_to_torch_conv(weight: mx.array) -> mx.array:
    """MLX conv weight (O, *k, I) -> PyTorch (O, I, *k)."""
    return mx.moveaxis(weight, -1, 1)
