"""One audio-video transformer block: self-attn, text cross-attn, audio<->video cross-attn, feed-forward."""

from __future__ import annotations

from dataclasses import dataclass, replace

import mlx.core as mx
import mlx.nn as nn

from ltx2 import ops
from ltx2.models.transformer.attention import Attention
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.layers import NORM_EPS, FeedForward
from ltx2.models.transformer.perturbations import BatchPerturbations, PerturbationType
from ltx2.ops import RopeTable


@dataclass(frozen=True)
class StreamArgs:
    """One modality's state between blocks (shapes: B batch, T tokens, D width, L text tokens)."""

    x: mx.array  # (B, T, D)
    context: mx.array  # (B, L, D) text context, already projected to D
    context_mask: mx.array | None  # additive (B, 1, 1, L) or None
    timesteps: mx.array  # (B, T or 1, coef*D) AdaLN modulation
    embedded_timestep: mx.array  # (B, T or 1, D)
    pe: RopeTable
    self_attention_mask: mx.array | None  # additive (B, 1, T, T) or None
    enabled: bool = True
    prompt_timestep: mx.array | None = None  # (B, 1, 2D), LTX-2.3 only
    cross_pe: RopeTable | None = None  # RoPE over time for audio<->video attention
    cross_scale_shift: mx.array | None = None  # (B, T or 1, 4D) from this modality's per-token timesteps
    cross_gate: mx.array | None = None  # (B, 1, D) from the *other* modality's sigma


def _ada(table: mx.array, timesteps: mx.array, rows: slice) -> list[mx.array]:
    """Modulation rows: ``table[r] + timesteps[..., r, :]``, each (B, T, D)."""
    b, t, _ = timesteps.shape
    values = table[rows].astype(timesteps.dtype) + timesteps.reshape(b, t, table.shape[0], -1)[:, :, rows]
    return [values[:, :, i] for i in range(values.shape[2])]


def modulated_input(args: StreamArgs, table: mx.array) -> mx.array:
    """A block's timestep-modulated self-attention input, ``rms_norm(x) * (1 + scale) + shift`` with the shift and
    scale rows of its AdaLN ``table`` (``LTXModel.first_block_table``) and the stream's timesteps."""
    shift, scale, _ = _ada(table, args.timesteps, slice(0, 3))
    return _norm(args.x, scale, shift)


def _modulate(x: mx.array, scale: mx.array, shift: mx.array) -> mx.array:
    return x * (1 + scale) + shift


def _norm(x: mx.array, scale: mx.array | None = None, shift: mx.array | None = None) -> mx.array:
    """``rms_norm(x)``, modulated ``* (1 + scale) + shift`` when given."""
    return ops.rms_norm_modulate(x, scale, shift, NORM_EPS)


