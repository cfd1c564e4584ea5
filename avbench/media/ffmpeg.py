"""Locate the ffmpeg command-line binary: one on PATH, else the one the imageio-ffmpeg wheel ships."""

from __future__ import annotations

import shutil


def bundled_ffmpeg_binary() -> str:
    """The ffmpeg executable the imageio-ffmpeg wheel ships (pinned in envs/requirements.lock), whatever ffmpeg
    is first on PATH. Its version, and so its options (`-display_rotation` needs ffmpeg >= 6.0), are known:
    tests that write files with the command line use it, so they pass beside an old system ffmpeg
    (Debian 12 ships 5.1)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_binary() -> str:
    """Path of an ffmpeg executable. PyAV (used for all decoding) carries its own FFmpeg libraries;
    the binary serves ffmpeg-python and command-line comparisons in benchmarks. Tests use
    `bundled_ffmpeg_binary` instead."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    return bundled_ffmpeg_binary()
