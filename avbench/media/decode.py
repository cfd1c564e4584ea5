"""Decode a time window of a media file into frames and audio, by timestamps.

Frames are chosen by presentation time, never ``index / fps`` (variable frame rate exists): the
output frame ``k`` shows the last source frame whose timestamp is ``<= t_start + k / fps``.
Audio is downmixed and resampled by FFmpeg's resampler (PyAV ``AudioResampler``) and aligned on
its timestamps: a track that starts late or ends early is zero-padded and the padding recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import av
import numpy as np


@dataclass
class DecodedClip:
    """A decoded window.

    frames: uint8 (T, H, W, 3) RGB at ``fps`` (T = 0 when video was not requested or absent).
    audio: float32 (N,) mono at ``sample_rate`` (None when the file has no audio stream).
    """

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None
    sample_rate: int
    t_start: float
    t_end: float
    audio_pad_start: int = 0
    audio_pad_end: int = 0
    source_frames: int = 0
    notes: list[str] = field(default_factory=list)


# Containers round timestamps (Matroska and WebM to 1 ms): a frame stamped up to this much after a
# target time still counts as shown at that time.
TS_TOLERANCE = 0.001


def _frame_times(t_start: float, t_end: float, fps: float) -> np.ndarray:
    n = int(math.floor((t_end - t_start) * fps + 1e-6))
    return t_start + np.arange(n) / fps


def decode_video(
    container: av.container.InputContainer, t_start: float, t_end: float, fps: float, size: tuple[int, int]
) -> tuple[np.ndarray, int]:
    """Frames of the first video stream at ``fps``, resized to ``size`` = (width, height).

    Returns (frames uint8 (T, H, W, 3), number of source frames decoded). Each needed source frame
    is converted once, by FFmpeg's scaler with area interpolation, straight to RGB.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    width, height = size
    targets = _frame_times(t_start, t_end, fps)
    out = np.zeros((len(targets), height, width, 3), dtype=np.uint8)
    if len(targets) == 0:
        return out, 0
    if t_start > 0.5:
        container.seek(int(max(0.0, t_start - 0.5) / stream.time_base), stream=stream, backward=True, any_frame=False)
    k = 0  # next target to fill
    prev = None
    n_src = 0

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")

    for frame in container.decode(stream):
        if frame.time is None:
            continue
        n_src += 1
        t = float(frame.time)
        # Targets strictly before this frame's time are shown by the previous frame.
        if prev is not None and k < len(targets) and targets[k] < t - TS_TOLERANCE:
            img = convert(prev)
            while k < len(targets) and targets[k] < t - TS_TOLERANCE:
                out[k] = img
                k += 1
        if k >= len(targets):
            break
        prev = frame
        if t > t_end + 1.0:
            break
    if prev is not None and k < len(targets):
        img = convert(prev)
        out[k:] = img  # the stream ended: hold its last frame
    return out, n_src


def decode_audio(
    container: av.container.InputContainer, t_start: float, t_end: float, sample_rate: int
) -> tuple[np.ndarray, int, int]:
    """Mono float32 audio of the default audio stream over ``[t_start, t_end)`` at ``sample_rate``.

    Returns (audio (N,), zero samples padded at the start, zero samples padded at the end), with
    N = round((t_end - t_start) * sample_rate) exactly.
    """
    stream = container.streams.audio[0]
    n_out = int(round((t_end - t_start) * sample_rate))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    if t_start > 0.5:
        container.seek(int(max(0.0, t_start - 0.5) / stream.time_base), stream=stream, backward=True)
    chunks: list[np.ndarray] = []
    first_time: float | None = None

    def take(frames: list[av.AudioFrame]) -> None:
        nonlocal first_time
        for rf in frames:
            if first_time is None and rf.time is not None:
                first_time = float(rf.time)
            chunks.append(rf.to_ndarray().reshape(-1))

    for frame in container.decode(stream):
        if first_time is None and frame.time is not None:
            first_time = float(frame.time)
        take(resampler.resample(frame))
        if frame.time is not None and frame.time > t_end + 0.5:
            break
    take(resampler.resample(None))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    origin = first_time if first_time is not None else 0.0
    offset = int(round((t_start - origin) * sample_rate))  # index in `audio` of t_start
    pad_start = 0
    if offset < 0:
        pad_start = -offset
        audio = np.concatenate([np.zeros(pad_start, np.float32), audio])
        offset = 0
    audio = audio[offset: offset + n_out]
    pad_end = n_out - len(audio)
    if pad_end > 0:
        audio = np.concatenate([audio, np.zeros(pad_end, np.float32)])
    return audio, min(pad_start, n_out), max(pad_end, 0)


def decode_clip(
    path: str,
    *,
    t_start: float = 0.0,
    t_end: float | None = None,
    fps: float = 16.0,
    size: tuple[int, int] = (64, 48),
    sample_rate: int = 16000,
    video: bool = True,
    audio: bool = True,
) -> DecodedClip:
    """Decode ``[t_start, t_end)`` of ``path`` (``t_end=None``: to the end of the file)."""
    notes: list[str] = []
    with av.open(path) as container:
        if t_end is None or not math.isfinite(t_end):
            dur = container.duration / av.time_base if container.duration else None
            if dur is None:
                raise ValueError("unknown duration")
            t_end = float(dur)
        frames = np.zeros((0, size[1], size[0], 3), np.uint8)
        n_src = 0
        if video and container.streams.video:
            frames, n_src = decode_video(container, t_start, t_end, fps, size)
            if n_src == 0:
                raise ValueError("no video frame decoded in the window")
    wav = None
    pad_s = pad_e = 0
    if audio:
        with av.open(path) as container:
            if container.streams.audio:
                wav, pad_s, pad_e = decode_audio(container, t_start, t_end, sample_rate)
                if pad_s > 0.01 * sample_rate:
                    notes.append(f"audio starts {pad_s / sample_rate:.3f}s late: zero-padded")
                if pad_e > 0.01 * sample_rate:
                    notes.append(f"audio ends {pad_e / sample_rate:.3f}s early: zero-padded")
    return DecodedClip(frames=frames, fps=fps, audio=wav, sample_rate=sample_rate, t_start=t_start, t_end=t_end,
                       audio_pad_start=pad_s, audio_pad_end=pad_e, source_frames=n_src, notes=notes)
