"""HMDB51 official splits -> manifest (one row per unique video, folds 1-3).

``splits_dir`` (default: ``root/testTrainMulti_7030_splits``, else ``root/splits``, else ``root``)
holds ``<class>_test_split{1,2,3}.txt`` with lines ``<video>.avi <0|1|2>`` (1 = train, 2 = test,
0 = unused -> ""), trailing spaces tolerated. Videos are at ``root/videos/<class>/<video>`` if
``root/videos`` exists, else ``root/<class>/<video>`` (``videos_dir`` overrides); case-insensitive
match when the exact path is absent. Classes: sorted unique class names -> 0..50.
``split`` is fold 1's value. A video listed twice for a fold (also in another class) gets an extra
``duplicate`` row; a name that escapes the folder gives an ``unsafe_path`` row (id: the listed path).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import DUPLICATE, UNSAFE, FolderIndex, finalize, locate, malformed, row
from avbench.ingest.ucf101 import media_root, read_lines

N_FOLDS = 3
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d+)\.txt$")
_SIDE = {"0": "", "1": "train", "2": "test"}


def _splits_dir(root: Path) -> Path:
    for cand in (root / "testTrainMulti_7030_splits", root / "splits", root):
        if cand.is_dir() and any(cand.glob("*_test_split*.txt")):
            return cand
    return root


def prepare_hmdb51(
    root: str | os.PathLike[str],
    *,
    splits_dir: str | os.PathLike[str] | None = None,
    videos_dir: str | os.PathLike[str] | None = None,
    dataset: str = "hmdb51",
) -> pd.DataFrame:
    """Manifest of HMDB51 from its official split files."""
    root = Path(root)
    sdir = Path(splits_dir) if splits_dir is not None else _splits_dir(root)
    vroot = Path(videos_dir) if videos_dir is not None else media_root(root, ("videos",))
    index = FolderIndex.build(vroot)

    files: list[tuple[int, str, Path]] = []
    for p in sorted(sdir.glob("*_test_split*.txt")) if sdir.is_dir() else []:
        m = _SPLIT_FILE.match(p.name)
        if m and 1 <= int(m["k"]) <= N_FOLDS:
            files.append((int(m["k"]), m["cls"], p))
    files.sort(key=lambda t: (t[0], t[1]))
    if not files:
        raise FileNotFoundError(f"no HMDB51 <class>_test_split<k>.txt files in {sdir}")
    classes = {c: i for i, c in enumerate(sorted({c for _, c, _ in files}))}

    rows: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for k, cls, path in files:
        fk = f"fold_{k}"
        for line_no, line in read_lines(path):
            parts = line.split()
            where = f"{path.name}:{line_no}"
            if len(parts) != 2 or parts[1] not in _SIDE:
                r = malformed(line_no, f"{where}: cannot parse {line!r}", label=cls, label_idx=classes[cls])
                r["id"] = f"row{line_no}@{path.name}"
                rows.append(r)
                continue
            name, side = parts[0], _SIDE[parts[1]]
            rel = f"{cls}/{name}"
            if "/" in name or "\\" in name or index.resolve(rel) is None:
                rows.append(
                    row(
                        id=name,
                        label=cls,
                        label_idx=classes[cls],
                        status=UNSAFE,
                        reason=f"{where}: path escapes the dataset root",
                        **{fk: side},
                    )
                )
                continue
            vid = PurePosixPath(name).stem
            prev = by_id.get(vid)
            if prev is not None:
                if prev["label"] != cls or fk in prev["_folds_seen"]:
                    why = f"also in class {prev['label']}" if prev["label"] != cls else f"listed twice for fold {k}"
                    rows.append(
                        row(id=vid, label=cls, label_idx=classes[cls], status=DUPLICATE, reason=f"{where}: {why}")
                    )
                    continue
                prev[fk] = side
                prev["_folds_seen"].add(fk)
                continue
            r = row(id=vid, label=cls, label_idx=classes[cls], **{fk: side})
            r["_folds_seen"] = {fk}
            r["status"], r["path"], r["reason"] = locate(index, rel)
            by_id[vid] = r
            rows.append(r)

    for r in rows:
        r.pop("_folds_seen", None)
        r["split"] = r.get("fold_1", "") if r["status"] != DUPLICATE else ""
    return finalize(rows, dataset=dataset, fmt="hmdb51", n_folds=N_FOLDS)
