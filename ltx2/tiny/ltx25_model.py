"""The tiny LTX-2.5 model (``model=tiny25``): every file of the official split release, at tiny sizes with seeded
random weights, written by the writers of each component (transformer + connectors, Gemma 4 text encoder with its
projection, conv video VAE, audio VAE + vocoder, spatial / temporal upsamplers, duration head) and a distilled LoRA
stand-in. Widths agree across files: the text projection writes the transformer's connector widths, the VAEs the
transformer's 128 latent channels."""

from __future__ import annotations

import os
from pathlib import Path

from ltx2.tiny.checkpoint import write_tiny_lora_for
from ltx2.tiny.codecs25 import FILES as CODEC_FILES
from ltx2.tiny.codecs25 import write_tiny_codecs25
from ltx2.tiny.gemma4 import write_tiny_text_encoder_file
from ltx2.tiny.ltx25 import tiny_ltx25_section, write_tiny_ltx25_transformer

FILES = {"transformer": "tiny-ltx-2.5-transformer.safetensors",
         "text_encoder": "tiny-gemma4-with-proj-ltx-2.5.safetensors",
         "distilled_lora": "tiny-ltx-2.5-distilled-lora.safetensors", **CODEC_FILES}


def write_tiny_ltx25_model(folder: str | os.PathLike, seed: int = 0) -> dict[str, Path]:
    """Write every file of the tiny LTX-2.5 model into ``folder``; returns ``{component: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    section = tiny_ltx25_section()
    video_dim = section["num_attention_heads"] * section["attention_head_dim"]
    audio_dim = section["audio_num_attention_heads"] * section["audio_attention_head_dim"]
    paths = {"transformer": write_tiny_ltx25_transformer(folder / FILES["transformer"], seed),
             "text_encoder": write_tiny_text_encoder_file(folder / FILES["text_encoder"], seed,
                                                          video_dim=video_dim, audio_dim=audio_dim),
             "distilled_lora": write_tiny_lora_for(folder / FILES["distilled_lora"], section, seed,
                                                   what="tiny distilled LoRA stand-in for the tiny LTX-2.5 model")}
    paths.update(write_tiny_codecs25(folder, seed, video_dim=video_dim, audio_dim=audio_dim))
    return paths
