"""The memory planner: the predicted peak memory of each phase of a run (text encoding, denoising per stage,
decoding), from the checkpoint headers and the request, before anything is loaded.

``plan=true`` prints the table and exits; a run whose predicted peak exceeds the machine's available memory
stops with the options that would fit, unless ``plan.force=true``. Every run records its plan
(``run_record.json`` ``memory_plan``, with the measured peak beside it).

A phase's total is: the process as it stands when the plan is made (interpreter, libraries, and any network a
previous job of a sweep left cached) + a fixed runtime overhead + the weights loaded by then + the activations
of that phase. Networks stay cached once loaded (``ltx2.loading.model_set``), so later phases carry earlier weights;
the text encoder frees itself after encoding. Byte formulas: ``ltx2.experiment.estimates``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltx2.experiment import estimates as est
from ltx2.loading.checkpoint import read_header
from ltx2.models.audio_vae import load as audio_vae
from ltx2.models.text.processor import AUDIO_CONNECTOR_PREFIX, FEATURES_PREFIX, VIDEO_CONNECTOR_PREFIX
from ltx2.models.transformer.load import PREFIX as TRANSFORMER_PREFIX
from ltx2.models.transformer.load import is_audio_stream_key
from ltx2.models.video_vae import load as video_vae
from ltx2.models.vocoder.load import PREFIX as VOCODER_PREFIX

GIB = 2**30
# Measured on the tiny default run (MLX 0.32 CPU, Linux): what the pipelines import and allocate beyond the
# process at plan time (video writer, tqdm, model modules, MLX's allocator and thread pools). 130 MiB since the
# op seam (the CPU backend owns fewer scratch buffers): tiny run +11..15%, mid-size +1% (was +22..26% / +5%).
RUNTIME_OVERHEAD = 130 * 2**20
_TEXT_IN_TRANSFORMER = (VIDEO_CONNECTOR_PREFIX, AUDIO_CONNECTOR_PREFIX)


@dataclass
class PlanSettings:
    """The ``plan`` config group (conf/plan/): ``plan=true`` shows the plan and exits; ``plan.force=true`` runs
    even when the prediction exceeds the available memory; ``plan.available_gb`` replaces the measured
    available memory (a share of a machine, or a test)."""

    show: bool = False
    force: bool = False
    available_gb: float | None = None
    memory_gb: float | None = None  # plan for a machine of this much memory (same as available_gb; one of them)


@dataclass(frozen=True)
class Request:
    """What the plan depends on besides the files."""

    width: int
    height: int
    num_frames: int
    fps: float
    dtype: str = "bfloat16"
    quantize_bits: int | None = None       # transformer weights (model.quantize, when the run supports it)
    text_quantize_bits: int | None = None  # Gemma (text.quantize_bits)
    negative_prompt: bool = True
    offload: str = "none"                  # transformer blocks: none (in memory) or disk (streamed; model.offload)
    text_offload: str = "none"             # Gemma layers: none or disk (model.offload, decided for Gemma)
    audio: bool = True
    image_conditioning: bool = False


@dataclass
class Phase:
    name: str
    weights: dict[str, int]  # network -> bytes held during this phase (loaded by now and not freed)
    activations: int

    @property
    def total_weights(self) -> int:
        return sum(self.weights.values())


@dataclass
class MemoryPlan:
    request: Request
    base: int  # process at plan time + runtime overhead
    phases: list[Phase]
    available: int | None
    knobs: est.Knobs = field(default_factory=est.Knobs)
    fitting: list[str] = field(default_factory=list)  # plan=true over budget: override sets that would fit
    notes: list[str] = field(default_factory=list)  # where the shapes came from (files not downloaded)

    def total(self, phase: Phase) -> int:
        return self.base + phase.total_weights + phase.activations

    @property
    def peak_phase(self) -> Phase:
        return max(self.phases, key=self.total)

    @property
    def peak(self) -> int:
        return self.total(self.peak_phase)

    @property
    def fits(self) -> bool:
        return self.available is None or self.peak <= self.available

    def table(self) -> str:
        rows = ["| phase | weights GiB | activations GiB | predicted GiB | networks held |", "|---|---|---|---|---|"]
        for phase in self.phases:
            held = ", ".join(f"{k} {v / GIB:.2f}" for k, v in phase.weights.items() if v)
            rows.append(f"| {phase.name} | {phase.total_weights / GIB:.2f} | {phase.activations / GIB:.2f} | "
                        f"{self.total(phase) / GIB:.2f} | {held} |")
        available = f"{self.available / GIB:.2f} GiB" if self.available is not None else "unknown"
        r = self.request
        rows.append(f"\npredicted peak {self.peak / GIB:.2f} GiB ({self.peak_phase.name}); available {available}; "
                    f"process + runtime {self.base / GIB:.2f} GiB; {r.width}x{r.height}, {r.num_frames} frames, "
                    f"{r.dtype}" + (f", weights {r.quantize_bits}-bit" if r.quantize_bits else "")
                    + (", transformer blocks streamed from disk" if r.offload == "disk" else "")
                    + (", Gemma layers streamed from disk" if r.text_offload == "disk" else ""))
        return "\n".join(rows)

    def as_dict(self) -> dict:
        return {"predicted_peak_bytes": self.peak, "peak_phase": self.peak_phase.name, "base_bytes": self.base,
                "available_bytes": self.available,
                "phases": {p.name: {"predicted_bytes": self.total(p), "weights_bytes": p.weights,
                                    "activations_bytes": p.activations} for p in self.phases}}


# -- the machine --------------------------------------------------------------------------------------------------

def process_rss() -> int:
    """Resident bytes of this process now."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        status = Path("/proc/self/status")
        match = re.search(r"^VmRSS:\s+(\d+) kB", status.read_text(), re.MULTILINE) if status.is_file() else None
        return int(match.group(1)) * 1024 if match else 0


