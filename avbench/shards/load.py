"""Read shard samples back (webdataset), in manifest order or streamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any



def shard_urls(shard_dir: str | Path) -> list[str]:
    """The tar shards of a dataset folder (and of its ``group-*`` subfolders), in sample order."""
    return sorted(str(p) for p in Path(shard_dir).rglob("shard-*.tar"))


def _all_shards(src: Any) -> Any:
    return src


def iter_samples(shard_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yield decoded samples in shard order: ``{"key", "frames": uint8 (T,H,W,3) | None,
    "flow": uint8 (T-1,H,W,2) | None, "mel": float32 (n_mels, M) | None, "meta": dict}``
    (any frame codec, see :func:`avbench.shards.codec.decode_sample`)."""
    import webdataset as wds

    from avbench.shards.codec import decode_sample

    urls = shard_urls(shard_dir)
    if not urls:
        return
    # Every process reads every sample here (the bank is small and each rank slices its batches),
    # so the shard list is deliberately not split across nodes.
    ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False, nodesplitter=_all_shards)
    for raw in ds:
        yield decode_sample(raw)


def load_samples(shard_dir: str | Path) -> list[dict[str, Any]]:
    """All samples of a dataset in memory (small datasets and evaluation sets)."""
    return list(iter_samples(shard_dir))
