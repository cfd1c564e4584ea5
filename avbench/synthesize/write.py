"""Writing synthetic media with PyAV: lossy containers like real datasets, lossless for tests.

Every writer goes through :func:`avbench.paths.atomic_path`: an interrupted run leaves no half
file at the final path.
"""

from __future__ import annotations

import os
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from avbench.paths import atomic_path

# container -> (muxer, video codec, video options, audio codec)
CONTAINERS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "mp4": ("mp4", "libx264", {"preset": "ultrafast", "crf": "23"}, "aac"),
    "mkv": ("matroska", "libx264", {"preset": "ultrafast", "crf": "23"}, "aac"),
    # deadline "good" (not "realtime", whose speed control depends on the wall clock: the same frames
    # gave other bytes on a loaded machine); cpu-used 5 is its fastest setting
    "webm": ("webm", "libvpx", {"deadline": "good", "cpu-used": "5", "crf": "10"}, "libopus"),
    "avi": ("avi", "mpeg4", {}, "libmp3lame"),
}
# fast encoder settings (the default AAC coder is ~3x slower)
_AUDIO_OPTIONS: dict[str, dict[str, str]] = {
    "aac": {"aac_coder": "fast", "aac_pns": "0", "aac_tns": "0"},
    "libmp3lame": {"compression_level": "9"},
    "libopus": {"compression_level": "3"},
}
_AUDIO_RATES = {"libopus": (48000, 24000, 16000, 12000, 8000)}


def _fps_fraction(fps: float | Fraction) -> Fraction:
    if isinstance(fps, Fraction):
        return fps
    f = Fraction(fps).limit_denominator(1001)
    return f


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Linear-interpolation resampling of (C, N) float audio."""
    if sr_in == sr_out:
        return audio
    n_out = int(round(audio.shape[1] * sr_out / sr_in))
    t_out = np.arange(n_out) * (sr_in / sr_out)
    t_in = np.arange(audio.shape[1])
    return np.stack([np.interp(t_out, t_in, ch) for ch in audio]).astype(np.float32)


def _as_audio(audio: np.ndarray) -> np.ndarray:
    """(C, N) float32 in [-1, 1] from (N,) or (C, N)."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[0] > 8:
        raise ValueError(f"audio must be (C, N) with C <= 8, got {a.shape}")
    return np.clip(a, -1.0, 1.0)


