"""Decode every usable manifest row into one WebDataset sample and write size-bounded tar shards.

A sample (format version 2, see ``avbench.shards.codec`` for the members) holds, for one clip
window of one source file, RGB frames, optical flow and a log-mel spectrogram on one timeline,
and a JSON that says what was done to them. :func:`make_sample` does all of it in one decode pass
per file, in a worker process bounded in time and memory:

1. decode by timestamp at ``fps``; black bars found on the luma plane and cropped at source
   resolution; rotation and pixel aspect honoured; scaled to ``size`` (``avbench.media.decode``);
2. black frames: leading/trailing runs trim the window (audio too), interior runs are dropped
   (``avbench.preprocess.black_frames``);
3. optical flow between consecutive stored frames (``avbench.preprocess.flow``), zero across a
   gap left by dropped frames;
4. camera motion fitted on the flow, camera-motion score, stabilization of the RGB (and flow)
   (``avbench.preprocess.stabilize``);
5. audio of the default stream, downmixed and resampled, log-mel and quality flags
   (``avbench.preprocess.audio``).

Shards and index are written under unique temporary names and committed together at the end (the
index last), under a lock on the output folder, and the tar headers carry a fixed mtime, so the
same input and config give byte-identical shards, an interrupted run leaves the previous outputs
untouched, and two concurrent runs never mix their files. The index (parquet) lists every manifest row: ``ok`` with its
shard and key, or the reason it was dropped (``no_frames``, ``all_black``, ``silent_audio``,
``no_audio_stream``, ``decode_error``, ``timeout``, ``out_of_memory``, ``crashed``, or the probe's).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from avbench.paths import DIR_MODE, FILE_MODE, atomic_path, output_lock, sample_key
from avbench.shards.codec import encode_jpeg_flow, encode_jpeg_frames, npy_bytes, quantize_flow, wav_int16

if TYPE_CHECKING:
    from avbench.media.decode import DecodedClip

FORMAT_VERSION = 2
QUANTIZATION = "q = round((clip(f, -bound, bound) + bound) * 255 / (2 * bound)), uint8"


def _r(x: float, nd: int = 6) -> float:
    return float(round(float(x), nd))


def _mats(m: np.ndarray, nd: int = 5) -> list[list[list[float]]]:
    """(K, 3, 3) -> nested lists of the top 2x3 rows, rounded (JSON)."""
    return np.round(np.asarray(m, np.float64)[:, :2, :], nd).tolist()


#: the camera fit's settings where ``shard.stabilize.fit_*`` are absent (the schema fills none in,
#: so earlier settings and config hashes stay as they were); a sample's ``stabilization.fit``
#: records them only where they differ (samples made with the defaults keep their JSON)
FIT_DEFAULTS = {"n_points": 256, "n_candidates": 32, "iterations": 6}


def _fit_options(scfg: dict[str, Any]) -> dict[str, int]:
    """The keyword arguments of ``fit_camera_motion`` from the ``stabilize`` settings (the
    defaults where a key is absent)."""
    return {
        "n_points": int(scfg.get("fit_points", FIT_DEFAULTS["n_points"])),
        "n_candidates": int(scfg.get("fit_candidates", FIT_DEFAULTS["n_candidates"])),
        "iterations": int(scfg.get("fit_iterations", FIT_DEFAULTS["iterations"])),
    }


def _video_stages(
    frames: np.ndarray, keep: np.ndarray, cfg: dict[str, Any], timings: dict[str, float]
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any] | None, dict[str, Any]]:
    """Flow, camera motion and stabilization of the stored frames.

    frames: uint8 (K, H, W, 3) kept frames; keep: (K,) their indices on the requested grid.
    CPU seconds per stage are added to ``timings``.
    Returns (frames, quantized flow uint8 (K-1, H, W, 2) or None, flow meta or None,
    stabilization meta).
    """
    from avbench.preprocess.flow import extract_flow, flow_settings
    from avbench.preprocess.stabilize import (
        camera_motion_score,
        fit_camera_motion,
        stabilizing_warps,
        warp_flow,
        warp_frames,
    )

    fcfg, scfg = cfg["flow"], cfg["stabilize"]
    fps = float(cfg["fps"])
    K, H, W = frames.shape[:3]
    size = (W, H)
    stab_meta: dict[str, Any] = {"enabled": bool(scfg["enabled"]), "camera_motion_score": None, "camera_moving": None}
    if not (fcfg["enabled"] or scfg["enabled"]):
        return frames, None, None, stab_meta
    steps = np.diff(keep)
    valid = steps == 1  # pairs of frames adjacent on the grid (no dropped frame between them)
    algo, preset = fcfg["algorithm"], fcfg["preset"]
    refine = fcfg.get("refinement_iterations")  # absent: the preset's
    clock = time.process_time
    t0 = clock()
    flow = extract_flow(frames, algorithm=algo, preset=preset, pairs=valid, refinement_iterations=refine)
    t1 = clock()
    inter = fit_camera_motion(flow, model=scfg["model"], **_fit_options(scfg))
    inter[~valid] = np.eye(3)  # no camera path across a gap (often a cut)
    score = camera_motion_score(inter[valid], size, steps[valid], fps) if valid.any() else 0.0
    t2 = clock()
    timings["flow"] = timings.get("flow", 0.0) + t1 - t0
    timings["camera_motion"] = t2 - t1
    stab_meta.update(
        camera_motion_score=_r(score),
        camera_moving=bool(score > float(scfg["moving_threshold"])),
        moving_threshold=float(scfg["moving_threshold"]),
        model=scfg["model"],
        **({"fit": _fit_options(scfg)} if _fit_options(scfg) != FIT_DEFAULTS else {}),
        inter_frame=_mats(inter),
        units="camera_motion_score: median over pairs, frame diagonals per second; "
        "inter_frame[k]: 2x3 map of frame-k pixels to frame-(k+1) pixels (stored size)",
    )
    computed_on = "source"
    t0 = clock()
    if scfg["enabled"] and K >= 2:
        st = stabilizing_warps(
            inter,
            size,
            mode=scfg["mode"],
            sigma_frames=float(scfg["smoothing_s"]) * fps,
            max_zoom=float(scfg["max_zoom"]),
        )
        applied = st.moves(size)
        stab_meta.update(
            mode=scfg["mode"],
            smoothing_s=float(scfg["smoothing_s"]),
            max_zoom=float(scfg["max_zoom"]),
            zoom=_r(st.zoom),
            covered=st.covered,
            applied=applied,
            transforms=_mats(st.warps) if applied else None,
        )
        interp = {k: scfg.get(f"{k}_interpolation", "linear") for k in ("frame", "flow")}
        if interp != {"frame": "linear", "flow": "linear"}:  # recorded only when not the default
            stab_meta["interpolation"] = interp
        if applied:
            frames = warp_frames(frames, st.warps, interp["frame"])
        if applied and fcfg["enabled"]:
            if scfg["recompute_flow"]:
                flow = extract_flow(frames, algorithm=algo, preset=preset, pairs=valid, refinement_iterations=refine)
                computed_on = "stabilized"
            else:
                flow = warp_flow(flow, st.warps, interp["flow"])
                computed_on = "source_warped"
    timings["stabilize"] = clock() - t0
    if not fcfg["enabled"]:
        return frames, None, None, stab_meta
    flow[~valid] = 0.0
    bound = float(fcfg["bound"])
    flow_meta = {
        **flow_settings(algo, preset, refine),
        "bound": bound,
        "quantization": QUANTIZATION,
        "computed_on": computed_on,
        "n_pairs": int(max(K - 1, 0)),
        "invalid_pairs": [int(i) for i in np.flatnonzero(~valid)],
        "units": "pixels of the stored frames, frame k -> k+1; pairs in invalid_pairs span dropped frames and are zero",
    }
    return frames, quantize_flow(flow, bound), flow_meta, stab_meta


_SINGLE_THREADED = False


def _single_threaded() -> None:
    """One thread for OpenCV, torch and BLAS in this worker process: results are deterministic,
    and processes scale better than threads (``../shared/performance.md``)."""
    global _SINGLE_THREADED
    if _SINGLE_THREADED:
        return
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    threadpool_limits(limits=1)
    _SINGLE_THREADED = True


class _Dropped(Exception):
    """A row that gives no sample: ``status`` (the index's reason) and a one-line ``reason``."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _listed_window(row: dict[str, Any]) -> tuple[float, float]:
    """The manifest row's window (start, end) in seconds: the whole file when it lists none."""
    t_listed = float(row["t_start"]) if row.get("t_start") is not None and math.isfinite(row["t_start"]) else 0.0
    t_end = row.get("t_end")
    t_end_listed = float(t_end) if t_end is not None and math.isfinite(t_end) else float(row["duration"])
    return t_listed, t_end_listed


def _decode_window(
    row: dict[str, Any], cfg: dict[str, Any], t_listed: float, t_end_listed: float, video: bool
) -> DecodedClip:
    """Stage 1: decode the window at ``fps`` and ``size`` (bars found and cropped, black frames
    flagged when enabled) and its audio (``avbench.media.decode``)."""
    from avbench.media.decode import BlackFrameTest, BorderSearch, decode_clip

    return decode_clip(
        row["path"],
        t_start=t_listed,
        t_end=t_end_listed,
        fps=float(cfg["fps"]),
        size=(int(cfg["size"][0]), int(cfg["size"][1])),
        sample_rate=int(cfg["sample_rate"]),
        video=video,
        audio=True,
        resize=cfg["resize"],
        borders=BorderSearch.from_config(cfg["borders"]),
        black=BlackFrameTest.from_config(cfg["black_frames"]),
        skip_loop_filter=cfg.get("skip_loop_filter"),  # absent: deblock as every decoder does
    )


def _initial_meta(
    row: dict[str, Any], cfg: dict[str, Any], clip: DecodedClip, t_listed: float, t_end_listed: float
) -> dict[str, Any]:
    """The sample's JSON before the video and audio stages fill it in (every key, in its order)."""
    bcfg, kcfg = cfg["borders"], cfg["black_frames"]
    return {
        "format_version": FORMAT_VERSION,
        "id": row["id"],
        "source": Path(row["path"]).name,
        "dataset": row.get("dataset", ""),
        "label": row.get("label", ""),
        "label_idx": int(row.get("label_idx", -1)),
        "t_start_listed": t_listed,
        "t_end_listed": t_end_listed,
        "t_start": t_listed,
        "t_end": t_end_listed,
        "fps": float(cfg["fps"]),
        "size": [int(cfg["size"][0]), int(cfg["size"][1])],
        "n_frames": 0,
        "frame_times": [],
        "source_frames": clip.source_frames,
        "sample_rate": int(cfg["sample_rate"]),
        "n_mels": int(cfg["n_mels"]),
        "win_ms": float(cfg["win_ms"]),
        "hop_ms": float(cfg["hop_ms"]),
        "n_mel_frames": 0,
        "has_audio": clip.audio is not None,
        "audio_pad_start": clip.audio_pad_start,
        "audio_pad_end": clip.audio_pad_end,
        "audio_flags": None,
        "audio_stream": clip.audio_stream,
        "video_stream": clip.video_stream,
        "notes": list(clip.notes),
        "frame_codec": None,
        "geometry": clip.geometry.to_json() if clip.geometry is not None else None,
        "crop_box": None,
        "borders": {"enabled": bool(bcfg["enabled"])},
        "dropped_frames": [],
        "black_frames": {"enabled": bool(kcfg["enabled"])},
        "stabilization": None,
        "flow": None,
    }


def _trim_black_frames(
    clip: DecodedClip, cfg: dict[str, Any], meta: dict[str, Any], t_listed: float, wave: np.ndarray | None
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Stage 2: leading/trailing black runs trim the window (its audio too), interior runs are
    dropped (``avbench.preprocess.black_frames``); records it in ``meta``. Returns (the kept
    frames' indices on the grid, the first kept index, the trimmed audio). Raises
    :class:`_Dropped` when the window has no frame or only black ones."""
    from avbench.preprocess.black_frames import plan_black_frames

    fps, sr = float(cfg["fps"]), int(cfg["sample_rate"])
    T = int(clip.frames.shape[0])
    if T == 0:
        raise _Dropped("no_frames", "no frame in the window")
    plan = plan_black_frames(clip.black if clip.black is not None else np.zeros(T, bool))
    if plan.all_black:
        raise _Dropped("all_black", f"all {T} frames of the window are black")
    k0, k1 = plan.lead, T - plan.trail
    keep = plan.keep
    if plan.lead:
        meta["t_start"] = _r(t_listed + k0 / fps)
    if plan.trail:
        meta["t_end"] = _r(t_listed + k1 / fps)
    if wave is not None and (plan.lead or plan.trail):
        a0 = int(round(k0 / fps * sr))
        a1 = int(round(k1 / fps * sr)) if plan.trail else len(wave)
        meta["audio_pad_start"] = max(0, clip.audio_pad_start - a0)
        meta["audio_pad_end"] = max(0, clip.audio_pad_end - (len(wave) - a1))
        wave = wave[a0:a1]
    meta["dropped_frames"] = [
        {"start": a, "end": b, "t_start": _r(t_listed + a / fps), "t_end": _r(t_listed + b / fps), "reason": why}
        for a, b, why in plan.dropped
    ]
    kcfg = cfg["black_frames"]
    if kcfg["enabled"]:
        meta["black_frames"].update(
            max_luma=float(kcfg["max_luma"]),
            min_fraction=float(kcfg["min_fraction"]),
            n_dropped=int(T - len(keep)),
            grid_frames=T,
        )
    return keep, k0, wave


def _record_borders(clip: DecodedClip, bcfg: dict[str, Any], meta: dict[str, Any]) -> None:
    """The bar detection's settings and result (crop box, bars at source resolution) in ``meta``."""
    from avbench.preprocess.borders import bars_of

    if bcfg["enabled"]:
        meta["borders"].update(
            max_luma=float(bcfg["max_luma"]),
            every=int(bcfg["every"]),
            min_content=float(bcfg["min_content"]),
            sampled_frames=clip.border_samples,
        )
        if clip.crop_box is not None and clip.geometry is not None:
            meta["crop_box"] = list(clip.crop_box)
            meta["borders"]["bars"] = bars_of(clip.crop_box, *clip.geometry.source_size)


def _encode_video(
    frames: np.ndarray, qflow: np.ndarray | None, cfg: dict[str, Any], meta: dict[str, Any], files: dict[str, bytes]
) -> None:
    """The frames (``frame_codec``: jpeg or npy) and the quantized flow (``flow.codec``) into
    ``files``; their codecs and JPEG lengths into ``meta``."""
    if cfg["frame_codec"] == "jpeg":
        data, lengths = encode_jpeg_frames(frames, int(cfg["jpeg_quality"]))
        files["frames.mjpeg"] = data
        meta["frame_jpeg_bytes"] = lengths
        meta["frame_codec"] = {"name": "jpeg", "quality": int(cfg["jpeg_quality"])}
    else:
        files["frames.npy"] = npy_bytes(frames)
        meta["frame_codec"] = {"name": "npy"}
    if qflow is not None and cfg["flow"]["codec"] == "jpeg":
        files["flow.mjpeg"], meta["flow_jpeg_bytes"] = encode_jpeg_flow(qflow, int(cfg["flow"]["jpeg_quality"]))
        meta["flow"]["codec"] = {"name": "jpeg", "quality": int(cfg["flow"]["jpeg_quality"])}
    elif qflow is not None:
        files["flow.npy"] = npy_bytes(qflow)
        meta["flow"]["codec"] = {"name": "npy"}


def _video_sample(
    clip: DecodedClip,
    cfg: dict[str, Any],
    meta: dict[str, Any],
    files: dict[str, bytes],
    timings: dict[str, float],
    t_listed: float,
) -> np.ndarray | None:
    """Stages 2-4 and the frames' encoding: black frames, bars, flow, camera motion and
    stabilization (:func:`_video_stages`). Returns the audio, trimmed with the window."""
    fps = float(cfg["fps"])
    keep, k0, wave = _trim_black_frames(clip, cfg, meta, t_listed, clip.audio)
    _record_borders(clip, cfg["borders"], meta)
    frames = np.ascontiguousarray(clip.frames[keep])
    meta["frame_times"] = [_r((k - k0) / fps) for k in keep]
    meta["n_frames"] = int(len(keep))
    frames, qflow, flow_meta, stab_meta = _video_stages(frames, keep, cfg, timings)
    meta["flow"], meta["stabilization"] = flow_meta, stab_meta
    t0 = time.process_time()
    _encode_video(frames, qflow, cfg, meta, files)
    timings["encode"] = time.process_time() - t0
    return wave


def _audio_sample(
    wave: np.ndarray,
    cfg: dict[str, Any],
    meta: dict[str, Any],
    files: dict[str, bytes],
    timings: dict[str, float],
    need_audio: bool,
) -> None:
    """Stage 5: quality flags and the log-mel (float16) of the audio (``avbench.preprocess.audio``).
    Raises :class:`_Dropped` when the dataset needs audio and it is silent."""
    from avbench.preprocess.audio import audio_flags, log_mel

    acfg, sr = cfg["audio"], int(cfg["sample_rate"])
    t0 = time.process_time()
    flags = audio_flags(
        wave,
        sample_rate=sr,
        silence_dbfs=float(acfg["silence_dbfs"]),
        band_limit_db=float(acfg["band_limit_db"]),
        band_limited_fraction=float(acfg["band_limited_fraction"]),
    )
    meta["audio_flags"] = {
        **flags,
        "silence_dbfs": float(acfg["silence_dbfs"]),
        "band_limit_db": float(acfg["band_limit_db"]),
        "band_limited_fraction": float(acfg["band_limited_fraction"]),
    }
    if need_audio and flags["silent"]:
        raise _Dropped("silent_audio", f"audio RMS {flags['rms_dbfs']} dBFS")
    mel = log_mel(
        wave, sample_rate=sr, n_mels=int(cfg["n_mels"]), win_ms=float(cfg["win_ms"]), hop_ms=float(cfg["hop_ms"])
    )
    meta["n_mel_frames"] = int(mel.shape[1])
    files["mel.npy"] = npy_bytes(mel.astype(np.float16))
    if cfg.get("waveform"):  # opt-in: the raw waveform of the log-mel's timeline (raw-audio networks)
        files["wav.npy"] = npy_bytes(wav_int16(wave))
        meta["n_wav_samples"] = int(len(wave))
    timings["audio_features"] = time.process_time() - t0


def make_sample(row: dict[str, Any], cfg: dict[str, Any], modality: str) -> dict[str, Any]:
    """Decode one manifest row into sample bytes. Runs in a bounded worker process.

    cfg: the dataset's merged ``shard`` settings (``avbench.config.shard_settings``). Returns
    ``{"status": "ok", "files": {ext: bytes}, "meta": {...}, "timings": {stage: CPU seconds}}`` or
    ``{"status": reason, "reason": one line}``.
    """
    _single_threaded()
    need_video = modality in ("audiovisual", "video")
    need_audio = modality in ("audiovisual", "audio")
    t_listed, t_end_listed = _listed_window(row)
    clip = _decode_window(row, cfg, t_listed, t_end_listed, video=need_video)
    files: dict[str, bytes] = {}
    timings: dict[str, float] = dict(clip.timings)  # CPU seconds per stage (benchmarks; not stored)
    meta = _initial_meta(row, cfg, clip, t_listed, t_end_listed)
    try:
        wave = _video_sample(clip, cfg, meta, files, timings, t_listed) if need_video else clip.audio
        if wave is not None:
            _audio_sample(wave, cfg, meta, files, timings, need_audio)
        elif need_audio:
            raise _Dropped("no_audio_stream", "no audio stream")
    except _Dropped as drop:
        return {"status": drop.status, "reason": drop.reason}
    files["json"] = json.dumps(meta, sort_keys=True).encode()
    return {"status": "ok", "files": files, "meta": meta, "timings": timings}


#: the file that marks a folder as written by ``avbench shard`` (and lists what it wrote there)
MARKER = ".avbench-shards.json"
#: columns a manifest must have to be sharded
REQUIRED_COLUMNS = ("id", "path", "status", "duration")


def sample_checksum(files: dict[str, bytes]) -> str:
    """sha256 of one sample's members (extension, size and bytes of each, in name order): what
    the index records in ``sample_sha256`` and :func:`avbench.shards.verify.verify_shards` checks."""
    h = hashlib.sha256()
    for ext in sorted(files):
        data = files[ext]
        h.update(f"{ext}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_output_folder(out_dir: Path) -> None:
    """Refuse to replace ``out_dir`` unless it is absent, empty, or a previous output of ``avbench
    shard`` (it holds :data:`MARKER`) holding nothing but what that run wrote."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise FileExistsError(f"avbench shard: {out_dir} exists and is not a folder; refusing to replace it")
    entries = sorted(p.name for p in out_dir.iterdir())
    if not entries:
        return
    marker = out_dir / MARKER
    if not marker.is_file():
        raise FileExistsError(
            f"avbench shard: {out_dir} is not empty and was not written by avbench shard "
            f"(no {MARKER}); refusing to replace it: give a new or empty folder"
        )
    try:
        written = set(json.loads(marker.read_text())["files"]) | {MARKER}
    except (ValueError, KeyError, TypeError) as exc:
        raise FileExistsError(f"avbench shard: {marker} is unreadable ({exc}); refusing to replace {out_dir}") from None
    foreign = [e for e in entries if e not in written]
    if foreign:
        raise FileExistsError(
            f"avbench shard: {out_dir} holds files avbench shard did not write "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); refusing to replace it"
        )


def _remove_stale_temporaries(out_dir: Path, index_path: Path) -> None:
    """Temporary folders and index files that a killed run of this function left (its unique
    hidden names). Called under the output's lock, so no live run owns them."""
    for p in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
    for p in out_dir.parent.glob(f".{out_dir.name}.old-*"):
        if p.is_dir() and not p.is_symlink() and (not any(p.iterdir()) or (p / MARKER).is_file()):
            shutil.rmtree(p)
    for p in index_path.parent.glob(f".{index_path.name}.*.parquet"):
        if p.is_file():
            p.unlink()


def write_shards(
    manifest: pd.DataFrame,
    out_dir: str | Path,
    index_path: str | Path,
    *,
    cfg: dict[str, Any],
    modality: str,
    workers: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Shard every ``ok`` row of a probed manifest into ``out_dir/shard-NNNNNN.tar``.

    Rows are written in manifest order whatever the worker count (deterministic). Returns the
    index: one row per manifest row with ``status`` (``ok`` or a reason), ``reason``, ``shard``,
    ``key``, sizes and checksums (``sample_sha256`` of the sample's members, ``shard_sha256`` of
    its tar).

    Safety: ``out_dir`` is replaced only when it is empty or a previous output of this function
    (:data:`MARKER`); the run holds a lock on it (a concurrent run on the same folder stops with
    :class:`avbench.paths.OutputLocked`); tars and index are written under unique temporary names
    and committed together at the end, the index last, so that an interruption or a failed write
    leaves the previous outputs as they were and nothing half-written.
    """
    out_dir = Path(out_dir)
    index_path = Path(index_path)
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(
            f"avbench shard: the manifest has no column {', '.join(missing)} (a probe table of a folder "
            "made by an older avbench? probe an ingested manifest, or rerun avbench probe)"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir, "avbench shard"):
        check_output_folder(out_dir)
        _remove_stale_temporaries(out_dir, index_path)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        old_dir: Path | None = None
        tmp_index: Path | None = None
        try:
            df = _write_into(manifest, tmp_dir, cfg=cfg, modality=modality, workers=workers, progress=progress)
            index_path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{index_path.name}.", suffix=".parquet", dir=index_path.parent)
            os.close(fd)
            tmp_index = Path(name)
            df.to_parquet(tmp_index, index=False)
            os.chmod(tmp_index, FILE_MODE)
            os.chmod(tmp_dir, DIR_MODE)  # mkdtemp makes 0700 folders
            # commit: the new folder into place (the previous one set aside), then the index
            if out_dir.exists():
                old_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
                os.rename(out_dir, old_dir)  # onto the empty folder just made
            os.rename(tmp_dir, out_dir)
            try:
                os.replace(tmp_index, index_path)
            except BaseException:
                os.rename(out_dir, tmp_dir)  # roll back: the previous folder goes back below
                raise
            tmp_index = None
        finally:
            if tmp_index is not None and tmp_index.exists():
                tmp_index.unlink()
            if tmp_dir.exists():
                shutil.rmtree(tmp_dir)
            if old_dir is not None and old_dir.exists():
                if out_dir.exists():
                    shutil.rmtree(old_dir)  # the previous output of this function (checked above)
                else:
                    os.rename(old_dir, out_dir)  # the commit failed: the previous output stays
    return df


def _write_into(
    manifest: pd.DataFrame, tmp_dir: Path, *, cfg: dict[str, Any], modality: str, workers: int, progress: bool
) -> pd.DataFrame:
    """Write the tars of ``manifest`` and the marker into ``tmp_dir``; return the index."""
    import webdataset as wds

    from avbench.media.bounded import run_bounded
    from avbench.progress import progress_bar

    rows = manifest.to_dict("records")
    index: list[dict[str, Any]] = []
    todo = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    results: dict[int, dict[str, Any]] = {}
    shard_names: list[str] = []
    max_bytes = int(float(cfg["max_shard_mb"]) * 1024 * 1024)
    writer = wds.ShardWriter(
        str(tmp_dir / "shard-%06d.tar"), maxsize=max_bytes, maxcount=10**9, verbose=0, mtime=0.0, start_shard=0
    )
    next_pos = 0
    used_keys: set[str] = set()

    def flush() -> None:
        nonlocal next_pos
        while next_pos < len(todo) and todo[next_pos] in results:
            i = todo[next_pos]
            res = results.pop(i)
            if res["status"] == "ok":
                key = sample_key(str(rows[i]["id"]))
                while key in used_keys:
                    key += "_"
                used_keys.add(key)
                writer.write({"__key__": key, **res["files"]})
                name = Path(writer.fname).name if writer.fname else ""
                if name and (not shard_names or shard_names[-1] != name):
                    shard_names.append(name)
                res["shard"], res["key"] = name, key
                res["sample_sha256"] = sample_checksum(res["files"])
                del res["files"]
            index_rows[i] = res
            next_pos += 1

    index_rows: dict[int, dict[str, Any]] = {}
    items = [(rows[i], cfg, modality) for i in todo]
    try:
        with progress_bar(total=len(todo), desc="shard", enabled=progress) as bar:
            for out in run_bounded(
                make_sample,
                items,
                workers=workers,
                timeout_s=float(cfg["timeout_s"]),
                mem_mb=int(cfg["mem_mb"]),
                init=_single_threaded,
            ):
                i = todo[out.index]
                if out.status == "ok":
                    results[i] = out.value
                else:
                    reason = "decode_error" if out.status == "error" else out.status
                    results[i] = {"status": reason, "reason": out.detail}
                bar.update(1)
                flush()
    finally:
        writer.close()
    tars = sorted(p.name for p in tmp_dir.glob("shard-*.tar"))
    shard_sums = {name: file_sha256(tmp_dir / name) for name in tars}
    (tmp_dir / MARKER).write_text(
        json.dumps(
            {"files": tars, "format_version": FORMAT_VERSION, "shard_sha256": shard_sums}, indent=1, sort_keys=True
        )
    )
    for i, r in enumerate(rows):
        res = index_rows.get(i)
        entry = {k: r.get(k) for k in r if k not in ("status", "reason")}
        if res is None:
            entry.update(
                status=r["status"],
                reason=r.get("reason") or r["status"],
                shard="",
                key="",
                sample_sha256="",
                shard_sha256="",
            )
        else:
            meta = res.get("meta", {})
            stab = meta.get("stabilization") or {}
            flags = meta.get("audio_flags") or {}
            shard = res.get("shard", "")
            entry.update(
                status=res["status"],
                reason=res.get("reason", ""),
                shard=shard,
                key=res.get("key", ""),
                n_frames=meta.get("n_frames"),
                n_mel_frames=meta.get("n_mel_frames"),
                n_dropped_frames=(meta.get("black_frames") or {}).get("n_dropped"),
                camera_motion_score=stab.get("camera_motion_score"),
                band_limited=flags.get("band_limited"),
                sample_sha256=res.get("sample_sha256", ""),
                shard_sha256=shard_sums.get(shard, ""),
            )
        index.append(entry)
    return pd.DataFrame(index)


def select_keys(manifest: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    """The manifest rows whose shard key (:func:`avbench.paths.sample_key` of the id, what
    :func:`write_shards` writes) is in ``keys``, in manifest order: a subset of a dataset (e.g. a
    checkpoint's held-out videos) sharded on its own. A repeated id is matched by its first row only."""
    wanted = set(keys)
    seen: set[str] = set()
    keep = []
    for i in manifest["id"].astype(str):
        k = sample_key(i)
        keep.append(k in wanted and k not in seen)
        seen.add(k)
    return manifest[np.asarray(keep, dtype=bool)] if len(manifest) else manifest


def group_rows(manifest: pd.DataFrame, group: int, groups: int) -> pd.DataFrame:
    """Rows of shard group ``group`` of ``groups``: contiguous slices of the manifest, in order."""
    if not 0 <= group < groups:
        raise ValueError(f"group {group} is not in 0..{groups - 1}")
    bounds = np.linspace(0, len(manifest), groups + 1).round().astype(int)
    return manifest.iloc[bounds[group] : bounds[group + 1]]


def merge_indexes(paths: list[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate the per-group indexes (in group order) into the dataset's index; the ``shard``
    column becomes the tar's path relative to the dataset folder (``group-000/shard-000000.tar``)."""
    frames = []
    for p in paths:
        df = pd.read_parquet(p)
        group_dir = Path(p).name.replace(".index.parquet", "")
        df["shard"] = [f"{group_dir}/{s}" if s else "" for s in df["shard"].fillna("")]
        frames.append(df)
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "id" in merged.columns and merged["id"].duplicated().any():
        raise ValueError("the same id appears in two shard groups")
    if "key" in merged.columns:
        keys = merged.loc[merged["key"].fillna("").astype(str) != "", "key"].astype(str)
        dup = keys[keys.duplicated()]
        if len(dup):
            raise ValueError(
                f"shard key {dup.iloc[0]!r} appears twice in the shard groups ({len(dup)} repeated keys): "
                "reshard with this avbench (keys are unique by construction)"
            )
    with atomic_path(out, suffix=".parquet") as tmp:
        merged.to_parquet(tmp, index=False)
    return merged
