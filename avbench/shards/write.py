"""Decode every usable manifest row into one WebDataset sample and write size-bounded tar shards.

A sample holds, for one clip window of one source file:

- ``frames.npy``: uint8 (T, H, W, 3) RGB at ``fps`` (absent for audio-only datasets);
- ``mel.npy``: float16 (n_mels, M) log-mel, mel frame ``i`` at ``i * hop_ms`` ms of the window
  (absent when the file has no audio stream);
- ``json``: what was done: source id and path, time window, fps, size, sample rate, mel settings,
  audio padding and flags, and fields reserved for later stages (``crop_box``, ``dropped_frames``,
  ``stabilization``, ``flow``), ``null`` until those stages run.

Shards are written into a temporary folder renamed into place at the end, and the tar headers carry
a fixed mtime, so the same input and config give byte-identical shards and an interrupted run
leaves nothing a rerun would trust. The index (parquet) lists every manifest row: ``ok`` with its
shard and key, or the reason it was dropped.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avbench.paths import atomic_path, safe_key

FORMAT_VERSION = 1


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def make_sample(row: dict[str, Any], cfg: dict[str, Any], modality: str) -> dict[str, Any]:
    """Decode one manifest row into sample bytes. Runs in a bounded worker process.

    Returns ``{"status": "ok", "files": {ext: bytes}, "meta": {...}}`` or ``{"status": reason,
    "reason": one line}``.
    """
    from avbench.media.decode import decode_clip
    from avbench.preprocess.audio import audio_flags, log_mel

    need_video = modality in ("audiovisual", "video")
    need_audio = modality in ("audiovisual", "audio")
    t_start = float(row["t_start"]) if row.get("t_start") is not None and math.isfinite(row["t_start"]) else 0.0
    t_end = row.get("t_end")
    t_end = float(t_end) if t_end is not None and math.isfinite(t_end) else float(row["duration"])
    clip = decode_clip(
        row["path"], t_start=t_start, t_end=t_end, fps=float(cfg["fps"]), size=tuple(cfg["size"]),
        sample_rate=int(cfg["sample_rate"]), video=need_video, audio=True,
    )
    files: dict[str, bytes] = {}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "id": row["id"], "source": Path(row["path"]).name, "dataset": row.get("dataset", ""),
        "label": row.get("label", ""), "label_idx": int(row.get("label_idx", -1)),
        "t_start": t_start, "t_end": t_end, "fps": float(cfg["fps"]), "size": list(cfg["size"]),
        "n_frames": int(clip.frames.shape[0]), "source_frames": clip.source_frames,
        "sample_rate": int(cfg["sample_rate"]), "n_mels": int(cfg["n_mels"]),
        "win_ms": float(cfg["win_ms"]), "hop_ms": float(cfg["hop_ms"]),
        "has_audio": clip.audio is not None,
        "audio_pad_start": clip.audio_pad_start, "audio_pad_end": clip.audio_pad_end,
        "audio_flags": None, "notes": clip.notes,
        "crop_box": None, "dropped_frames": None, "stabilization": None, "flow": None,
    }
    if need_video:
        if clip.frames.shape[0] == 0:
            return {"status": "no_frames", "reason": "no frame in the window"}
        files["frames.npy"] = _npy_bytes(clip.frames)
    if clip.audio is not None:
        flags = audio_flags(clip.audio, sample_rate=clip.sample_rate)
        meta["audio_flags"] = flags
        if need_audio and flags["silent"]:
            return {"status": "silent_audio", "reason": f"audio RMS {flags['rms_dbfs']} dBFS"}
        mel = log_mel(clip.audio, sample_rate=clip.sample_rate, n_mels=int(cfg["n_mels"]),
                      win_ms=float(cfg["win_ms"]), hop_ms=float(cfg["hop_ms"]))
        meta["n_mel_frames"] = int(mel.shape[1])
        files["mel.npy"] = _npy_bytes(mel.astype(np.float16))
    elif need_audio:
        return {"status": "no_audio_stream", "reason": "no audio stream"}
    files["json"] = json.dumps(meta, sort_keys=True).encode()
    return {"status": "ok", "files": files, "meta": meta}


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
    ``key`` and sizes.
    """
    import webdataset as wds

    from avbench.media.bounded import run_bounded
    from avbench.progress import progress_bar

    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(out_dir.name + ".partial")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True)
    rows = manifest.to_dict("records")
    index: list[dict[str, Any]] = []
    todo = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    results: dict[int, dict[str, Any]] = {}
    shard_names: list[str] = []
    max_bytes = int(float(cfg["max_shard_mb"]) * 1024 * 1024)
    writer = wds.ShardWriter(str(tmp_dir / "shard-%06d.tar"), maxsize=max_bytes, maxcount=10**9,
                             verbose=0, mtime=0.0, start_shard=0)
    next_pos = 0
    used_keys: set[str] = set()

    def flush() -> None:
        nonlocal next_pos
        while next_pos < len(todo) and todo[next_pos] in results:
            i = todo[next_pos]
            res = results.pop(i)
            if res["status"] == "ok":
                key = safe_key(str(rows[i]["id"]))
                while key in used_keys:
                    key += "_"
                used_keys.add(key)
                writer.write({"__key__": key, **res["files"]})
                name = Path(writer.fname).name if writer.fname else ""
                if name and (not shard_names or shard_names[-1] != name):
                    shard_names.append(name)
                res["shard"], res["key"] = name, key
            index_rows[i] = res
            next_pos += 1

    index_rows: dict[int, dict[str, Any]] = {}
    items = [(rows[i], cfg, modality) for i in todo]
    with progress_bar(total=len(todo), desc="shard", enabled=progress) as bar:
        for out in run_bounded(make_sample, items, workers=workers, timeout_s=float(cfg["timeout_s"]),
                               mem_mb=int(cfg["mem_mb"])):
            i = todo[out.index]
            if out.status == "ok":
                results[i] = out.value
            else:
                reason = "decode_error" if out.status == "error" else out.status
                results[i] = {"status": reason, "reason": out.detail}
            bar.update(1)
            flush()
    writer.close()
    for i, r in enumerate(rows):
        res = index_rows.get(i)
        entry = {k: r.get(k) for k in r if k not in ("status", "reason")}
        if res is None:
            entry.update(status=r["status"], reason=r.get("reason") or r["status"], shard="", key="")
        else:
            meta = res.get("meta", {})
            entry.update(status=res["status"], reason=res.get("reason", ""), shard=res.get("shard", ""),
                         key=res.get("key", ""), n_frames=meta.get("n_frames"), n_mel_frames=meta.get("n_mel_frames"))
        index.append(entry)
    df = pd.DataFrame(index)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp_dir.rename(out_dir)
    with atomic_path(index_path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    return df


def group_rows(manifest: pd.DataFrame, group: int, groups: int) -> pd.DataFrame:
    """Rows of shard group ``group`` of ``groups``: contiguous slices of the manifest, in order."""
    if not 0 <= group < groups:
        raise ValueError(f"group {group} is not in 0..{groups - 1}")
    bounds = np.linspace(0, len(manifest), groups + 1).round().astype(int)
    return manifest.iloc[bounds[group]:bounds[group + 1]]


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
    with atomic_path(out, suffix=".parquet") as tmp:
        merged.to_parquet(tmp, index=False)
    return merged
