"""ESC-50 (and ESC-10) -> manifest.

``root/meta/esc50.csv`` (``filename,fold,target,category,esc10,src_file,take``), audio at
``root/audio/<filename>`` (``audio_dir`` overrides). ``label`` = category, ``label_idx`` = target
(already 0-based). ``fold_k`` (k = 1..5) is ``test`` where ``fold == k`` else ``train``;
``split`` is fold 1's value. id = the file stem. An ``esc10`` column (True/False) is kept.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import FolderIndex, finalize, locate, malformed, mark_duplicates, read_csv_records, row

N_FOLDS = 5


def prepare_esc50(
    root: str | os.PathLike[str],
    *,
    audio_dir: str | os.PathLike[str] | None = None,
    meta_csv: str | os.PathLike[str] | None = None,
    dataset: str = "esc50",
) -> pd.DataFrame:
    """Manifest of ESC-50 from ``meta/esc50.csv``."""
    root = Path(root)
    meta = Path(meta_csv) if meta_csv is not None else root / "meta" / "esc50.csv"
    index = FolderIndex.build(Path(audio_dir) if audio_dir is not None else root / "audio")
    rows: list[dict[str, Any]] = []
    header, records = read_csv_records(meta)
    need = ("filename", "fold", "target", "category")
    if any(c not in header for c in need):
        raise ValueError(f"{meta}: not an ESC-50 meta CSV (header {header})")
    col = {c: i for i, c in enumerate(header)}
    for line_no, fields, why in records:
        if fields is None:
            rows.append(malformed(line_no, why))
            continue
        if len(fields) != len(header):
            rows.append(malformed(line_no, f"{len(fields)} fields, expected {len(header)}"))
            continue
        get = {c: fields[i].strip() for c, i in col.items()}
        try:
            fold, target = int(get["fold"]), int(get["target"])
            if not get["filename"] or not 1 <= fold <= N_FOLDS or target < 0:
                raise ValueError(f"bad fold/target/filename {get['fold']!r} {get['target']!r}")
        except ValueError as e:
            rows.append(malformed(line_no, str(e), label=get["category"]))
            continue
        r = row(
            id=PurePosixPath(get["filename"]).stem, label=get["category"], label_idx=target, esc10=get.get("esc10", "")
        )
        for k in range(1, N_FOLDS + 1):
            r[f"fold_{k}"] = "test" if fold == k else "train"
        r["split"] = r["fold_1"]
        r["status"], r["path"], r["reason"] = locate(index, get["filename"], f"{meta.name}:{line_no}")
        if r["status"] == "unsafe_path":
            r["id"] = get["filename"]
        rows.append(r)
    mark_duplicates(rows)
    return finalize(rows, dataset=dataset, fmt="esc50", n_folds=N_FOLDS, extra=("esc10",))
