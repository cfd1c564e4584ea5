"""Video and audio encoders, built by keyword-only builders. Models know nothing of shards."""

from avbench.models.audio import build_audio_encoder
from avbench.models.video import build_video_encoder

__all__ = ["build_audio_encoder", "build_video_encoder"]
