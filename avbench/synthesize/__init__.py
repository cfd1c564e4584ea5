"""The embedded synthetic audio-visual world (``avbench synthesize``) and small test clips.

Public API:

- :data:`CLASSES`, :class:`VideoSpec`, :func:`sample_spec`, :func:`render`, :func:`simulate`,
  :func:`render_frames`, :func:`render_audio` (``avbench.synthesize.world``)
- :func:`write_video`, :func:`write_lossless_video`, :func:`write_wav` (``avbench.synthesize.write``)
- :func:`write_dataset`, :data:`DEFAULTS`, :func:`plan` (``avbench.synthesize.dataset``)
- :func:`make_tone_clip`: a tiny clip with known content, for tests of other modules
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from avbench.synthesize.dataset import DEFAULTS, GT_COLUMNS, merged_config, plan, write_dataset
from avbench.synthesize.world import (
    CLASSES,
    SHAPES,
    TIME_SYMMETRIC,
    VideoSpec,
    camera_matrices,
    render,
    render_audio,
    render_frames,
    sample_spec,
    simulate,
    timbre,
)
from avbench.synthesize.write import CONTAINERS, probe, write_lossless_video, write_video, write_wav

__all__ = [
    "CLASSES",
    "CONTAINERS",
    "DEFAULTS",
    "GT_COLUMNS",
    "SHAPES",
    "TIME_SYMMETRIC",
    "VideoSpec",
    "camera_matrices",
    "make_tone_clip",
    "merged_config",
    "plan",
    "probe",
    "render",
    "render_audio",
    "render_frames",
    "sample_spec",
    "simulate",
    "timbre",
    "write_dataset",
    "write_lossless_video",
    "write_video",
    "write_wav",
]


def make_tone_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 1.0,
    fps: float = 16,
    size: tuple[int, int] = (64, 48),
    freq: float = 440.0,
    sample_rate: int = 16000,
    lossless: bool = True,
    bars: tuple[int, int] | int | None = None,
    black_frames: tuple[int, int] | int | None = None,
    shift: float | None = None,
    channels: int = 1,
    audio: bool = True,
) -> dict[str, Any]:
    """Write a tiny clip with known content and return what was written.

    Picture: a fixed horizontal-gradient background (values 40..200) with a white 8x8 square
    moving left to right, one pixel column per frame (``x = 4 + i``, wrapping), row ``h // 2 - 4``.
    Sound: a pure sine of ``freq`` Hz at amplitude 0.5 on every channel.

    size: (width, height). bars: ``(letterbox, pillarbox)`` px (an int means letterbox only),
    drawn as dark grey noise (0..25) on top of the picture. black_frames: ``(lead_in, lead_out)``
    fully black frames (an int means lead-in only). shift: the audio is delayed by ``shift``
    seconds (zeros at the start, cut at the end; negative advances it). lossless: Matroska with
    libx264rgb crf 0 + PCM (decoded frames equal the returned ones); otherwise ``write_video``
    with the container from the path's suffix (mp4 by default). audio=False: no audio stream.

    Returns {"frames": uint8 (T, H, W, 3), "audio": float32 (C, N) or None, "fps", "sample_rate",
    "path", "square_x": (T,) left column of the square}.
    """
    w, h = int(size[0]), int(size[1])
    T = max(1, int(round(seconds * fps)))
    grad = np.linspace(40, 200, w).astype(np.uint8)
    frames = np.empty((T, h, w, 3), np.uint8)
    frames[:] = grad[None, None, :, None]
    xs = np.array([(4 + i) % max(1, w - 8) for i in range(T)])
    y0 = max(0, h // 2 - 4)
    for i, x in enumerate(xs):
        frames[i, y0 : y0 + 8, x : x + 8] = 255
    if bars is not None:
        lb, pb = (bars, 0) if isinstance(bars, int) else (int(bars[0]), int(bars[1]))
        rng = np.random.default_rng(0)
        if lb:
            frames[:, :lb] = rng.integers(0, 26, size=(T, lb, w, 3), dtype=np.uint8)
            frames[:, h - lb :] = rng.integers(0, 26, size=(T, lb, w, 3), dtype=np.uint8)
        if pb:
            frames[:, :, :pb] = rng.integers(0, 26, size=(T, h, pb, 3), dtype=np.uint8)
            frames[:, :, w - pb :] = rng.integers(0, 26, size=(T, h, pb, 3), dtype=np.uint8)
    if black_frames is not None:
        bi, bo = (black_frames, 0) if isinstance(black_frames, int) else (int(black_frames[0]), int(black_frames[1]))
        if bi:
            frames[:bi] = 0
        if bo:
            frames[T - bo :] = 0
    wave: np.ndarray | None = None
    if audio:
        n = int(round(T / fps * sample_rate))
        tone = (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / sample_rate)).astype(np.float32)
        if shift:
            k = int(round(shift * sample_rate))
            shifted = np.zeros_like(tone)
            if k >= 0:
                shifted[k:] = tone[: n - k] if k < n else []
            else:
                shifted[: n + k] = tone[-k:]
            tone = shifted
        wave = np.repeat(tone[None], channels, axis=0)
    p = Path(path)
    if lossless:
        write_lossless_video(p, frames, fps, wave, sample_rate)
    else:
        container = {".mkv": "mkv", ".webm": "webm", ".avi": "avi"}.get(p.suffix.lower(), "mp4")
        write_video(p, frames, fps, wave, sample_rate, container=container)
    return {"frames": frames, "audio": wave, "fps": fps, "sample_rate": sample_rate, "path": p, "square_x": xs}
