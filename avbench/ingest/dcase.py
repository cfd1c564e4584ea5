"""DCASE acoustic scene classification (2013/2014 "scenes", TUT 2016-style layout) -> manifest.

Read, in this order (all optional, at least one must give items):

1. ``root/meta.txt``: ``<file>\\t<scene>[\\t...]`` -- the item list and labels;
2. ``root/evaluation_setup/fold{N}_train.txt`` (-> ``fold_N = train``) and ``fold{N}_test.txt`` /
   ``fold{N}_evaluate.txt`` (-> ``fold_N = test``), lines ``<file>[\\t<scene>]``: folds, plus
   items/labels not in meta.txt;
3. neither present: every ``*.wav`` under ``root/audio`` (else ``root``), labelled by the file
   name's prefix before its trailing digits (the DCASE 2013 ``bus01.wav`` naming).

``<file>`` is ``audio/<name>.wav`` (relative to ``root``) or a bare ``<name>.wav``, looked up in
``root/audio`` when that folder exists. Fields are tab-separated (whitespace if there is no tab).
id = the file stem; classes: sorted unique scene names -> 0..C-1; ``split`` = fold 1's value
("" without folds). A file listed twice in meta.txt or in both train and test of one fold gets an
extra ``duplicate`` row.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from avbench.ingest.common import (
    DUPLICATE,
    FolderIndex,
    check_found,
    finalize,
    label_index,
    locate,
    malformed,
    mark_duplicates,
    normalize_rel,
    row,
)
from avbench.ingest.ucf101 import read_lines

_FOLD_FILE = re.compile(r"^fold(?P<k>\d+)_(?P<side>train|test|evaluate)\.txt$")


def _fields(line: str) -> list[str]:
    return [x.strip() for x in (line.split("\t") if "\t" in line else line.split())]


def prepare_dcase(root: str | os.PathLike[str], *, dataset: str = "dcase") -> pd.DataFrame:
    """Manifest of a DCASE scene classification dataset folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DCASE dataset root {root} is not a folder")
    audio_sub = (root / "audio").is_dir()
    index = FolderIndex.build(root)
    rows: list[dict[str, Any]] = []
    by_rel: dict[str, dict[str, Any]] = {}

    def rel_of(name: str) -> str:
        name = normalize_rel(name)
        return f"audio/{name}" if audio_sub and "/" not in name else name

    def add(rel: str, label: str, where: str) -> dict[str, Any] | None:
        r = row(id=PurePosixPath(rel).stem, label=label)
        r["status"], r["path"], r["reason"] = locate(index, rel)
        if r["status"] == "unsafe_path":
            r["id"], r["reason"] = rel, f"{where}: {r['reason']}"
            rows.append(r)
            return None
        by_rel[rel] = r
        rows.append(r)
        return r

    meta = root / "meta.txt"
    if meta.is_file():
        for line_no, line in read_lines(meta):
            f = _fields(line)
            if len(f) < 2 or not f[0]:
                rows.append(malformed(line_no, f"meta.txt:{line_no}: cannot parse {line!r}"))
                continue
            rel = rel_of(f[0])
            if rel in by_rel:
                rows.append(
                    row(
                        id=PurePosixPath(rel).stem,
                        label=f[1],
                        status=DUPLICATE,
                        reason=f"meta.txt:{line_no}: listed twice",
                    )
                )
                continue
            add(rel, f[1], f"meta.txt:{line_no}")

    n_folds = 0
    setup = root / "evaluation_setup"
    fold_files = []
    for p in sorted(setup.glob("fold*_*.txt")) if setup.is_dir() else []:
        m = _FOLD_FILE.match(p.name)
        if m:
            fold_files.append((int(m["k"]), 0 if m["side"] == "train" else 1, m["side"], p))
    for k, _, side, p in sorted(fold_files):
        n_folds = max(n_folds, k)
        value = "train" if side == "train" else "test"
        fk = f"fold_{k}"
        for line_no, line in read_lines(p):
            f = _fields(line)
            if not f or not f[0]:
                rows.append(malformed(line_no, f"{p.name}:{line_no}: cannot parse {line!r}"))
                continue
            rel, label = rel_of(f[0]), (f[1] if len(f) > 1 else "")
            r = by_rel.get(rel)
            if r is None:
                r = add(rel, label, f"{p.name}:{line_no}")
                if r is None:
                    continue
            if not r["label"]:
                r["label"] = label
            if r.get(fk, "") not in ("", value):
                rows.append(
                    row(
                        id=r["id"],
                        label=r["label"],
                        status=DUPLICATE,
                        reason=f"{p.name}:{line_no}: also in {r[fk]} of fold {k}",
                    )
                )
                continue
            r[fk] = value

    if not rows:  # no annotation files: the 2013 naming
        base = "audio/" if audio_sub else ""
        for rel in index.rel_paths:
            if rel.startswith(base) and rel.lower().endswith(".wav"):
                stem = PurePosixPath(rel).stem
                r = row(id=stem, label=re.sub(r"\d+$", "", stem).rstrip("_-"))
                r["status"], r["path"], r["reason"] = check_found(index, rel)
                rows.append(r)

    mark_duplicates(rows)  # one stem in two folders
    classes = label_index(r["label"] for r in rows if r["status"] != "malformed")
    for r in rows:
        r["label_idx"] = classes.get(r["label"], -1)
        r["split"] = r.get("fold_1", "") if r["status"] != DUPLICATE else ""
    return finalize(rows, dataset=dataset, fmt="dcase", n_folds=n_folds)
