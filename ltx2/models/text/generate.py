"""Greedy generation with a no-repeat n-gram rule, as transformers' ``generate(do_sample=False,
no_repeat_ngram_size=n, max_new_tokens=m)`` on one left-padded prompt (the reference's Gemma 4 prompt enhancer).

The prompt is left padded to a multiple of ``align`` (8, the reference's ``_pad_inputs_for_attention_alignment``);
positions count real tokens only (``cumsum(mask) - 1``, as transformers derives them from the attention mask);
the n-gram rule bans any token that would repeat an n-gram already in the sequence, pads and prompt included;
generation stops after a stop token (not returned) or ``max_new_tokens``.
"""

from __future__ import annotations

from collections import defaultdict

import mlx.core as mx

from ltx2.models.text.gemma4_dense import Gemma4DenseModel, KVCache


class NgramBan:
    """Tokens banned next: those that followed the last ``n - 1`` tokens anywhere earlier in the sequence."""

    def __init__(self, n: int, tokens: list[int]):
        self.n, self.tokens = n, []
        self.seen: dict[tuple[int, ...], set[int]] = defaultdict(set)
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        self.tokens.append(token)
        if self.n and len(self.tokens) >= self.n:
            gram = self.tokens[-self.n:]
            self.seen[tuple(gram[:-1])].add(gram[-1])

    def banned(self) -> list[int]:
        if not self.n or len(self.tokens) + 1 < self.n:
            return []
        return sorted(self.seen.get(tuple(self.tokens[len(self.tokens) - self.n + 1:]), ()))


def left_pad(ids: list[int], pad_id: int, align: int = 8) -> tuple[list[int], list[int]]:
    """(ids, mask) left padded to a multiple of ``align``."""
    pads = -len(ids) % align
    return [pad_id] * pads + list(ids), [0] * pads + [1] * len(ids)


def greedy_generate(model: Gemma4DenseModel, ids: list[int], max_new_tokens: int, no_repeat_ngram_size: int = 0,
                    stop_ids: tuple[int, ...] = (), pad_id: int = 0, align: int = 8) -> list[int]:
    """The new tokens (stop token excluded) of greedy decoding from the prompt ``ids``."""
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be positive")
    padded, mask = left_pad(ids, pad_id, align)
    ban = NgramBan(no_repeat_ngram_size, padded)
    caches = [KVCache() for _ in model.layers]
    key_mask = mx.array([mask], dtype=mx.int32)
    positions = mx.maximum(mx.cumsum(key_mask[0]) - 1, 0)
    step_ids = mx.array([padded], dtype=mx.int32)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = model(step_ids, key_mask, positions, caches)[0]
        banned = ban.banned()
        if banned:
            logits[mx.array(banned)] = -mx.inf
        token = int(mx.argmax(logits).item())
        if token in stop_ids:
            break
        out.append(token)
        ban.append(token)
        positions = positions[-1:] + 1
        key_mask = mx.concatenate([key_mask, mx.ones((1, 1), mx.int32)], axis=1)
        step_ids = mx.array([[token]], dtype=mx.int32)
    return out
