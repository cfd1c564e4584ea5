"""Probe a media file: container, streams, duration, fps, size, rotation, audio, and a status.

``status`` is ``ok`` or one reason code:

- ``missing``: the file does not exist; ``empty``: zero bytes;
- ``unreadable``: the container cannot be opened or demuxed (truncated, missing moov atom, not media);
- ``no_video_stream`` / ``no_audio_stream``: a stream the dataset needs is absent;
- ``undecodable``: streams exist but no frame decodes;
- ``too_short``: shorter than the minimum clip length;
- ``timeout`` / ``out_of_memory`` / ``crashed``: the bounded worker gave up on it (see ``bounded``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import av
import pandas as pd

from avbench.media.decode import frame_rotation, pick_stream, stream_sar

PROBE_COLUMNS = [
    "path",
    "status",
    "reason",
    "container",
    "size_bytes",
    "duration",
    "video_codec",
    "width",
    "height",
    "fps",
    "rotation",
    "sar",
    "n_video_streams",
    "audio_codec",
    "sample_rate",
    "channels",
    "n_audio_streams",
]


def _media_extensions() -> tuple[str, ...]:
    from avbench.ingest.common import MEDIA_EXTS

    return tuple(f".{e}" for e in MEDIA_EXTS)


MEDIA_EXTENSIONS = _media_extensions()


def probe_file(
    path: str, need_video: bool = True, need_audio: bool = True, min_duration: float = 0.0
) -> dict[str, Any]:
    """Probe one file. Never raises for bad media: problems become ``status`` and ``reason``."""
    row: dict[str, Any] = {c: None for c in PROBE_COLUMNS}
    row.update(path=str(path), status="ok", reason="")
    p = Path(path)
    if not p.is_file():
        row.update(status="missing", reason="file not found")
        return row
    row["size_bytes"] = p.stat().st_size
    if row["size_bytes"] == 0:
        row.update(status="empty", reason="zero-byte file")
        return row
    try:
        container = av.open(str(p), mode="r", timeout=30)
    except Exception as exc:  # noqa: BLE001
        row.update(status="unreadable", reason=f"cannot open container: {str(exc).splitlines()[0][:200]}")
        return row
    with container:
        row["container"] = container.format.name
        vs = list(container.streams.video)
        aus = list(container.streams.audio)
        row["n_video_streams"], row["n_audio_streams"] = len(vs), len(aus)
        durations = []
        if container.duration:
            durations.append(container.duration / av.time_base)
        v = pick_stream(vs)
        a = pick_stream(aus)
        if v is not None:
            ctx = v.codec_context
            row.update(video_codec=v.codec_context.name, width=ctx.width, height=ctx.height, rotation=0)
            rate = v.average_rate or v.guessed_rate or v.base_rate
            row["fps"] = float(rate) if rate else None
            row["sar"] = stream_sar(v)
            if v.duration and v.time_base:
                durations.append(float(v.duration * v.time_base))
        if a is not None:
            row.update(
                audio_codec=a.codec_context.name,
                sample_rate=a.codec_context.sample_rate,
                channels=a.codec_context.channels,
            )
        row["duration"] = float(min(durations)) if durations else None
        if need_video and not vs:
            row.update(status="no_video_stream", reason="no video stream")
            return row
        if need_audio and not aus:
            row.update(status="no_audio_stream", reason="no audio stream")
            return row
        if not vs and not aus:
            row.update(status="no_media_stream", reason="neither video nor audio stream")
            return row
        # Decode the first frame of the stream we need, to catch truncated or corrupt payloads (and
        # read the rotation from the display matrix side data of the first video frame).
        try:
            stream = v if v is not None else a
            got = False
            for frame in container.decode(stream):
                got = frame is not None
                if v is not None:
                    row["rotation"] = frame_rotation(frame, v)
                break
            if not got:
                row.update(status="undecodable", reason="no frame decodes")
                return row
        except Exception as exc:  # noqa: BLE001
            row.update(status="undecodable", reason=f"decode error: {str(exc).splitlines()[0][:200]}")
            return row
        if row["duration"] is None or not math.isfinite(row["duration"]):
            # no duration in the header (WebM from MediaRecorder, streamed MPEG-TS): the packets'
            row["duration"] = packets_duration(str(p), (v if v is not None else a).index)
        if row["duration"] is None or not math.isfinite(row["duration"]):
            row.update(status="unreadable", reason="unknown duration (none in the header, no timed packet)")
        elif row["duration"] < min_duration:
            row.update(status="too_short", reason=f"duration {row['duration']:.2f}s < {min_duration:.2f}s")
    return row


def packets_duration(path: str, stream_index: int) -> float | None:
    """The duration of a stream from its packets (end of the last one minus start of the first,
    by timestamp), for containers that do not say it; None when no packet has a timestamp."""
    first = last = None
    with av.open(path, mode="r", timeout=30) as c:
        stream = c.streams[stream_index]
        tb = stream.time_base
        if tb is None:
            return None
        for pkt in c.demux(stream):
            if pkt.pts is None:
                continue
            t0 = float(pkt.pts * tb)
            t1 = float((pkt.pts + (pkt.duration or 0)) * tb)
            first = t0 if first is None else min(first, t0)
            last = t1 if last is None else max(last, t1)
    if first is None or last is None or last <= first:
        return None
    start = float(stream.start_time * tb) if stream.start_time is not None else first
    return last - min(first, start)


def list_media(folder: str | os.PathLike[str]) -> list[str]:
    """Every media file under ``folder`` (by extension, plus zero-byte and extension-less files are
    excluded only if hidden), sorted for determinism."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(MEDIA_EXTENSIONS):
                out.append(os.path.join(dirpath, name))
    return out


