"""The planner with ``model.offload=disk``: the transformer's blocks count once (the one running plus the one read
ahead), the top-level weights in full; ``plan=true`` says so; a tiny run streams and gives the same video."""

import numpy as np
import pytest

from ltx2.experiment import estimates as est
from ltx2.io.media import read_video

P = "model.diffusion_model."


def _header(blocks=4, width=64):
    tensors = {f"{P}patchify_proj.weight": ("BF16", (width, 128)),
               f"{P}video_embeddings_connector.x.weight": ("BF16", (width, width))}
    for i in range(blocks):
        tensors[f"{P}transformer_blocks.{i}.attn1.to_q.weight"] = ("BF16", (width, width))
        tensors[f"{P}transformer_blocks.{i}.ff.net.0.proj.weight"] = ("F8_E4M3", (4 * width, width))
        tensors[f"{P}transformer_blocks.{i}.ff.net.0.proj.weight_scale"] = ("F32", ())
    return tensors


def test_streamed_transformer_holds_one_block_and_the_read_ahead():
    tensors = _header()
    parts = est.streamed_transformer(tensors, P, 2, None, (f"{P}video_embeddings_connector.",))
    assert parts["top"] == 64 * 128 * 2
    built = (64 * 64 + 4 * 64 * 64) * 2 + 2  # bf16 run: the fp8 weight decoded to 2 bytes (its scale: 2 bytes)
    stored = 64 * 64 * 2 + 4 * 64 * 64  # the read-ahead (scalar scales aside)
    assert parts["blocks"] == built + stored + 4 + 4 * 64 * 64  # + its scale, + the largest tensor in conversion
    in_memory = est.tensors_bytes(tensors, (P,), 2, None, (f"{P}video_embeddings_connector.",))
    assert parts["top"] + parts["blocks"] < in_memory
    quantized = est.streamed_transformer(tensors, P, 2, 8, ())
    assert quantized["blocks"] < parts["blocks"]


def test_plan_true_shows_streamed_blocks_and_a_bad_offload_is_refused(cli):
    shown = cli("plan=true", "model.offload=disk")
    assert shown.returncode == 0 and "transformer blocks streamed from disk" in shown.stdout
    assert "| streamed blocks" in shown.stdout or "streamed blocks" in shown.stdout
    tight = cli("plan=true", "plan.available_gb=0.05")
    assert tight.returncode == 0 and "does not fit; these would:" in tight.stdout
    refused = cli("model.offload=swap")
    assert refused.returncode != 0 and "model.offload" in refused.stderr


@pytest.mark.slow  # two tiny runs (~30 s on 2 busy cores)
def test_offloaded_tiny_run_gives_the_same_video(cli):
    plain = cli()
    assert plain.returncode == 0, plain.stderr
    streamed = cli("model.offload=disk")
    assert streamed.returncode == 0, streamed.stderr
    first, second = cli.run_dirs()
    plan = cli.record(second)["memory_plan"]
    assert "streamed blocks" in plan["phases"]["denoise"]["weights_bytes"]
    a, _ = read_video(first / "video.mp4")
    b, _ = read_video(second / "video.mp4")
    assert np.array_equal(a, b)
