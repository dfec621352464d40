"""LTX-2.5 duration head: predicts a shot's duration in seconds from the text connectors' outputs, and the rule
that turns seconds into a frame count on the VAE's 8k+1 grid."""

from ltx2.models.duration_head.config import DurationHeadConfig
from ltx2.models.duration_head.frames import seconds_to_frames
from ltx2.models.duration_head.load import PREFIX, has_duration_head, load_duration_head
from ltx2.models.duration_head.model import DurationHead

__all__ = ["PREFIX", "DurationHead", "DurationHeadConfig", "has_duration_head", "load_duration_head",
           "seconds_to_frames"]
