"""Resumable, checksum-verified mirror downloads (e.g. the CVDF Kinetics tarballs) and safe extraction.

- :func:`read_url_list` parses ``<url> [<md5|sha256>]`` lines into :class:`Entry` objects;
- :func:`download_file` fetches one archive into ``<dest>.part`` (resuming with ``Range`` requests
  after a dropped connection), verifies its checksum and only then renames it onto ``dest``;
- :func:`extract_archive` unpacks a tar / tar.gz member by member into a hidden temporary folder
  inside ``out_dir``, skipping (and counting) unsafe members, moves the result into place and only
  then writes the completion marker ``out_dir/.<archive name>.done`` (JSON);
- :func:`download_all` does both for a list of entries in parallel and returns one row per entry.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import posixpath
import re
import shutil
import socket
import tarfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.error import HTTPError, URLError

import pandas as pd

from avbench.paths import atomic_path, resolve_under
from avbench.progress import progress_bar

log = logging.getLogger(__name__)

ALGO_BY_LENGTH: dict[int, str] = {32: "md5", 64: "sha256"}
DIGEST_LENGTH: dict[str, int] = {v: k for k, v in ALGO_BY_LENGTH.items()}
TAR_SUFFIXES: tuple[str, ...] = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
STATUSES: tuple[str, ...] = ("ok", "checksum_mismatch", "failed")
COLUMNS: tuple[str, ...] = (
    "name",
    "url",
    "status",
    "reason",
    "bytes",
    "checksum",
    "algo",
    "verified",
    "sha256",
    "extracted",
    "unsafe_members",
)
_HEX = re.compile(r"^[0-9a-f]+$")
_USER_AGENT = "avbench-download/1"


class ChecksumError(ValueError):
    """A downloaded file's digest differs from the expected one (the partial file is deleted)."""


class DownloadError(OSError):
    """A download failed for good (HTTP 4xx, or still failing after every retry)."""


class _ShortRead(OSError):
    """The connection ended before Content-Length bytes arrived (resume and retry)."""


class _Restart(OSError):
    """The ``.part`` file cannot be resumed (deleted); retry from zero."""


# --------------------------------------------------------------------------------------------- list


