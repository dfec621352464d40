"""IC-LoRA (``pipeline=ic_lora``, ``conditioning=reference_video``) against ltx-core / ltx-pipelines 1.0.0
(in-process), fp32, on what 1.0.0 and 1.2.0 agree on.

Unit parity: the reference-latent item (clean tokens, positions, denoise mask, the attention mask blocks, also
after a keyframe and before one; 1.2.0 gives appended tokens zero noisy tokens and keyframes a one-pixel-frame
span, so those two are not compared here), the pixel -> latent mask reduction, the reference-video reading, the
LoRA metadata factor. End to end (conditioned tokens: 1.2.0 changed the AV cross-attention AdaLN inputs): against
1.2.0 in test_pipeline_parity_v12.py (``CASES`` below).
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import torch
from ltx_core.components.patchifiers import VideoLatentPatchifier
from ltx_core.conditioning import (
    ConditioningItemAttentionStrengthWrapper,
    VideoConditionByKeyframeIndex,
    VideoConditionByReferenceLatent,
)
from ltx_core.tools import VideoLatentTools
from ltx_core.types import VideoLatentShape as RefLatentShape
from ltx_core.types import VideoPixelShape
from ltx_pipelines.ic_lora import ICLoraPipeline as RefICLora
from ltx_pipelines.ic_lora import _read_lora_reference_downscale_factor
from ltx_pipelines.utils.media_io import load_video_conditioning
from oracles.compare import to_numpy

from ltx2.conditioning.items import KeyframeAtFrame
from ltx2.conditioning.reference_latent import ReferenceLatent, mask_to_latent
from ltx2.conditioning.reference_video import ReferenceVideoConditioning
from ltx2.loading.model_set import ModelSet
from ltx2.pipelines.contract import Job
from ltx2.pipelines.ic_lora import ICLoraPipeline, downscale_factor
from ltx2.sampling.guidance import NoGuidance
from ltx2.sampling.latent_state import VideoLatentShape, initial_video_state
from ltx2.tiny.loras import write_tiny_ic_lora

CPU, F32 = torch.device("cpu"), torch.float32


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Tiny model files, two tiny IC-LoRAs (downscale factor 1 and 2), a 17-frame reference video, a mask video
    (left half white, fading over time) and a still image."""
    import imageio.v3 as iio

    from ltx2.io.media import write_video
    from ltx2.tiny.checkpoint import write_tiny_files

    folder = tmp_path_factory.mktemp("ic_lora")
    write_tiny_files(folder)
    rng = np.random.default_rng(3)
    video = (rng.random((17, 72, 136, 3)) * 255).astype(np.uint8)
    write_video(folder / "reference.mp4", iter([video]), 24.0)
    mask = np.zeros((17, 64, 128, 3), np.uint8)
    mask[:, :, :64] = np.linspace(255, 64, 17).astype(np.uint8)[:, None, None, None]
    write_video(folder / "mask.mp4", iter([mask]), 24.0)
    iio.imwrite(folder / "frame.png", (rng.random((50, 70, 3)) * 255).astype(np.uint8))
    return {"tiny": folder, "ic1": write_tiny_ic_lora(folder / "ic1.safetensors", reference_downscale_factor=1),
            "ic2": write_tiny_ic_lora(folder / "ic2.safetensors", seed=8, reference_downscale_factor=2),
            "plain": write_tiny_ic_lora(folder / "plain.safetensors", seed=9, reference_downscale_factor=None),
            "video": folder / "reference.mp4", "mask": folder / "mask.mp4", "image": folder / "frame.png"}


# -- units ---------------------------------------------------------------------------------------------------------
def _tools(frames: int, height: int, width: int, fps: float = 24.0) -> VideoLatentTools:
    pixels = VideoPixelShape(batch=1, frames=frames, height=height, width=width, fps=fps)
    return VideoLatentTools(VideoLatentPatchifier(1), RefLatentShape.from_pixel_shape(pixels), fps)


