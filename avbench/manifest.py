"""The manifest: one row per listed item (video or audio file) of a dataset.

Columns every ingest recipe writes (pandas dtypes in brackets):

- ``id`` [str]: unique item id within the dataset (e.g. the YouTube id with its window).
- ``path`` [str]: absolute path of the media file ("" when it could not be resolved).
- ``label`` [str]: class name ("" when unlabeled).
- ``label_idx`` [int]: class index (-1 when unlabeled).
- ``split`` [str]: ``train``/``val``/``test``/``unlabeled``.
- ``t_start``, ``t_end`` [float]: time window in seconds inside the file (NaN: whole file).
- ``status`` [str]: ``ok`` or a reason code (``missing``, ``unsafe_path``, ``duplicate``, ``malformed``).
- ``reason`` [str]: one line saying why, for rows that are not ``ok``.
- ``fold_1`` ... ``fold_K`` [str]: for datasets with official folds, ``train``/``test``/"" per fold.
- ``dataset`` [str], ``format`` [str]: where the row came from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from avbench.paths import atomic_path

BASE_COLUMNS = ["id", "path", "label", "label_idx", "split", "t_start", "t_end", "status", "dataset", "format"]


def fold_columns(df: pd.DataFrame) -> list[str]:
    """The ``fold_k`` columns of a manifest, in order."""
    cols = [c for c in df.columns if c.startswith("fold_")]
    return sorted(cols, key=lambda c: int(c.split("_")[1]))


def write_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Write a manifest as parquet, atomically."""
    with atomic_path(path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def manifest_hash(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A short content hash of a manifest (ids, labels, statuses): the data provenance of a result."""
    cols = columns or [c for c in ("id", "label", "split", "status", "t_start", "t_end") if c in df.columns]
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(df[cols].astype(str), index=False).values.tobytes())
    return h.hexdigest()[:12]


INGEST_DROPS = ("missing", "unsafe_path", "duplicate", "malformed")


def dataset_summary(index: pd.DataFrame, dataset: str = "") -> pd.DataFrame:
    """One row: listed, found (the file was there), usable (``ok`` after probe and shard), and one
    ``dropped_<reason>`` column per reason a row was dropped."""
    status = index["status"].astype(str)
    row: dict[str, object] = {
        "dataset": dataset or (str(index["dataset"].iloc[0]) if len(index) and "dataset" in index.columns else ""),
        "listed": int(len(index)),
        "found": int((~status.isin(INGEST_DROPS)).sum()),
        "usable": int((status == "ok").sum()),
    }
    for reason, n in status[status != "ok"].value_counts().sort_index().items():
        row[f"dropped_{reason}"] = int(n)
    return pd.DataFrame([row])
