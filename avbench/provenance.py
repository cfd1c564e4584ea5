"""What a result depends on beyond the code: the pinned environment and the content of the shards.

Every evaluation row records ``env_hash`` and ``packages`` (the versions of the packages that
compute, and the CPU kernel pin of :mod:`avbench`), and the content hashes of the shards it was
trained and tested on (``pretrain_shards_hash``, ``downstream_shards_hash``): two rows with the same
config hash but other media (another PyAV/FFmpeg bundling other codecs) or other packages are told
apart.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from avbench import pinned_environment


def git_revision(cwd: str | Path | None = None) -> str:
    """Short git revision of the avbench source tree (or of ``cwd``) (``+dirty`` when the tree has changes), or ``unknown``.

    Changes under the top-level ``results/`` do not count: the workflow writes its outputs there,
    committed tables included, so a run from a clean checkout stamped ``+dirty`` on every row
    written after its first table."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top,exclude)results"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def index_provenance(path: str | Path | None) -> tuple[str, int, int, int]:
    """(manifest hash, usable, listed, found) of a shard index (``("", 0, 0, 0)`` without one)."""
    import pandas as pd

    from avbench.manifest import dataset_summary, manifest_hash

    if not path:
        return "", 0, 0, 0
    idx = pd.read_parquet(path)
    summ = dataset_summary(idx).iloc[0]
    return manifest_hash(idx), int(summ["usable"]), int(summ["listed"]), int(summ["found"])


def packages() -> str:
    """``name==version`` of the computing packages and the oneDNN ISA pin, ``;``-joined."""
    return ";".join(f"{k}=={v}" for k, v in sorted(pinned_environment().items()))


def env_hash() -> str:
    """A short hash of :func:`packages`."""
    return hashlib.sha256(packages().encode()).hexdigest()[:12]


def shards_hash(shard_dir: str | Path) -> str:
    """A short content hash of a dataset's shards: SHA-256 over every ``shard-*.tar`` (its path
    relative to ``shard_dir`` and its bytes), in sample order; empty when there is no shard."""
    from avbench.shards.loader import shard_urls

    root = Path(shard_dir)
    urls = shard_urls(root)
    if not urls:
        return ""
    h = hashlib.sha256()
    for u in urls:
        p = Path(u)
        with p.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        h.update(json.dumps([str(p.relative_to(root)) if p.is_relative_to(root) else p.name, digest]).encode())
    return h.hexdigest()[:12]
