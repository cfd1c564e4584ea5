"""Read a dataset's shard samples back whole, in shard order (tests, small sets, inspection).

Training and evaluation stream through :mod:`avbench.shards.loader`; this module is the plain
"give me every sample as arrays" view on top of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from avbench.shards.loader import ShardStream, shard_urls


def iter_samples(shard_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yield decoded samples in shard order: ``{"key", "frames": uint8 (T,H,W,3) | None,
    "flow": uint8 (T-1,H,W,2) | None, "mel": float32 (n_mels, M) | None, "wav": int16 (N,) | None,
    "meta": dict}`` (any frame codec: JPEG frames are decoded whole here; ``wav`` only in shards
    written with the option ``waveform``)."""
    for s in ShardStream(shard_urls(shard_dir), shuffle=False, needs=frozenset({"frames", "flow", "mel", "wav"})):
        if s["frames"] is not None and not isinstance(s["frames"], np.ndarray):
            s["frames"] = np.asarray(s["frames"])
        yield s


def load_samples(shard_dir: str | Path) -> list[dict[str, Any]]:
    """All samples of a dataset in memory (small datasets and evaluation sets)."""
    return list(iter_samples(shard_dir))