@pytest.mark.parametrize("factor,attention,keyframe", [(1, None, None), (2, 0.5, "before"), (1, "tokens", "after")])
def test_reference_item_matches_reference(factor, attention, keyframe):
    """Tokens, positions, denoise mask and (B, T, T) attention mask after the reference item, with a keyframe
    item appended before it (earlier conditioning tokens: 0 to the reference) or after it (pads with 1s)."""
    rng = np.random.default_rng(0)
    ref_latent = rng.standard_normal((1, 128, 2, 1, 2)).astype(np.float32)
    key_latent = rng.standard_normal((1, 128, 1, 2, 3)).astype(np.float32)
    tokens = 2 * 1 * 2
    cross = rng.random(tokens).astype(np.float32) if attention == "tokens" else attention
    shape = VideoLatentShape.from_pixels(9, 64, 96)
    ours = initial_video_state(shape, 24.0, mx.float32)
    tools = _tools(9, 64, 96)
    theirs = tools.create_initial_state(CPU, F32)
    ref_item = VideoConditionByReferenceLatent(torch.tensor(ref_latent), factor, 0.8)
    if cross is not None:
        ref_item = ConditioningItemAttentionStrengthWrapper(ref_item, cross if isinstance(cross, float)
                                                            else torch.tensor(cross)[None])
    our_items = [ReferenceLatent(mx.array(ref_latent), 0.8, factor,
                                 None if cross is None else (cross if isinstance(cross, float) else mx.array(cross)))]
    their_items = [ref_item]
    key_ours = KeyframeAtFrame(mx.array(key_latent), 0.6, 8)
    key_theirs = VideoConditionByKeyframeIndex(keyframes=torch.tensor(key_latent), frame_idx=8, strength=0.6)
    if keyframe == "before":
        our_items, their_items = [key_ours, *our_items], [key_theirs, *their_items]
    elif keyframe == "after":
        our_items, their_items = [*our_items, key_ours], [*their_items, key_theirs]
    for item in our_items:
        ours = item.apply(ours, shape, 24.0)
    for item in their_items:
        theirs = item.apply_to(theirs, tools)
    keyframe_tokens = slice(None) if keyframe is None else (
        slice(-2 * 3, None) if keyframe == "after" else slice(shape.tokens, shape.tokens + 2 * 3))
    for name in ("clean_latent", "denoise_mask", "positions"):
        o, t = to_numpy(getattr(ours, name)), getattr(theirs, name).float().numpy()
        if name == "positions" and keyframe is not None:  # 1.2.0: a keyframe spans one pixel frame
            keep = np.ones(o.shape[2], bool)
            keep[keyframe_tokens] = False
            o, t = o[:, :, keep], t[:, :, keep]
        np.testing.assert_allclose(o, t, atol=1e-6, err_msg=name)
    if theirs.attention_mask is None:
        assert ours.attention_mask is None
    else:
        assert ours.attention_mask is not None
        np.testing.assert_array_equal(to_numpy(ours.attention_mask), theirs.attention_mask.numpy())
    if factor == 2:  # the spatial positions really are scaled
        assert float(ours.positions[0, 2, -1, 1]) == 2 * 64


@pytest.mark.parametrize("pixels,latent", [((17, 64, 128), (3, 2, 4)), ((9, 50, 70), (2, 3, 5)), ((1, 32, 32), (1, 1, 1))])
def test_mask_reduction_matches_reference(pixels, latent):
    """Area interpolation per frame (also with uneven windows), first frame kept, groups of frames averaged."""
    mask = np.random.default_rng(1).random(pixels).astype(np.float32)
    ours = mask_to_latent(mask, *latent)
    theirs = RefICLora._downsample_mask_to_latent(torch.tensor(mask)[None, None],
                                                  RefLatentShape(1, 128, *latent))
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-6)


