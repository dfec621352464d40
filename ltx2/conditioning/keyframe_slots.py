"""LTX-2.5's generated keyframe slots (``conditioning=keyframe_slots``, the official ``--num-generated-keyframes``).

Each slot is one latent frame of empty tokens (H*W at the stage's size) appended after all other tokens and fully
denoised with the video; its positions span the single pixel frame ``[t, t + 1)`` and its tokens are marked in the
keyframes mask, so they receive the model's learned keyframe embedding. The model generates a frame there, which
relaxes the temporal compression around it. Stage 1 only (the reference's pipelines append them to their first
stage). Clearing the conditioning extracts the slots (B, C, K, H, W); the run decodes each as a one-frame clip and
writes ``keyframe_XX.png`` beside the video (ltx-pipelines 1.2.0 keeps them on the returned state and writes nothing).

Needs a transformer whose config sets ``use_keyframes_abs_pos_embedding`` (LTX-2.5), checked before loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import mlx.core as mx
import numpy as np

from ltx2.errors import ConfigError
from ltx2.models.transformer.positions import VIDEO_SCALE, video_positions
from ltx2.sampling.latent_state import (
    KeyframeSlotLayout,
    LatentState,
    VideoLatentShape,
    keyframes_mask_of,
    patchify_video,
)

EMBEDDING_KEY = "use_keyframes_abs_pos_embedding"


def evenly_spaced_frames(count: int, num_frames: int) -> tuple[int, ...]:
    """``count`` interior pixel frames of ``num_frames``, endpoints excluded: torch's float32 ``linspace(0,
    num_frames - 1, count + 2)`` rounded half to even (the official ``evenly_spaced_keyframe_positions``)."""
    steps = count + 2
    end = np.float32(num_frames - 1)
    step = np.float32(end / np.float32(steps - 1))
    values = [np.float32(i) * step if i < steps // 2 else end - np.float32(steps - 1 - i) * step
              for i in range(steps)]
    return tuple(int(np.round(np.float32(v))) for v in values)[1:-1]


def pixel_frames(shape: VideoLatentShape) -> int:
    return (shape.frames - 1) * VIDEO_SCALE[0] + 1


@dataclass(frozen=True)
class KeyframeSlots:
    """The item: append one slot per pixel frame (``frames``), or ``count`` evenly spaced interior ones resolved
    against the stage's clip. ``initial``: (B, C, K, H, W) latents the slots start from (noised like the video;
    pipeline=dfr's later stages), else zeros. ``STAGE_1_ONLY``: a second stage drops it."""

    frames: tuple[int, ...] | None = None
    count: int | None = None
    initial: mx.array | None = field(default=None, compare=False)
    STAGE_1_ONLY = True

    def resolve(self, shape: VideoLatentShape) -> tuple[int, ...]:
        return self.frames if self.frames is not None else evenly_spaced_frames(self.count, pixel_frames(shape))

    def apply(self, state: LatentState, shape: VideoLatentShape, fps: float) -> LatentState:
        frames = self.resolve(shape)
        if not frames or frames[-1] >= pixel_frames(shape) or any(b <= a for a, b in zip(frames, frames[1:])):
            # only reachable with num_frames=auto (a shorter predicted clip): validate() checked the request
            raise ConfigError("conditioning.frames", list(frames), f"the slots do not fit a {pixel_frames(shape)}"
                              "-frame clip", "use frames inside the clip, or conditioning.count with num_frames=auto")
        if state.keyframe_slots is not None:
            raise ValueError("keyframe slots were already appended to this state")
        b, k, per_frame = shape.batch, len(frames), shape.height * shape.width
        grid = np.array(video_positions(1, shape.height, shape.width, fps, b))  # (B, 3, H*W, 2)
        slots = []
        for t in frames:
            one = grid.copy()
            one[:, 0, :, 0] = np.float32(t) / np.float32(fps)
            one[:, 0, :, 1] = (np.float32(t) + np.float32(1)) / np.float32(fps)
            slots.append(one)
        positions = mx.array(np.concatenate(slots, axis=2))
        zeros = mx.zeros((b, k * per_frame, state.latent.shape[2]), state.latent.dtype)
        start = zeros
        if self.initial is not None:
            if tuple(self.initial.shape) != (b, state.latent.shape[2], k, shape.height, shape.width):
                raise ValueError(f"initial slot latents of shape {tuple(self.initial.shape)} for {k} slots of "
                                 f"{shape.height}x{shape.width} latents")
            start = patchify_video(self.initial).astype(state.latent.dtype)
        ones = mx.ones((b, k * per_frame, 1), mx.float32)
        attention = state.attention_mask
        if attention is not None:  # an earlier item's attention mask: full attention for the slots
            from ltx2.conditioning.reference_latent import extended_attention_mask

            attention = extended_attention_mask(attention, state.latent.shape[1], shape.tokens,
                                                mx.ones((b, k * per_frame), mx.float32), state.latent.dtype)
        return replace(state, latent=mx.concatenate([state.latent, start], axis=1),
                       clean_latent=mx.concatenate([state.clean_latent, zeros], axis=1),
                       denoise_mask=mx.concatenate([state.denoise_mask, ones], axis=1),
                       positions=mx.concatenate([state.positions.astype(mx.float32), positions], axis=2),
                       attention_mask=attention,
                       keyframes_mask=mx.concatenate([keyframes_mask_of(state), ones], axis=1),
                       keyframe_slots=KeyframeSlotLayout(state.latent.shape[1], frames, shape.height, shape.width))


