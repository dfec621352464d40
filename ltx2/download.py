"""`python -m ltx2.download model=<name> [pipeline=<name>] ['lora=[a,b]'] [other overrides]`: fetch the hub files
the composed config names and the chosen pipeline reads (the model checkpoint or, for a model shipped one file per
component, its transformer, text encoder and VAEs; the Gemma folder; the upsampler and distilled LoRA only for a
pipeline whose stages use them; the selected LoRAs) into the Hugging Face cache. Prints what is cached, what is
missing, what it skips and why, and the download size and free disk space before downloading; huggingface_hub
shows progress and resumes interrupted downloads. With HF_HUB_OFFLINE=1 it only reports (exit 1 when something is
missing).
"""

from __future__ import annotations

import fnmatch
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig


def compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    from ltx2.experiment.schema import register

    register()
    for name in ("ltx2_pad", "ltx2_output_root", "ltx2_dirname"):
        OmegaConf.register_new_resolver(name, lambda x: x, replace=True)
    with initialize_config_module(version_base="1.3", config_module="ltx2.conf"):
        return hydra_compose("run", overrides=overrides)


# model files every pipeline reads (when the model names them); the others only when the pipeline needs them
ALWAYS = ("checkpoint", "transformer", "text_encoder", "video_vae", "gemma_root")


def needed_model_files(cfg: DictConfig) -> tuple[list[str], list[tuple[str, str]]]:
    """(model keys the chosen pipeline reads, [(model key, why it is skipped)]) from the pipeline's phases: the
    spatial upsampler and distilled LoRA only for the stages that use them, the audio VAE for audio, the prompt
    enhancer with text.enhance_prompt=true, and the temporal upsampler and duration head, which no ltx2 pipeline
    runs yet, never."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    pipeline_name = OmegaConf.select(cfg, "pipeline._target_", default="?").rsplit(".", 1)[-1]
    phases = instantiate(cfg.pipeline, _convert_="all").phases()
    optional = {
        "spatial_upsampler": (phases.upsampler, f"{pipeline_name} runs no upsampled stage"),
        "distilled_lora": (phases.distilled_lora, f"{pipeline_name} runs no distilled-LoRA stage"),
        "audio_vae": (bool(OmegaConf.select(cfg, "audio.enabled", default=True)) or phases.encodes_audio,
                      "audio.enabled=false"),
        "temporal_upsampler": (False, "no ltx2 pipeline runs the temporal upsampler yet"),
        "duration_head": (False, "no ltx2 pipeline predicts the duration yet"),
        "prompt_enhancer": (bool(OmegaConf.select(cfg, "text.enhance_prompt", default=False)),
                            "text.enhance_prompt=false"),
    }
    keys = list(ALWAYS) + [k for k, (needed, _) in optional.items() if needed]
    skipped = [(k, why) for k, (needed, why) in optional.items() if not needed]
    return keys, skipped


def references(cfg: DictConfig) -> tuple[list[tuple[str, object]], list[tuple[str, object, str]]]:
    """(config key, HubRef) of every hf:// value the chosen pipeline needs, and (key, HubRef, why) of those the
    config names but the pipeline does not read."""
    from omegaconf import OmegaConf

    from ltx2.loading.hub import parse

    keys, skipped = needed_model_files(cfg)
    wanted = [f"model.{k}" for k in keys] + [f"lora.{name}.path" for name in (cfg.get("lora") or {})]
    refs = [(key, parse(OmegaConf.select(cfg, key, default=None))) for key in wanted]
    unused = [(f"model.{k}", parse(OmegaConf.select(cfg, f"model.{k}", default=None)), why) for k, why in skipped]
    return [(k, r) for k, r in refs if r is not None], [(k, r, why) for k, r, why in unused if r is not None]


def _remote_files(api, ref) -> list[tuple[str, int]]:
    """(file, bytes) a reference needs, asked from the hub."""
    if ref.filename:
        info = api.get_paths_info(ref.repo, [ref.filename])
        if not info:
            raise FileNotFoundError(f"{ref.repo} has no file {ref.filename}")
        return [(ref.filename, getattr(info[0], "size", 0) or 0)]
    from ltx2.loading.hub import FOLDER_PATTERNS

    files = []
    for entry in api.list_repo_tree(ref.repo, recursive=True):
        size = getattr(entry, "size", None)
        if size is not None and any(fnmatch.fnmatch(Path(entry.path).name, p) for p in FOLDER_PATTERNS):
            files.append((entry.path, size))
    return files


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    from huggingface_hub import constants

    from ltx2.loading.hub import FOLDER_PATTERNS, cache_dir, cached_path

    try:
        cfg = compose(argv)
    except Exception as e:  # noqa: BLE001 - Hydra's compose errors are already one readable line
        print(f"ltx2: cannot compose the config: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        refs, unused = references(cfg)
    except Exception as e:  # noqa: BLE001 - a pipeline that cannot be built: its error is one line
        print(f"ltx2: cannot build the pipeline: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    for key, ref, why in unused:
        print(f"  skipped  {key}: {ref.what} (not needed: {why})")
    if not refs:
        print("ltx2: this config names no Hugging Face files (all paths are local): nothing to fetch")
        return 0
    missing = []
    for key, ref in refs:
        path = cached_path(ref)
        print(f"  {'cached ' if path else 'missing'}  {key}: {ref.what}" + (f" ({path})" if path else ""))
        if not path:
            missing.append((key, ref))
    if not missing:
        print(f"ltx2: all {len(refs)} files are in the Hugging Face cache ({cache_dir()})")
        return 0
    if constants.HF_HUB_OFFLINE:
        print(f"ltx2: {len(missing)} of {len(refs)} files are not in the Hugging Face cache ({cache_dir()}) and "
              "HF_HUB_OFFLINE=1 forbids downloading. Fix: run again online (unset HF_HUB_OFFLINE), or copy the "
              "files into this cache", file=sys.stderr)
        return 1
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    api = HfApi()
    try:
        plan = [(key, ref, _remote_files(api, ref)) for key, ref in missing]
    except (GatedRepoError, RepositoryNotFoundError) as e:
        print(f"ltx2: {type(e).__name__}: {str(e).splitlines()[0]}. Fix: accept the model's licence on "
              "huggingface.co and log in (`hf auth login` or HF_TOKEN=...)", file=sys.stderr)
        return 1
    except (HfHubHTTPError, OSError, FileNotFoundError) as e:
        print(f"ltx2: cannot reach the Hugging Face hub ({type(e).__name__}: {str(e).splitlines()[0]}). Fix: "
              "check the network (or set HF_ENDPOINT), then run again", file=sys.stderr)
        return 1
    need = sum(size for _, _, files in plan for _, size in files)
    for key, ref, files in plan:
        print(f"  {_gb(sum(size for _, size in files)):>10}  {key}: {ref.what}")
    Path(cache_dir()).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache_dir()).free
    print(f"ltx2: {len(missing)} references, {sum(len(f) for _, _, f in plan)} files, {_gb(need)} to download "
          f"into {cache_dir()} ({_gb(free)} free; partial downloads resume)")
    if need > free:
        print(f"ltx2: not enough disk space: {_gb(need)} needed, {_gb(free)} free in {cache_dir()}. Fix: free "
              "space or point HF_HOME / HF_HUB_CACHE at a larger disk", file=sys.stderr)
        return 1
    for key, ref, _ in plan:
        if ref.filename:
            hf_hub_download(ref.repo, ref.filename)
        else:
            snapshot_download(ref.repo, allow_patterns=FOLDER_PATTERNS)
        print(f"  fetched  {key}: {ref.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
