"""End-to-end parity of ``pipeline=dfr`` with the official ltx-pipelines 1.2.0 ``DFRPipeline`` on the tiny LTX-2.5
files (``model=tiny25``), float32, text- and image-to-video.

The reference run is the official class's own ``__call__`` (canvas, keyframe slots, stages, upsamplers, detailing
reference, temporal tiles, stitch, carried keyframes, trim), its members built in the oracle venv from our files
(``DiffusionStage`` by the 1.2.0 loader with the distilled-LoRA stand-in, and the detailing LoRA, fused;
``VideoUpsampler`` on our conv video-VAE file and spatial / temporal upsamplers); its prompt contexts from its own
``PromptEncoder`` on our Gemma 4 file (tests/oracles/v12_scripts25.py). Stubbed: the decoders (they hand back the
final video latent and the shipped audio latent), the tiling choice, and (i2v) ``combined_image_conditionings``,
which returns our image items at each size (our VAE encoder's latents; their parity is tested elsewhere). Same noise
on both sides: our draws replayed through 1.2.0's noising formula, and each temporal tile's ancestral step noise
(ours, seed + 1000 r + tile) handed to 1.2.0's ``euler_ancestral_denoising_loop`` by its noise seed.

Compared: the contexts and the final video and audio latents, cosine >= 0.9999 and max abs error <= 1e-3 (the
PARITY-1.2.0 lines, pytest -s, give the measured figures). rounds=0 by default; rounds 1 and 2, the detailing LoRA and
i2v over two tiles are marked slow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, noise_arrays, np32
from oracles.v12_scripts25 import PROMPTS
from test_pipeline_parity import image, make_job  # noqa: F401  (image: a fixture)
from test_pipeline_parity_25 import split_decoder_noise
from test_pipeline_parity_v12 import COSINE, MAX_ABS

from ltx2.loading.model_set import ModelSet
from ltx2.pipelines import common, dfr_rounds
from ltx2.pipelines.dfr import DFRPipeline
from ltx2.sampling.noisers import GaussianNoiser
from ltx2.tiny.ltx25_model import FILES

CONTEXT_MAX_ABS = 1e-4

BODY = '''
from functools import partial
from types import SimpleNamespace
from ltx_core.loader import LoraPathStrengthAndSDOps, LTXV_LORA_COMFY_RENAMING_MAP
from ltx_pipelines import dfr_pipeline as dfr
from ltx_pipelines.utils.blocks import VideoUpsampler

noiser = ReplayNoiser()
dfr.GaussianNoiser = lambda generator: noiser
_loop = dfr.euler_ancestral_denoising_loop


def _tile_loop(*args, noise_seed, **kwargs):  # the tile's ancestral noise: ours, by its noise seed
    drawn = [t(f"step_{noise_seed}_{i}") for i in range(I["steps"][str(noise_seed)])]

    def noise(latent, generator):
        n = drawn.pop(0)
        assert tuple(n.shape) == tuple(latent.shape), (n.shape, latent.shape)
        return n.to(latent.dtype)
    out = _loop(*args, noise_seed=noise_seed, new_noise_fn=noise, model_dtype=F32, **kwargs)
    assert not drawn
    return out


dfr.euler_ancestral_denoising_loop = _tile_loop
dfr.combined_image_conditionings = lambda images, height, width, **kw: items(f"img_{width}x{height}") if images else []
dfr.ensure_tiling_config = lambda *a, **k: None
dfr.tiling_scale_factors_for_vae = lambda path: None


class _Done(Exception):
    pass


class _Decoder:
    checkpoint_path, diffvae_optimization = I["video_vae"], None

    def __call__(self, latent, *rest):
        O["video"] = latent
        if len(rest) == 0:  # the audio decoder: the last thing the pipeline runs before returning
            raise _Done


class _Images:
    def resolve_crf(self, images):
        return images

    def __call__(self, fn):
        return fn(None)


p = dfr.DFRPipeline.__new__(dfr.DFRPipeline)
p.device, p.dtype = CPU, F32
p._distilled_lora, p._user_loras = (), ()
detailing = I.get("detailing")
p._detailing_lora = (LoraPathStrengthAndSDOps(detailing[0], detailing[1], LTXV_LORA_COMFY_RENAMING_MAP),) \\
    if detailing else ()
p._detailing_downscale = dfr._detailing_downscale_factor(detailing[0]) if detailing else 2
p.prompt_encoder = lambda prompts, **kw: [SimpleNamespace(video_encoding=t("ctx_0"), audio_encoding=t("ctx_1"))]
p.image_conditioner = _Images()
distilled = [[I["distilled_lora"], 1.0]]
p.stage = stage(I["checkpoint"], distilled)
p.stage_detailing = stage(I["checkpoint"], distilled + [list(detailing)]) if detailing else p.stage
p.upsampler = VideoUpsampler(I["video_vae"], I["upsampler"], F32, CPU)
p.temporal_upsampler = VideoUpsampler(I["video_vae"], I["temporal_upsampler"], F32, CPU)
p.video_decoder = _Decoder()
audio = {}


def _audio(latent):
    O["audio"] = latent
    raise _Done


p.audio_decoder = _audio
p.duration_predictor = None
images = [dfr.ImageConditioningInput("image.png", 0, 1.0, 0)] if I.get("i2v") else []
with torch.no_grad():
    try:
        p(prompt="unused", seed=I["seed"], height=I["height"], width=I["width"], frame_rate=I["fps"], images=images,
          num_frames=I["frames"], temporal_upsample_rounds=I["rounds"], tiling_config=None)
    except _Done:
        pass
assert not noiser.queue, len(noiser.queue)
'''
SCRIPT = HEAD + PROMPTS + BODY


def models25(tiny) -> ModelSet:
    return ModelSet(name="tiny25", dtype="float32", **{c: str(tiny / name) for c, name in FILES.items()})


def run_dfr(tiny, monkeypatch, rounds: int, detailing=None, num_frames: int = 17, conditioning=None):
    step_noisers = {}

    class Recorded(GaussianNoiser):
        def __init__(self, seed):
            super().__init__(seed)
            step_noisers[seed] = self

    monkeypatch.setattr(dfr_rounds, "GaussianNoiser", Recorded)
    pipeline = DFRPipeline(temporal_upsample_rounds=rounds, detailing_lora=detailing and detailing[0],
                           detailing_lora_strength=detailing[1] if detailing else 1.0)
    job = replace(make_job(tiny, pipeline, conditioning, width=128, height=64, num_frames=num_frames),
                  models=models25(tiny))
    result = job.pipeline(job)
    return job, result, step_noisers


def compare(what: str, job, result, step_noisers, rounds: int, detailing=None, num_frames: int = 17) -> dict:
    """Run the reference; the image items (ours, as the other parity tests: their own parity is tested elsewhere)
    stand in for 1.2.0's ``combined_image_conditionings`` at each size."""
    import mlx.core as mx
    from oracles.v12_scripts import item_arrays

    from ltx2.conditioning.image import ImageConditioning

    files = job.models.component_files
    images = {}
    if isinstance(job.conditioning, ImageConditioning):
        for w, h in ((job.width // 2, job.height // 2), (job.width, job.height)):
            images.update(item_arrays(f"img_{w}x{h}", job.conditioning.items(job.models, w, h, mx.float32)))
        images["i2v"] = 1
    steps = {str(seed): len(n.drawn) for seed, n in step_noisers.items()}
    step_noise = {f"step_{seed}_{i}": np32(x) for seed, n in step_noisers.items() for i, x in enumerate(n.drawn)}
    ref = v12.run(SCRIPT, checkpoint=files["transformer"], text_encoder=files["text_encoder"],
                  video_vae=files["video_vae"], upsampler=job.models.spatial_upsampler,
                  temporal_upsampler=files["temporal_upsampler"], distilled_lora=job.models.distilled_lora,
                  prompts=[job.prompt], seed=job.seed, width=job.width, height=job.height, frames=num_frames,
                  fps=24.0, rounds=rounds, steps=steps, **({"detailing": list(detailing)} if detailing else {}),
                  **noise_arrays(split_decoder_noise(job, result.noise)[0]), **step_noise, **images)
    encoded = common.encode_prompts(job, negative=False)
    for i, ctx in enumerate([encoded.positive.video, encoded.positive.audio]):
        _, err = figures(f"{what} context {i}", np32(ctx), ref[f"ref_ctx_{i}"])
        assert err <= CONTEXT_MAX_ABS, f"{what} context {i}: max abs err {err}"
    out = {}
    for name, mine in (("video", np.moveaxis(np32(result.latents["video"]), -1, 1)),
                       ("audio", np32(result.latents["audio"]))):
        cosine, err = figures(f"{what} {name}", mine, ref[name])
        assert np.abs(ref[name]).max() > 0.1
        assert cosine >= COSINE and err <= MAX_ABS, f"{what} {name}: cosine {cosine}, max abs err {err}"
        out[name] = (cosine, err)
    return out


@v12.needed
@pytest.mark.parametrize("rounds", [0, *(pytest.param(r, marks=pytest.mark.slow) for r in (1, 2))])
def test_dfr_matches_1_2_0(tiny, monkeypatch, rounds):
    """17 frames at 128x64 -> a 25-frame canvas (one 24-frame segment, a slot at frame 24); rounds 1 / 2: 33 / 65
    frames at 48 / 96 fps (round 2: two tiles, the second with a one-segment lead-in)."""
    job, result, noisers = run_dfr(tiny, monkeypatch, rounds)
    assert job.num_frames == 16 * 2**rounds + 1 and job.fps == 24.0 * 2**rounds
    assert result.latents["video"].shape[1] == 2 * 2**rounds + 1
    assert len(noisers) == (0, 1, 3)[rounds]  # one tile in round 1 (one segment), two in round 2
    compare(f"2.5 dfr rounds={rounds}", job, result, noisers, rounds)


@v12.needed
@pytest.mark.slow
def test_dfr_detailing_lora_matches_1_2_0(tiny, monkeypatch, tmp_path):
    """Stage 2 with a tiny detailing LoRA (no reference_downscale_factor metadata: factor 2) fused at 0.8 and the
    half-size stage-1 video appended as its reference latent, after the slots (whose latents, carried into the
    temporal round, must survive the reference tokens)."""
    from ltx2.tiny.ltx25 import tiny_ltx25_section
    from ltx2.tiny.ltx25_model import write_tiny_lora_for

    lora = str(write_tiny_lora_for(tmp_path / "detailing.safetensors", tiny_ltx25_section(), seed=11))
    job, result, noisers = run_dfr(tiny, monkeypatch, 1, (lora, 0.8))
    compare("2.5 dfr detailing LoRA rounds=1", job, result, noisers, 1, (lora, 0.8))


@v12.needed
@pytest.mark.slow
def test_dfr_i2v_two_tiles_matches_1_2_0(tiny, monkeypatch, image):  # noqa: F811
    """49 frames (two 24-frame segments) with an image at frame 0, one round: the image replaces latent frame 0 in
    both stages and in the first tile only; the second tile starts one segment early, on the frame-24 keyframe."""
    from ltx2.conditioning.image import ImageConditioning

    conditioning = ImageConditioning(str(image), frame_idx=0, strength=1.0, crf=0)
    job, result, noisers = run_dfr(tiny, monkeypatch, 1, num_frames=49, conditioning=conditioning)
    assert len(noisers) == 2 and job.num_frames == 97
    compare("2.5 dfr i2v rounds=1 two tiles", job, result, noisers, 1, num_frames=49)
