"""Write the shapes ltx2 keeps for the official releases (ltx2/loading/releases/<release>.json), read by ``plan=true``
before the files are downloaded (ltx2.loading.known_shapes). Nothing is downloaded and no tensor is made.

    python tools/make_release_shapes.py                       # every release below, from what the project knows
    python tools/make_release_shapes.py --check               # compare with the files in the Hugging Face cache

Sources (no shape is typed in here):
- transformer: tools/make_full_size_checkpoint.py (the real header ``config.transformer`` of
  ltx2-core-spec.md 0.2, every tensor from our model built lazily on it, the official fp8 layout); the text
  feature projection and connectors from our EmbeddingsProcessor on the same section; both checked against the
  parameter counts of spec 0.3 (18.989 B, 3.172 B);
- video VAE, audio VAE, vocoder (BigVGAN + BWE), spatial upsampler: the reference key lists
  (shared/reference/keys: the ltx-core modules at their real configs), with the metadata sections that describe
  them; each section is checked by building our module on it and comparing every parameter count with the list;
- Gemma 3 12B: our Gemma text model on the 12B config the reference hard-codes (vision tower left out: the text
  encoder never loads it).
Files whose shapes are not known (the distilled LoRAs' targets and rank layout, LTX-2 19B's audio files,
LTX-2.5's Gemma 4 12B) are left out: plan=true names them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import ltx2  # noqa: E402,F401  (fast BLAS before mlx)
from mlx.utils import tree_flatten  # noqa: E402

import make_full_size_checkpoint as full_size  # noqa: E402
from ltx2.loading import known_shapes  # noqa: E402
from ltx2.models.text.config import GemmaConfig, TextProcessorConfig  # noqa: E402
from ltx2.models.text.gemma import GemmaTextModel  # noqa: E402
from ltx2.models.text.processor import (  # noqa: E402
    AUDIO_CONNECTOR_PREFIX,
    FEATURES_PREFIX,
    VIDEO_CONNECTOR_PREFIX,
    EmbeddingsProcessor,
)

KEYS = Path("/work/shared/reference/keys")
HF = "hf://Lightricks/LTX-2.3"
GEMMA = "hf://google/gemma-3-12b-it-qat-q4_0-unquantized"


def _count(shapes) -> int:
    return sum(math.prod(s) for s in shapes)


def key_list(name: str) -> dict[str, tuple[int, ...]]:
    """A reference key list: ``key<TAB>[shape]`` lines."""
    out = {}
    for line in (KEYS / name).read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")[:2]
            out[key] = tuple(json.loads(shape))
    return out


def module_shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in tree_flatten(module.parameters())}


def check_counts(what: str, ours: dict, listed: dict, skip: tuple[str, ...] = ("per_channel_statistics.",)) -> None:
    """Our module built on a section has the reference list's parameter count, prefix by prefix (first two key
    parts: a block count or width that differs shows here)."""
    def by_prefix(shapes):
        out: dict[str, int] = {}
        for key, shape in shapes.items():
            if not key.startswith(skip):
                prefix = ".".join(key.split(".")[:2])
                out[prefix] = out.get(prefix, 0) + math.prod(shape)
        return out

    a, b = by_prefix(ours), by_prefix(listed)
    bad = {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    if bad:
        raise SystemExit(f"{what}: the section does not build the reference shapes (ours, listed): "
                         f"{dict(sorted(bad.items())[:6])}")


# -- LTX-2.3 components ---------------------------------------------------------------------------------------------
def video_vae(version: str) -> tuple[dict, dict]:
    from ltx2.models.video_vae.config import DecoderConfig, EncoderConfig
    from ltx2.models.video_vae.decoder import VideoDecoder
    from ltx2.models.video_vae.encoder import VideoEncoder
    from ltx2.tiny.video_vae import tiny_vae_section

    stem = {"ltx2": "ltx2", "ltx2.3": "ltx23"}[version]
    encoder, decoder = key_list(f"{stem}_video_encoder.txt"), key_list(f"{stem}_video_decoder.txt")

    def layers(keys, block):
        return len({k.split(".")[3] for k in keys if k.startswith(f"{block}.res_blocks.")})

    section = tiny_vae_section(version, decoder_base_channels=128)
    for i, (name, params) in enumerate(section["encoder_blocks"]):
        if name == "res_x":
            params["num_layers"] = layers(encoder, f"down_blocks.{i}")
    # the reference lists' widths: LTX-2.3 128 -> 256 -> 512 -> 1024 -> 1024, LTX-2 128 -> 256 -> 512 -> 512
    multipliers = iter([2, 2, 2, 1] if version == "ltx2.3" else [2, 2, 2, 2])
    section["encoder_blocks"] = [[n, {"multiplier": next(multipliers)} if n.endswith("_res") else p]
                                 for n, p in section["encoder_blocks"]]
    ups = len(section["decoder_blocks"]) - 1
    for i, (name, params) in enumerate(section["decoder_blocks"]):
        if name == "res_x":
            params["num_layers"] = layers(decoder, f"up_blocks.{ups - i}")
    check_counts("video encoder", module_shapes(VideoEncoder(EncoderConfig.from_metadata(section))), encoder)
    check_counts("video decoder", module_shapes(VideoDecoder(DecoderConfig.from_metadata(section))), decoder)
    tensors = {}
    for part, keys in (("encoder.", encoder), ("decoder.", decoder)):
        for key, shape in keys.items():
            tensors["vae." + (key if key.startswith("per_channel") else part + key)] = ("BF16", shape)
    return section, tensors


def audio(version: str) -> tuple[dict, dict, dict]:
    from ltx2.models.audio_vae.config import AudioVAEConfig
    from ltx2.models.audio_vae.decoder import AudioDecoder
    from ltx2.models.audio_vae.encoder import AudioEncoder
    from ltx2.models.vocoder.config import VocoderConfig
    from ltx2.models.vocoder.model import build_vocoder
    from ltx2.tiny.audio_vae import tiny_audio_vae_section
    from ltx2.tiny.vocoder import tiny_vocoder_section

    encoder, decoder = key_list("audio_encoder.txt"), key_list("audio_decoder.txt")
    vocoder = key_list("ltx23_vocoder_bwe.txt" if version == "ltx2.3" else "ltx2_vocoder.txt")
    res = len({k.split(".")[3] for k in decoder if k.startswith("up.0.block.")})
    levels = len({k.split(".")[1] for k in decoder if k.startswith("up.")})
    ch = decoder["conv_in.conv.weight"][0]
    base = tiny_audio_vae_section()["model"]["params"]["ddconfig"]["ch"]
    mult = [decoder[f"up.{i}.block.0.conv1.conv.weight"][0] // base for i in range(levels)]
    section = tiny_audio_vae_section(ch_mult=tuple(mult), num_res_blocks=res - 1)
    config = AudioVAEConfig.from_metadata(section)
    check_counts("audio encoder", module_shapes(AudioEncoder(config)), encoder)
    check_counts("audio decoder", module_shapes(AudioDecoder(config)), decoder)
    assert ch == base * mult[-1], (ch, base, mult)
    if version == "ltx2.3":
        voc = tiny_vocoder_section(version, width=vocoder["vocoder.conv_pre.weight"][0],
                                   bwe_width=vocoder["bwe_generator.conv_pre.weight"][0])
    else:
        voc = tiny_vocoder_section(version, width=vocoder["conv_pre.weight"][0])
    check_counts("vocoder", module_shapes(build_vocoder(VocoderConfig.from_metadata(voc))), vocoder, skip=("~",))
    tensors = {}
    for part, keys in (("encoder.", encoder), ("decoder.", decoder)):
        for key, shape in keys.items():
            tensors["audio_vae." + (key if key.startswith("per_channel") else part + key)] = ("BF16", shape)
    tensors.update({"vocoder." + k: ("F32" if "filter" in k or "basis" in k else "BF16", s)
                    for k, s in vocoder.items()})
    return section, voc, tensors


def upsampler_x2() -> dict:
    from ltx2.models.upsampler.config import UpsamplerConfig
    from ltx2.models.upsampler.model import LatentUpsampler
    from ltx2.tiny.upsampler import tiny_upsampler_config

    keys = key_list("upsampler_x2.txt")
    config = tiny_upsampler_config("spatial-x2", mid_channels=keys["initial_conv.weight"][0],
                                   blocks=len({k.split(".")[1] for k in keys if k.startswith("res_blocks.")}))
    check_counts("spatial upsampler", module_shapes(LatentUpsampler(UpsamplerConfig.from_metadata(config))), keys)
    return known_shapes.digest({"config": json.dumps(config)}, {k: ("BF16", s) for k, s in keys.items()})


def gemma_12b() -> dict:
    config = GemmaConfig()
    shapes = module_shapes(GemmaTextModel(config).language_model)
    hf = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": config.to_hf()}
    return {"config.json": hf, "tensors": known_shapes.fold({"language_model." + k: ("BF16", s)
                                                             for k, s in shapes.items()})}


def ltx2_19b_section() -> dict:
    """The LTX-2 19B header (ltx2-core-spec.md 0.2): the 22B one without the LTX-2.3 entries, 2-layer 30-head
    connectors."""
    drop = ("apply_gated_attention", "cross_attention_adaln", "caption_proj_before_connector",
            "caption_projection_first_linear", "caption_projection_second_linear", "caption_proj_input_norm",
            "connector_apply_gated_attention", "audio_connector_num_attention_heads",
            "audio_connector_attention_head_dim", "connector_learnable_registers_std", "text_encoder_norm_type")
    section = {k: v for k, v in full_size.LTX23_22B.items() if k not in drop}
    section.update(connector_num_layers=2, connector_num_attention_heads=30, connector_attention_head_dim=128)
    return section


# release -> (transformer section, its spec 0.3 counts: transformer, text processor; VAE version; repo; files)
RELEASES = {
    "ltx2_3_22b": ("LTX-2.3 22B", full_size.LTX23_22B, (18.989e9, 3.172e9), "ltx2.3", "2.3.0", {
        f"{HF}/ltx-2.3-22b-dev.safetensors": "ltx-2.3-22b", f"{HF}/ltx-2.3-22b-distilled.safetensors": "ltx-2.3-22b",
        "hf://Lightricks/LTX-2.3-fp8/ltx-2.3-22b-dev-fp8.safetensors": "ltx-2.3-22b-fp8",
        "hf://Lightricks/LTX-2.3-fp8/ltx-2.3-22b-distilled-fp8.safetensors": "ltx-2.3-22b-fp8",
        f"{HF}/ltx-2.3-spatial-upscaler-x2-1.1.safetensors": "spatial-upscaler-x2", GEMMA: "gemma-3-12b-it"}),
    # LTX-2 19B: bf16 only (the layout of its fp8 files is not known here)
    "ltx2_19b": ("LTX-2 19B", None, (18.876e9, 1.431e9), "ltx2", None, {
        "hf://Lightricks/LTX-2/ltx-2-19b-dev.safetensors": "ltx-2-19b",
        "hf://Lightricks/LTX-2/ltx-2-19b-distilled.safetensors": "ltx-2-19b",
        "hf://Lightricks/LTX-2/ltx-2-spatial-upscaler-x2-1.0.safetensors": "spatial-upscaler-x2",
        GEMMA: "gemma-3-12b-it"}),
}


def release(name: str) -> dict:
    title, section, (transformer_params, processor_params), version, model_version, files = RELEASES[name]
    section = section or ltx2_19b_section()
    processor = EmbeddingsProcessor(TextProcessorConfig.from_metadata(section), GemmaConfig(), audio=True)
    renames = {"feature_extractor.": FEATURES_PREFIX, "video_connector.": VIDEO_CONNECTOR_PREFIX,
               "audio_connector.": AUDIO_CONNECTOR_PREFIX}
    text = {}
    for key, shape in module_shapes(processor).items():
        old = next(r for r in renames if key.startswith(r))
        text[renames[old] + key.removeprefix(old)] = ("BF16", shape)
    params = _count(s for _, s in text.values())
    assert abs(params / processor_params - 1) < 2e-3, f"text processor {params / 1e9:.3f} B, spec {processor_params}"
    vae, vae_tensors = video_vae(version)
    audio_section, vocoder, audio_tensors = audio(version)
    config = json.dumps({"transformer": section, "vae": vae, "audio_vae": audio_section, "vocoder": vocoder})
    metadata = {"config": config, **({"model_version": model_version} if model_version else {})}
    digests = {}
    for digest_name in sorted(set(files.values()) - {"spatial-upscaler-x2", "gemma-3-12b-it"}):
        shapes, specs = full_size.tensor_specs(section, digest_name.endswith("-fp8"))
        params = _count(shapes.values())
        assert abs(params / transformer_params - 1) < 1e-3, f"transformer {params / 1e9:.3f} B ({transformer_params})"
        tensors = {key: (dtype, tuple(shape)) for key, dtype, shape in specs}
        tensors.update(text)
        tensors.update(vae_tensors)
        tensors.update(audio_tensors)
        digests[digest_name] = known_shapes.digest(metadata, tensors)
    digests["spatial-upscaler-x2"] = upsampler_x2()
    digests["gemma-3-12b-it"] = gemma_12b()
    return {"release": title, "source": "tools/make_release_shapes.py (see its docstring)", "files": files,
            "digests": digests}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=known_shapes.RELEASES)
    parser.add_argument("--check", action="store_true", help="compare with the files in the Hugging Face cache")
    args = parser.parse_args(argv)
    for name in RELEASES:
        data = release(name)
        if args.check:
            from ltx2.loading.hub import cached_path, parse

            for ref, digest_name in data["files"].items():
                path = cached_path(parse(ref))
                differs = known_shapes.differences(path, data["digests"][digest_name]) if path else ["not in the cache"]
                print(f"{ref}: {'; '.join(differs) or 'same shapes'}")
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / f"{name}.json"
        target.write_text(json.dumps(data, indent=0) + "\n")
        print(f"wrote {target} ({target.stat().st_size / 1e3:.0f} kB): {', '.join(data['files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