def _basename(url: str) -> str:
    """The URL path's last segment, percent-decoded (so ``%2F`` or ``%2e%2e`` are caught as unsafe)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def _check_name(name: str, url: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"unsafe or empty archive name {name!r} in URL {url!r}")


def _normalize_checksum(checksum: str | None, algo: str | None) -> tuple[str | None, str | None]:
    """(checksum lower-cased, algo) with algo inferred from the length when None; ValueError if bad."""
    if checksum is None or not str(checksum).strip():
        return None, None
    checksum = str(checksum).strip().lower()
    if not _HEX.match(checksum) or len(checksum) not in ALGO_BY_LENGTH:
        raise ValueError(f"checksum {checksum!r} is neither an md5 (32 hex) nor a sha256 (64 hex) digest")
    inferred = ALGO_BY_LENGTH[len(checksum)]
    if algo is None:
        algo = inferred
    algo = algo.lower()
    if algo not in DIGEST_LENGTH:
        raise ValueError(f"unsupported checksum algorithm {algo!r} (use md5 or sha256)")
    if algo != inferred:
        raise ValueError(f"checksum {checksum!r} has {len(checksum)} hex digits, not a {algo} digest")
    return checksum, algo


@dataclass(frozen=True)
class Entry:
    """One archive of a mirror list; ``checksum``/``algo`` are None when the list gives no checksum."""

    url: str
    checksum: str | None = None
    algo: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        checksum, algo = _normalize_checksum(self.checksum, self.algo)
        object.__setattr__(self, "checksum", checksum)
        object.__setattr__(self, "algo", algo)
        if not self.name:
            object.__setattr__(self, "name", _basename(self.url))
        _check_name(self.name, self.url)

    @property
    def verified(self) -> bool:
        """Whether the download can be verified (a checksum was listed)."""
        return self.checksum is not None


def read_url_list(path: str | os.PathLike[str], *, base_url: str | None = None) -> list[Entry]:
    """Parse a mirror list: one ``<url> [<checksum>]`` per line (whitespace or comma separated).

    The algorithm is inferred from the checksum's length (32 hex: md5, 64 hex: sha256); a line without
    a checksum gives an unverified entry. ``#`` comments (whole-line or trailing), blank lines and a
    ``url,...`` header line are ignored. Relative URLs are joined onto ``base_url`` (required for them).
    Raises ValueError (naming the file and line) on a malformed line or an unsafe archive name.
    """
    path = Path(path)
    entries: list[Entry] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        fields = [f.strip("\"'") for f in re.split(r"[\s,]+", raw.strip()) if f]
        for i, f in enumerate(fields):
            if f.startswith("#"):
                fields = fields[:i]
                break
        fields = [f for f in fields if f]
        if not fields:
            continue
        if not entries and fields[0].lower() == "url":
            continue  # CSV header
        try:
            if len(fields) > 2:
                raise ValueError(f"expected '<url> [<checksum>]', got {len(fields)} fields")
            url = fields[0]
            if not urllib.parse.urlsplit(url).scheme:
                if base_url is None:
                    raise ValueError(f"URL {url!r} has no scheme (pass base_url for relative URLs)")
                url = urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", url)
            entries.append(Entry(url, fields[1] if len(fields) > 1 else None))
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
    return entries


# ----------------------------------------------------------------------------------------- download


def _hash_file(path: Path, algos: Iterable[str], chunk: int = 1 << 20) -> dict[str, str]:
    hashers = {a: hashlib.new(a) for a in dict.fromkeys(algos)}
    with open(path, "rb") as f:
        while buf := f.read(chunk):
            for h in hashers.values():
                h.update(buf)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    if isinstance(
        exc, (_ShortRead, _Restart, http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout)
    ):
        return True
    if isinstance(exc, URLError):
        return isinstance(exc.reason, OSError)
    return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _content_range_total(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) from ``bytes start-end/total`` or ``bytes */total`` (None where absent)."""
    m = re.match(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _fetch_once(url: str, part: Path, *, timeout: float, chunk: int, bar: Any) -> None:
    """One request: append to / restart ``part``; returns when the body is complete, raises otherwise."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except HTTPError as e:
        try:
            if e.code == 416 and offset:
                _, total = _content_range_total(e.headers.get("Content-Range"))
                if total == offset:
                    return  # the .part already holds the whole file
                part.unlink(missing_ok=True)
                raise _Restart(f"range {offset}- not satisfiable (size {total}); restarting") from None
        finally:
            e.close()
        raise
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None and length.strip().isdigit() else None
        total: int | None
        status = resp.status or 200  # file:// URLs have no status
        if status == 206 and offset:
            start, total = _content_range_total(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Restart(f"server answered range {start}- for a request of {offset}-")
            mode = "ab"
            if bar is not None:
                bar.reset(total=total)
                bar.update(offset)
        elif status == 200:
            if offset:
                log.info("%s: server ignored the Range request; restarting from zero", part.name)
            mode, offset, total = "wb", 0, length
            if bar is not None:
                bar.reset(total=total)
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        got = 0
        with open(part, mode) as f:
            while True:
                buf = resp.read(chunk)
                if not buf:
                    break
                f.write(buf)
                got += len(buf)
                if bar is not None:
                    bar.update(len(buf))
    if length is not None and got < length:
        raise _ShortRead(f"connection closed after {got} of {length} bytes")
    if total is not None and part.stat().st_size != total:
        raise _ShortRead(f"{part.name} holds {part.stat().st_size} bytes, expected {total}")


def _fetch(
    url: str,
    dest: Path,
    *,
    checksum: str | None,
    algo: str | None,
    timeout: float,
    retries: int,
    chunk: int,
    progress: bool = False,
) -> tuple[int, dict[str, str]]:
    """Download/verify ``dest``; returns (size, digests) where digests has ``sha256`` (and ``algo``)."""
    checksum, algo = _normalize_checksum(checksum, algo)
    algos = ["sha256"] + ([algo] if algo else [])
    dest = Path(dest)
    if dest.exists():
        digests = _hash_file(dest, algos)
        if checksum is None or digests[algo] == checksum:
            return dest.stat().st_size, digests
        log.warning("%s exists but its %s differs; downloading it again", dest.name, algo)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    bar = progress_bar(desc=dest.name, enabled=progress, unit="B", unit_scale=True) if progress else None
    try:
        while True:
            try:
                _fetch_once(url, part, timeout=timeout, chunk=chunk, bar=bar)
                break
            except Exception as e:  # noqa: BLE001 - classified below
                if not _is_transient(e):
                    if isinstance(e, HTTPError):
                        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
                    raise
                attempt += 1
                if attempt > retries:
                    raise DownloadError(f"{dest.name}: giving up after {retries} retries: {_one_line(e)}") from e
                log.warning("%s: %s; retry %d/%d", dest.name, _one_line(e), attempt, retries)
                time.sleep(0.2 * attempt)
    finally:
        if bar is not None:
            bar.close()
    digests = _hash_file(part, algos)
    if checksum is not None and digests[algo] != checksum:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{dest.name}: {algo} mismatch: expected {checksum}, got {digests[algo]}")
    os.replace(part, dest)
    return dest.stat().st_size, digests


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    algo: str | None = "sha256",
    timeout: float = 30,
    retries: int = 5,
    chunk: int = 1 << 20,
    progress: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming and verifying; returns ``dest``.

    - an existing ``.part`` is resumed with ``Range: bytes=<size>-`` (206: appended; 200: the server
      ignored the range, the file restarts from zero);
    - a dropped connection / timeout / short body / HTTP 5xx is retried (resuming) up to ``retries``
      times with a 0.2 s * attempt backoff; HTTP 4xx raises :class:`DownloadError` at once;
    - on completion the checksum (``algo``: md5 or sha256; None infers it from the length) is checked:
      a mismatch deletes the ``.part`` and raises :class:`ChecksumError`; a match renames it onto
      ``dest``. Without a checksum the file is accepted unverified;
    - an existing ``dest`` whose checksum matches (or any existing ``dest`` when no checksum is given:
      it only appears after a complete download) is returned without any network access.
    """
    dest = Path(dest)
    _fetch(
        url,
        dest,
        checksum=checksum,
        algo=algo if checksum else None,
        timeout=timeout,
        retries=retries,
        chunk=chunk,
        progress=progress,
    )
    return dest


# ---------------------------------------------------------------------------------------- extract


def marker_path(archive: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """The completion marker of ``archive`` extracted into ``out_dir``."""
    return Path(out_dir) / f".{Path(archive).name}.done"


def read_marker(archive: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON summary of a completed extraction (None when not done or the marker is unreadable)."""
    try:
        data = json.loads(marker_path(archive, out_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def _no_symlink_parent(root: Path, rel: PurePosixPath) -> bool:
    """True when the lexical parent of ``root/rel`` contains no symlink (writes stay where they seem)."""
    parent = root.joinpath(*rel.parts[:-1])
    return os.path.realpath(parent) == str(parent)


def _clear(target: Path) -> bool:
    """Remove a file/symlink at ``target`` so a member can take its place; False if it is a real dir."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    return not (target.is_dir() and not target.is_symlink())


def _extract_members(tf: tarfile.TarFile, tmp: Path) -> tuple[int, list[dict[str, str]]]:
    """Extract the safe members of ``tf`` under ``tmp`` (a real, resolved folder); (count, skipped)."""
    skipped: list[dict[str, str]] = []
    n = 0

    def skip(member: tarfile.TarInfo, reason: str) -> None:
        skipped.append({"name": member.name, "reason": reason})

    for m in tf:
        try:
            n += _extract_one(tf, m, tmp, skip)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as e:
            skip(m, f"cannot be written here ({_one_line(e)})")
    n -= _drop_escaping_symlinks(tmp, skipped)
    return n, skipped


def _extract_one(tf: tarfile.TarFile, m: tarfile.TarInfo, tmp: Path, skip: Any) -> int:
    """Extract one member under ``tmp`` if it is safe (else ``skip(m, reason)``); 1 if written."""
    norm = m.name.replace("\\", "/")
    if resolve_under(tmp, norm) is None:
        skip(m, "absolute path or '..'" if norm.startswith("/") or ".." in norm.split("/") else "escapes")
        return 0
    rel = PurePosixPath(posixpath.normpath(norm))
    if not rel.parts or rel.parts == (".",):
        return 0  # the archive's root folder entry
    if not _no_symlink_parent(tmp, rel):
        skip(m, "path through a symlink")
        return 0
    target = tmp.joinpath(*rel.parts)
    if m.isdir():
        if target.is_symlink():
            target.unlink()
        target.mkdir(parents=True, exist_ok=True)
        return 0
    if m.isdev() or not (m.isfile() or m.issym() or m.islnk()):
        skip(m, "device or special file")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    if m.issym():
        link = m.linkname.replace("\\", "/")
        joined = posixpath.normpath(posixpath.join(str(rel.parent), link))
        if (
            not link
            or link.startswith("/")
            or joined == ".."
            or joined.startswith("../")
            or resolve_under(tmp, joined) is None
        ):
            skip(m, f"symlink to {m.linkname!r} leaves the folder")
            return 0
        if not _clear(target):
            skip(m, "conflicts with a folder")
            return 0
        os.symlink(link, target)
        return 1
    if m.islnk():  # copied (not linked) from an already extracted regular file
        source_rel = PurePosixPath(posixpath.normpath(m.linkname.replace("\\", "/")))
        source = resolve_under(tmp, str(source_rel))
        if (
            source is None
            or not source.is_file()
            or not _no_symlink_parent(tmp, source_rel)
            or tmp.joinpath(*source_rel.parts).is_symlink()
        ):
            skip(m, f"hard link to {m.linkname!r} is outside the folder or not an extracted file")
            return 0
        if not _clear(target):
            skip(m, "conflicts with a folder")
            return 0
        shutil.copyfile(source, target)
        return 1
    if not _clear(target):
        skip(m, "conflicts with a folder")
        return 0
    src = tf.extractfile(m)
    if src is None:
        skip(m, "unreadable member")
        return 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with src, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(target, (m.mode & 0o755) | 0o644)  # no setuid/setgid/sticky, no group/other write
    os.utime(target, (m.mtime, m.mtime))
    return 1


def _drop_escaping_symlinks(tmp: Path, skipped: list[dict[str, str]]) -> int:
    """Remove symlinks that (after later members changed their path) resolve outside ``tmp``."""
    dropped = 0
    root = str(tmp)
    for dirpath, dirnames, filenames in os.walk(tmp):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                real = os.path.realpath(p)
                if not (real == root or real.startswith(root + os.sep)):
                    p.unlink()
                    skipped.append(
                        {"name": p.relative_to(tmp).as_posix(), "reason": "symlink resolves outside the folder"}
                    )
                    dropped += 1
    return dropped


def _merge(src: Path, dst: Path, conflicts: list[str]) -> None:
    """Move ``src`` onto ``dst``: folders are merged, files and symlinks replace what was there."""
    if src.is_dir() and not src.is_symlink():
        if dst.is_dir() and not dst.is_symlink():
            for child in list(src.iterdir()):
                _merge(child, dst / child.name, conflicts)
            return
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        try:
            os.rename(src, dst)
        except OSError:
            if dst.is_dir() and not dst.is_symlink():  # another extraction created it meanwhile
                _merge(src, dst, conflicts)
            else:
                raise
        return
    if dst.is_dir() and not dst.is_symlink():
        conflicts.append(str(dst))
        return
    os.replace(src, dst)


def extract_archive(
    archive: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, checksum: str | None = None
) -> Path:
    """Safely extract a tar / tar.gz / tar.bz2 / tar.xz ``archive`` into ``out_dir``; returns ``out_dir``.

    Idempotent: when ``out_dir/.<archive name>.done`` exists (and, if ``checksum`` — the archive's
    sha256 — is given, records that checksum) nothing is done. Otherwise the members are extracted one
    by one into a hidden temporary folder inside ``out_dir``, then moved into place, and only then is
    the marker written (atomically); an interrupted extraction leaves no marker and is redone.

    Unsafe members are skipped and listed in the marker (``unsafe_members``, with a reason): absolute
    paths, ``..``, paths through symlinks, symlinks or hard links leading outside ``out_dir``, device
    files and FIFOs. Files are written without setuid bits, never following a symlink.
    """
    archive = Path(archive)
    out_dir = Path(out_dir)
    marker = marker_path(archive, out_dir)
    done = read_marker(archive, out_dir)
    if done is not None and (checksum is None or done.get("sha256") == checksum.lower()):
        return out_dir
    if checksum is None:
        checksum = _hash_file(archive, ["sha256"])["sha256"]
    out_dir.mkdir(parents=True, exist_ok=True)
    stale_name = re.compile(rf"\.{re.escape(archive.name)}\.[0-9a-f]{{12}}\.extracting")
    for stale in out_dir.iterdir():  # left by an interrupted extraction of this archive
        if stale_name.fullmatch(stale.name) and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    tmp = out_dir / f".{archive.name}.{uuid.uuid4().hex[:12]}.extracting"
    tmp.mkdir()
    tmp = tmp.resolve()
    try:
        try:
            tf = tarfile.open(archive, "r:*")
        except tarfile.TarError as e:
            raise ValueError(f"{archive.name}: not a readable tar archive ({_one_line(e)})") from e
        with tf:
            n, skipped = _extract_members(tf, tmp)
        conflicts: list[str] = []
        for child in list(tmp.iterdir()):
            _merge(child, out_dir / child.name, conflicts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "archive": archive.name,
        "sha256": checksum.lower(),
        "members": n,
        "unsafe_members": skipped,
        "unsafe_count": len(skipped),
        "conflicts": conflicts,
    }
    for s in skipped:
        log.warning("%s: skipped member %r (%s)", archive.name, s["name"], s["reason"])
    with atomic_path(marker) as tmp_marker:
        tmp_marker.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return out_dir


# ------------------------------------------------------------------------------------------- batch


def _process(entry: Entry, out_dir: Path, extract_to: Path | None, timeout: float, retries: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": entry.name,
        "url": entry.url,
        "status": "failed",
        "reason": "",
        "bytes": 0,
        "checksum": entry.checksum or "",
        "algo": entry.algo or "",
        "verified": entry.verified,
        "sha256": "",
        "extracted": False,
        "unsafe_members": 0,
    }
    dest = out_dir / entry.name
    try:
        size, digests = _fetch(
            entry.url, dest, checksum=entry.checksum, algo=entry.algo, timeout=timeout, retries=retries, chunk=1 << 20
        )
    except ChecksumError as e:
        row.update(status="checksum_mismatch", reason=_one_line(e).removeprefix("ChecksumError: "))
        return row
    except Exception as e:  # noqa: BLE001 - one failing entry never stops the others
        row["reason"] = _one_line(e)
        return row
    row.update(
        bytes=size,
        sha256=digests["sha256"],
        status="ok",
        reason="" if entry.verified else "no checksum listed: unverified",
    )
    if extract_to is not None and is_tar_name(entry.name):
        try:
            extract_archive(dest, extract_to, checksum=digests["sha256"])
            info = read_marker(dest, extract_to) or {}
            row.update(extracted=True, unsafe_members=int(info.get("unsafe_count", 0)))
        except Exception as e:  # noqa: BLE001
            row.update(status="failed", reason=f"extraction failed: {_one_line(e)}")
    return row


def download_all(
    entries: Sequence[Entry],
    out_dir: str | os.PathLike[str],
    *,
    extract_to: str | os.PathLike[str] | None = None,
    workers: int = 4,
    timeout: float = 30,
    retries: int = 5,
    progress: bool = True,
) -> pd.DataFrame:
    """Download (and, with ``extract_to``, extract the tar archives of) ``entries`` in parallel.

    Returns one row per entry, in order, with the columns :data:`COLUMNS`: ``status`` is ``ok``,
    ``checksum_mismatch`` or ``failed`` (``reason`` says why, in one line; an unverified ``ok`` says so
    too), ``bytes``, ``checksum``/``algo`` as listed, ``verified``, the file's ``sha256``,
    ``extracted`` and ``unsafe_members`` (members skipped by :func:`extract_archive`). A failing entry
    never stops the others; two entries with the same archive name: the second one fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extract_dir = Path(extract_to) if extract_to is not None else None
    entries = list(entries)
    rows: list[dict[str, Any] | None] = [None] * len(entries)
    seen: set[str] = set()
    jobs: list[int] = []
    for i, e in enumerate(entries):
        if e.name in seen:
            rows[i] = {
                "name": e.name,
                "url": e.url,
                "status": "failed",
                "reason": "duplicate archive name",
                "bytes": 0,
                "checksum": e.checksum or "",
                "algo": e.algo or "",
                "verified": e.verified,
                "sha256": "",
                "extracted": False,
                "unsafe_members": 0,
            }
        else:
            seen.add(e.name)
            jobs.append(i)
    with progress_bar(total=len(entries), desc="download", enabled=progress, unit="archive") as bar:
        bar.update(len(entries) - len(jobs))
        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            futures = {pool.submit(_process, entries[i], out_dir, extract_dir, timeout, retries): i for i in jobs}
            for fut in as_completed(futures):
                rows[futures[fut]] = fut.result()
                bar.update(1)
    df = pd.DataFrame([r for r in rows if r is not None], columns=list(COLUMNS))
    return df.astype({"bytes": "int64", "verified": bool, "extracted": bool, "unsafe_members": "int64"})
