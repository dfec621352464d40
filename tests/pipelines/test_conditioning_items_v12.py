"""Conditioning items against ltx-core 1.2.0's (the oracle venv), float32: the state after an image latent at a
latent index, keyframe tokens (frame 0 with the causal fix, and frame 8) and an IC-LoRA reference (attention
strength) are appended, then noised. 1.2.0 changed all three from 1.0.0: the image sets only the clean tokens,
appended tokens get zero noisy tokens, a keyframe spans one pixel frame."""

import mlx.core as mx
import numpy as np
from oracles import v12
from oracles.v12_scripts import HEAD, item_arrays, np32

from ltx2.conditioning.items import KeyframeAtFrame, LatentAtIndex
from ltx2.conditioning.reference_latent import ReferenceLatent
from ltx2.sampling import DeterministicNoiser
from ltx2.sampling.latent_state import VideoLatentShape, initial_video_state

SCRIPT = HEAD + '''
from ltx_core.components.patchifiers import VideoLatentPatchifier
from ltx_core.tools import VideoLatentTools
from ltx_core.types import VideoLatentShape, VideoPixelShape
shape = VideoLatentShape.from_pixel_shape(VideoPixelShape(batch=1, frames=17, height=64, width=96, fps=24.0))
tools = VideoLatentTools(VideoLatentPatchifier(1), shape, fps=24.0)
st = tools.create_initial_state(CPU, F32, t("initial"))
for item in items("items"):
    st = item.apply_to(st, tools)
for name in ("latent", "clean_latent", "denoise_mask", "positions", "attention_mask"):
    O[name] = getattr(st, name)
O["noised"] = ReplayNoiser()(st, 0.909375).latent
'''


@v12.needed
def test_items_then_noise_match_1_2_0():
    rng = np.random.default_rng(4)

    def latent(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32))

    shape = VideoLatentShape.from_pixels(17, 64, 96)
    initial = latent(*shape.array_shape)
    items = [LatentAtIndex(latent(1, 128, 1, 2, 3), 0.7, 0), KeyframeAtFrame(latent(1, 128, 1, 2, 3), 0.5, 8),
             KeyframeAtFrame(latent(1, 128, 1, 2, 3), 0.8, 0), ReferenceLatent(latent(1, 128, 2, 1, 2), 0.9, 2, 0.6)]
    state = initial_video_state(shape, 24.0, mx.float32, initial)
    for item in items:
        state = item.apply(state, shape, 24.0)
    noise = latent(*state.latent.shape)
    noised = DeterministicNoiser([noise])(state, 0.909375)
    ref = v12.run(SCRIPT, initial=np32(initial), noise_0=np32(noise), **item_arrays("items", items))
    ours = {"latent": state.latent, "clean_latent": state.clean_latent, "denoise_mask": state.denoise_mask,
            "positions": state.positions, "attention_mask": state.attention_mask, "noised": noised.latent}
    for name, o in ours.items():
        err = float(np.abs(np32(o) - ref[name]).max())
        print(f"PARITY-1.2.0 conditioning items {name}: max abs err {err:.1e}")
        assert err <= (1e-6 if name == "noised" else 0), name