class TransformerBlock(nn.Module):
    def __init__(self, index: int, config: TransformerConfig):
        super().__init__()
        self.index = index
        c = config
        self.cross_attention_adaln = c.cross_attention_adaln
        d, heads, hd, gated = c.inner_dim, c.num_attention_heads, c.attention_head_dim, c.apply_gated_attention
        ad, aheads, ahd = c.audio_inner_dim, c.audio_num_attention_heads, c.audio_attention_head_dim
        if c.video:
            self.attn1 = Attention(d, d, heads, hd, gated)
            self.attn2 = Attention(d, c.cross_attention_dim, heads, hd, gated)
            self.ff = FeedForward(d, bias=c.ff_bias)
            self.scale_shift_table = mx.zeros((c.adaln_coefficient, d))
            if c.cross_attention_adaln:
                self.prompt_scale_shift_table = mx.zeros((2, d))
        if c.audio:
            self.audio_attn1 = Attention(ad, ad, aheads, ahd, gated)
            self.audio_attn2 = Attention(ad, c.audio_cross_attention_dim, aheads, ahd, gated)
            self.audio_ff = FeedForward(ad, bias=c.audio_ff_bias)
            self.audio_scale_shift_table = mx.zeros((c.adaln_coefficient, ad))
            if c.cross_attention_adaln:
                self.audio_prompt_scale_shift_table = mx.zeros((2, ad))
        if c.audio and c.video:
            # Q from one stream, K/V from the other; both use the audio heads and head size.
            self.audio_to_video_attn = Attention(d, ad, aheads, ahd, gated)
            self.video_to_audio_attn = Attention(ad, d, aheads, ahd, gated)
            self.scale_shift_table_a2v_ca_video = mx.zeros((5, d))  # rows: scale_a2v, shift_a2v, scale_v2a, shift_v2a, gate
            self.scale_shift_table_a2v_ca_audio = mx.zeros((5, ad))

    def __call__(self, video: StreamArgs | None, audio: StreamArgs | None,
                 perturbations: BatchPerturbations) -> tuple[StreamArgs | None, StreamArgs | None]:
        vx = video.x if video is not None else None
        ax = audio.x if audio is not None else None
        run_v = video is not None and video.enabled and vx.size > 0
        run_a = audio is not None and audio.enabled and ax.size > 0
        skip = PerturbationType
        if run_v:
            vx = self._self_and_text(vx, video, perturbations, skip.SKIP_VIDEO_SELF_ATTN, "")
        if run_a:
            ax = self._self_and_text(ax, audio, perturbations, skip.SKIP_AUDIO_SELF_ATTN, "audio_")

        run_a2v = run_v and audio is not None and ax.size > 0
        run_v2a = run_a and video is not None and vx.size > 0
        if run_a2v or run_v2a:
            vn, an = _norm(vx), _norm(ax)  # both directions use these pre-a2v normals
            if run_a2v and not perturbations.all(skip.SKIP_A2V_CROSS_ATTN, self.index):
                keep = perturbations.keep(skip.SKIP_A2V_CROSS_ATTN, self.index).astype(vx.dtype).reshape(-1, 1, 1)
                vx = vx + self._av_update(self.audio_to_video_attn, (vn, video, self.scale_shift_table_a2v_ca_video),
                                          (an, audio, self.scale_shift_table_a2v_ca_audio), slice(0, 2)) * keep
            if run_v2a and not perturbations.all(skip.SKIP_V2A_CROSS_ATTN, self.index):
                keep = perturbations.keep(skip.SKIP_V2A_CROSS_ATTN, self.index).astype(ax.dtype).reshape(-1, 1, 1)
                ax = ax + self._av_update(self.video_to_audio_attn, (an, audio, self.scale_shift_table_a2v_ca_audio),
                                          (vn, video, self.scale_shift_table_a2v_ca_video), slice(2, 4)) * keep

        if run_v:
            shift, scale, gate = _ada(self.scale_shift_table, video.timesteps, slice(3, 6))
            vx = vx + self.ff(_norm(vx, scale, shift)) * gate
        if run_a:
            shift, scale, gate = _ada(self.audio_scale_shift_table, audio.timesteps, slice(3, 6))
            ax = ax + self.audio_ff(_norm(ax, scale, shift)) * gate
        return (_with_x(video, vx), _with_x(audio, ax))

    def _self_and_text(self, x: mx.array, args: StreamArgs, perturbations: BatchPerturbations,
                       skip: PerturbationType, prefix: str) -> mx.array:
        table = self[prefix + "scale_shift_table"]
        self_attn, text_attn = self[prefix + "attn1"], self[prefix + "attn2"]
        shift, scale, gate = _ada(table, args.timesteps, slice(0, 3))
        all_skipped = perturbations.all(skip, self.index)
        keep = None
        if not all_skipped and perturbations.any(skip, self.index):
            keep = perturbations.keep(skip, self.index)
        x = x + self_attn(_norm(x, scale, shift), pe=args.pe, mask=args.self_attention_mask,
                          passthrough=all_skipped, keep=keep) * gate
        if not self.cross_attention_adaln:  # LTX-2: plain norm, no modulation, no gate
            return x + text_attn(_norm(x), context=args.context, mask=args.context_mask)
        shift_q, scale_q, gate_q = _ada(table, args.timesteps, slice(6, 9))
        shift_kv, scale_kv = _ada(self[prefix + "prompt_scale_shift_table"], args.prompt_timestep, slice(0, 2))
        query = _norm(x, scale_q, shift_q)
        return x + text_attn(query, context=_modulate(args.context, scale_kv, shift_kv), mask=args.context_mask) * gate_q

    @staticmethod
    def _av_update(attn: Attention, query: tuple, key_value: tuple, rows: slice) -> mx.array:
        """Gated cross-attention update of the query stream. Each side is (rms-normed x, StreamArgs, AV table);
        AV tables hold (scale, shift) row pairs (rows 0-1 a2v, 2-3 v2a) and the query side's gate in row 4."""
        (q_norm, q_args, q_table), (kv_norm, kv_args, kv_table) = query, key_value
        q_scale, q_shift = _ada(q_table[:4], q_args.cross_scale_shift, rows)
        kv_scale, kv_shift = _ada(kv_table[:4], kv_args.cross_scale_shift, rows)
        (gate,) = _ada(q_table[4:], q_args.cross_gate, slice(0, 1))
        out = attn(_modulate(q_norm, q_scale, q_shift), context=_modulate(kv_norm, kv_scale, kv_shift),
                   pe=q_args.cross_pe, k_pe=kv_args.cross_pe)
        return out * gate


def _with_x(args: StreamArgs | None, x: mx.array | None) -> StreamArgs | None:
    return None if args is None else replace(args, x=x)