def probe_folder(
    folder: str | os.PathLike[str],
    *,
    modality: str = "audiovisual",
    min_duration: float = 0.0,
    workers: int = 1,
    timeout_s: float = 60.0,
    mem_mb: int = 4096,
    progress: bool = True,
) -> pd.DataFrame:
    """Probe every file of a folder: the folder's manifest (``avbench ingest folder``: one row per
    file with an ``id``; symlinks out of the folder are ``unsafe_path`` and never opened; non-media
    files ``not_media``) with the probe columns, ready to shard."""
    from avbench.ingest.folder import prepare_folder

    manifest = prepare_folder(folder, dataset=Path(folder).resolve().name or "folder")
    return probe_manifest(
        manifest,
        modality=modality,
        min_duration=min_duration,
        workers=workers,
        timeout_s=timeout_s,
        mem_mb=mem_mb,
        progress=progress,
    )


def probe_paths(
    paths: list[str],
    *,
    need_video: bool = True,
    need_audio: bool = True,
    min_duration: float = 0.0,
    workers: int = 1,
    timeout_s: float = 60.0,
    mem_mb: int = 4096,
    progress: bool = True,
) -> pd.DataFrame:
    """Probe many files in bounded worker processes; one row per path, in the order given."""
    from avbench.media.bounded import run_bounded
    from avbench.progress import progress_bar

    rows: list[dict[str, Any] | None] = [None] * len(paths)
    items = [(p, need_video, need_audio, min_duration) for p in paths]
    with progress_bar(total=len(paths), desc="probe", enabled=progress) as bar:
        for out in run_bounded(probe_file, items, workers=workers, timeout_s=timeout_s, mem_mb=mem_mb):
            if out.status == "ok":
                rows[out.index] = out.value
            else:
                row = {c: None for c in PROBE_COLUMNS}
                row.update(
                    path=paths[out.index],
                    status=out.status if out.status != "error" else "unreadable",
                    reason=out.detail,
                )
                rows[out.index] = row
            bar.update(1)
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


def probe_manifest(
    manifest: pd.DataFrame,
    *,
    modality: str,
    min_duration: float = 0.0,
    workers: int = 1,
    timeout_s: float = 60.0,
    mem_mb: int = 4096,
    progress: bool = True,
) -> pd.DataFrame:
    """Probe every ``ok`` row of a manifest; returns the manifest with probe columns added and
    ``status``/``reason`` updated (rows that were already not ``ok`` keep their status)."""
    df = manifest.copy()
    if "reason" not in df.columns:
        df["reason"] = ""
    df["reason"] = df["reason"].fillna("").astype(str)
    todo = df.index[df["status"] == "ok"]
    probed = probe_paths(
        df.loc[todo, "path"].astype(str).tolist(),
        need_video=modality in ("audiovisual", "video"),
        need_audio=modality in ("audiovisual", "audio"),
        min_duration=min_duration,
        workers=workers,
        timeout_s=timeout_s,
        mem_mb=mem_mb,
        progress=progress,
    )
    probed.index = todo
    for col in PROBE_COLUMNS:
        if col in ("path",):
            continue
        if col in ("status", "reason"):
            df.loc[todo, col] = probed[col].astype(str).values
        else:
            df[col] = None if col not in df.columns else df[col]
            df[col] = df[col].astype(object)
            df.loc[todo, col] = probed[col].values
    # A window that ends beyond the file is clipped to it; one that starts beyond it is unusable.
    if "t_start" in df.columns:
        late = (df["status"] == "ok") & (
            df["t_start"].fillna(0) >= df["duration"].astype(float).fillna(0) - min_duration
        )
        df.loc[late & (df["t_start"].fillna(0) > 0), ["status", "reason"]] = [
            "window_outside_file",
            "time window beyond the end of the file",
        ]
    return df
