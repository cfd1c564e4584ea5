"""Safe path handling: ids and paths from user-downloaded CSVs never escape their dataset root."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

_SAFE_KEY = re.compile(r"[^A-Za-z0-9_\-]")


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# Read once at import: os.umask can only be read by setting it, which would race with threads.
FILE_MODE = _file_mode()


def resolve_under(root: str | os.PathLike[str], rel: str) -> Path | None:
    """Join ``rel`` (a path from an annotation file) under ``root``.

    Returns ``None`` when ``rel`` is absolute, contains ``..``, or resolves (through symlinks)
    outside ``root``: such a row is reported as ``unsafe_path`` by the caller, never opened.
    """
    rel = rel.replace("\\", "/").strip()
    if not rel or rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        return None
    parts = PurePosixPath(rel).parts
    if any(p == ".." for p in parts):
        return None
    root_path = Path(root).resolve()
    candidate = (root_path / Path(*parts)).resolve()
    try:
        candidate.relative_to(root_path)
    except ValueError:
        return None
    return candidate


def safe_key(text: str) -> str:
    """A WebDataset-safe sample key (no dots, slashes or spaces) derived from an id."""
    return _SAFE_KEY.sub("_", text)


@contextmanager
def atomic_path(final: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp makes 0600 files: give the result the usual umask mode
            os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
