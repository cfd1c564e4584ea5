"""A plain folder of media files -> manifest (no annotation file).

Every file under ``root`` gets a row, sorted by relative path. A file whose extension is in
``extensions`` (case-insensitive) is media: id = the relative path without its extension. Any
other file (notes, partial downloads such as ``.part``) is ``not_media`` with id its relative
path; a file name that is not UTF-8 is ``malformed`` (id: the name with the bad bytes escaped). With ``labels="parent"`` the label
is the parent folder's name (files directly in ``root`` are unlabeled); classes: sorted unique
names -> 0..C-1. Two files with one id (``a.mp4``, ``a.wav``): the second is a ``duplicate``.
``split`` is ``unlabeled``. File symlinks escaping ``root``: ``unsafe_path``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import (
    MALFORMED,
    MEDIA_EXTS,
    NOT_MEDIA,
    FolderIndex,
    check_found,
    finalize,
    label_index,
    mark_duplicates,
    row,
)


def prepare_folder(
    root: str | os.PathLike[str],
    *,
    labels: str = "parent",
    dataset: str = "folder",
    extensions: Sequence[str] = MEDIA_EXTS,
) -> pd.DataFrame:
    """Manifest of every media file under ``root``."""
    if labels not in ("parent", "none"):
        raise ValueError(f"labels must be 'parent' or 'none', not {labels!r}")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    exts = {e.lower().lstrip(".") for e in extensions}
    index = FolderIndex.build(root)
    rows: list[dict[str, Any]] = []
    for rel in index.rel_paths:
        p = PurePosixPath(rel)
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
            rows.append(row(id=shown, split="unlabeled", status=MALFORMED, reason=f"file name is not UTF-8: {shown}"))
            continue
        if p.suffix[1:].lower() not in exts:
            rows.append(
                row(
                    id=rel,
                    split="unlabeled",
                    status=NOT_MEDIA,
                    reason=f"not a media file ({p.suffix or 'no extension'}): {rel}",
                )
            )
            continue
        parent = "" if str(p.parent) == "." else p.parent.name
        r = row(id=str(p.with_suffix("")), label=parent if labels == "parent" else "", split="unlabeled")
        r["status"], r["path"], r["reason"] = check_found(index, rel)
        rows.append(r)
    mark_duplicates(rows)
    classes = label_index(r["label"] for r in rows if r["status"] not in (MALFORMED, NOT_MEDIA))
    for r in rows:
        r["label_idx"] = classes.get(r["label"], -1)
    return finalize(rows, dataset=dataset, fmt="folder")
