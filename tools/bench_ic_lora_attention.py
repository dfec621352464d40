"""IC-LoRA's extra cost in the transformer: one forward with reference-video tokens appended, with and without the
attention-strength mask, MLX against ltx-core, at the real LTX-2 19B widths (``--layers`` blocks, fp32, 2 threads).

Video: 1,536 noisy tokens (41 frames at 512x512) + 384 reference tokens (a half-size reference, downscale factor
2), positions and (B, T, T) mask built by our ``ReferenceLatent`` item (attention strength 0.5); the same state is
handed to the reference. Prints both times, the ratios MLX/reference and the masked/unmasked cost on each side.

    flock /tmp/ltx2-heavy.lock python tools/bench_ic_lora_attention.py [--repeats 3] [--layers 1]

Memory: peak RSS 8.4 GB at --layers 1 (both models in fp32 plus the synthetic checkpoint being written); run it
alone.
"""

import argparse
import resource
from dataclasses import replace

import ltx2  # noqa: F401  (fast BLAS before mlx)
import mlx.core as mx
import numpy as np
from bench_transformer import AUDIO_TOKENS, SIGMA, TEXT_TOKENS, load_pair, time_it

from ltx2.conditioning.reference_latent import ReferenceLatent
from ltx2.models.transformer import BatchPerturbations, Modality, audio_positions
from ltx2.sampling.latent_state import VideoLatentShape, initial_video_state

GRID, REFERENCE_GRID = (6, 16, 16), (6, 8, 8)


def inputs(attention: float | None, seed: int = 0):
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32))

    shape = VideoLatentShape(1, *GRID)
    state = initial_video_state(shape, 24.0, mx.float32)
    reference = ReferenceLatent(normal(1, 128, *REFERENCE_GRID), 1.0, 2, attention)
    state = reference.apply(state, shape, 24.0)
    tokens = state.latent.shape[1]
    sigma = mx.array(SIGMA)
    timesteps = state.denoise_mask * SIGMA
    video = Modality(normal(1, tokens, 128), sigma, timesteps, state.positions, normal(1, TEXT_TOKENS, 3840),
                     attention_mask=state.attention_mask)
    audio = Modality(normal(1, AUDIO_TOKENS, 128), sigma, mx.full((1, AUDIO_TOKENS, 1), SIGMA),
                     audio_positions(AUDIO_TOKENS), normal(1, TEXT_TOKENS, 3840))
    return video, audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=1)
    args = parser.parse_args()

    import torch
    from oracles.transformer import reference_modality, reference_perturbations, to_torch

    ours, ref = load_pair(args.layers)
    times = {}
    for name, attention in (("no mask", None), ("mask 0.5", 0.5)):
        video, audio = inputs(attention)
        ref_video = reference_modality(video, torch.float32)
        if video.attention_mask is not None:
            ref_video = replace(ref_video, attention_mask=to_torch(video.attention_mask))
        ref_args = (ref_video, reference_modality(audio, torch.float32), reference_perturbations(BatchPerturbations.none()))

        def run_ours(video=video, audio=audio):
            mx.eval(ours(video, audio, BatchPerturbations.none()))

        def run_ref(ref_args=ref_args):
            with torch.no_grad():
                ref(*ref_args)

        times[name] = (time_it(run_ours, args.repeats), time_it(run_ref, args.repeats))
        with torch.no_grad():
            rv, _ = ref(*ref_args)
        v, _ = ours(video, audio, BatchPerturbations.none())
        err = float(np.abs(np.array(v) - rv.numpy()).max())
        t_ours, t_ref = times[name]
        print(f"{name:9s} video tokens {video.latent.shape[1]}: MLX {t_ours:7.3f} s, ltx-core {t_ref:7.3f} s, "
              f"ratio MLX/reference {t_ours / t_ref:5.2f} (max abs diff {err:.1e}, max|v| {float(rv.abs().max()):.1f})",
              flush=True)
    (o0, r0), (o1, r1) = times["no mask"], times["mask 0.5"]
    print(f"mask cost: MLX x{o1 / o0:.2f}, ltx-core x{r1 / r0:.2f}")
    print(f"peak RSS of this process (both models): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GB")


if __name__ == "__main__":
    main()
