"""The LTX-2 / LTX-2.3 / LTX-2.5 diffusion transformer (velocity prediction) and its x0 wrapper."""

from __future__ import annotations

from dataclasses import dataclass, replace

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ltx2.models.transformer.block import StreamArgs, TransformerBlock
from ltx2.models.transformer.config import TransformerConfig
from ltx2.models.transformer.layers import AdaLayerNormSingle, CaptionProjection, Linear
from ltx2.models.transformer.perturbations import BatchPerturbations
from ltx2.models.transformer.rope import cached_rope_table


@dataclass(frozen=True)
class Modality:
    """One modality's transformer input (B batch, T tokens, L text tokens)."""

    latent: mx.array  # (B, T, C) patchified latent tokens
    sigma: mx.array  # () or (B,): the step's sigma (AV cross-attention and LTX-2.3 prompt AdaLN use it)
    timesteps: mx.array  # (B, T) or (B, T, 1): denoise_mask * sigma
    positions: mx.array  # (B, 3, T, 2) video [t s, h px, w px] bounds, or (B, 1, T, 2) audio
    context: mx.array  # (B, L, C_text) text context from the embeddings processor
    enabled: bool = True
    context_mask: mx.array | None = None  # (B, L) 1 = attend; float masks are used as additive biases
    attention_mask: mx.array | None = None  # (B, T, T) in [0, 1]: conditioning attention strengths
    # (B, T, 1) or (B, T), video: > 0 on tokens of a single-pixel-frame latent (the target's first latent frame),
    # which get the model's keyframe embedding (LTX-2.5); None: no token marked
    keyframes_mask: mx.array | None = None


