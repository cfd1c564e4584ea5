"""Guards that keep downstream numbers honest.

- **Fold leakage**: a test video of a fold is never among that fold's training videos
  (:func:`check_disjoint`).
- **A fine-tuned model is tied to its fold**: its meta records the downstream set, the fold and
  its training keys; scoring it on another fold's test set, on another dataset, or on a test set
  that holds any of its training videos is refused (:func:`check_model_fold`) -- testing a split-1
  model on split 3 is how the "fake 100%" of UCF101 users comes about.
- **Shards and index agree**: every shard sample is an ``ok`` row of the index it is evaluated
  with (:func:`check_index_covers`).
- **Pretraining/downstream overlap**: a downstream item whose source file (same resolved path, or
  same bytes) is also in the pretraining set (:func:`pretrain_overlap`), handled by the config's
  ``evaluate.overlap`` policy (:func:`apply_overlap_policy`): ``flag`` (count it in the rows),
  ``exclude`` (drop those videos from the test sets) or ``refuse`` (fail).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

OVERLAP_POLICIES = ("flag", "exclude", "refuse")


class LeakageError(ValueError):
    """Raised when an evaluation would score a model on data it was trained on."""


def check_disjoint(train: Iterable[Any], test: Iterable[Any], *, what: str = "videos") -> None:
    """Refuse when ``train`` and ``test`` share an element (fold leakage)."""
    overlap = set(np.asarray(list(train)).tolist()) & set(np.asarray(list(test)).tolist())
    if overlap:
        some = ", ".join(sorted(map(str, overlap))[:3])
        raise LeakageError(f"fold leakage: {len(overlap)} {what} are in both train and test (e.g. {some})")


def fold_meta(*, downstream: str, downstream_hash: str, fold: int, train_keys: Iterable[str]) -> dict[str, Any]:
    """What a fine-tuned model records about the data it was trained on."""
    keys = sorted(train_keys)
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
    return {
        "downstream": downstream,
        "downstream_manifest_hash": downstream_hash,
        "fold": int(fold),
        "train_keys": keys,
        "train_keys_hash": digest,
    }


def check_model_fold(
    meta: dict[str, Any], *, downstream: str, downstream_hash: str, fold: int, test_keys: Iterable[str]
) -> None:
    """Refuse to score a fine-tuned model (``meta``: :func:`fold_meta`) on anything but the test
    set of the fold it was trained for."""
    if meta.get("downstream") != downstream:
        raise LeakageError(f"model fine-tuned on {meta.get('downstream')!r} cannot be scored on {downstream!r}")
    if meta.get("downstream_manifest_hash") != downstream_hash:
        raise LeakageError(
            f"model fine-tuned on manifest {meta.get('downstream_manifest_hash')} is scored with "
            f"manifest {downstream_hash}: the split files changed"
        )
    if int(meta.get("fold", -1)) != int(fold):
        raise LeakageError(f"model fine-tuned on fold {meta.get('fold')} cannot be scored on fold {fold}'s test set")
    check_disjoint(meta.get("train_keys", []), test_keys)


def check_index_covers(keys: Iterable[str], index: pd.DataFrame) -> None:
    """Refuse shards that hold samples the index does not list as ``ok`` (mismatched shards/index)."""
    ok = set(index.loc[index["status"] == "ok", "key"].astype(str))
    missing = [k for k in keys if k not in ok]
    if missing:
        raise ValueError(
            f"{len(missing)} shard samples are not ok rows of the index (e.g. {missing[0]!r}): "
            "shards and index do not match"
        )


def _content_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _paths(index: pd.DataFrame) -> dict[str, Path]:
    """key (or id) -> existing source file of the index's rows that have one."""
    out: dict[str, Path] = {}
    if "path" not in index.columns:
        return out
    key_col = "key" if "key" in index.columns else "id"
    for key, p in zip(index[key_col].astype(str), index["path"].fillna("").astype(str)):
        if p:
            out[key] = Path(p)
    return out


def pretrain_overlap(pretrain_index: pd.DataFrame, downstream_index: pd.DataFrame) -> dict[str, str]:
    """Downstream items whose source file is also a pretraining source: ``{downstream key: why}``.

    Two items share a source when their resolved paths are equal, or when two existing files of
    equal size have equal bytes (a copy of the file in both datasets). Only the files whose sizes
    collide are read.
    """
    down = _paths(
        downstream_index[downstream_index["status"] == "ok"] if "status" in downstream_index else downstream_index
    )
    pre = _paths(pretrain_index)
    if not down or not pre:
        return {}
    resolved_pre = {}
    for p in pre.values():
        try:
            resolved_pre[p.resolve()] = p
        except OSError:
            continue
    out: dict[str, str] = {}
    for key, p in down.items():
        try:
            if p.resolve() in resolved_pre:
                out[key] = f"same file {p}"
        except OSError:
            continue

    def sizes(paths: Iterable[Path]) -> dict[int, list[Path]]:
        by: dict[int, list[Path]] = {}
        for p in paths:
            try:
                if p.is_file():
                    by.setdefault(p.stat().st_size, []).append(p)
            except OSError:
                continue
        return by

    pre_sizes = sizes(resolved_pre)
    rest = {k: p for k, p in down.items() if k not in out}
    down_sizes = sizes(rest.values())
    digests: dict[Path, str] = {}

    def digest(p: Path) -> str:
        if p not in digests:
            digests[p] = _content_digest(p)
        return digests[p]

    for size in set(pre_sizes) & set(down_sizes):
        pre_d = {digest(p): p for p in pre_sizes[size]}
        for key, p in rest.items():
            if p in down_sizes[size] and digest(p) in pre_d:
                out[key] = f"same bytes as pretraining file {pre_d[digest(p)]}"
    return out


def apply_overlap_policy(test_keys: list[str], overlap: dict[str, str], policy: str) -> tuple[list[str], int]:
    """(test keys to score, number of test items that overlap the pretraining set) under ``policy``."""
    if policy not in OVERLAP_POLICIES:
        raise ValueError(f"overlap policy must be one of {OVERLAP_POLICIES}, not {policy!r}")
    hit = [k for k in test_keys if k in overlap]
    if hit and policy == "refuse":
        raise LeakageError(
            f"{len(hit)} downstream test items are also in the pretraining set (e.g. {hit[0]}: {overlap[hit[0]]})"
        )
    if policy == "exclude":
        return [k for k in test_keys if k not in overlap], len(hit)
    return list(test_keys), len(hit)
