"""Locate the ffmpeg command-line binary: one on PATH, else the one the imageio-ffmpeg wheel ships."""

from __future__ import annotations

import shutil


def ffmpeg_binary() -> str:
    """Path of an ffmpeg executable. PyAV (used for all decoding) carries its own FFmpeg libraries;
    the binary serves ffmpeg-python and command-line comparisons in tests and benchmarks."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
