"""The task body of `python -m ltx2.run`: validate, build, generate, record. Importable (sweeps run it in-process
with models kept warm; other launchers pickle it)."""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ltx2.errors import ConfigError
from ltx2.experiment import duration, plan_fit, plan_offline, planner, request
from ltx2.experiment import validation as v
from ltx2.experiment.quality import RunQuality
from ltx2.experiment.record import RunRecord, environment, git_state, weight_fingerprint
from ltx2.pipelines.contract import Job
from ltx2.sampling import step_cache

log = logging.getLogger("ltx2")


_JOBS_IN_PROCESS = 0


def run_job(cfg: DictConfig) -> dict:
    global _JOBS_IN_PROCESS
    from ltx2.loading import model_set

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        done = completed_before(run_dir, cfg)
        if done is not None:
            log.info("skipping %s: it already holds a completed run of this config", run_dir)
            return done
        job = prepare(cfg)
        job.info["quality_check"] = RunQuality(cfg.get("quality"))  # quality.fail_on checked before loading
    except ConfigError as e:
        _reject(run_dir, e, Path(str(cfg.paths.output_root)))
    if job.plan is not None and planner.settings_of(cfg).show:  # plan=true: the table, nothing loaded or written
        planner.show(job.plan)
        _remove_if_empty(run_dir, Path(str(cfg.paths.output_root)))
        return {"plan": job.plan.as_dict()}
    _write_provenance(run_dir, cfg, hydra_cfg)
    handler = _log_to(run_dir / "run.log")
    _link_latest(run_dir, cfg)
    before, earlier = model_set.stats(), _JOBS_IN_PROCESS
    _JOBS_IN_PROCESS += 1
    try:
        job.record = RunRecord(run_dir, **_record_fields(cfg, hydra_cfg, job))

        def process_counts() -> None:
            after = model_set.stats()
            job.record.set(process={"pid": os.getpid(), "earlier_jobs": earlier,
                                    "counts": {k: n - before.get(k, 0) for k, n in sorted(after.items())
                                               if n != before.get(k, 0)}})
        try:
            outputs = execute(job, cfg, run_dir)
        except KeyboardInterrupt:
            process_counts()
            job.record.finish("interrupted", "KeyboardInterrupt")
            raise
        except Exception as e:
            log.exception("run failed")
            process_counts()
            job.record.set(memory_plan=planner.measured(job.plan))
            job.record.finish("failed", f"{type(e).__name__}: {e}")
            raise
        process_counts()
        job.record.set(memory_plan=planner.measured(job.plan))
        job.record.finish("completed")
        phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in job.record.data["phases"].items())
        log.info("phases: %s", phases)
        log.info("wrote %s", run_dir)
        return outputs
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def completed_before(run_dir: Path, cfg: DictConfig) -> dict | None:
    """Resuming a sweep whose job directories are deterministic (named sweeps, or ``hydra.sweep.dir=`` given
    again): a job whose directory holds a completed run of the same resolved config is not run again. A completed
    run of another config there is an error (it would be overwritten)."""
    import json

    record_file, saved_file = run_dir / "run_record.json", run_dir / "resolved_config.yaml"
    if not record_file.is_file() or not saved_file.is_file():
        return None
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    if record.get("status") != "completed":
        return None  # failed or interrupted: run it again
    saved = OmegaConf.to_container(OmegaConf.load(saved_file))
    current = OmegaConf.to_container(cfg, resolve=True)
    if saved != current:
        changed = sorted(k for k in _flat(saved).keys() | _flat(current).keys()
                         if _flat(saved).get(k) != _flat(current).get(k))
        raise ConfigError("hydra.sweep.dir", str(run_dir.parent), f"job directory {run_dir.name} already holds "
                               f"a completed run of another config (differs in {', '.join(changed[:3])})",
                               "start a new sweep directory (hydra.sweep.dir=/new/path) or remove that job directory")
    video = record.get("outputs", {}).get("video", {}).get("file")
    return {"video": str(run_dir / video) if video else None, "skipped": True}