def peak_rss() -> int:
    """This process's peak resident bytes so far: VmHWM on Linux (ru_maxrss there survives exec, so a child
    would inherit its parent's peak), else ru_maxrss (bytes on macOS)."""
    import resource

    status = Path("/proc/self/status")
    match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE) if status.is_file() else None
    if match:
        return int(match.group(1)) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# -- the plan -----------------------------------------------------------------------------------------------------
def plan_run(models: Any, pipeline: Any, request: Request, available: int | None = None,
             knobs: est.Knobs | None = None, base: int | None = None) -> MemoryPlan:
    """The plan of one job of ``pipeline`` (its declared ``phases()``) with the files of ``models`` (an
    ltx2.loading.model_set.ModelSet, files resolved). Networks already in this process's cache are in ``base``
    (the current RSS) and not added again."""
    from ltx2.loading.model_set import cached_kinds
    from ltx2.models.text.config import MAX_TOKENS
    from ltx2.models.text.gemma import VISION_PREFIXES

    knobs = knobs or est.Knobs()
    base = process_rss() + RUNTIME_OVERHEAD if base is None else base
    checkpoint = models.files
    in_memory = cached_kinds(checkpoint.paths())
    b = est.DTYPE_BYTES.get(request.dtype, 4)

    def weights(kind: str, component: str, prefixes: tuple[str, ...], dtype_bytes: float = b,
                quantize: int | None = None, exclude: tuple[str, ...] = ()) -> int:
        if kind in in_memory:
            return 0
        return est.tensors_bytes(checkpoint.header(component).tensors, prefixes, dtype_bytes, quantize, exclude, knobs)

    # text encoding: Gemma + the embeddings processor, freed afterwards
    if checkpoint.has("text_encoder"):  # LTX-2.5: Gemma 4 and the text projection in one file
        from ltx2.models.text.te_file import PROJECTION_PREFIX, TEXT_ONLY_EXCLUDED, read_gemma_hf_config

        gemma_cfg = est.gemma_config_of(read_gemma_hf_config(checkpoint.path("text_encoder")))
        te_tensors = checkpoint.header("text_encoder").tensors
        gemma_tensors, gemma_excluded = te_tensors, TEXT_ONLY_EXCLUDED
        processor = est.tensors_bytes(te_tensors, (PROJECTION_PREFIX,), b, None, (), knobs)
        processor += est.tensors_bytes(checkpoint.header("transformer").tensors, _TEXT_IN_TRANSFORMER, b, None, (),
                                       knobs)
    else:
        gemma_cfg = est.gemma_config(models.gemma_root)
        gemma_tensors = {k: v for f in est.gemma_files(models.gemma_root) for k, v in read_header(f).tensors.items()}
        gemma_excluded = VISION_PREFIXES
        processor = est.tensors_bytes(checkpoint.header("transformer").tensors,
                                      (FEATURES_PREFIX,) + _TEXT_IN_TRANSFORMER, b, None, (), knobs)
    prompts = 2 if request.negative_prompt else 1
    if request.text_offload == "disk":  # the final norm and the prompt's embedding rows stay, layers are streamed
        streamed_text = est.streamed_gemma(gemma_tensors, b, request.text_quantize_bits, gemma_excluded, MAX_TOKENS,
                                           knobs)
        text_weights = {"gemma": streamed_text["top"], "streamed Gemma layers": streamed_text["layers"]}
    else:
        text_weights = {"gemma": est.tensors_bytes(gemma_tensors, ("",), b, request.text_quantize_bits, gemma_excluded,
                                                   knobs)}
    phases = [Phase("text_encoding", {**text_weights, "text processor": processor},
                    est.text_encode(gemma_cfg, MAX_TOKENS, prompts, b, knobs=knobs))]

    vae_root = video_vae.vae_root(checkpoint.path("video_vae"))  # "vae." in a single file, "" in a split one
    video_encoder = ("video_encoder", "video_vae", (f"{vae_root}encoder.", f"{vae_root}per_channel_statistics."))
    if request.offload == "disk":  # top-level weights stay, blocks are held only while they run
        streamed = est.streamed_transformer(checkpoint.header("transformer").tensors, TRANSFORMER_PREFIX, b,
                                            request.quantize_bits, _TEXT_IN_TRANSFORMER, knobs)
        held: dict[str, int] = {"transformer": 0 if "transformer" in in_memory else streamed["top"],
                                "streamed blocks": streamed["blocks"]}
    else:
        held = {"transformer": weights("transformer", "transformer", (TRANSFORMER_PREFIX,), b,
                                       request.quantize_bits, _TEXT_IN_TRANSFORMER)}
    audio_only = pipeline.phases().audio_only  # t2a: the audio stream's weights only, no video tokens or decode
    if audio_only and "transformer" not in in_memory and request.offload != "disk":
        held["transformer"] = est.tensors_bytes(_audio_stream(checkpoint.header("transformer").tensors),
                                                (TRANSFORMER_PREFIX,), b, request.quantize_bits, (), knobs)
    if models.loras and request.offload != "disk":  # streamed: LoRAs are fused into each block as it is read
        held["LoRA-fused copy"] = _lora_touched(checkpoint, [p for p, _ in models.loras], b, request.quantize_bits,
                                                knobs)
    if request.image_conditioning:
        held["video encoder"] = weights(*video_encoder)
    section = checkpoint.config("transformer")
    audio_tokens = _audio_tokens(request)
    for stage in pipeline.phases().stages:
        if stage.upsampled:
            held["upsampler"] = weights("upsampler", "spatial_upsampler", ("",))
            held.setdefault("video encoder", weights(*video_encoder))
        if stage.distilled_lora and request.offload != "disk":
            loras = [p for p, _ in models.loras] + [models.distilled_lora]
            held["LoRA-fused copy"] = _lora_touched(checkpoint, loras, b, request.quantize_bits, knobs)
        width, height = int(request.width * stage.scale), int(request.height * stage.scale)
        video_tokens = _video_latent(request.num_frames, height, width)
        act = est.transformer_forward(section, 0 if audio_only else _prod(video_tokens), audio_tokens, MAX_TOKENS,
                                      b, knobs)
        phases.append(Phase(stage.name, dict(held), act))

    # decoding: the audio decoder and vocoder (float32), then the video decoder, streamed tile by tile
    held = dict(held)
    latent = _video_latent(request.num_frames, request.height, request.width)
    vae_section = checkpoint.config("vae")
    if audio_only:
        decode = 0
    elif video_vae.has_conv_decoder(vae_section):
        decode = est.video_decode(vae_section, _tile(latent), b, knobs)
    else:  # LTX-2.5's diffusion decoder: its own tiles, frames handed out row by row
        decode = est.diffusion_video_decode(vae_section, latent, b, knobs)
    if not audio_only:
        held["video decoder"] = weights("video_decoder", "video_vae", (f"{vae_root}decoder.",
                                                                        f"{vae_root}per_channel_statistics."))
    if request.audio and checkpoint.has("audio_vae") and checkpoint.has("vocoder"):
        held["audio decoder"] = weights("audio_decoder", "audio_vae", (audio_vae.DECODER_PREFIX,
                                                                        audio_vae.STATS_PREFIX))
        held["vocoder"] = weights("vocoder", "vocoder", (VOCODER_PREFIX,), 4)
        decode = max(decode, est.vocoder_decode(checkpoint.config("vocoder"), request.num_frames / request.fps,
                                                knobs))
    phases.append(Phase("decode", held, decode))
    return MemoryPlan(request, base, phases, available, knobs)


