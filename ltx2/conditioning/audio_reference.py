"""Reference-audio tokens appended after the target audio (official ``AudioConditionByReferenceLatent``, with the
negative reference positions of ltx-pipelines 1.2.0's Dub-It).

An audio latent (B, 8, T_r, 16) is patchified as the target audio is (``b c t m -> b t (c m)``) and appended after
every audio token: zeros as its noisy tokens, the latent as its clean tokens, denoise mask ``1 - strength`` (1: kept
clean). Its positions are the audio grid of its own T_r latents (seconds, causal fix, float32) moved before 0:
``bounds - end - 0.04`` where ``end`` is the last latent's end, so the reference lies just before the target in
time (what the Dub-It IC-LoRA was trained with). An existing audio attention mask is extended with full attention
(the reference's ``update_attention_mask`` with no mask of its own). ``clear_conditioning`` drops the tokens again.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ltx2.models.transformer.positions import audio_positions
from ltx2.sampling.latent_state import AudioLatentShape, LatentState, patchify_audio

GAP_SECONDS = 0.04  # the reference ends this long before the target's time 0


def reference_audio_positions(frames: int, batch: int = 1) -> np.ndarray:
    """(B, 1, frames, 2) float32 bounds of a reference audio latent of ``frames`` latents, shifted to end
    ``GAP_SECONDS`` before 0 (float32 arithmetic, as the reference's tensor minus Python floats)."""
    bounds = np.array(audio_positions(frames, batch))
    end = np.float32(bounds[:, :, -1, 1].max())
    return (bounds - end) - np.float32(GAP_SECONDS)


@dataclass(frozen=True)
class AudioReferenceLatent:
    """Append ``latent`` (B, 8, T_r, 16) as reference tokens of an AUDIO state (``apply`` takes the audio state and
    its ``AudioLatentShape``)."""

    latent: mx.array
    strength: float = 1.0

    def apply(self, state: LatentState, shape: AudioLatentShape, fps: float | None = None) -> LatentState:
        from ltx2.conditioning.reference_latent import extended_attention_mask

        b = self.latent.shape[0]
        tokens = patchify_audio(self.latent).astype(state.latent.dtype)
        m = tokens.shape[1]
        positions = mx.array(reference_audio_positions(m, b))
        mask = mx.full((b, m, 1), 1.0 - self.strength, dtype=mx.float32)
        attention = state.attention_mask
        if attention is not None:
            attention = extended_attention_mask(attention, state.latent.shape[1], shape.tokens,
                                                mx.ones((b, m), mx.float32), state.latent.dtype)
        return LatentState(latent=mx.concatenate([state.latent, mx.zeros_like(tokens)], axis=1),
                           denoise_mask=mx.concatenate([state.denoise_mask, mask], axis=1),
                           positions=mx.concatenate([state.positions.astype(mx.float32), positions], axis=2),
                           clean_latent=mx.concatenate([state.clean_latent, tokens], axis=1),
                           attention_mask=attention, keyframes_mask=state.keyframes_mask, frozen=state.frozen)
