"""``pipeline=hdr`` from the command line on the tiny LTX-2.3 model: EXR frames (read back: linear float, values
above 1 possible) plus the tone-mapped MP4 preview, and the refusals that come before any weight is loaded. The
HDR curve and tone map are checked against their definitions here; the pipeline's numbers against 1.2.0 in
test_hdr_parity_v12.py."""

from __future__ import annotations

import numpy as np
import pytest

from ltx2.io import exr
from ltx2.io.hdr import linear_to_logc3, logc3_to_linear, to_linear, tone_map
from ltx2.io.media import read_video, write_video
from ltx2.tiny.loras import write_tiny_lora

needs_exr = pytest.mark.skipif(exr.missing() is not None, reason=exr.missing() or "")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hdr_inputs")
    rng = np.random.default_rng(6)
    write_video(folder / "sdr.mp4", iter([(rng.random((9, 64, 128, 3)) * 255).astype(np.uint8)]), 24.0)
    import imageio.v3 as iio

    iio.imwrite(folder / "still.png", np.zeros((64, 128, 3), np.uint8))
    meta = {"hdr_transform": "logc3", "reference_downscale_factor": "1"}
    (folder / "emb.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # a header, no tensors
    return {"sdr": folder / "sdr.mp4", "png": folder / "still.png", "emb_empty": folder / "emb.safetensors",
            "lora": write_tiny_lora(folder / "hdr.safetensors", "ltx2.3", seed=12, metadata=meta),
            "lora_bad": write_tiny_lora(folder / "bad.safetensors", "ltx2.3", seed=13,
                                        metadata={"hdr_transform": "pq"})}


def _base(inputs, *extra):
    return ("pipeline=hdr", "model=tiny", "conditioning=reference_video", f"conditioning.path={inputs['sdr']}",
            f"+lora.ic_hdr={{path:{inputs['lora']},strength:1.0}}", "width=128", "height=64", "num_frames=9",
            *extra)


def test_logc3_curve_and_tone_map():
    linear = np.array([0.0, 0.005, 0.01059, 0.18, 1.0, 10.0, 50.0], np.float32)
    codes = linear_to_logc3(linear)
    assert abs(codes[3] - 0.391) < 1e-3  # 18% grey at EI 800 (ARRI's published LogC3 value)
    np.testing.assert_allclose(logc3_to_linear(codes), linear, rtol=2e-5, atol=1e-6)
    assert np.all(np.diff(codes) > 0) and codes[-1] < 1.0
    assert to_linear(np.ones(3, np.float32)).min() > 50  # code 1 is ~55x diffuse white
    assert tone_map(np.array([0.0, 0.0031308, 0.18, 1.0, 4.0], np.float32)).tolist() == [0, 10, 118, 255, 255]
    assert tone_map(np.array([0.09], np.float32), exposure=1.0)[0] == tone_map(np.array([0.18], np.float32))[0]


@needs_exr
def test_hdr_run_writes_exr_and_preview(cli, inputs):
    proc = cli(*_base(inputs, "output.save_latents=true"))
    assert proc.returncode == 0, proc.stderr
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "hdr"
    assert {"denoise_stage_1", "upsample", "denoise_stage_2", "decode_video", "write_exr"} <= set(record["phases"])
    assert record["outputs"]["exr"]["frames"] == 9 and record["outputs"]["exr"]["transfer"] == "logc3"
    assert record["hdr"] == {"transfer": "logc3", "reference_downscale_factor": 1, "text": "prompt",
                             "generated_frames": 9}
    files = sorted((run_dir / "exr").glob("frame_*.exr"))
    assert len(files) == 9
    frame = exr.read_exr(files[0])
    assert frame.shape == (64, 128, 3) and frame.dtype == np.float32 and frame.min() >= 0
    preview, _ = read_video(run_dir / "video.mp4")
    assert preview.shape == (9, 64, 128, 3)
    # the preview is the tone-mapped EXR, up to H.264 (4:2:0 on per-pixel noise): compare 16x16 block means
    def blocks(x):
        return x.astype(np.float32).reshape(4, 16, 8, 16, 3).mean(axis=(1, 3))

    assert np.abs(blocks(preview[0]) - blocks(tone_map(frame))).max() < 12


REFUSALS = {
    "no source": (("pipeline=hdr", "width=128", "height=64"), "conditioning=reference_video"),
    "no LoRA": (("pipeline=hdr", "model=tiny", "conditioning=reference_video", "conditioning.path={sdr}",
                 "width=128", "height=64", "num_frames=9", "model.tiny=false"),  # tiny: a stand-in IC-LoRA
                "needs exactly one LoRA"),
    "size": (("height=96",), "height=96"),
    "images": (("conditioning.images=[{{path:{png},frame_idx:0}}]",), "takes the source video only"),
    "attention": (("conditioning.attention_strength=0.5",), "attends fully to the source"),
    "embeddings file missing": (("pipeline.text_embeddings=/no/such/emb.safetensors",), "pipeline.text_embeddings"),
    "embeddings without video_context": (("pipeline.text_embeddings={emb_empty}",), "no video_context"),
    "transfer": (("pipeline.transfer=pq",), "pipeline.transfer='pq'"),
    "bad metadata": (("+lora.ic_hdr={{path:{lora_bad},strength:1.0}}",), "hdr_transform='pq'"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_hdr_refusals(cli, inputs, case):
    overrides, message = REFUSALS[case]
    names = {k: str(v) for k, v in inputs.items()}
    overrides = [o.format(**names) for o in overrides]
    args = overrides if overrides[0].startswith("pipeline=hdr") else _base(inputs, *overrides)
    if case == "bad metadata":
        args = [a for a in _base(inputs) if not a.startswith("+lora")] + overrides
    proc = cli(*args)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert not cli.run_dirs()


@pytest.mark.parametrize("transfer", ["logc3", "acescct"])
def test_transfers_and_preview_match_1_2_0(transfer):
    """``to_linear`` against ltx-core 1.2.0's ``to_hdr_linear`` (LogC3: Rec.709 as is; ACEScct: ACEScg -> Rec.709)
    on every 8-bit code and a few off-grid ones; ``tone_map`` against the official EXR -> MP4 step's sRGB
    quantization."""
    from oracles import v12

    if v12.missing():
        pytest.skip(v12.missing())
    codes = np.concatenate([np.linspace(0, 1, 256), [-0.1, 0.0925, 0.1496, 0.15526, 0.99999, 1.2]]).astype(np.float32)
    codes = np.stack([codes, codes[::-1], np.roll(codes, 7)], axis=-1)  # (N, 3): every channel sees every code
    ref = v12.run(f"""
from ltx_core.hdr import HDRTransfer, to_hdr_linear
from ltx_pipelines.utils.media_io.exr import _linear_to_srgb
x = torch.from_numpy(I["codes"]).T[None, :, None, :, None]  # (1, 3, 1, N, 1)
O["linear"] = to_hdr_linear(x, transfer=HDRTransfer("{transfer}"))[0, :, 0, :, 0].T
lin = O["linear"].numpy()
O["preview"] = (_linear_to_srgb(np.maximum(lin, 0.0)) * 255.0 + 0.5).astype(np.uint8).astype(np.float32)
""", codes=codes)
    ours = to_linear(codes, transfer)
    np.testing.assert_allclose(ours, ref["linear"], rtol=2e-4, atol=1e-6)
    assert np.abs(tone_map(ref["linear"]).astype(np.float32) - ref["preview"]).max() <= 1