def _audio_stream(tensors: dict) -> dict:
    """The header entries an audio-only transformer reads (ltx2.models.transformer.load.sanitize, video=False)."""
    return {k: v for k, v in tensors.items()
            if k.startswith(TRANSFORMER_PREFIX) and is_audio_stream_key(k[len(TRANSFORMER_PREFIX):])}


def _prod(shape) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


def _video_latent(frames: int, height: int, width: int) -> tuple[int, int, int]:
    return ((frames - 1) // 8 + 1, max(height // 32, 1), max(width // 32, 1))


def _audio_tokens(request: Request) -> int:
    from ltx2.sampling.latent_state import AudioLatentShape

    return AudioLatentShape.from_video(request.num_frames, request.fps).frames


def _tile(latent: tuple[int, int, int]) -> tuple[int, int, int]:
    """The latent grid one decode step sees: the whole latent, or the largest tile of the tiling the pipelines
    choose (``ltx2.pipelines.common.tiling_for``)."""
    from ltx2.pipelines.common import tiling_for

    tiling = tiling_for((1, *latent, 128))
    if tiling is None:
        return latent
    spatial, temporal = tiling.spatial, tiling.temporal
    return est.tiled_latent(latent, spatial.tile_px if spatial else 10**9,
                            temporal.tile_frames if temporal else 10**9)


def _lora_touched(checkpoint, lora_files: list[str], b: float, quantize: int | None, knobs: est.Knobs) -> int:
    """Bytes of the transformer weights the LoRAs touch (the fused copy holds its own)."""
    tensors = checkpoint.header("transformer").tensors
    touched: set[str] = set()
    for path in lora_files:
        for key in read_header(path).tensors:
            match = re.match(r"(?:diffusion_model\.|model\.diffusion_model\.)?(.+)\.lora_A\.weight$", key)
            if match:
                touched.add(TRANSFORMER_PREFIX + match.group(1) + ".weight")
    return est.tensors_bytes({k: v for k, v in tensors.items() if k in touched}, ("",), b, quantize, (), knobs)


# -- the run's side -----------------------------------------------------------------------------------------------
def request_of(cfg, pipeline, conditioning, guidance, models) -> Request:
    from omegaconf import OmegaConf

    quantize = OmegaConf.select(cfg, "model.quantize", default=None)
    resolved = getattr(models, "resolved_offload", None)
    text_resolved = getattr(models, "resolved_text_offload", None)
    return Request(offload=resolved() if resolved else "none",
                   text_offload=text_resolved(cfg.text.quantize_bits) if text_resolved else "none",
                   width=int(cfg.width), height=int(cfg.height), num_frames=int(cfg.num_frames), fps=float(cfg.fps),
                   dtype=str(models.dtype), quantize_bits=quantize if isinstance(quantize, int) else None,
                   text_quantize_bits=cfg.text.quantize_bits,
                   negative_prompt=bool(getattr(guidance, "needs_negative", True)),
                   audio=bool(cfg.audio.enabled),
                   image_conditioning=getattr(conditioning, "GROUP_OPTION", None) == "image")


def settings_of(cfg) -> PlanSettings:
    from omegaconf import OmegaConf

    node = OmegaConf.select(cfg, "plan", default=None)
    return PlanSettings(**OmegaConf.to_container(node)) if node is not None else PlanSettings()


def cli_aliases(argv: list[str]) -> list[str]:
    """``plan=true`` / ``plan=false`` on the command line select the ``show`` / ``default`` options of the plan
    group (Hydra's override grammar reads ``true`` as a boolean, which cannot name a group option)."""
    aliases = {"plan=true": "plan=show", "plan=false": "plan=default"}
    return [aliases.get(arg.lower(), arg) if arg.lower() in aliases else arg for arg in argv]


def show(plan: MemoryPlan) -> None:
    print(plan.table(), flush=True)
    for note in plan.notes:
        print(note, flush=True)
    if plan.fitting:
        print("does not fit; these would: " + "; ".join(plan.fitting), flush=True)


def measured(plan: MemoryPlan | None) -> dict | None:
    """The plan as recorded: the prediction and this process's measured peak so far."""
    if plan is None:
        return None
    return {**plan.as_dict(), "measured_peak_rss_bytes": peak_rss(), "pid": os.getpid()}
