"""Byte counts for the memory planner (ltx2.experiment.planner): weights from safetensors headers, activations of one
transformer forward, of Gemma's text encoding and of the VAE / vocoder decodes, from the shapes alone.

Every function here reads headers and does arithmetic; nothing loads a tensor. The activation formulas count
the tensors alive at the worst moment of each computation as this code runs it today (MLX, lazily evaluated per
step); the constants that encode how the code runs (copies alive per op, the im2col unfold of a convolution,
attention query chunking) are fields of ``Knobs`` so that faster or leaner kernels can plug in their own.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                     "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}


@dataclass(frozen=True)
class Knobs:
    """How the code runs, as far as memory goes. Defaults fitted on MLX 0.32 CPU to the tiny run, a 500 MB synthetic
    transformer run (tests/experiment/test_planner.py) and the real-width LTX-2 video decoder (tools/bench.py vae, untiled)."""

    quantize_group: int = 64        # elements per (scale, bias) pair of a quantized linear weight
    attention_chunk: int | None = None  # queries per attention chunk (None: all at once)
    score_copies: int = 2           # attention scores and their softmax alive together
    hidden_copies: int = 6          # (T, D) tensors alive in a block besides the op's own buffers
    conv_unfold: int = 3            # the widest convolution's extra working memory, in copies of its input
    conv_copies: int = 2            # copies of every level's activation held (MLX's allocator reuses freed buffers)
    vocoder_copies: int = 6         # (channels, samples) tensors alive in a vocoder stage
    streamed_reads: int = 1         # blocks read ahead while one computes (model.offload=disk)


# -- weights ------------------------------------------------------------------------------------------------------
def weight_bytes(shape: tuple[int, ...], dtype_bytes: float, quantize_bits: int | None = None,
                 knobs: Knobs = Knobs()) -> int:
    """Bytes of one weight as held at run time: ``dtype_bytes`` per element, or, when quantized, ``quantize_bits``
    per element of a 2-D (linear) weight plus a scale and a bias (in ``dtype_bytes``) per group."""
    count = math.prod(shape)
    if quantize_bits and len(shape) == 2 and shape[-1] % knobs.quantize_group == 0:
        return int(count * quantize_bits / 8 + 2 * dtype_bytes * count / knobs.quantize_group)
    return int(count * dtype_bytes)


def tensors_bytes(tensors: dict[str, tuple[str, tuple[int, ...]]], prefixes: tuple[str, ...], dtype_bytes: float,
                  quantize_bits: int | None = None, exclude: tuple[str, ...] = (), knobs: Knobs = Knobs()) -> int:
    """Run-time bytes of the header ``tensors`` (key -> (dtype, shape)) under any of ``prefixes``; floating tensors
    take ``dtype_bytes`` (the run's dtype), others keep their stored size."""
    total = 0
    for key, (stored, shape) in tensors.items():
        if not key.startswith(prefixes) or (exclude and key.startswith(exclude)):
            continue
        if stored in ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"):  # float8 is decoded to the run's dtype
            total += weight_bytes(shape, dtype_bytes, quantize_bits, knobs)
        else:
            total += math.prod(shape) * SAFETENSORS_BYTES.get(stored, 4)
    return total


def streamed_transformer(tensors: dict[str, tuple[str, tuple[int, ...]]], prefix: str, dtype_bytes: float,
                         quantize_bits: int | None = None, exclude: tuple[str, ...] = (),
                         knobs: Knobs = Knobs()) -> dict[str, int]:
    """Bytes a transformer holds with its blocks streamed from disk (ltx2.loading.streaming): ``top`` (the
    top-level weights, in memory) and ``blocks``: the largest block as built (run dtype or quantized),
    ``streamed_reads`` blocks read ahead as the reader thread hands them over (stored bytes; bf16 and float8
    made float32 for a float32 run) and one tensor being converted by the reader. The stored bytes of the block being built are freed
    tensor by tensor as its cast (or float8 decode, or quantization) is evaluated: measured, they add nothing to
    the peak (tools/bench_full_size.py: 22B bf16 file, float32 run, 4.74 GiB measured)."""
    blocks = prefix + "transformer_blocks."
    top = tensors_bytes({k: v for k, v in tensors.items() if not k.startswith(blocks)}, (prefix,), dtype_bytes,
                        quantize_bits, exclude, knobs)
    per_block: dict[str, dict] = {}
    for key, value in tensors.items():
        if key.startswith(blocks):
            per_block.setdefault(key[len(blocks):].split(".", 1)[0], {})[key] = value
    # the costliest block (an fp8 file keeps some blocks bf16), whatever the header's key order
    held = (_streamed_layer(block, dtype_bytes, quantize_bits, knobs) for block in per_block.values())
    return {"top": top, "blocks": max(held, default=0)}


def _streamed_layer(layer: dict[str, tuple[str, tuple[int, ...]]], dtype_bytes: float, quantize_bits: int | None,
                    knobs: Knobs) -> int:
    """One streamed layer as built, ``streamed_reads`` more as the reader hands them over (bf16 and float8 made
    float32 for a float32 run, else stored bytes) and one tensor being converted."""
    built = tensors_bytes(layer, ("",), dtype_bytes, quantize_bits, (), knobs)
    widened = ("BF16", "F8_E4M3", "F8_E5M2") if dtype_bytes == 4 else ()
    handed = [math.prod(shape) * (4 if dtype in widened else SAFETENSORS_BYTES.get(dtype, 4))
              for dtype, shape in layer.values()]
    return int(built + knobs.streamed_reads * sum(handed) + max(handed, default=0))


def streamed_gemma(tensors: dict[str, tuple[str, tuple[int, ...]]], dtype_bytes: float, quantize_bits: int | None,
                   exclude: tuple[str, ...], tokens: int, knobs: Knobs = Knobs()) -> dict[str, int]:
    """Bytes Gemma holds with its layers streamed (ltx2.loading.streamed_text): ``top`` (the final norm and the
    embedding rows of ``tokens`` tokens; the table stays on disk) and ``layers`` (as ``streamed_transformer``'s
    blocks: the largest layer built, the one read ahead, one tensor in conversion). ``quantize_bits`` does not
    lower it: each layer is quantized after it is built in the run dtype."""
    per_layer: dict[str, dict] = {}
    top = 0
    for key, value in tensors.items():
        if exclude and key.startswith(exclude):
            continue
        match = re.search(r"(?:^|\.)layers\.(\d+)\.", key)
        if match:
            per_layer.setdefault(match.group(1), {})[key] = value
        elif key.endswith("embed_tokens.weight"):
            top += int(tokens * value[1][-1] * dtype_bytes)
        else:
            top += tensors_bytes({key: value}, ("",), dtype_bytes, quantize_bits, (), knobs)
    largest = max(per_layer.values(), key=lambda t: tensors_bytes(t, ("",), dtype_bytes, None, (), knobs), default={})
    # quantized or not, a layer is built in the run dtype first (Gemma files are never pre-quantized): its quantized
    # weights replace the float ones as they are computed (measured: tools/bench_full_size_text.py, 2-layer 12B q8)
    return {"top": top, "layers": _streamed_layer(largest, dtype_bytes, None, knobs)}


def key_is_scale(dtype: str, shape: tuple[int, ...]) -> bool:
    """A float8 file's per-tensor scalar scales (a few bytes)."""
    return dtype == "F32" and len(shape) == 0


def gemma_files(gemma_root: str | Path) -> list[Path]:
    return sorted(Path(gemma_root).glob("*.safetensors"))


def gemma_config(gemma_root: str | Path) -> dict:
    """Gemma 3's text config (multimodal checkpoints nest it under ``text_config``), 12B defaults for absent keys."""
    return gemma_config_of(json.loads((Path(gemma_root) / "config.json").read_text()))


def gemma_config_of(raw: dict) -> dict:
    """The text config of a Hugging Face Gemma config (Gemma 3 folder, or a Gemma 4 text-encoder file's
    ``gemma_config``), 12B defaults for absent keys."""
    text = raw.get("text_config", raw)
    defaults = {"hidden_size": 3840, "num_hidden_layers": 48, "intermediate_size": 15360, "num_attention_heads": 16,
                "vocab_size": 262208}
    return {k: text.get(k, v) for k, v in defaults.items()}


# -- activations --------------------------------------------------------------------------------------------------
def transformer_forward(section: dict, video_tokens: int, audio_tokens: int, text_tokens: int, dtype_bytes: float,
                        knobs: Knobs = Knobs()) -> int:
    """Peak bytes of one forward beyond the weights: the hidden states and per-token AdaLN tables of both
    modalities, RoPE tables (float32), and the worst single op (video self-attention scores, or a feed-forward
    4x-wide intermediate)."""
    dv = section.get("num_attention_heads", 32) * section.get("attention_head_dim", 128)
    hv = section.get("num_attention_heads", 32)
    da = section.get("audio_num_attention_heads", 32) * section.get("audio_attention_head_dim", 64)
    ha = section.get("audio_num_attention_heads", 32)
    ctx = section.get("cross_attention_dim", dv)
    resident = dtype_bytes * (knobs.hidden_copies * (video_tokens * dv + audio_tokens * da)
                              + 6 * (video_tokens * dv + audio_tokens * da)  # per-token AdaLN shift/scale/gate
                              + 2 * text_tokens * (ctx + section.get("audio_cross_attention_dim", da)))
    rope = 4 * 2 * (video_tokens * dv + audio_tokens * da)  # cos and sin tables, float32

    def attention(heads: int, queries: int, keys: int, width: int) -> float:
        chunk = min(queries, knobs.attention_chunk or queries)
        return dtype_bytes * (knobs.score_copies * heads * chunk * keys + 4 * queries * width)

    ops = [attention(hv, video_tokens, video_tokens, dv), attention(hv, video_tokens, text_tokens, dv),
           attention(ha, audio_tokens, audio_tokens, da), attention(ha, video_tokens, audio_tokens, da),
           dtype_bytes * 2 * 4 * (video_tokens * dv), dtype_bytes * 2 * 4 * (audio_tokens * da)]
    return int(resident + rope + max(ops))


def text_encode(config: dict, tokens: int, prompts: int, dtype_bytes: float, feature_layers: int | None = None,
                knobs: Knobs = Knobs()) -> int:
    """Gemma over ``prompts`` prompts of ``tokens`` (padded) tokens: every layer's hidden state is kept (the
    features stack them), plus one layer's attention scores and MLP intermediate, and the float32 stacked
    features of one prompt."""
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    kept = (feature_layers or layers + 1) * tokens * d
    states = prompts * kept * dtype_bytes
    features = 4 * kept  # (T, D*L) float32
    op = max(knobs.score_copies * config["num_attention_heads"] * tokens * tokens,
             2 * tokens * config["intermediate_size"]) * dtype_bytes
    return int(states + features + op)


def decoder_levels(vae_section: dict, latent: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(voxels, channels) of each activation the video decoder makes for a latent grid (F', H', W'): after
    ``conv_in``, after every block, after ``conv_out`` (out_channels x patch^2) and the pixels."""
    from ltx2.models.video_vae.config import DECODER_STRIDES, DecoderConfig

    config = DecoderConfig.from_metadata(vae_section)
    f, h, w = latent
    levels = [(f * h * w, config.width)]
    for block, (_, cout) in zip(reversed(config.blocks), config.block_channels()):
        st, sh, sw = DECODER_STRIDES[block.name]
        f, h, w = (f - 1) * st + 1 if st > 1 else f, h * sh, w * sw
        levels.append((f * h * w, cout))
    p = config.patch_size
    levels.append((f * h * w, config.out_channels * p * p))
    levels.append((f * h * w * p * p, config.out_channels))
    return levels


def video_decode(vae_section: dict, latent: tuple[int, int, int], dtype_bytes: float,
                 knobs: Knobs = Knobs()) -> int:
    """Decode of one latent grid (a whole latent or one tile): ``conv_copies`` of every level's activation (MLX's
    allocator keeps freed buffers for reuse, so earlier levels stay resident) plus the widest convolution's
    unfolded input."""
    levels = decoder_levels(vae_section, latent)
    widest_conv = max(voxels * channels for voxels, channels in levels[:-2])
    return int(dtype_bytes * (knobs.conv_copies * sum(v * c for v, c in levels) + knobs.conv_unfold * widest_conv))


def diffusion_video_decode(vae_section: dict, latent: tuple[int, int, int], dtype_bytes: float,
                           knobs: Knobs = Knobs()) -> int:
    """Decode of a whole latent grid (F', H', W') by LTX-2.5's diffusion decoder (``DiffusionVideoDecoder``), tiled
    as the pipelines tile it (``pipeline_tiling``): the canvas noise, the float32 blend buffers and output chunk
    over one temporal tile row; the stage-4 input, held over all tiles; and the worst of stages 1-3 (whole
    latent) and of one tile's stage 4 + stage 5 (``block``: activations and attention scores). Checked against
    MLX's peak at tiny widths only (tests/experiment/test_diffusion_decode_estimate.py)."""
    from ltx2.models.video_vae.diffusion_config import DiffusionDecoderConfig
    from ltx2.models.video_vae.diffusion_tiling import canvas_shape, stage4_shape, tile_plan
    from ltx2.models.video_vae.neighborhood_attention import QUERY_BLOCK, SCORE_BUDGET
    from ltx2.models.video_vae.tiling import pipeline_tiling

    config = DiffusionDecoderConfig.from_metadata(vae_section)
    b = dtype_bytes
    _, frames, height, width, _ = canvas_shape(config, (1, *latent))
    tiling = pipeline_tiling((1, *latent, config.in_channels), config)
    padded = stage4_shape(config, *[max(a, m) for a, m in zip(latent, config.min_latent_shape)])
    tiles = tile_plan(config, padded, (frames, height, width), tiling)
    row = max(t.pixels[0].stop - t.pixels[0].start for t in tiles) * height * width  # one temporal tile's pixels
    # the noise over the whole canvas; float32 blend buffers (values + weights) over one temporal tile row, and a
    # chunk of output frames with its uint8 conversion (decode_chunks hands frames out row by row)
    canvas = frames * height * width * 3 * b + row * 16 + row * (12 + 3 * b + 12 + 3)

    def block(tokens: int, channels: int, kernel: tuple[int, int, int]) -> float:
        """One neighborhood-attention block: ``hidden_copies`` of its (tokens, channels) and the scores of one
        batched attention call (every head, at most SCORE_BUDGET per head) with their boolean mask."""
        box = _prod(q + k - 1 for q, k in zip(QUERY_BLOCK, kernel))
        scores = channels // config.head_dim * min(SCORE_BUDGET, tokens * box)
        return knobs.hidden_copies * tokens * channels * b + scores * (b + 1)

    f, h, w = config.min_latent_shape
    f, h, w = max(latent[0], f) + config.trailing_ghost_frames, max(latent[1], h), max(latent[2], w)
    stages, tokens = [], f * h * w
    for i, ((st, sh, sw), _) in enumerate(config.upsamples[:3]):
        stages.append(block(tokens, config.stage_channels[i], config.stage_kernels[i]))
        tokens *= st * sh * sw
    s4 = stage4_shape(config, f, h, w)
    held = s4[0] * s4[1] * s4[2] * config.stage_channels[3] * b
    tile = max(tiles, key=lambda t: _prod_slices(t.cells))
    cells = _prod_slices(tile.cells)
    tokens5 = cells * _prod(config.upsamples[3][0])
    per_tile = (max(block(cells, config.stage_channels[3], config.stage_kernels[3]),
                    block(tokens5, config.stage5_dim, config.stage5_kernel))
                + tokens5 * config.context_channels * b + _prod_slices(tile.pixels) * (4 * config.out_channels + 8))
    return int(canvas + held + max(max(stages), per_tile))


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _prod_slices(slices) -> int:
    out = 1
    for s in slices:
        out *= s.stop - s.start
    return out


def tiled_latent(latent: tuple[int, int, int], tile_px: int, tile_frames: int) -> tuple[int, int, int]:
    """The largest tile's latent grid (a tile's size includes its overlap)."""
    f, h, w = latent
    return (min(f, tile_frames // 8 + 1), min(h, tile_px // 32), min(w, tile_px // 32))


def vocoder_decode(vocoder_section: dict, seconds: float, knobs: Knobs = Knobs()) -> int:
    """Float32 vocoder over ``seconds`` of audio: at each upsampling stage (channels halve, length grows by the
    rate) ``vocoder_copies`` (channels, samples) tensors, stereo; the bandwidth extender likewise when present."""
    total = 0
    for key, rate_in in (("vocoder", 100.0), ("bwe", None)):
        section = vocoder_section.get(key, vocoder_section if key == "vocoder" else None)
        if not isinstance(section, dict) or "upsample_rates" not in section:
            continue
        rates, channels = section["upsample_rates"], section.get("upsample_initial_channel", 512)
        if rate_in is None:  # the extender runs on the vocoder's output, re-analysed at hop_length
            rate_in = section.get("input_sampling_rate", 16000) / section.get("hop_length", 80)
        length, worst = seconds * rate_in, 0.0
        for rate in rates:
            length, channels = length * rate, max(channels // 2, 1)
            worst = max(worst, length * channels)
        total = max(total, int(4 * 2 * knobs.vocoder_copies * worst))
    return total


# -- the machine --------------------------------------------------------------------------------------------------
def available_memory() -> int | None:
    """Bytes a new allocation can get without swapping: psutil, else /proc/meminfo MemAvailable, else macOS's
    physical memory less what the kernel counts as used (vm_stat)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        match = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    if sys.platform == "darwin":
        try:
            stat = subprocess.run(["vm_stat"], check=False, capture_output=True, text=True, timeout=5).stdout
            page = int(re.search(r"page size of (\d+)", stat).group(1))
            pages = sum(int(re.search(rf"{name}:\s+(\d+)", stat).group(1))
                        for name in ("Pages free", "Pages inactive", "Pages speculative"))
            return pages * page
        except (OSError, AttributeError, subprocess.TimeoutExpired):
            return None
    return None
