"""A synthetic checkpoint with the real LTX-2.3 22B transformer: the official header ``config`` (transformer
section as quoted in shared/reference/ltx2-core-spec.md section 0.2) and every transformer tensor at its real shape,
filled with seeded random values. Written tensor by tensor (never the whole model in memory): bf16 (~38 GB) or
the official fp8 layout (``--fp8``: block linears F8_E4M3 with weight_scale / input_scale, blocks 0 and 43..47
and everything else bf16, ~23 GB). Only the transformer (the text connectors, VAE and vocoder are not written):
enough for tools/bench_full_size.py and the planner.

    python tools/make_full_size_checkpoint.py --out /work/scratch/fullsize/ltx2.3-22b-bf16.safetensors
    python tools/make_full_size_checkpoint.py --fp8 --out /work/scratch/fullsize/ltx2.3-22b-fp8.safetensors
    python tools/make_full_size_checkpoint.py --layers 2 --out /tmp/ltx2.3-2blocks.safetensors   # real width, 2 blocks
    python tools/make_full_size_checkpoint.py --gemma3 --out /work/scratch/fullsize/gemma-3-12b   # a Gemma 3 folder

``--gemma3`` writes a Hugging Face Gemma 3 12B folder instead (``config.json`` with the reference's 12B text config,
the language model under the multimodal ``language_model.model.*`` keys in bf16 shards of at most 5 GB, ~23.5 GB
for 48 layers; no vision tower, no tokenizer: enough for tools/bench_full_size_text.py and the planner). Large
tensors (the 262208 x 3840 embedding table) are produced in chunks, so the writer holds ~0.3 GB at most.

Values: a pool of 2^24 seeded normals, each tensor a slice of it (a per-key offset, wrapping) scaled to
1/sqrt(fan_in) for weights, 0.02 for biases and tables; the same seed gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from dataclasses import fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ltx2  # noqa: E402,F401  (fast BLAS before mlx)
import mlx.core as mx  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402

from ltx2.loading.fp8 import E4M3_MAX, encode_e4m3  # noqa: E402
from ltx2.loading.safetensors_io import write_streamed  # noqa: E402
from ltx2.models.transformer.config import TransformerConfig  # noqa: E402
from ltx2.models.transformer.load import PREFIX  # noqa: E402
from ltx2.models.transformer.model import LTXModel  # noqa: E402
from ltx2.tiny.fp8 import is_fp8_target  # noqa: E402

# ltx2-core-spec.md 0.2: the 19B header plus the LTX-2.3 overrides (connector entries included: real files carry them)
LTX23_22B = {
    "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate", "attention_bias": True,
    "attention_type": "default", "num_layers": 48, "num_attention_heads": 32, "attention_head_dim": 128,
    "in_channels": 128, "out_channels": 128, "cross_attention_dim": 4096, "caption_channels": 3840,
    "norm_eps": 1e-6, "num_embeds_ada_norm": 1000, "norm_num_groups": 32, "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64, "audio_out_channels": 128, "audio_cross_attention_dim": 2048,
    "positional_embedding_type": "rope", "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048], "audio_positional_embedding_max_pos": [20],
    "use_middle_indices_grid": True, "causal_temporal_positioning": True, "rope_type": "split",
    "frequencies_precision": "float64", "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0,
    "use_audio_video_cross_attention": True, "av_cross_ada_norm": True, "share_ff": False,
    "use_embeddings_connector": True, "connector_num_layers": 8, "connector_num_attention_heads": 32,
    "connector_attention_head_dim": 128, "connector_num_learnable_registers": 128,
    "connector_positional_embedding_max_pos": [4096], "connector_norm_output": True, "qk_norm": "rms_norm",
    "standardization_norm": "rms_norm", "norm_elementwise_affine": False, "cross_attention_norm": True,
    "dropout": 0.0, "double_self_attention": False, "only_cross_attention": False, "upcast_attention": False,
    "use_linear_projection": False, "num_vector_embeds": None,
    "apply_gated_attention": True, "cross_attention_adaln": True, "caption_proj_before_connector": True,
    "caption_projection_first_linear": False, "caption_projection_second_linear": False,
    "caption_proj_input_norm": False, "connector_apply_gated_attention": True,
    "audio_connector_num_attention_heads": 32, "audio_connector_attention_head_dim": 64,
    "connector_learnable_registers_std": 1, "text_encoder_norm_type": "per_token_rms",
}
REAL_PARAMS_22B = 18.989e9  # ltx2-core-spec.md 0.3 (meta-device inventory of ltx-core)
POOL = 1 << 24


def shapes_of(section: dict) -> dict[str, tuple[int, ...]]:
    """Transformer keys (file prefix included) -> shapes, from the model built on the section (lazy: no memory)."""
    model = LTXModel(TransformerConfig.from_metadata(section, audio=True))
    return {PREFIX + k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}


def tensor_specs(section: dict, fp8: bool = False) -> tuple[dict, list[tuple[str, str, tuple[int, ...]]]]:
    """The transformer's shapes and its file's (key, dtype, shape) entries: bf16, or the official fp8 layout (block
    linears F8_E4M3 with a weight_scale and an input_scale, blocks 0 and the last 5 bf16). Also the source of the
    shapes plan=true keeps for the release (tools/make_release_shapes.py)."""
    shapes = shapes_of(section)
    layers = section["num_layers"]
    last = layers - 1
    full_precision = (0, *range(max(last - 4, 1), last + 1)) if layers >= 8 else (0,)
    specs = []
    for key, shape in shapes.items():
        if fp8 and is_fp8_target(key, full_precision):
            module = key.removesuffix(".weight")
            specs += [(key, "F8_E4M3", shape), (f"{module}.weight_scale", "F32", ()),
                      (f"{module}.input_scale", "F32", ())]
        else:
            specs.append((key, "BF16", shape))
    return shapes, specs


def bf16_bytes(values: np.ndarray) -> bytes:
    return np.asarray(mx.array(values).astype(mx.bfloat16).view(mx.uint16)).tobytes()


def seeded_values(seed: int):
    """(pool, take): ``take(source, key, count)`` = ``count`` values of ``source`` (the pool or its float8 codes)
    from a per-key offset, wrapping around."""
    pool = np.random.default_rng(seed).standard_normal(POOL, dtype=np.float32)

    def take(source: np.ndarray, key: str, count: int, start: int = 0) -> np.ndarray:
        pieces, position = [], (zlib.crc32(f"{seed}:{key}".encode()) + start) % POOL
        while count > 0:
            n = min(count, POOL - position)
            pieces.append(source[position:position + n])
            count, position = count - n, 0
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

    return pool, take


def write_gemma3(out: Path, layers: int, seed: int, shard_bytes: int = 5 * 10**9, chunk: int = 1 << 24) -> Path:
    """A synthetic Gemma 3 12B root folder (see the module docstring), written tensor by tensor and chunk by
    chunk."""
    from ltx2.models.text.config import GemmaConfig
    from ltx2.models.text.gemma import GemmaTextModel

    config = GemmaConfig(num_hidden_layers=layers)
    model = GemmaTextModel(config).language_model
    shapes = {"language_model." + k: tuple(v.shape) for k, v in tree_flatten(model.parameters())
              if not k.startswith("lm_head")}
    pool, take = seeded_values(seed)

    def produce(key: str):
        shape = shapes[key]
        std = 1 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.02
        total = math.prod(shape)
        for start in range(0, total, chunk):
            yield bf16_bytes(take(pool, key, min(chunk, total - start), start) * np.float32(std))

    shards, current, size = [], [], 0
    for key, shape in shapes.items():
        nbytes = 2 * math.prod(shape)
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((key, "BF16", shape))
        size += nbytes
    shards.append(current)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = {f.name: getattr(config, f.name) for f in fields(config) if not f.name.startswith("rope_")}
    text.update(model_type="gemma3_text", rope_theta=config.rope_theta,
                rope_local_base_freq=config.rope_local_base_freq,
                rope_scaling={"rope_type": "linear", "factor": config.rope_linear_factor},
                hidden_activation="gelu_pytorch_tanh")
    (out / "config.json").write_text(json.dumps({"architectures": ["Gemma3ForConditionalGeneration"],
                                                 "model_type": "gemma3", "text_config": text}, indent=1))
    metadata = {"format": "pt", "what": f"synthetic Gemma 3 12B language model (seed {seed}, {layers} layers): "
                                        "tools/make_full_size_checkpoint.py --gemma3"}
    for i, specs in enumerate(shards):
        write_streamed(out / f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors", specs, produce, metadata)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fp8", action="store_true", help="the official fp8 layout")
    parser.add_argument("--gemma3", action="store_true", help="a Gemma 3 12B folder instead of the transformer")
    parser.add_argument("--layers", type=int, default=None,
                        help="blocks / Gemma layers (48 real; fewer for a real-width small model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.layers is None:
        args.layers = 48
    if args.gemma3:
        start = time.perf_counter()
        out = write_gemma3(Path(args.out), args.layers, args.seed)
        files = sorted(out.glob("*.safetensors"))
        print(f"wrote {out}: {len(files)} shard(s), {sum(f.stat().st_size for f in files) / 1e9:.2f} GB in "
              f"{time.perf_counter() - start:.0f} s")
        return 0

    section = dict(LTX23_22B, num_layers=args.layers)
    shapes, specs = tensor_specs(section, args.fp8)
    params = sum(math.prod(s) for s in shapes.values())
    if args.layers == 48:
        assert abs(params / REAL_PARAMS_22B - 1) < 1e-3, f"{params / 1e9:.3f} B params, the real model has 18.989 B"
    pool, take = seeded_values(args.seed)
    pool_codes = encode_e4m3(pool / np.abs(pool).max() * E4M3_MAX)
    code_scale = float(np.abs(pool).max() / E4M3_MAX)
    fp8 = {key for key, dtype, _ in specs if dtype == "F8_E4M3"}

    def std(key: str, shape: tuple[int, ...]) -> float:
        return 1 / math.sqrt(shape[-1]) if key.endswith(".weight") and len(shape) == 2 else 0.02


    def produce(key: str) -> bytes:
        if key.endswith(".weight_scale"):
            weight = key.removesuffix("_scale")
            return np.float32(std(weight, shapes[weight]) * code_scale).tobytes()
        if key.endswith(".input_scale"):
            return np.float32(1.0).tobytes()
        shape = shapes[key]
        count = math.prod(shape)
        if key in fp8:
            return take(pool_codes, key, count).tobytes()
        return bf16_bytes(take(pool, key, count).reshape(shape) * np.float32(std(key, shape)))

    metadata = {"config": json.dumps({"transformer": section}), "model_version": "2.3.0",
                "what": f"synthetic LTX-2.3 22B transformer (seed {args.seed}, {args.layers} blocks"
                        f"{', fp8' if args.fp8 else ''}): tools/make_full_size_checkpoint.py"}
    start = time.perf_counter()
    out = write_streamed(args.out, specs, produce, metadata)
    print(f"wrote {out}: {params / 1e9:.3f} B params, {len(shapes)} tensors ({len(fp8)} float8), "
          f"{out.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
