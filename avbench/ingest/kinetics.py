"""Kinetics (400/600/700) annotation CSVs -> manifest.

CSV columns: ``label,youtube_id,time_start,time_end,split[,is_cc]`` (test CSVs lack ``label``).
Labels may be quoted and contain commas and quotes: the file is read with :mod:`csv`.

Media files are matched with one index of ``videos_dir`` (never a glob per row), by the common
downloader namings, either flat or in class folders (``<label>/`` or ``<label with _>/``):

- ``<youtube_id>_<start:06d>_<end:06d>.<ext>``: a trimmed clip, so ``t_start=0``, ``t_end=NaN``;
- ``<youtube_id>.<ext>``: the untrimmed video, so ``t_start``/``t_end`` are the CSV window.

with ``ext`` in mp4/webm/mkv/avi (then mov). Flat and class-folder locations are preferred; a file
of that name elsewhere under ``videos_dir`` (e.g. ``val/<label>/``) is accepted after them.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import (
    apply_hit,
    VIDEO_EXTS,
    FolderIndex,
    finalize,
    label_index,
    malformed,
    mark_duplicates,
    UNSAFE,
    parse_seconds,
    read_csv_records,
    row,
    window_id,
)

REQUIRED = ("youtube_id", "time_start", "time_end")


def find_clip(
    index: FolderIndex, vid: str, clip_id: str, folders: tuple[str, ...], exts: tuple[str, ...] = VIDEO_EXTS
) -> tuple[str, bool] | None:
    """The relative path of the media file of a clip and whether it is trimmed, or None.

    Tries the trimmed name ``clip_id`` then the untrimmed ``vid``; within a name, files directly in
    one of ``folders`` ("" = the root) come first, then anywhere; extensions in ``exts`` order.
    """
    for stem, trimmed in ((clip_id, True), (vid, False)):
        cands = [r for r in index.by_stem.get(stem, ()) if PurePosixPath(r).suffix[1:].lower() in exts]
        if not cands:
            continue

        def rank(r: str) -> tuple[int, int, str]:
            p = PurePosixPath(r)
            parent = "" if str(p.parent) == "." else str(p.parent)
            return (0 if parent in folders else 1, exts.index(p.suffix[1:].lower()), r)

        return min(cands, key=rank), trimmed
    return None


def prepare_kinetics(
    csv_path: str | os.PathLike[str], videos_dir: str | os.PathLike[str] | None = None, *, dataset: str = "kinetics"
) -> pd.DataFrame:
    """Manifest of a Kinetics CSV; ``videos_dir`` defaults to the CSV's folder."""
    csv_path = Path(csv_path)
    header, data = read_csv_records(csv_path)
    missing_cols = [c for c in REQUIRED if c not in header]
    if missing_cols:
        raise ValueError(f"{csv_path}: not a Kinetics CSV (no column {', '.join(missing_cols)})")
    col = {name: i for i, name in enumerate(header)}
    index = FolderIndex.build(videos_dir if videos_dir is not None else csv_path.parent)

    rows: list[dict[str, Any]] = []
    for line_no, parsed, why in data:
        if parsed is None:
            rows.append(malformed(line_no, why))
            continue
        fields = parsed
        if len(fields) != len(header):
            rows.append(malformed(line_no, f"{len(fields)} fields, expected {len(header)}"))
            continue
        get = {name: fields[i].strip() for name, i in col.items()}
        vid, label, split = get["youtube_id"], get.get("label", ""), get.get("split", "")
        if "/" in vid or "\\" in vid or vid in (".", "..") or "\0" in vid:
            rows.append(
                row(
                    id=vid,
                    label=label,
                    split=split,
                    status=UNSAFE,
                    reason=f"{csv_path.name}:{line_no}: youtube_id is a path ({vid[:80]!r})",
                )
            )
            continue
        try:
            start, end = parse_seconds(get["time_start"]), parse_seconds(get["time_end"])
            if not vid or end < start:
                raise ValueError("empty youtube_id or end before start")
        except ValueError as e:
            rows.append(malformed(line_no, str(e), label=label, split=split))
            continue
        clip_id = window_id(vid, start, end)
        r = row(id=clip_id, label=label, split=split, t_start=start, t_end=end)
        folders = ("", label, label.replace(" ", "_")) if label else ("",)
        hit = find_clip(index, vid, clip_id, folders)
        apply_hit(r, index, hit)
        rows.append(r)

    mark_duplicates(rows)
    classes = label_index(r["label"] for r in rows if r["status"] != "malformed")
    for r in rows:
        r["label_idx"] = classes.get(r["label"], -1)
    return finalize(rows, dataset=dataset, fmt="kinetics")
