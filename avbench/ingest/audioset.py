"""AudioSet segment CSVs (eval/balanced_train/unbalanced_train_segments.csv) -> manifest.

Format: ``#`` comment lines, then ``YTID, start_seconds, end_seconds, "mid1,mid2,..."`` (spaces
after commas, quoted label lists, ids may start with ``-``). Multi-label rows keep every label:
``labels`` (``;``-joined display names) and ``label_mids`` (``;``-joined mids); ``label`` is the
first one and ``label_idx`` its index in ``class_labels_indices.csv`` (``labels_csv``; by default
the file of that name beside the CSV, if any; without it, sorted unique mids -> 0..C-1).

id = ``<YTID>_<int start>_<int end>``. Media files (audio or video extensions), matched anywhere
under the media folder: ``<YTID>_<int start>_<int end>.<ext>`` or ``<YTID>_<int start>.<ext>``
(trimmed: ``t_start=0``, ``t_end=NaN``), else ``<YTID>.<ext>`` (untrimmed: the CSV window).
split: ``test`` for ``eval*`` CSVs, ``train`` for ``*train*`` CSVs, else "" (``split=`` overrides).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import (
    not_utf8,
    apply_hit,
    AUDIO_EXTS,
    MALFORMED,
    VIDEO_EXTS,
    FolderIndex,
    finalize,
    label_index,
    malformed,
    mark_duplicates,
    parse_seconds,
    row,
)

EXTS: tuple[str, ...] = AUDIO_EXTS + VIDEO_EXTS


def read_class_labels(labels_csv: str | os.PathLike[str]) -> dict[str, tuple[int, str]]:
    """``class_labels_indices.csv`` (index,mid,display_name) -> {mid: (index, display_name)}."""
    out: dict[str, tuple[int, str]] = {}
    with open(labels_csv, newline="", encoding="utf-8-sig") as f:
        for rec in csv.DictReader(f, skipinitialspace=True):
            try:
                out[rec["mid"].strip()] = (int(rec["index"]), rec["display_name"].strip())
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return out


def _split_from_name(name: str) -> str:
    name = name.lower()
    if "eval" in name:
        return "test"
    if "train" in name:
        return "train"
    return ""


def _find(index: FolderIndex, vid: str, start: float, end: float) -> tuple[str, bool] | None:
    names = ((f"{vid}_{int(start)}_{int(end)}", True), (f"{vid}_{int(start)}", True), (vid, False))
    for stem, trimmed in names:
        cands = [r for r in index.by_stem.get(stem, ()) if PurePosixPath(r).suffix[1:].lower() in EXTS]
        if cands:
            return min(cands, key=lambda r: (EXTS.index(PurePosixPath(r).suffix[1:].lower()), r)), trimmed
    return None


def prepare_audioset(
    csv_path: str | os.PathLike[str],
    audio_or_video_dir: str | os.PathLike[str] | None = None,
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split: str | None = None,
    dataset: str = "audioset",
) -> pd.DataFrame:
    """Manifest of an AudioSet segments CSV; the media folder defaults to the CSV's folder."""
    csv_path = Path(csv_path)
    if labels_csv is None and (csv_path.parent / "class_labels_indices.csv").is_file():
        labels_csv = csv_path.parent / "class_labels_indices.csv"
    classes = read_class_labels(labels_csv) if labels_csv is not None else None
    index = FolderIndex.build(audio_or_video_dir if audio_or_video_dir is not None else csv_path.parent)
    split = _split_from_name(csv_path.name) if split is None else split

    rows: list[dict[str, Any]] = []
    with open(csv_path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        lines = f.read().splitlines()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        bad = not_utf8([line])
        if bad:
            rows.append(malformed(line_no, f"{csv_path.name}:{line_no}: not UTF-8 text ({bad})", split=split))
            continue
        try:
            fields = next(csv.reader([line], skipinitialspace=True), [])
        except csv.Error as exc:
            rows.append(malformed(line_no, f"{csv_path.name}:{line_no}: unparsable CSV row ({exc})", split=split))
            continue
        if fields[0].strip() == "YTID":  # an uncommented header line
            continue
        if len(fields) != 4:
            rows.append(malformed(line_no, f"{len(fields)} fields, expected 4", split=split))
            continue
        vid = fields[0].strip()
        mids = [m.strip() for m in fields[3].split(",") if m.strip()]
        try:
            start, end = parse_seconds(fields[1]), parse_seconds(fields[2])
            if not vid or end < start:
                raise ValueError("empty YTID or end before start")
        except ValueError as e:
            rows.append(malformed(line_no, str(e), split=split))
            continue
        names = [classes[m][1] if classes and m in classes else m for m in mids]
        r = row(
            id=f"{vid}_{int(start)}_{int(end)}",
            label=names[0] if names else "",
            split=split,
            t_start=start,
            t_end=end,
            labels=";".join(names),
            label_mids=";".join(mids),
        )
        r["_mid"] = mids[0] if mids else ""
        hit = _find(index, vid, start, end)
        apply_hit(r, index, hit)
        rows.append(r)

    mark_duplicates(rows)
    if classes is None:
        mid_idx = label_index(m for r in rows if r["status"] != MALFORMED for m in r["label_mids"].split(";"))
    else:
        mid_idx = {m: i for m, (i, _) in classes.items()}
    for r in rows:
        r["label_idx"] = mid_idx.get(r.pop("_mid", ""), -1)
    return finalize(rows, dataset=dataset, fmt="audioset", extra=("labels", "label_mids"))