class KeyframeSlotsConditioning:
    """``conditioning=keyframe_slots``: ``count`` evenly spaced interior slots, or explicit pixel ``frames``."""

    GROUP_OPTION = "keyframe_slots"
    PIPELINES = ("OneStagePipeline", "TwoStagePipeline", "TwoStageHQPipeline", "DistilledPipeline")

    def __init__(self, count: int | None = None, frames: list | None = None):
        self.count, self.frames = count, frames

    def validate(self, num_frames, fps: float) -> None:
        count, frames = self.count, self.frames
        if (count is None) == (frames is None):
            raise ConfigError("conditioning.count", count, "give either count (evenly spaced interior slots) or "
                              "frames (pixel frame indices), not both nor neither",
                              "set conditioning.count=1, or conditioning.frames=[8] with conditioning.count=null")
        known = isinstance(num_frames, int) and not isinstance(num_frames, bool)  # else num_frames=auto
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigError("conditioning.count", count, "must be a whole number of slots >= 1",
                                  "set conditioning.count=1")
            if known and num_frames < count + 2:
                raise ConfigError("conditioning.count", count, f"{count} interior slots need at least {count + 2} "
                                  f"frames (num_frames={num_frames})", "use fewer slots or more num_frames")
            return
        if not isinstance(frames, (list, tuple)) or not frames or any(
                isinstance(f, bool) or not isinstance(f, int) for f in frames):
            raise ConfigError("conditioning.frames", frames, "must be a non-empty list of pixel frame indices",
                              "set conditioning.frames=[8]")
        if any(b <= a for a, b in zip(frames, frames[1:])) or frames[0] < 0:
            raise ConfigError("conditioning.frames", list(frames), "must be non-negative and strictly increasing",
                              f"set conditioning.frames={sorted(set(f for f in frames if f >= 0))}")
        if known and frames[-1] >= num_frames:
            raise ConfigError("conditioning.frames", list(frames), f"must be frames of the clip (0..{num_frames - 1})",
                              f"use frames below {num_frames}, or more num_frames")

    def check_run(self, checkpoint, pipeline) -> None:
        """Before loading: the transformer has the keyframe embedding, and the pipeline appends slots."""
        value = checkpoint.config("transformer").get(EMBEDDING_KEY, False)
        if value is not True:
            raise ConfigError(f"transformer config {EMBEDDING_KEY}", value, "generated keyframe slots need a model "
                              "trained with the keyframe absolute-position embedding", "use an LTX-2.5 model "
                              "(e.g. model=tiny25), or drop conditioning=keyframe_slots")
        name = type(pipeline).__name__
        if name not in self.PIPELINES:
            raise ConfigError("conditioning", self.GROUP_OPTION, f"{type(pipeline).__name__} does not append "
                              "generated keyframe slots (one_stage, two_stage, two_stage_hq, distilled do)",
                              "use pipeline=one_stage, two_stage, two_stage_hq or distilled")

    def items(self, models, width: int, height: int, dtype) -> list:
        frames = tuple(int(f) for f in self.frames) if self.frames is not None else None
        return [KeyframeSlots(frames=frames, count=None if frames is not None else int(self.count))]


# -- the generated keyframes as images ---------------------------------------------------------------------------
def write_generated_keyframes(job, run_dir: Path, frames: tuple[int, ...], latents: mx.array) -> None:
    """Decode each slot latent (1, C, K, H, W) as a one-frame clip and write ``keyframe_XX.png`` (XX: the slot's
    order), listed in the record's outputs with its pixel frame."""
    from PIL import Image

    from ltx2.models.video_vae.resnet import mlx_noise
    from ltx2.models.video_vae.tiled import decode_video
    from ltx2.pipelines.common import compute_dtype

    decoder = job.models.video_decoder()
    dtype = compute_dtype(job.models)
    for i, frame in enumerate(frames):
        latent = latents[:1, :, i:i + 1].transpose(0, 2, 3, 4, 1).astype(dtype)  # (1, 1, H, W, C)
        image = np.concatenate(list(decode_video(decoder, latent, None, noise=mlx_noise(job.seed))))[0]
        path = run_dir / f"keyframe_{i:02d}.png"
        Image.fromarray(image).save(path)
        if job.record is not None:
            job.record.add_output(f"keyframe_{i:02d}", path, frame=int(frame), width=image.shape[1],
                                  height=image.shape[0])