def test_reading_and_metadata_match_reference(files):
    """The reference video read at a stage size (PyAV there, ffmpeg here), the mask video as the reference CLI
    reads it, and the downscale factor from the LoRA metadata (absent: 1)."""
    conditioning = ReferenceVideoConditioning(str(files["video"]), attention_mask=str(files["mask"]))
    ours = conditioning.reference_pixels(64, 32, 9)
    theirs = load_video_conditioning(str(files["video"]), 32, 64, 9, F32, CPU)[0].permute(1, 2, 3, 0).numpy()
    assert ours.shape == theirs.shape == (9, 32, 64, 3)
    err = float(np.abs(ours - theirs).max())
    print(f"\nreference video pixels: max abs err {err:.1e} (range [-1, 1])")
    assert err < 1e-4
    np.testing.assert_allclose(conditioning.mask_pixels(128, 64, 9, 9), _reference_mask(files["mask"], 64, 128, 9)[0, 0],
                               atol=1e-6)
    for key in ("ic1", "ic2", "plain"):
        assert downscale_factor([(str(files[key]), 1.0)]) == _read_lora_reference_downscale_factor(str(files[key]))
    assert downscale_factor([(str(files["ic1"]), 1.0), (str(files["ic2"]), 1.0)]) == 2


def test_still_mask_is_the_same_mask_on_every_frame(files, tmp_path):
    """An image as attention mask equals a video repeating that image."""
    import imageio.v3 as iio

    still = (np.random.default_rng(2).random((64, 128)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "mask.png", still)
    mask = ReferenceVideoConditioning(str(files["video"]), attention_mask=str(tmp_path / "mask.png"))
    pixels = mask.mask_pixels(128, 64, 17, 17)
    assert pixels.shape == (17, 64, 128)
    np.testing.assert_array_equal(pixels, np.repeat(pixels[:1], 17, axis=0))
    np.testing.assert_allclose(pixels[0], still / 255.0, atol=1e-6)


def _reference_mask(path: Path, height: int, width: int, frames: int) -> torch.Tensor:
    """The reference CLI's ``_load_mask_video`` steps at float32 (it reads in bf16): channel mean, [-1, 1] ->
    [0, 1], clamped."""
    video = load_video_conditioning(str(path), height, width, frames, F32, CPU)
    return ((video.mean(dim=1, keepdim=True) + 1.0) / 2.0).clamp(0.0, 1.0)


# -- end to end: against 1.2.0 in test_pipeline_parity_v12.py ---------------------------------------------------------
CASES = {
    # two stages, factor 1, a per-region attention mask at strength 0.7, an image at frame 0
    "two_stages_mask_image": {"lora": "ic1", "width": 128, "height": 64, "skip": False, "strength": 1.0,
                              "attention": 0.7, "mask": True, "image": True},
    # skip stage 2, factor 2 (reference at a quarter of the size), scalar attention 0.5, reference strength 0.8
    "skip_stage_2_factor_2": {"lora": "ic2", "width": 256, "height": 128, "skip": True, "strength": 0.8,
                              "attention": 0.5, "mask": False, "image": False},
}


def test_reference_video_steers_the_result(files):
    """The reference tokens and the attention strength matter: stage 1 with attention strength 0 (reference
    ignored) and with 1 end in different places."""
    tiny = files["tiny"]
    outs = []
    for attention in (0.0, 1.0):
        models = ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"),
                          gemma_root=str(tiny / "tiny-gemma"), dtype="float32", loras=((str(files["ic1"]), 1.0),))
        job = Job(models=models, prompt="a dancer on a stage", negative_prompt="", seed=10, width=128, height=64,
                  num_frames=9, fps=24.0, scheduler=None, guidance=NoGuidance(), pipeline=ICLoraPipeline(True),
                  conditioning=ReferenceVideoConditioning(str(files["video"]), attention_strength=attention))
        outs.append(to_numpy(job.pipeline(job).latents["video"]))
    assert np.abs(outs[0] - outs[1]).max() > 1e-2