class LTXModel(nn.Module):
    """Velocity-predicting transformer; ``__call__(video, audio, perturbations) -> (v_video, v_audio)``."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = c = config
        if c.video:
            self.patchify_proj = Linear(c.in_channels, c.inner_dim)
            self.adaln_single = AdaLayerNormSingle(c.inner_dim, c.adaln_coefficient)
            if c.has_caption_projection:
                self.caption_projection = CaptionProjection(c.caption_channels, c.inner_dim)
            if c.has_prompt_adaln:
                self.prompt_adaln_single = AdaLayerNormSingle(c.inner_dim, 2)
            if c.use_keyframes_abs_pos_embedding:
                self.keyframes_abs_pos_embedding = mx.zeros((1, c.inner_dim))
            self.scale_shift_table = mx.zeros((2, c.inner_dim))  # output rows: shift, scale
            self.proj_out = Linear(c.inner_dim, c.out_channels)
        if c.audio:
            ad = c.audio_inner_dim
            self.audio_patchify_proj = Linear(c.audio_in_channels, ad)
            self.audio_adaln_single = AdaLayerNormSingle(ad, c.adaln_coefficient)
            if c.has_caption_projection:
                self.audio_caption_projection = CaptionProjection(c.caption_channels, ad)
            if c.has_prompt_adaln:
                self.audio_prompt_adaln_single = AdaLayerNormSingle(ad, 2)
            self.audio_scale_shift_table = mx.zeros((2, ad))
            self.audio_proj_out = Linear(ad, c.audio_out_channels)
        if c.audio and c.video:
            self.av_ca_video_scale_shift_adaln_single = AdaLayerNormSingle(c.inner_dim, 4)
            self.av_ca_audio_scale_shift_adaln_single = AdaLayerNormSingle(ad, 4)
            self.av_ca_a2v_gate_adaln_single = AdaLayerNormSingle(c.inner_dim, 1)
            self.av_ca_v2a_gate_adaln_single = AdaLayerNormSingle(ad, 1)
        self.transformer_blocks = [TransformerBlock(i, c) for i in range(c.num_layers)]

    def __call__(self, video: Modality | None, audio: Modality | None = None,
                 perturbations: BatchPerturbations | None = None) -> tuple[mx.array | None, mx.array | None]:
        v, a = self.prepare(video, audio)
        v, a = self.run_blocks(v, a, perturbations)
        return self.finish(v, a)

    # The forward in three parts, for callers that reuse one part's result across steps (ltx2/sampling/step_cache.py):
    # prepare (patchify, AdaLN, RoPE) -> run_blocks (the blocks, where nearly all the work is) -> finish (output layer).
    def prepare(self, video: Modality | None, audio: Modality | None = None
                ) -> tuple[StreamArgs | None, StreamArgs | None]:
        """The streams the first block receives (None for an absent modality)."""
        if audio is not None and not self.config.audio:
            raise ValueError("this is a video-only transformer: pass audio=None")
        if video is not None and not self.config.video:
            raise ValueError("this is an audio-only transformer: pass video=None")
        if video is None and audio is None:
            raise ValueError("pass at least one of video and audio")
        v = self._prepare(video, audio, "") if video is not None else None
        a = self._prepare(audio, video, "audio_") if audio is not None else None
        return v, a

    def run_blocks(self, v: StreamArgs | None, a: StreamArgs | None, perturbations: BatchPerturbations | None = None
                   ) -> tuple[StreamArgs | None, StreamArgs | None]:
        """The streams after every block."""
        perturbations = perturbations or BatchPerturbations.none((v or a).x.shape[0])
        for block in self.transformer_blocks:
            v, a = block(v, a, perturbations)
        return v, a

    def finish(self, v: StreamArgs | None, a: StreamArgs | None) -> tuple[mx.array | None, mx.array | None]:
        """Velocities from the last block's streams."""
        return (self._output(v, "") if v is not None else None, self._output(a, "audio_") if a is not None else None)

    def first_block_table(self, prefix: str = "") -> mx.array:
        """The first block's AdaLN table of ``prefix`` ("" video, "audio_" audio): with a stream's timesteps it gives
        the timestep-modulated input of the first block (``block.modulated_input``). Read once by the caller (a
        streamed model builds the block to read it)."""
        return self.transformer_blocks[0][prefix + "scale_shift_table"]

    # -- input side -------------------------------------------------------------------------------------------
    def _prepare(self, m: Modality, other: Modality | None, prefix: str) -> StreamArgs:
        c, is_video = self.config, prefix == ""
        dtype, batch = m.latent.dtype, m.latent.shape[0]
        heads = c.num_attention_heads if is_video else c.audio_num_attention_heads
        dim = c.inner_dim if is_video else c.audio_inner_dim
        x = self[prefix + "patchify_proj"](m.latent)
        if is_video:
            x = self._add_keyframe_embedding(x, m.keyframes_mask)
        timesteps, embedded = _adaln_per_token(self[prefix + "adaln_single"], m.timesteps * c.timestep_scale_multiplier,
                                               batch, dtype)
        prompt_timestep = None
        if c.has_prompt_adaln:
            prompt_timestep, _ = self[prefix + "prompt_adaln_single"](
                _per_sample(m.sigma, batch) * c.timestep_scale_multiplier, dtype)
            prompt_timestep = prompt_timestep.reshape(batch, -1, prompt_timestep.shape[-1])
        elif c.cross_attention_adaln:  # no prompt AdaLN: the K/V modulation is the block's static table (+ 0)
            prompt_timestep = mx.zeros((batch, 1, 2 * dim), dtype)
        context = m.context
        if c.has_caption_projection:
            context = self[prefix + "caption_projection"](context)
        pe = cached_rope_table(m.positions, dim, heads, c.positional_embedding_max_pos if is_video
                        else c.audio_positional_embedding_max_pos, c.rope_type, c.positional_embedding_theta,
                        c.float64_rope, use_middle=True, dtype=dtype)
        args = StreamArgs(x=x, context=context.reshape(batch, -1, dim), context_mask=_context_bias(m.context_mask, dtype),
                          timesteps=timesteps, embedded_timestep=embedded, pe=pe,
                          self_attention_mask=_self_attention_bias(m.attention_mask, dtype), enabled=m.enabled,
                          prompt_timestep=prompt_timestep)
        if other is None or not (c.audio and c.video):
            return args
        return self._add_cross_modal(args, m, other, heads, is_video)

    def _add_cross_modal(self, args: StreamArgs, m: Modality, other: Modality, heads: int,
                         is_video: bool) -> StreamArgs:
        """RoPE over time and AdaLN inputs for audio<->video attention (ltx-core 1.2.0): scale/shift from *this*
        modality's per-token timesteps (conditioned tokens at timestep 0 get their own), the gate from the *other*
        modality's sigma. (1.0.0 took both from the other sigma.)"""
        c, dtype, batch = self.config, m.latent.dtype, m.latent.shape[0]
        cross_pe = cached_rope_table(m.positions[:, 0:1], c.audio_cross_attention_dim, heads, (c.cross_pe_max_pos,),
                              c.rope_type, c.positional_embedding_theta, c.float64_rope, use_middle=True, dtype=dtype)
        name = "video" if is_video else "audio"
        gate_name = "a2v" if is_video else "v2a"
        scale_shift, _ = _adaln_per_token(self[f"av_ca_{name}_scale_shift_adaln_single"],
                                          m.timesteps * c.timestep_scale_multiplier, batch, dtype)
        gate, _ = self[f"av_ca_{gate_name}_gate_adaln_single"](
            _per_sample(other.sigma, batch) * c.timestep_scale_multiplier
            * (c.av_ca_timestep_scale_multiplier / c.timestep_scale_multiplier), dtype)
        return replace(args, cross_pe=cross_pe, cross_scale_shift=scale_shift, cross_gate=gate.reshape(batch, 1, -1))

    def _add_keyframe_embedding(self, x: mx.array, keyframes_mask: mx.array | None) -> mx.array:
        """``x + (mask > 0) * keyframes_abs_pos_embedding`` right after patchify_proj (video only); a model without
        the embedding, or no mask, leaves ``x`` as it is."""
        if keyframes_mask is None or "keyframes_abs_pos_embedding" not in self:
            return x
        mask = keyframes_mask.reshape(x.shape[0], x.shape[1], 1)
        return x + (mask > 0).astype(x.dtype) * self.keyframes_abs_pos_embedding.astype(x.dtype)

    # -- output side ------------------------------------------------------------------------------------------
    def _output(self, args: StreamArgs, prefix: str) -> mx.array:
        table = self[prefix + "scale_shift_table"].astype(args.x.dtype)
        shift = table[0] + args.embedded_timestep
        scale = table[1] + args.embedded_timestep
        x = mx.fast.layer_norm(args.x, None, None, self.config.norm_eps)
        return self[prefix + "proj_out"](x * (1 + scale) + shift)


