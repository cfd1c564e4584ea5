"""DAVIS (2016/2017) video object segmentation -> manifest of sequences, and a sequence reader.

Layout (as downloaded from davischallenge.org)::

    <root>/JPEGImages/<resolution>/<sequence>/00000.jpg ...
    <root>/Annotations/<resolution>/<sequence>/00000.png ...   palette PNGs: 0 background, 1..K objects
    <root>/ImageSets/<year>/{train,val}.txt                      (optional) one sequence name per line

One manifest row per sequence (in the image sets' order, else by name): ``id`` the sequence
name, ``path`` its JPEG folder, ``split`` from the image sets (``unlabeled`` without them),
``n_frames`` and ``n_objects``. A sequence named in an
image set that is absent: ``missing``; a name that would leave the root (``..``, absolute, a
symlink out): ``unsafe_path``; frames without annotations, or a first annotation that cannot be
read: ``malformed`` with the reason. Nothing is read outside ``root``.

This format feeds the propagation protocol (:mod:`avbench.evaluate.propagation`), not the shard
pipeline: DAVIS holds frames, not videos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from avbench.ingest.common import MALFORMED, MISSING, OK, UNSAFE, finalize, row
from avbench.paths import resolve_under


def _image_sets(root: Path, year: str) -> dict[str, str]:
    """Sequence -> split from ``ImageSets/<year>/*.txt`` (the first split that lists it)."""
    sets: dict[str, str] = {}
    d = root / "ImageSets" / year
    if not d.is_dir():
        return sets
    for split in ("train", "val", "test-dev", "test-challenge"):
        f = d / f"{split}.txt"
        if f.is_file():
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                name = line.strip()
                if name:
                    sets.setdefault(name, split)
    return sets


def _frames(folder: Path, ext: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ext and p.is_file()) if folder.is_dir() else []


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A DAVIS annotation as int64 (H, W) object ids (palette indices; 255, "void", read as 0)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "P" or im.mode == "L":
            m = np.array(im, dtype=np.int64)
        else:  # an RGB rendering: any non-black pixel is object 1
            m = (np.array(im.convert("L")) > 0).astype(np.int64)
    m[m == 255] = 0
    return m


def _sequence_row(base: Path, resolution: str, name: str, split: str) -> dict[str, Any]:
    """The manifest row of one sequence: ``ok`` with its frame folder, or the status and reason
    that keep it out."""
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        return row(id=name, split=split, status=UNSAFE, reason="sequence name is not a plain folder name")
    rel_frames, rel_ann = f"JPEGImages/{resolution}/{name}", f"Annotations/{resolution}/{name}"
    fdir, adir = resolve_under(base, rel_frames), resolve_under(base, rel_ann)
    if fdir is None or adir is None:
        return row(id=name, split=split, status=UNSAFE, reason="path escapes the dataset root")
    jpgs, pngs = _frames(fdir, ".jpg"), _frames(adir, ".png")
    inside = base.resolve()
    if any(not f.resolve().is_relative_to(inside) for f in jpgs + pngs):
        return row(id=name, split=split, status=UNSAFE, reason="a frame or annotation links outside the root")
    if not jpgs:
        return row(id=name, split=split, status=MISSING, reason=f"no frames in {rel_frames}")
    reason = ""
    if not pngs:
        reason = f"no annotations in {rel_ann}"
    elif pngs[0].stem != jpgs[0].stem:
        reason = f"first annotation {pngs[0].name} is not of the first frame {jpgs[0].name}"
    else:
        try:
            first = read_mask(pngs[0])
        except (OSError, ValueError) as exc:
            reason = f"unreadable annotation {pngs[0].name}: {exc}"
    if reason:
        return row(id=name, split=split, status=MALFORMED, n_frames=len(jpgs), reason=reason)
    n_obj = int(len([v for v in np.unique(first) if v != 0]))
    return row(
        id=name,
        path=str(fdir),
        split=split,
        status=OK,
        n_frames=len(jpgs),
        n_objects=n_obj,
        label="",
        reason="" if n_obj else "no object in the first annotation",
    )


def prepare_davis(
    root: str | os.PathLike[str], *, resolution: str = "480p", year: str = "2017", dataset: str = "davis"
) -> pd.DataFrame:
    """Manifest of the sequences of a DAVIS folder (module doc)."""
    base = Path(root)
    if not (base / "JPEGImages").is_dir():
        raise FileNotFoundError(f"{root}: no JPEGImages folder (not a DAVIS layout)")
    frames_dir = base / "JPEGImages" / resolution
    sets = _image_sets(base, year)
    if sets:
        names = list(sets)
    else:
        names = sorted(p.name for p in frames_dir.iterdir() if p.is_dir()) if frames_dir.is_dir() else []
    rows = [_sequence_row(base, resolution, name, sets.get(name, "unlabeled")) for name in names]
    df = finalize(rows, dataset=dataset, fmt="davis", extra=("n_frames", "n_objects"))
    for c in ("n_frames", "n_objects"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype(np.int64)
    return df


def load_sequence(
    frames_dir: str | os.PathLike[str], *, short_side: int | None = None, max_frames: int | None = None
) -> dict[str, Any]:
    """Frames (T, H, W, 3) uint8 RGB and masks (T, H, W) int64 of one sequence folder (its
    annotations found by replacing ``JPEGImages`` with ``Annotations`` in the path). Frames without
    an annotation get masks of -1 (not scored). ``short_side``: downscale both (area for frames,
    nearest for masks)."""
    fdir = Path(frames_dir)
    parts = list(fdir.parts)
    i = len(parts) - 1 - parts[::-1].index("JPEGImages")
    adir = Path(*parts[:i], "Annotations", *parts[i + 1 :])
    jpgs = _frames(fdir, ".jpg")[: max_frames or None]
    frames, masks = [], []
    for j in jpgs:
        img = cv2.imread(str(j), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"unreadable frame {j.name}")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        a = adir / f"{j.stem}.png"
        m = read_mask(a) if a.is_file() else np.full(img.shape[:2], -1, np.int64)
        if short_side and min(img.shape[:2]) > short_side:
            s = short_side / min(img.shape[:2])
            size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            m = cv2.resize(m.astype(np.int32), size, interpolation=cv2.INTER_NEAREST).astype(np.int64)
        frames.append(img)
        masks.append(m)
    return {"id": fdir.name, "frames": np.stack(frames), "masks": np.stack(masks)}
