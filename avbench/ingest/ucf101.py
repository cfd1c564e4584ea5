"""UCF101 official split lists -> manifest (one row per unique video, folds 1-3).

``splits_dir`` (default ``root/ucfTrainTestlist``) holds ``classInd.txt`` (``1 ApplyEyeMakeup``),
``trainlist0{1,2,3}.txt`` (``Class/v_Class_g08_c01.avi 1``) and ``testlist0{1,2,3}.txt``
(``Class/v_Class_g01_c01.avi``); CRLF and trailing spaces are tolerated.

Videos are looked up under ``root/videos/`` if that folder exists, else ``root/UCF-101/`` if it
exists, else ``root/`` (``videos_dir`` overrides). When the exact listed path is absent the file
is matched case-insensitively (the real ``HandstandPushups/v_HandStandPushups_*`` quirk).
Labels come from the folder part of the path via classInd (case-insensitive), stored 0-based.
``fold_k`` is ``train``/``test`` per list ("" when absent); ``split`` is fold 1's value.
A video listed twice in one list, or in both train and test of a fold, gets an extra
``duplicate`` row. A listed path that is absolute, contains ``..`` or resolves outside the video
folder gives an ``unsafe_path`` row whose id is the listed path. Without classInd.txt the classes
are the sorted folder names of the lists.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import (
    DUPLICATE,
    UNSAFE,
    FolderIndex,
    finalize,
    locate,
    malformed,
    normalize_rel,
    row,
)

N_FOLDS = 3


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty stripped lines of a text file with their 1-based line numbers (CRLF tolerated)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def media_root(root: Path, candidates: tuple[str, ...]) -> Path:
    """The first existing ``root/<candidate>`` folder, else ``root``."""
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    return root


def read_class_ind(path: Path) -> dict[str, tuple[int, str]]:
    """classInd.txt -> {lower-cased class name: (0-based index, class name)}."""
    out: dict[str, tuple[int, str]] = {}
    if not path.is_file():
        return out
    for _, line in read_lines(path):
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            out[parts[1].lower()] = (int(parts[0]) - 1, parts[1])
    return out


def _classes_from_lists(sdir: Path) -> dict[str, tuple[int, str]]:
    """Without classInd.txt: the sorted folder names of every listed path, 0-based."""
    names = set()
    for lst in sorted(sdir.glob("*list0*.txt")):
        for _, line in read_lines(lst):
            folder = str(PurePosixPath(normalize_rel(line.split()[0])).parent)
            if folder not in (".", "") and ".." not in folder and not folder.startswith("/"):
                names.add(folder)
    return {n.lower(): (i, n) for i, n in enumerate(sorted(names))}


def prepare_ucf101(
    root: str | os.PathLike[str],
    *,
    splits_dir: str | os.PathLike[str] | None = None,
    videos_dir: str | os.PathLike[str] | None = None,
    dataset: str = "ucf101",
) -> pd.DataFrame:
    """Manifest of UCF101 from its official train/test lists."""
    root = Path(root)
    sdir = Path(splits_dir) if splits_dir is not None else root / "ucfTrainTestlist"
    vroot = Path(videos_dir) if videos_dir is not None else media_root(root, ("videos", "UCF-101"))
    if not any((sdir / f"{side}list0{k}.txt").is_file() for side in ("train", "test") for k in (1, 2, 3)):
        raise FileNotFoundError(f"no UCF101 trainlist0k.txt/testlist0k.txt in {sdir}")
    classes = read_class_ind(sdir / "classInd.txt") or _classes_from_lists(sdir)
    index = FolderIndex.build(vroot)

    rows: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for k in range(1, N_FOLDS + 1):
        for side in ("train", "test"):
            lst = sdir / f"{side}list0{k}.txt"
            if not lst.is_file():
                continue
            seen_here: set[str] = set()
            for line_no, line in read_lines(lst):
                parts = line.split()
                where = f"{lst.name}:{line_no}"
                bad = len(parts) not in (1, 2) or (len(parts) == 2 and not parts[1].isdigit())
                if bad or (side == "test" and len(parts) != 1):
                    rows.append(malformed(line_no, f"{where}: cannot parse {line!r}"))
                    rows[-1]["id"] = f"row{line_no}@{lst.name}"
                    continue
                rel = normalize_rel(parts[0])
                vid = PurePosixPath(rel).stem
                if index.resolve(rel) is None:  # absolute, "..", or a symlink out of the root
                    rows.append(
                        row(
                            id=rel,
                            status=UNSAFE,
                            reason=f"{where}: path escapes the dataset root",
                            **{f"fold_{k}": side},
                        )
                    )
                    continue
                prev = by_id.get(vid)
                if prev is not None:
                    fk = f"fold_{k}"
                    if vid in seen_here or prev["_rel"] != rel or prev.get(fk, "") not in ("", side):
                        why = (
                            "listed twice in " + lst.name
                            if vid in seen_here
                            else f"also {prev['_rel']}"
                            if prev["_rel"] != rel
                            else f"also in {prev[fk]} of fold {k}"
                        )
                        rows.append(
                            row(
                                id=vid,
                                label=prev["label"],
                                label_idx=prev["label_idx"],
                                status=DUPLICATE,
                                reason=f"{where}: {why}",
                            )
                        )
                        seen_here.add(vid)
                        continue
                    prev[fk] = side
                    seen_here.add(vid)
                    continue
                seen_here.add(vid)
                folder = str(PurePosixPath(rel).parent)
                cls = classes.get(folder.lower())
                r = row(id=vid, label=cls[1] if cls else folder, label_idx=cls[0] if cls else -1)
                r["_rel"] = rel
                r[f"fold_{k}"] = side
                r["status"], r["path"], r["reason"] = locate(index, rel, where)
                if cls is None:
                    r["reason"] = (r["reason"] + "; " if r["reason"] else "") + f"class {folder!r} not in classInd.txt"
                by_id[vid] = r
                rows.append(r)

    for r in rows:
        r.pop("_rel", None)
        r["split"] = r.get("fold_1", "") if r["status"] != DUPLICATE else ""
    return finalize(rows, dataset=dataset, fmt="ucf101", n_folds=N_FOLDS)