def _adaln_per_token(adaln: AdaLayerNormSingle, t: mx.array, batch: int, dtype: mx.Dtype) -> tuple[mx.array, mx.array]:
    """AdaLN of per-token timesteps, computed once per distinct value (a denoise mask has few) and gathered.

    Same numbers as running it on every token, without a (T, coef*D) matrix product per step.
    """
    flat = np.asarray(t.reshape(-1).astype(mx.float32))
    values, inverse = np.unique(flat, return_inverse=True)
    mod, emb = adaln(mx.array(values), dtype)
    if len(values) > 1 or flat.size == batch:
        idx = mx.array(inverse.reshape(-1).astype(np.int32))
        return mod[idx].reshape(batch, -1, mod.shape[-1]), emb[idx].reshape(batch, -1, emb.shape[-1])
    # one value for every token: keep (B, 1, ...) and let broadcasting do the rest
    return (mx.broadcast_to(mod, (batch, mod.shape[-1]))[:, None],
            mx.broadcast_to(emb, (batch, emb.shape[-1]))[:, None])


def _per_sample(sigma: mx.array, batch: int) -> mx.array:
    """() or (B,) sigma -> (B,)."""
    if sigma.size == 1:
        return mx.broadcast_to(sigma.reshape(-1), (batch,))
    if sigma.size != batch:
        raise ValueError(f"sigma has {sigma.size} values for a batch of {batch}: pass one, or one per sample")
    return sigma.reshape(batch)


def _context_bias(mask: mx.array | None, dtype: mx.Dtype) -> mx.array | None:
    """Integer/bool (B, L) text mask -> additive (B, 1, 1, L): 0 where 1, -finfo.max where 0."""
    if mask is None or mx.issubdtype(mask.dtype, mx.floating):
        return mask
    return (mask.astype(dtype) - 1).reshape(mask.shape[0], 1, -1, mask.shape[-1]) * mx.finfo(dtype).max


def _self_attention_bias(mask: mx.array | None, dtype: mx.Dtype) -> mx.array | None:
    """(B, T, T) strengths in [0, 1] -> additive (B, 1, T, T): log(m) where m > 0, finfo.min where m <= 0."""
    if mask is None:
        return None
    finfo = mx.finfo(dtype)
    logs = mx.log(mx.maximum(mask, finfo.smallest_normal)).astype(dtype)
    return mx.where(mask > 0, logs, mx.array(finfo.min, dtype))[:, None]


def to_denoised(latent: mx.array, velocity: mx.array, timesteps: mx.array) -> mx.array:
    """x0 = x - v * (denoise_mask * sigma), in float32, rounded to the latent's dtype."""
    t = timesteps.astype(mx.float32)
    if t.ndim == latent.ndim - 1:
        t = t[..., None]
    return (latent.astype(mx.float32) - velocity.astype(mx.float32) * t).astype(latent.dtype)


class X0Model:
    """Wraps a velocity model; returns denoised latents (what every pipeline calls)."""

    def __init__(self, velocity_model: LTXModel):
        self.velocity_model = velocity_model

    def __call__(self, video: Modality | None, audio: Modality | None = None,
                 perturbations: BatchPerturbations | None = None) -> tuple[mx.array | None, mx.array | None]:
        v, a = self.velocity_model(video, audio, perturbations)
        return (to_denoised(video.latent, v, video.timesteps) if v is not None else None,
                to_denoised(audio.latent, a, audio.timesteps) if a is not None else None)
