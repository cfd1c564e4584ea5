"""Helpers shared by the ingest recipes: the folder index, safe path resolution, duplicates, dtypes.

Statuses every recipe may emit (column ``status``):

- ``ok``: the media file exists (``path`` is its absolute resolved path);
- ``missing``: the item is listed but no file was found (``path`` is "");
- ``unsafe_path``: the listed path is absolute, contains ``..``, or resolves (through a symlink)
  outside the dataset root; it is never opened (``path`` is "");
- ``duplicate``: the id was already listed (kept: the first occurrence; a repeat in another
  split or in the other side of a fold is reported the same way, with a ``reason``);
- ``malformed``: the annotation row could not be parsed (id is ``row<N>``, N its line number), or
  its path or file name is unusable (not UTF-8, over 255 bytes);
- ``not_media``: (plain folders) a file whose extension is not a media one (notes, ``.part``
  downloads); id is its relative path with the extension.

Besides the manifest's BASE_COLUMNS and ``fold_k`` columns, every recipe writes a ``reason`` column
(a short human-readable reason or "").
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from avbench.manifest import BASE_COLUMNS
from avbench.paths import resolve_under

VIDEO_EXTS: tuple[str, ...] = ("mp4", "webm", "mkv", "avi", "mov")
AUDIO_EXTS: tuple[str, ...] = ("wav", "flac", "mp3", "ogg", "m4a", "opus")
#: what a plain folder's files are taken for media by (any other file is ``not_media``)
MEDIA_EXTS: tuple[str, ...] = (
    "mp4",
    "webm",
    "mkv",
    "avi",
    "mov",
    "wav",
    "flac",
    "mp3",
    "ogg",
    "m4v",
    "m4a",
    "opus",
    "flv",
    "ts",
    "mts",
    "m2ts",
    "mpg",
    "mpeg",
    "3gp",
    "wmv",
    "ogv",
    "aac",
)

OK, MISSING, UNSAFE, DUPLICATE, MALFORMED = "ok", "missing", "unsafe_path", "duplicate", "malformed"
NOT_MEDIA = "not_media"
STATUSES: tuple[str, ...] = (OK, MISSING, UNSAFE, DUPLICATE, MALFORMED, NOT_MEDIA)

_STR_COLS = ("id", "path", "label", "split", "status", "dataset", "format", "reason")


@dataclass
class FolderIndex:
    """Every regular file (or file symlink) under ``root``, listed once with :func:`os.walk`.

    Symlinked directories are descended only when they resolve inside ``root`` (each real
    directory once, so link cycles cannot loop); file symlinks are listed and must be checked
    with :meth:`resolve` (which applies :func:`avbench.paths.resolve_under`).
    """

    root: Path
    rel_paths: list[str] = field(default_factory=list)
    by_rel: dict[str, str] = field(default_factory=dict)  # exact relative posix path -> itself
    by_lower: dict[str, str] = field(default_factory=dict)  # lower-cased relative path -> first match
    by_stem: dict[str, list[str]] = field(default_factory=dict)  # file stem -> relative paths
    _resolved: dict[str, Path | None] = field(default_factory=dict, repr=False)  # resolve() memo

    @classmethod
    def build(cls, root: str | os.PathLike[str] | None) -> FolderIndex:
        """Index ``root`` (an absent or None root gives an empty index)."""
        idx = cls(root=Path(root).resolve() if root is not None else Path("/nonexistent"))
        if root is None or not idx.root.is_dir():
            return idx
        top = str(idx.root)
        seen_dirs = {os.path.realpath(top)}
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                if os.path.islink(full):
                    real = os.path.realpath(full)
                    if real in seen_dirs or not (real == top or real.startswith(top + os.sep)):
                        continue  # outside the root, or already visited: never walked
                    seen_dirs.add(real)
                keep.append(d)
            dirnames[:] = keep
            rel_dir = os.path.relpath(dirpath, top)
            for f in sorted(filenames):
                rel = f if rel_dir == "." else f"{rel_dir}/{f}".replace(os.sep, "/")
                idx.rel_paths.append(rel)
        idx.rel_paths.sort()
        for rel in idx.rel_paths:
            idx.by_rel[rel] = rel
            idx.by_lower.setdefault(rel.lower(), rel)
            idx.by_stem.setdefault(PurePosixPath(rel).stem, []).append(rel)
        return idx

    def lookup(self, rel: str) -> str | None:
        """The indexed relative path equal to ``rel``, else equal to it case-insensitively."""
        rel = normalize_rel(rel)
        if rel in self.by_rel:
            return rel
        return self.by_lower.get(rel.lower())

    def resolve(self, rel: str) -> Path | None:
        """``resolve_under(root, rel)`` (memoized per path): None when it would escape the root."""
        if rel not in self._resolved:
            self._resolved[rel] = resolve_under(self.root, rel)
        return self._resolved[rel]


def normalize_rel(rel: str) -> str:
    """A relative path from an annotation file with ``\\`` turned into ``/`` and ``./`` dropped."""
    rel = rel.replace("\\", "/").strip()
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


def locate(index: FolderIndex, rel: str, where: str = "") -> tuple[str, str, str]:
    """Resolve a relative path listed in an annotation file against ``index.root``.

    Returns ``(status, path, note)``: ``ok`` with the absolute resolved path; ``unsafe_path`` for
    absolute paths, ``..``, a NUL byte or symlinks escaping the root; ``malformed`` for a path the
    system refuses (a name over 255 bytes, ...); ``missing`` otherwise. When the exact path is
    absent, a case-insensitive match in the index is accepted (noted). ``where`` (``file:line``)
    prefixes the note of a refused path. Never raises.
    """
    try:
        return _locate(index, rel)
    except ValueError as exc:  # embedded NUL byte
        return UNSAFE, "", f"{where + ': ' if where else ''}unusable path ({exc})"
    except OSError as exc:  # ENAMETOOLONG, ELOOP, EACCES, ...
        return MALFORMED, "", f"{where + ': ' if where else ''}unusable path ({exc.strerror or exc})"


def _locate(index: FolderIndex, rel: str) -> tuple[str, str, str]:
    rel = normalize_rel(rel)
    if "\0" in rel:
        raise ValueError("embedded null byte")
    first = index.resolve(rel)
    if first is None:
        return UNSAFE, "", "path escapes the dataset root"
    if first.is_file():
        return OK, str(first), ""
    hit = index.lookup(rel)
    if hit is not None and hit != rel:
        found = index.resolve(hit)
        if found is None:
            return UNSAFE, "", "path escapes the dataset root"
        if found.is_file():
            return OK, str(found), f"case-insensitive match {hit}"
    if index.by_rel.get(rel) is not None or os.path.islink(index.root / rel):
        # listed in the folder but not a readable file (e.g. a dangling symlink)
        return MISSING, "", "dangling link or not a regular file"
    return MISSING, "", ""


def check_found(index: FolderIndex, rel: str) -> tuple[str, str, str]:
    """Status of a file already found in ``index`` (symlinks escaping the root: ``unsafe_path``)."""
    try:
        p = index.resolve(rel)
        if p is None:
            return UNSAFE, "", "symlink escapes the dataset root"
        if not p.is_file():
            return MISSING, "", "dangling link or not a regular file"
    except (ValueError, OSError) as exc:
        return MALFORMED, "", f"unusable path ({getattr(exc, 'strerror', None) or exc})"
    return OK, str(p), ""


def read_csv_records(path: str | os.PathLike[str]) -> tuple[list[str], list[tuple[int, list[str] | None, str]]]:
    """Header (stripped, lower-cased) and ``(line number, fields or None, reason)`` of each
    non-empty data row of a CSV. A row that cannot be parsed (a field over the csv module's
    limit, an unterminated quote) or is not UTF-8 text has fields None and a one-line reason, and
    the rows after it are read normally. A file whose header is not UTF-8 text raises one
    ``ValueError`` naming the file."""
    import csv

    out: list[tuple[int, list[str] | None, str]] = []
    header: list[str] | None = None
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f, skipinitialspace=True)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                out.append((reader.line_num, None, f"{Path(path).name}:{reader.line_num}: unparsable CSV row ({exc})"))
                continue
            if not fields or all(not x.strip() for x in fields):
                continue
            bad = not_utf8(fields)
            if header is None:
                if bad or any("\0" in x for x in fields):
                    raise ValueError(
                        f"{path}: not UTF-8 text ({bad or 'NUL bytes: UTF-16?'}); convert the file to UTF-8"
                    )
                header = [h.strip().lower() for h in fields]
                continue
            if bad:
                out.append((reader.line_num, None, f"{Path(path).name}:{reader.line_num}: not UTF-8 text ({bad})"))
                continue
            out.append((reader.line_num, fields, ""))
    return header or [], out


def not_utf8(fields: Sequence[str]) -> str:
    """ "" when every field is valid text, else which byte is not UTF-8 (fields read with
    ``errors="surrogateescape"``)."""
    for x in fields:
        try:
            x.encode("utf-8")
        except UnicodeEncodeError as exc:
            raw = x[exc.start : exc.end].encode("utf-8", "surrogateescape")
            return f"byte 0x{raw[0]:02x} is not UTF-8"
    return ""


def parse_seconds(text: Any) -> float:
    """A time in seconds from an annotation field; raises ValueError when it is not a finite number."""
    v = float(str(text).strip())
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"bad time {text!r}")
    return v


def window_id(vid: str, start: float, end: float) -> str:
    """``<vid>_<start:06d>_<end:06d>`` (the Kinetics downloader naming)."""
    return f"{vid}_{int(start):06d}_{int(end):06d}"


def label_index(labels: Iterable[str]) -> dict[str, int]:
    """Sorted unique non-empty class names -> 0..C-1."""
    return {name: i for i, name in enumerate(sorted({x for x in labels if x}))}


def row(**kw: Any) -> dict[str, Any]:
    """A manifest row with defaults for every base column."""
    base: dict[str, Any] = {
        "id": "",
        "path": "",
        "label": "",
        "label_idx": -1,
        "split": "",
        "t_start": float("nan"),
        "t_end": float("nan"),
        "status": MISSING,
        "reason": "",
    }
    base.update(kw)
    return base


def malformed(line_no: int, reason: str, **kw: Any) -> dict[str, Any]:
    """A ``malformed`` row with id ``row<line_no>``."""
    return row(id=f"row{line_no}", status=MALFORMED, reason=reason, **kw)


def mark_duplicates(rows: list[dict[str, Any]]) -> None:
    """Repeated ids (after the first) get status ``duplicate`` and an empty path, in place."""
    first: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["status"] in (MALFORMED, NOT_MEDIA):
            continue
        prev = first.get(r["id"])
        if prev is None:
            first[r["id"]] = r
            continue
        r["status"], r["path"] = DUPLICATE, ""
        if prev.get("split", "") != r.get("split", ""):
            r["reason"] = f"same id also in split {prev.get('split', '')!r}"
        elif not r.get("reason"):
            r["reason"] = "id listed before"


def finalize(
    rows: Sequence[dict[str, Any]], *, dataset: str, fmt: str, n_folds: int = 0, extra: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows -> manifest DataFrame with the manifest's columns and dtypes, in a fixed order."""
    folds = [f"fold_{k}" for k in range(1, n_folds + 1)]
    cols = list(BASE_COLUMNS) + folds + ["reason"] + [c for c in extra if c != "reason"]
    data: dict[str, list[Any]] = {c: [] for c in cols}
    for r in rows:
        for c in cols:
            if c == "dataset":
                data[c].append(dataset)
            elif c == "format":
                data[c].append(fmt)
            else:
                data[c].append(r.get(c, ""))
    df = pd.DataFrame(data, columns=cols)
    for c in cols:
        if c == "label_idx":
            df[c] = df[c].astype(np.int64)
        elif c in ("t_start", "t_end"):
            df[c] = df[c].astype(np.float64)
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    return df.reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """The manifest summary: one row per dataset with ``listed``, ``found`` and a count per status."""
    statuses = list(STATUSES) + sorted(set(df["status"]) - set(STATUSES)) if len(df) else list(STATUSES)
    out = []
    for name, g in df.groupby("dataset", sort=True) if len(df) else []:
        counts = g["status"].value_counts()
        rec: dict[str, Any] = {"dataset": name, "listed": len(g), "found": int(counts.get(OK, 0))}
        rec.update({s: int(counts.get(s, 0)) for s in statuses})
        out.append(rec)
    return pd.DataFrame(out, columns=["dataset", "listed", "found", *statuses])


def apply_hit(r: dict[str, Any], index: Any, hit: tuple[str, bool] | None) -> None:
    """Fill a row's status and path from a located file ``(relative path, trimmed)``.

    A trimmed clip (its file name carries the window) is the whole window: ``t_start=0``,
    ``t_end=NaN``; an untrimmed file keeps the annotation's window.
    """
    if hit is None:
        return
    rel, trimmed = hit
    r["status"], r["path"], r["reason"] = check_found(index, rel)
    if trimmed and r["status"] == OK:
        r["t_start"], r["t_end"] = 0.0, float("nan")
