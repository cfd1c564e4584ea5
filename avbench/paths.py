"""Safe path handling: ids and paths from user-downloaded CSVs never escape their dataset root."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

_SAFE_KEY = re.compile(r"[^A-Za-z0-9_\-]")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with threads.
UMASK = _umask()
FILE_MODE = 0o666 & ~UMASK
DIR_MODE = 0o777 & ~UMASK


def resolve_under(root: str | os.PathLike[str], rel: str) -> Path | None:
    """Join ``rel`` (a path from an annotation file) under ``root``.

    Returns ``None`` when ``rel`` is absolute, contains ``..``, or resolves (through symlinks)
    outside ``root``: such a row is reported as ``unsafe_path`` by the caller, never opened.
    """
    rel = rel.replace("\\", "/").strip()
    if not rel or rel.startswith("/") or re.match(r"^[A-Za-z]:", rel) or "\0" in rel:
        return None
    parts = PurePosixPath(rel).parts
    if any(p == ".." for p in parts):
        return None
    root_path = Path(root).resolve()
    try:
        candidate = (root_path / Path(*parts)).resolve()
    except (OSError, ValueError, RuntimeError):  # a symlink loop, or a path the system refuses
        return None
    try:
        candidate.relative_to(root_path)
    except ValueError:
        return None
    return candidate


def safe_key(text: str) -> str:
    """A WebDataset-safe sample key (no dots, slashes or spaces) derived from an id."""
    return _SAFE_KEY.sub("_", text)


def sample_key(sample_id: str) -> str:
    """The shard key of a sample id, unique by construction: the id itself when it is already a safe
    key, else its :func:`safe_key` plus ``-`` and 8 hex digits of the id's hash (so ``x/a`` and
    ``x_a`` never share a key, in one shard group or across groups)."""
    key = safe_key(sample_id)
    if key == sample_id:
        return key
    return f"{key}-{hashlib.blake2b(sample_id.encode('utf-8', 'surrogateescape'), digest_size=4).hexdigest()}"


class OutputLocked(RuntimeError):
    """Another process holds the lock of an output (see :func:`output_lock`)."""


@contextmanager
def output_lock(final: str | os.PathLike[str], what: str = "avbench") -> Iterator[Path]:
    """Hold an exclusive lock on output ``final`` (a hidden ``.<name>.lock`` file beside it,
    ``flock``-ed) for the duration of the block. A second process asking for the same output gets
    :class:`OutputLocked` at once, with a one-line message, instead of mixing its files into the
    first one's. The (empty) lock file stays: removing it would race with a waiting process."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = final.parent / f".{final.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise OutputLocked(
                    f"{what}: another run is writing {final} right now (lock {lock}); "
                    "wait for it to finish, or write elsewhere"
                ) from None
            raise
        yield lock
    finally:
        os.close(fd)  # closing releases the lock


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
