"""Dataset ingestion: one recipe per annotation format, each returning a manifest DataFrame.

Every recipe returns one row per listed item with the columns of :mod:`avbench.manifest`
(``id, path, label, label_idx, split, t_start, t_end, status, dataset, format``), ``fold_1..fold_K``
where the format has official folds, and a ``reason`` column (the reason behind a status, or "").
Statuses: ``ok``, ``missing``, ``unsafe_path``, ``duplicate``, ``malformed`` (see
:mod:`avbench.ingest.common`). A bad row never raises; an unreadable or wrong-format annotation
file does (``FileNotFoundError`` / ``ValueError``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from avbench.ingest.audioset import prepare_audioset
from avbench.ingest.common import STATUSES, summarize
from avbench.ingest.dcase import prepare_dcase
from avbench.ingest.esc50 import prepare_esc50
from avbench.ingest.folder import prepare_folder
from avbench.ingest.hmdb51 import prepare_hmdb51
from avbench.ingest.kinetics import prepare_kinetics
from avbench.ingest.ucf101 import prepare_ucf101

FORMATS: dict[str, Callable[..., pd.DataFrame]] = {
    "kinetics": prepare_kinetics,
    "audioset": prepare_audioset,
    "ucf101": prepare_ucf101,
    "hmdb51": prepare_hmdb51,
    "esc50": prepare_esc50,
    "dcase": prepare_dcase,
    "folder": prepare_folder,
}

#: formats whose ``source`` is an annotation CSV (the others take the dataset root)
CSV_FORMATS = ("kinetics", "audioset")
#: keyword of each root format's media-folder override (``videos=`` in :func:`prepare`)
_MEDIA_KW = {"ucf101": "videos_dir", "hmdb51": "videos_dir", "esc50": "audio_dir"}


def prepare(
    format: str, source: str | os.PathLike[str], *, videos: str | os.PathLike[str] | None = None, **kw: Any
) -> pd.DataFrame:
    """Run the recipe of ``format`` (the CLI's ``avbench ingest``).

    For kinetics/audioset ``source`` is the CSV and ``videos`` the media folder (default: the CSV's
    folder); for ucf101/hmdb51/esc50 ``source`` is the dataset root and ``videos``, if given, the
    media folder; dcase and folder take only the root. ``kw`` goes to the recipe (e.g. ``dataset``).
    """
    fmt = format.lower().strip()
    if fmt not in FORMATS:
        raise ValueError(f"unknown ingest format {format!r}; known: {', '.join(FORMATS)}")
    kw = {k: v for k, v in kw.items() if v is not None}
    if fmt in CSV_FORMATS:
        media = videos if videos is not None else Path(source).parent
        return FORMATS[fmt](source, media, **kw)
    if videos is not None:
        if fmt not in _MEDIA_KW:
            raise ValueError(f"--videos is not used by format {fmt!r} (give the dataset root)")
        kw[_MEDIA_KW[fmt]] = videos
    return FORMATS[fmt](source, **kw)


__all__ = [
    "FORMATS",
    "STATUSES",
    "prepare",
    "summarize",
    "prepare_kinetics",
    "prepare_audioset",
    "prepare_ucf101",
    "prepare_hmdb51",
    "prepare_esc50",
    "prepare_dcase",
    "prepare_folder",
]
