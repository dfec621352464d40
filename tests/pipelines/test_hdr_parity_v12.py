"""``pipeline=hdr`` against the official ltx-pipelines 1.2.0 ``HDRICLoraPipeline`` itself (its ``__call__``: the
reflect-padded source reading, stage 1, the upsampler, the tiled stage 2 with per-tile noise and blending, the
float32 decode and the LogC3 inverse), fp32, on the tiny LTX-2.3 files (the official HDR IC-LoRA is an LTX-2.3
one) with a tiny IC-LoRA carrying ``hdr_transform`` metadata.

The reference object is assembled from its 1.2.0 blocks in float32 (its constructor pins bfloat16 and fp8): the
LoRA fused by the 1.2.0 loader, our embeddings file's ``video_context``. Both sides get the same source frames
(ours, decoded once, handed to 1.2.0's frame reader) and the same noise (the arrays our run drew, replayed in
order through 1.2.0's GaussianNoiser: stage 1, then one draw per stage-2 tile). Compared: the final video latent
(cosine >= 0.9999, max abs <= 1e-3) and the linear HDR frames (relative max abs error; the inverse LogC3 curve
multiplies code errors by up to ~500 near code 1)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
from oracles import v12
from oracles.v12_scripts import HEAD, figures, noise_arrays, np32

from ltx2.conditioning.reference_video import ReferenceVideoConditioning, read_frames
from ltx2.io.media import write_video
from ltx2.loading.checkpoint import save_checkpoint
from ltx2.loading.model_set import ModelSet
from ltx2.pipelines import common
from ltx2.pipelines.contract import Job
from ltx2.pipelines.hdr import HDRPipeline
from ltx2.sampling.guidance import NoGuidance
from ltx2.sampling.schedulers import DistilledScheduler
from ltx2.tiny.loras import write_tiny_lora

COSINE, MAX_ABS, LINEAR_REL = 0.9999, 1e-3, 1e-4

SCRIPT = HEAD + '''
import ltx_pipelines.hdr_ic_lora as hdr
import ltx_pipelines.utils.media_io.decode as decode
from ltx_core.hdr import HDRTransfer
from ltx_core.loader.registry import ModelRegistry
from ltx_pipelines.utils.blocks import ImageConditioner, VideoDecoder, VideoUpsampler

QUEUE = [t(f"noise_{i}") for i in range(len([k for k in I if k.startswith("noise_")]))]


class Replay(GaussianNoiser):
    def _sample_noise(self, latent_state):
        noise = QUEUE.pop(0)
        assert tuple(noise.shape) == tuple(latent_state.latent.shape), (noise.shape, latent_state.latent.shape)
        return noise.to(latent_state.latent.dtype)


def frames(path, device, starting_frame=0, frame_cap=None):
    for f in t("source")[:frame_cap]:
        yield f[None]


hdr.GaussianNoiser = Replay
decode.decode_video_by_frame = frames
ckpt, loras = I["checkpoint"], [[I["lora"], 1.0]]
p = object.__new__(hdr.HDRICLoraPipeline)
p.device, p.dtype, p._tiled_vae_encode_threshold = CPU, F32, hdr.TILED_VAE_ENCODE_PIXEL_THRESHOLD
p.text_embeddings = (t("video_context"), t("video_context"))
p.image_conditioner = ImageConditioner(ckpt, F32, CPU)
p._diffusion_registry = ModelRegistry()
p.stage_1, p.stage_2 = stage(ckpt, loras), stage(ckpt, loras)
p.upsampler = VideoUpsampler(ckpt, I["upsampler"], F32, CPU)
p.video_decoder = VideoDecoder(ckpt, F32, CPU)
p._hdr_config = hdr.read_hdr_lora_config(I["lora"])
assert p._hdr_config is not None and p._hdr_config.hdr_transform == HDRTransfer.LOGC3
decode_video = p._decode_video


def captured(latent, *args, **kwargs):
    O["video"] = latent.float().clone()
    return decode_video(latent, *args, **kwargs)


p._decode_video = captured
with torch.no_grad():
    O["linear"] = p(seed=10, height=I["height"], width=I["width"], num_frames=I["frames"], frame_rate=I["fps"],
                    video_conditioning=[("source.mp4", 1.0)], high_quality_hdr=bool(I["hq"]),
                    tiling_config=hdr._make_tiling_config())  # the official CLI's VAE tiling
assert not QUEUE, len(QUEUE)
'''


@pytest.fixture(scope="module")
def hdr_files(tiny, tmp_path_factory):
    """An HDR-tagged tiny IC-LoRA, a 17-frame 128x120 SDR source (reflect-padded at both stages) and the prompt's
    contexts as an official-style embeddings file."""
    folder = tmp_path_factory.mktemp("hdr")
    lora = write_tiny_lora(folder / "hdr-lora.safetensors", "ltx2.3", seed=11,
                           metadata={"hdr_transform": "logc3", "reference_downscale_factor": "1"})
    rng = np.random.default_rng(4)
    base = np.linspace(0, 255, 128, dtype=np.float32)[None, None, :, None]
    frames = np.clip(base + rng.normal(0, 40, (17, 120, 128, 3)), 0, 255).astype(np.uint8)
    write_video(folder / "source.mp4", iter([frames]), 24.0)
    models = tiny_models(tiny, str(lora))
    job = make_job(models, str(folder / "source.mp4"), HDRPipeline())
    encoded = common.encode_prompts(job, negative=False).positive
    save_checkpoint(folder / "emb.safetensors", {"video_context": encoded.video, "audio_context": encoded.audio},
                    {"what": "text embeddings"})
    return {"lora": lora, "source": folder / "source.mp4", "embeddings": folder / "emb.safetensors"}


def tiny_models(tiny, lora: str) -> ModelSet:
    return ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"), gemma_root=str(tiny / "tiny-gemma"),
                    spatial_upsampler=str(tiny / "tiny-upsampler-spatial-x2.safetensors"), dtype="float32",
                    loras=((lora, 1.0),))


def make_job(models, source: str, pipeline, width=128, height=128, num_frames=17) -> Job:
    conditioning = ReferenceVideoConditioning(source)
    conditioning.validate(num_frames, 24.0)
    return Job(models=models, prompt="a sunset over the sea", negative_prompt="", seed=10, width=width,
               height=height, num_frames=num_frames, fps=24.0, scheduler=DistilledScheduler(stage=1),
               guidance=NoGuidance(), conditioning=conditioning, pipeline=pipeline)


@v12.needed
@pytest.mark.parametrize("mode", ["default", pytest.param("high_quality", marks=pytest.mark.slow)])
def test_hdr_matches_1_2_0(tiny, hdr_files, mode):
    """128x128, 17 frames: stage 1 at 64x64 (latent 3x2x2), stage 2 over 8 tiles of the 3x4x4 latent (overlaps
    clamped to 1 frame, 2 rows, 2 columns). high_quality: 33 frames generated from the doubled source frames
    (latent 5x4x4; overlap 3 frames), every other decoded frame kept."""
    models = tiny_models(tiny, str(hdr_files["lora"]))
    pipeline = HDRPipeline(text_embeddings=str(hdr_files["embeddings"]), high_quality=mode == "high_quality")
    job = make_job(models, str(hdr_files["source"]), pipeline)
    result = job.pipeline(job)
    assert len(result.noise) == 1 + 8
    ref = v12.run(SCRIPT, checkpoint=models.checkpoint, lora=str(hdr_files["lora"]),
                  upsampler=models.spatial_upsampler, width=job.width, height=job.height, frames=job.num_frames,
                  fps=job.fps, hq=int(pipeline.high_quality),
                  source=np.stack(read_frames(str(hdr_files["source"]), job.num_frames)),
                  video_context=np32(mx.load(str(hdr_files["embeddings"]))["video_context"]),
                  **noise_arrays(result.noise))
    ours = np.moveaxis(np32(result.latents["video"]), -1, 1)
    cosine, err = figures(f"hdr {mode} final video latent", ours, ref["video"])
    assert np.abs(ref["video"]).max() > 0.1
    assert cosine >= COSINE and err <= MAX_ABS, f"cosine {cosine}, max abs err {err}"
    linear = result.info["linear"]
    assert linear.shape == ref["linear"].shape == (17, 128, 128, 3) and linear.dtype == np.float32
    _, lin_err = figures(f"hdr {mode} linear frames", linear, ref["linear"])
    assert lin_err <= LINEAR_REL * max(1.0, float(np.abs(ref["linear"]).max())), lin_err
