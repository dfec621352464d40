"""Generated keyframe slots (``conditioning=keyframe_slots``) against ltx-core / ltx-pipelines 1.2.0 (the oracle
venv), float32, on a 17-frame 64x96 clip: the state after the slots are appended (alone, and after a keyframe item
whose tokens stay unmarked), the slots extracted when the conditioning is cleared, and the evenly spaced positions
of ``--num-generated-keyframes``."""

import mlx.core as mx
import numpy as np
from oracles import v12
from oracles.v12_scripts import HEAD, item_arrays, np32

from ltx2.conditioning.items import KeyframeAtFrame
from ltx2.conditioning.keyframe_slots import KeyframeSlots, evenly_spaced_frames
from ltx2.sampling.latent_state import VideoLatentShape, clear_conditioning, initial_video_state

SPACING = [(k, n) for k in (1, 2, 3, 4, 5, 7, 11) for n in (17, 25, 33, 41, 97, 121, 241) if n >= k + 2]

SCRIPT = HEAD + '''
from ltx_core.components.patchifiers import VideoLatentPatchifier
from ltx_core.conditioning.types.keyframe_slots import VideoGeneratedKeyframeSlots
from ltx_core.tools import VideoLatentTools
from ltx_core.types import VideoLatentShape, VideoPixelShape
from ltx_pipelines.utils.helpers import evenly_spaced_keyframe_positions, generated_keyframe_conditionings
shape = VideoLatentShape.from_pixel_shape(VideoPixelShape(batch=1, frames=17, height=64, width=96, fps=24.0))
tools = VideoLatentTools(VideoLatentPatchifier(1), shape, fps=24.0)
for case, slots in (("count", generated_keyframe_conditionings(int(I["count"]), 17)),
                    ("frames", [VideoGeneratedKeyframeSlots(pixel_frame_indices=list(I["frames"]))])):
    st = tools.create_initial_state(CPU, F32, t("initial"))
    for item in items(case + "_items") + slots:
        st = item.apply_to(st, tools)
    for name in ("latent", "clean_latent", "denoise_mask", "positions", "keyframes_mask"):
        O[f"{case}_{name}"] = getattr(st, name)
    O[f"{case}_attention_is_none"] = np.array(st.attention_mask is None, np.float32)
    st = replace(st, latent=t(case + "_denoised"))
    O[f"{case}_generated"] = tools.clear_conditioning(st).generated_keyframes
O["spacing"] = np.array([evenly_spaced_keyframe_positions(k, n) + [-1] * (11 - k) for k, n in I["spacing"]])
'''


@v12.needed
def test_keyframe_slots_match_1_2_0():
    rng = np.random.default_rng(25)

    def latent(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32))

    shape = VideoLatentShape.from_pixels(17, 64, 96)
    initial = latent(*shape.array_shape)
    cases = {"count": ([], KeyframeSlots(count=2)),
             "frames": ([KeyframeAtFrame(latent(1, 128, 1, 2, 3), 0.5, 8)], KeyframeSlots(frames=(3, 9, 16)))}
    ours, inputs = {}, {"initial": np32(initial), "count": 2, "frames": np.array([3, 9, 16], np.int64),
                        "spacing": np.array(SPACING, np.int64)}
    for case, (items, slots) in cases.items():
        state = initial_video_state(shape, 24.0, mx.float32, initial)
        for item in [*items, slots]:
            state = item.apply(state, shape, 24.0)
        assert state.attention_mask is None
        denoised = latent(*state.latent.shape)
        cleared = clear_conditioning(state.__class__(**{**state.__dict__, "latent": denoised}), shape.tokens)
        ours.update({f"{case}_{name}": getattr(state, name)
                     for name in ("latent", "clean_latent", "denoise_mask", "positions", "keyframes_mask")})
        ours[f"{case}_generated"] = cleared.generated_keyframes
        inputs.update(item_arrays(f"{case}_items", items), **{f"{case}_denoised": np32(denoised)})
    ref = v12.run(SCRIPT, **inputs)
    for case in cases:
        assert ref[f"{case}_attention_is_none"] == 1.0
    for name, o in ours.items():
        assert np32(o).shape == ref[name].shape, name
        err = float(np.abs(np32(o) - ref[name]).max())
        print(f"PARITY-1.2.0 keyframe slots {name}: max abs err {err:.1e}")
        assert err == 0, name
    spacing = np.array([list(evenly_spaced_frames(k, n)) + [-1] * (11 - k) for k, n in SPACING])
    assert (spacing == ref["spacing"]).all()