def _encode(
    path: Path,
    fmt: str,
    frames: np.ndarray,
    fps: float | Fraction,
    audio: np.ndarray | None,
    sample_rate: int,
    vcodec: str,
    voptions: dict[str, str],
    pix_fmt: str,
    acodec: str | None,
    bit_rate: int | None = None,
) -> None:
    """Encode frames (T, H, W, 3) uint8 RGB and audio (C, N) float into ``path``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    T, H, W, _ = frames.shape
    rate = _fps_fraction(fps)
    # bitexact: no random Matroska segment UID or dates, so a seed always gives the same bytes
    with av.open(str(path), "w", format=fmt, container_options={"fflags": "+bitexact"}) as out:
        vs = out.add_stream(vcodec, rate=rate, options=dict(voptions))
        vs.width, vs.height, vs.pix_fmt = W, H, pix_fmt
        vs.codec_context.time_base = 1 / rate
        vs.codec_context.thread_count = 1
        if bit_rate:
            vs.codec_context.bit_rate = bit_rate
        as_ = None
        a = None
        fsz = 0
        if audio is not None and acodec is not None:
            a = _as_audio(audio)
            rates = _AUDIO_RATES.get(acodec)
            if rates and sample_rate not in rates:
                a = _resample(a, sample_rate, rates[0])
                sample_rate = rates[0]
            as_ = out.add_stream(
                acodec, rate=sample_rate, layout=_layout(a.shape[0]), options=dict(_AUDIO_OPTIONS.get(acodec, {}))
            )
            as_.codec_context.thread_count = 1
            as_.codec_context.time_base = Fraction(1, sample_rate)
            as_.codec_context.open()  # to learn the encoder's frame size (0: any size)
            fsz = as_.codec_context.frame_size
        layout = _layout(a.shape[0]) if a is not None else ""
        a_pos = 0
        n_audio = a.shape[1] if a is not None else 0

        def push_audio(until: int) -> None:
            nonlocal a_pos
            assert as_ is not None and a is not None
            step = fsz or 1024
            while a_pos < min(until, n_audio):
                chunk = a[:, a_pos : a_pos + step]
                if fsz and chunk.shape[1] < fsz:  # pad the last frame (fixed-size encoders)
                    chunk = np.pad(chunk, ((0, 0), (0, fsz - chunk.shape[1])))
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
                af.sample_rate = sample_rate
                af.pts = a_pos
                af.time_base = Fraction(1, sample_rate)
                for p in as_.encode(af):
                    out.mux(p)
                a_pos += step

        for i in range(T):
            if pix_fmt == "yuv420p" and H % 2 == 0 and W % 2 == 0:
                # BT.601 limited range, as swscale would do, but several times faster
                yuv = cv2.cvtColor(np.ascontiguousarray(frames[i]), cv2.COLOR_RGB2YUV_I420)
                vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            else:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate
            for p in vs.encode(vf):
                out.mux(p)
            if as_ is not None:  # interleave: audio up to the end of this frame
                push_audio(int(round((i + 1) / rate * sample_rate)))
        for p in vs.encode():
            out.mux(p)
        if as_ is not None:
            push_audio(n_audio)
            for p in as_.encode():
                out.mux(p)


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float | Fraction,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    *,
    container: str = "mp4",
) -> None:
    """Write a lossy video file like a real dataset's.

    frames: uint8 (T, H, W, 3) RGB, H and W even. audio: float (C, N) or (N,) in [-1, 1], or None
    for a file without an audio stream. Containers: mp4 (H.264 + AAC), mkv (H.264 + AAC),
    webm (VP8 + Opus; audio resampled to 48 kHz when needed), avi (MPEG-4 Part 2 + MP3).
    """
    if container not in CONTAINERS:
        raise ValueError(f"container must be one of {sorted(CONTAINERS)}")
    fmt, vcodec, vopt, acodec = CONTAINERS[container]
    final = Path(path)
    bit_rate = None
    if vcodec == "mpeg4":
        bit_rate = 900_000
    elif vcodec == "libvpx":
        bit_rate = 800_000
    with atomic_path(final, suffix=final.suffix or f".{container}") as tmp:
        _encode(tmp, fmt, frames, fps, audio, sample_rate, vcodec, vopt, "yuv420p", acodec, bit_rate)


def write_lossless_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float | Fraction,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> None:
    """Write a Matroska file whose decoded frames equal ``frames`` exactly.

    Video: libx264rgb, crf 0, rgb24 (decode with ``to_ndarray(format="rgb24")``). Audio:
    pcm_s16le (exact up to 16-bit quantisation). frames: uint8 (T, H, W, 3); audio: (C, N) float.
    """
    final = Path(path)
    with atomic_path(final, suffix=final.suffix or ".mkv") as tmp:
        _encode(
            tmp,
            "matroska",
            frames,
            fps,
            audio,
            sample_rate,
            "libx264rgb",
            {"preset": "ultrafast", "crf": "0", "qp": "0"},
            "rgb24",
            "pcm_s16le" if audio is not None else None,
        )


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV. audio: float (C, N) or (N,) in [-1, 1]."""
    a = _as_audio(audio)
    pcm = np.round(a.T * 32767.0).astype("<i2")  # (N, C) interleaved
    final = Path(path)
    with atomic_path(final, suffix=".wav") as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(a.shape[0])
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())


def probe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Small PyAV probe used by the tests: streams, fps, size, frame count, durations."""
    info: dict[str, Any] = {}
    with av.open(str(path)) as c:
        info["format"] = c.format.name
        info["duration_s"] = c.duration / 1e6 if c.duration else None
        if c.streams.video:
            v = c.streams.video[0]
            info.update(
                video_codec=v.codec_context.name,
                width=v.width,
                height=v.height,
                fps=float(v.average_rate) if v.average_rate else None,
            )
            info["n_frames"] = sum(1 for _ in c.decode(video=0))
        if c.streams.audio:
            a = c.streams.audio[0]
            info.update(audio_codec=a.codec_context.name, sample_rate=a.rate, channels=a.channels)
    return info