def _flat(node: Any, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for k, val in node.items():
            out.update(_flat(val, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: node}


# -- building and checking the job ------------------------------------------------------------------------------
def prepare(cfg: DictConfig) -> Job:
    """The job of ``cfg``, checked before any weight loads: check the raw config, build the objects (files
    resolved, nothing loaded), check them in the order a user would fix things, then plan its memory (over
    budget: refused). Raises ConfigError."""
    cfg = request.fill_in(cfg)  # inputs named with an example; the suggested size fitted to the pipeline
    auto_duration = duration.is_auto(cfg)
    if auto_duration:  # checked and planned for the longest clip the head may predict
        cfg = duration.size_for_planning(cfg)
    v.check_config(cfg)
    step_cache.settings_of(cfg)  # sampling.cache / cache_threshold checked before anything is built
    job, cfg = build(cfg)
    if auto_duration:
        duration.check(job.models, job.pipeline)
        job.info["auto_duration"] = True
    validate(job, cfg)
    job.plan = plan_fit.check(cfg, job.models, job.pipeline, job.conditioning, job.guidance)
    return job


def build(cfg: DictConfig) -> tuple[Job, DictConfig]:
    """The objects of the job (Hydra instantiates each group) and the config as the job sees it (a source video
    sets the size, frames and fps). The model's files are resolved once here (hf:// -> cached paths; the tiny
    model's files written on first use); no weights are read."""
    models = _build("model", cfg.model, loras=_loras(cfg))
    pipeline = _build("pipeline", cfg.pipeline)
    phases = pipeline.phases()
    if planner.settings_of(cfg).show:  # plan=true: files not downloaded yet are planned from their known shapes
        models.plan_notes = plan_offline.stand_in_missing(models, plan_offline.scratch_folder(), phases.upsampler,
                                                          phases.distilled_lora)
    models.resolve_files(need_upsampler=phases.upsampler, need_distilled_lora=phases.distilled_lora,
                         need_enhancer=bool(cfg.text.enhance_prompt))
    models.ensure_files(seed=0)
    conditioning = _build("conditioning", cfg.conditioning)
    if hasattr(conditioning, "request"):  # retake: size, frames and fps are the source video's
        cfg = OmegaConf.merge(cfg, conditioning.request(cfg))
    job = Job(models=models, prompt=cfg.prompt, negative_prompt=cfg.negative_prompt, seed=cfg.seed, width=cfg.width,
              height=cfg.height, num_frames=cfg.num_frames, fps=cfg.fps, scheduler=_build("scheduler", cfg.scheduler),
              guidance=_build("guider", cfg.guider), conditioning=conditioning, pipeline=pipeline,
              text_cache_dir=Path(cfg.paths.cache_dir) / "embeddings" if cfg.text.cache else None,
              enhance_prompt=cfg.text.enhance_prompt, quantize_bits=cfg.text.quantize_bits,
              noise_file=Path(cfg.noise.from_file) if cfg.noise.from_file else None,
              audio_enabled=bool(cfg.audio.enabled), save_audio=bool(cfg.output.save_audio))
    return job, cfg


def validate(job: Job, cfg: DictConfig) -> None:
    """Every rule on the built objects that needs no weights: the files, the request, the guidance against the
    model, the conditioning against the pipeline, the pipeline's own rules, the optional inputs."""
    models, pipeline, conditioning, phases = job.models, job.pipeline, job.conditioning, job.pipeline.phases()
    checkpoint = models.files
    v.check_model_files(checkpoint, models.gemma_root, need_upsampler=phases.upsampler)
    models.check_video_decoder()
    v.check_request(cfg, pipeline.RESOLUTION_MULTIPLE)
    if phases.distilled_lora:
        v.check_file("model.distilled_lora", models.distilled_lora, "the distilled LoRA (used by stage 2)",
                     "set model.distilled_lora=/path/to/the-distilled-lora.safetensors")
    v.check_loras(cfg.lora, models.loras)
    v.check_stg_blocks(job.guidance, checkpoint)
    conditioning.validate(num_frames=cfg.num_frames, fps=cfg.fps)
    choice = HydraConfig.get().runtime.choices.get("conditioning") if HydraConfig.initialized() else None
    v.check_conditioning_fits(pipeline, conditioning, choice)
    if hasattr(conditioning, "check_run"):  # its rules on the model and the pipeline (keyframe_slots)
        conditioning.check_run(checkpoint, pipeline)
    if hasattr(pipeline, "check_job"):  # the pipeline's own rules (LoRA metadata, sizes)
        pipeline.check_job(models, conditioning, cfg.width, cfg.height, cfg.num_frames)
    if hasattr(pipeline, "check_request"):  # its rules on the rest of the request (t2a: no picture options)
        pipeline.check_request(job, cfg)
    if job.noise_file is not None:
        v.check_file("noise.from_file", job.noise_file, "the noise file",
                     "point it at the noise.safetensors of an earlier run (output.save_noise=true)")
    v.check_text_quantization(job.quantize_bits)


def _build(group: str, node: DictConfig, **kwargs) -> Any:
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ or e
        if isinstance(cause, ConfigError):  # already one line: key=value: rule. Fix: fix
            raise cause from None
        message = str(cause).split("\nfull_key")[0]
        target = OmegaConf.select(node, "_target_", default=None)
        raise ConfigError(group, target, message, f"check the {group}.* values (conf/{group}/)") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(group, None, str(e), f"check the {group}.* values") from None


def _loras(cfg: DictConfig) -> tuple[tuple[str, float], ...]:
    loras = []
    for name, entry in (cfg.lora or {}).items():
        key = f"lora.{name}"
        if not isinstance(entry, DictConfig) or "path" not in entry:
            raise ConfigError(key, entry, "a LoRA entry needs a path and a strength",
                                   f"{key}={{path: /path/to/lora.safetensors, strength: 1.0}}")
        from ltx2.loading.hub import resolve

        path = resolve(f"{key}.path", entry.path, cfg.model.get("name"), lora=name)
        strength = entry.get("strength", 1.0)
        if not isinstance(strength, (int, float)) or not math.isfinite(strength):
            raise ConfigError(f"{key}.strength", strength, "must be a finite number", f"{key}.strength=1.0")
        loras.append((str(path), float(strength)))
    return tuple(loras)


def _reject(run_dir: Path, error: ConfigError, output_root: Path) -> None:
    """Print the one-line reason and leave nothing behind (the run directory Hydra made is removed if empty)."""
    print(f"ltx2: invalid config: {error}", file=sys.stderr)
    _remove_if_empty(run_dir, output_root)
    sys.exit(2)


def _remove_if_empty(run_dir: Path, output_root: Path) -> None:
    """Remove ``run_dir`` if empty, then its empty parents below ``output_root`` (the dated folder Hydra made)."""
    directory, root = run_dir.absolute(), output_root.absolute()
    try:
        while directory != root and root in directory.parents and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent
    except OSError:
        pass


# -- provenance -------------------------------------------------------------------------------------------------
def _write_provenance(run_dir: Path, cfg: DictConfig, hydra_cfg) -> None:
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": OmegaConf.to_container(hydra_cfg, resolve=False)}),
                   hydra_dir / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(list(hydra_cfg.overrides.task)), hydra_dir / "overrides.yaml")
    OmegaConf.save(cfg, run_dir / "resolved_config.yaml", resolve=True)


def _link_latest(run_dir: Path, cfg: DictConfig) -> None:
    """``<output_root>/latest`` -> the newest run directory (a relative symlink, replaced atomically)."""
    from ltx2.gallery.latest import link_latest

    link_latest(Path(str(cfg.paths.output_root)) / "latest", run_dir)


def _log_to(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def _record_fields(cfg: DictConfig, hydra_cfg, job: Job) -> dict:
    choices = dict(hydra_cfg.runtime.choices)
    choices = {k: v for k, v in choices.items() if not k.startswith("hydra/")}
    choices["lora"] = list((cfg.lora or {}).keys())
    size = {} if getattr(job.pipeline, "AUDIO_ONLY", False) else {"width": job.width, "height": job.height}
    return {
        "seed": job.seed, "overrides": list(hydra_cfg.overrides.task), "choices": choices,
        "prompt": job.prompt, "negative_prompt": job.negative_prompt,
        "request": {**size, "num_frames": job.num_frames, "fps": job.fps, **request.recorded(cfg)},
        "environment": environment(), "git": git_state(),
        "weights": {name: weight_fingerprint(path) for name, path in job.models.weight_files().items()},
    }


# -- generation -------------------------------------------------------------------------------------------------
def execute(job: Job, cfg: DictConfig, run_dir: Path) -> dict:
    from ltx2.io.media import write_video
    from ltx2.loading.checkpoint import save_checkpoint

    from ltx2.experiment import previews

    quality = job.info.pop("quality_check", None) or RunQuality(cfg.get("quality"))
    if job.info.pop("auto_duration", False):
        duration.predict(job)
    with previews.attached(job, OmegaConf.select(cfg, "output.previews", default=0), run_dir), \
            step_cache.attached(step_cache.settings_of(cfg)) as cache_stats:
        result = job.pipeline(job)
    if cache_stats is not None:  # sampling.cache=teacache: how many transformer passes were skipped
        job.record.set(step_cache=cache_stats.as_dict())
    job.record.set(prompt_used=job.info.get("prompt_used", job.prompt),
                   prompt_enhanced=job.info.get("prompt_enhanced", False),
                   model_version=job.models.files.header("transformer").model_version)
    if "samplers" in job.info:  # a pipeline whose samplers depend on the model (distilled on LTX-2.5)
        job.record.set(samplers=job.info["samplers"])
    video_path = run_dir / cfg.output.name
    if result.frames is not None:  # None: an audio-only pipeline (t2a), whose output is audio.wav
        with job.phase("decode_and_write"):
            info = write_video(video_path, quality.watch(result.frames()), job.fps, audio=result.audio)
        job.record.add_output("video", video_path, **info)
    if "generated_keyframes" in job.info:  # conditioning=keyframe_slots: stage 1's slots as keyframe_XX.png
        from ltx2.conditioning.keyframe_slots import write_generated_keyframes

        with job.phase("decode_keyframes"):
            write_generated_keyframes(job, run_dir, *job.info.pop("generated_keyframes"))
    if result.audio is not None:
        _record_audio(job, cfg, run_dir, result.audio, always_save=result.frames is None)
    if cfg.output.save_latents:
        path = run_dir / "latents.safetensors"
        save_checkpoint(path, result.latents, {"what": "final latents"})
        job.record.add_output("latents", path)
    if cfg.output.save_noise:
        path = run_dir / "noise.safetensors"
        save_checkpoint(path, result.noise, {"what": "initial noise", "seed": str(job.seed)})
        job.record.add_output("noise", path)
    quality.finish(job.record, result.latents, result.audio)  # raises QualityFailure for quality.fail_on
    if result.frames is None:
        return {"audio": str(run_dir / "audio.wav")}
    return {"video": str(video_path)}


def _record_audio(job: Job, cfg: DictConfig, run_dir: Path, audio, always_save: bool = False) -> None:
    """Audio facts (rate, channels, duration, peak / RMS dBFS, warnings) and, with output.save_audio (or
    ``always_save``: the run's only output), audio.wav."""
    from ltx2.io.media import audio_facts, write_wav

    facts = audio_facts(*audio)
    for warning in facts["warnings"]:
        log.warning("generated audio: %s", warning)
    job.record.set(audio=facts)
    if cfg.output.save_audio or always_save:
        path = run_dir / "audio.wav"
        write_wav(path, *audio)
        job.record.add_output("audio", path, sample_rate=facts["sample_rate"], channels=facts["channels"],
                              duration_s=facts["duration_s"])

