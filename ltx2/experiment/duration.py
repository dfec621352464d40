"""``num_frames=auto``: the clip length predicted from the prompt by the model's duration head (LTX-2.5), as the
official pipelines do when ``--num-frames`` is omitted (1 to 20 s).

Before any weight loads the request is checked (a duration head file, a pipeline that takes it) and sized for the
longest clip (20 s), so that validation and the memory plan hold for whatever is predicted. At run time the
prompt is encoded (the pipeline then reads the same encoding from memory), the head predicts seconds, the frame
count follows the official rule (``seconds_to_frames``) and the run record says what was predicted."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from ltx2.errors import ConfigError

AUTO = "auto"
MIN_SECONDS, MAX_SECONDS = 1.0, 20.0


def is_auto(cfg: DictConfig) -> bool:
    return str(OmegaConf.select(cfg, "num_frames", default="")) == AUTO


def size_for_planning(cfg: DictConfig) -> DictConfig:
    """``num_frames=auto`` -> the longest clip it can predict (validation and the memory plan hold for any)."""
    from ltx2.models.duration_head import seconds_to_frames

    frames = seconds_to_frames(MAX_SECONDS, float(cfg.fps), MIN_SECONDS, MAX_SECONDS)
    return OmegaConf.merge(cfg, {"num_frames": frames})


def check(models, pipeline) -> None:
    """The model has a duration head file and the pipeline takes a predicted length."""
    if not getattr(pipeline, "AUTO_DURATION", False):
        raise ConfigError("num_frames", AUTO, f"pipeline={type(pipeline).__name__} does not predict its length (the "
                          "official one_stage, two_stage, two_stage_hq, distilled and t2a pipelines do)",
                          "give num_frames=121 (8k+1 frames)")
    if not models.files.has("duration_head"):
        raise ConfigError("num_frames", AUTO, f"model={models.name} has no duration head to predict the length "
                          "(LTX-2.5's model.duration_head file)",
                          "give num_frames=121, or use an LTX-2.5 model with model.duration_head")


def predict(job) -> int:
    """Encode the prompt, predict the seconds, set ``job.num_frames``; the record's ``duration`` says what."""
    import mlx.core as mx

    from ltx2.models.duration_head import load_duration_head, seconds_to_frames
    from ltx2.pipelines import common

    with job.phase("duration"):
        encoded = common.encode_prompts(job, negative=False)
        head = load_duration_head(job.models.files.path("duration_head"), mx.float32)
        # an audio-only pipeline (t2a) predicts from the audio context alone, as the reference's
        video = None if getattr(job.pipeline, "AUDIO_ONLY", False) else encoded.positive.video.astype(mx.float32)
        seconds = float(head(video,
                             None if encoded.positive.audio is None else encoded.positive.audio.astype(mx.float32))
                        .reshape(-1)[0])
        job.num_frames = seconds_to_frames(seconds, job.fps, MIN_SECONDS, MAX_SECONDS)
    if job.record is not None:
        job.record.set(duration={"predicted_seconds": round(seconds, 4), "num_frames": job.num_frames,
                                 "range_seconds": [MIN_SECONDS, MAX_SECONDS]})
    return job.num_frames
