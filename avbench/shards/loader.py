"""The streaming training loader: WebDataset shards -> decoded samples -> method views -> batches.

A :class:`ShardStream` reads the tar shards of a dataset folder with webdataset, in an order that
depends only on ``(seed, epoch)``, keeps the samples of this process, shuffles them in a bounded
buffer, decodes the members it needs (:func:`avbench.shards.codec.decode_sample`) and turns each
sample into one training item with a *view function* (for example a random 16-frame clip and the
log-mel window of the same instant, see :func:`clip_view`).

Splitting. Several ranks (``torchrun``) times several ``DataLoader`` workers read one dataset:

- ``split="samples"`` (the default): every process walks the same sample sequence and keeps the
  samples whose position ``p`` satisfies ``p % (world * workers) == rank * workers + worker``.
  Each sample is seen exactly once per epoch across all ranks and workers.
- ``split="shards"``: whole shards go to processes (``shard i -> i % (world * workers)``), so that
  no process reads another's tars (the choice for thousands of shards on a cluster). A process
  sees each sample of its shards once per epoch.

Every item gets its own random generator from ``(seed, epoch, key)``, so the clips drawn do not
depend on the number of workers or ranks.

Caching. A :class:`SampleCache` shared by the streams of one process (the epochs of a pretraining
or fine-tuning run) keeps the decoded samples in memory up to a byte budget: a later epoch reads
no tar, JSON or npy for a shard whose samples it holds (on the synthetic set reading and decoding
was a quarter of a pretraining run's time). The samples, their order and the random views are
the same with or without it; its arrays are read-only, so a view cannot change what a later
epoch reads. :func:`batches` collates items into numpy batches in
the consuming process and drops the last incomplete batch.

Whole samples. :func:`iter_samples` / :func:`load_samples` read a dataset's samples back whole, in
shard order (tests, small sets, inspection).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.preprocess.flow import flow_input
from avbench.shards.codec import decode_sample

View = Callable[[dict[str, Any], np.random.Generator], "dict[str, Any] | None"]
MEMBERS = ("frames.npy", "frames.mjpeg", "flow.npy", "flow.mjpeg", "mel.npy", "wav.npy", "json")


def shard_urls(shard_dir: str | Path) -> list[str]:
    """The tar shards of a dataset folder (and of its ``group-*`` subfolders, symlinked ones
    included; hidden folders, such as the temporary ones of ``avbench shard``, excluded), in
    sample order."""
    import os

    out = []
    for root, dirs, files in os.walk(shard_dir, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # temporary folders of a running or killed shard run
        out += [os.path.join(root, f) for f in files if f.startswith("shard-") and f.endswith(".tar")]
    return sorted(out)


@dataclass
class SampleCache:
    """Decoded samples of one process, kept across epochs up to ``max_bytes`` (0: keep nothing).

    ``order[(url, needs)]`` is the key sequence of a shard read in full; ``samples[(url, key,
    needs)]`` a decoded sample (frames, flow, mel as read-only arrays). Samples beyond the budget
    are not kept, and their shards are read from disk again every epoch.
    """

    max_bytes: int
    used: int = 0
    order: dict[tuple[str, frozenset[str]], list[str]] = field(default_factory=dict)
    samples: dict[tuple[str, str, frozenset[str]], dict[str, Any]] = field(default_factory=dict)

    def get(self, url: str, key: str, needs: frozenset[str]) -> dict[str, Any] | None:
        s = self.samples.get((url, key, needs))
        return None if s is None else dict(s)

    def put(self, url: str, key: str, needs: frozenset[str], sample: dict[str, Any]) -> None:
        if (url, key, needs) in self.samples:
            return
        size = 0
        for m in ("frames", "flow", "mel", "wav"):
            a = sample.get(m)
            if isinstance(a, np.ndarray):
                a.setflags(write=False)
                size += a.nbytes
            elif a is not None:
                size += int(getattr(getattr(a, "_buf", None), "nbytes", 0))  # JpegFrames / JpegFlow: the JPEG bytes
        if self.used + size > self.max_bytes:
            return
        self.used += size
        self.samples[(url, key, needs)] = dict(sample)

    def holds(self, url: str, keys: Iterable[str], needs: frozenset[str]) -> bool:
        return all((url, k, needs) in self.samples for k in keys)


def item_rng(seed: int, epoch: int, key: str) -> np.random.Generator:
    """The random generator of one item: a function of (seed, epoch, sample key) only."""
    digest = hashlib.blake2b(f"{seed}/{epoch}/{key}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@dataclass
class ShardStream(torch.utils.data.IterableDataset):
    """Decoded, viewed samples of some tar shards; an ``IterableDataset`` for ``DataLoader``.

    urls: tar files in sample order. view: sample dict -> item dict (numpy arrays and scalars) or
    None to skip; it runs in the loader workers, so it must be picklable (a module-level function
    or a ``functools.partial`` of one). keys: keep only samples whose key is in this set (e.g. the
    training videos of a fold). repeats: key -> expected number of copies per epoch (resampling,
    e.g. uniform sampling over pseudo-classes; missing keys count 1). needs: which members to
    decode (``frames``, ``flow``, ``mel``, ``wav``: the waveform of shards written with the option
    ``waveform``).
    """

    urls: list[str]
    view: View | None = None
    seed: int = 0
    epoch: int = 0
    shuffle: bool = True
    buffer: int = 256
    rank: int = 0
    world: int = 1
    split: str = "samples"
    keys: frozenset[str] | None = None
    repeats: dict[str, float] | None = None
    needs: frozenset[str] = field(default_factory=lambda: frozenset({"frames", "flow", "mel"}))
    cache: SampleCache | None = None

    def __post_init__(self) -> None:
        super().__init__()
        if self.split not in ("samples", "shards"):
            raise ValueError(f"split must be 'samples' or 'shards', not {self.split!r}")

    # -- the stages -------------------------------------------------------------------------

    def _process(self) -> tuple[int, int]:
        """(index of this process among all readers, number of readers)."""
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.rank * nw + wid, self.world * nw

    def _shard_order(self) -> list[str]:
        urls = list(self.urls)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(len(urls))
            urls = [urls[i] for i in order]
        return urls

    def _raw(self) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        me, n = self._process()
        urls = self._shard_order()
        if self.split == "shards":
            urls = urls[me::n]
        wanted = {"__key__", "__url__"} | {m for m in MEMBERS if m.split(".")[0] in self.needs or m == "json"}

        def select(name: str) -> bool:
            return name.split(".", 1)[-1] in wanted

        pos = 0
        for url in urls:
            order = self.cache.order.get((url, self.needs)) if self.cache is not None else None
            if order is not None:
                mine = [
                    k
                    for p, k in enumerate(order, start=pos)
                    if (self.split != "samples" or p % n == me) and (self.keys is None or k in self.keys)
                ]
                if self.cache is not None and self.cache.holds(url, mine, self.needs):
                    pos += len(order)
                    yield from ({"__key__": k, "__url__": url, "__cached__": True} for k in mine)
                    continue
            seen: list[str] = []
            for s in wds.tarfile_to_samples(select_files=select)(iter([{"url": url}])):
                seen.append(s["__key__"])
                p, pos = pos, pos + 1
                if self.split == "samples" and p % n != me:
                    continue
                if self.keys is not None and s["__key__"] not in self.keys:
                    continue
                yield s
            if self.cache is not None:
                self.cache.order[(url, self.needs)] = seen

    def _repeat(self, it: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if not self.repeats:
            yield from it
            return
        for s in it:
            w = float(self.repeats.get(s["__key__"], 1.0))
            u = item_rng(self.seed, self.epoch, "repeat/" + s["__key__"]).random()
            for r in range(int(math.floor(w)) + (1 if u < w - math.floor(w) else 0)):
                yield {**s, "__copy__": r}

    def _shuffle(self, it: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if not self.shuffle or self.buffer <= 1:
            yield from it
            return
        me, _ = self._process()
        rng = np.random.default_rng([self.seed, self.epoch, me, 11])
        buf: list[dict[str, Any]] = []
        for s in it:
            buf.append(s)
            if len(buf) >= self.buffer:
                j = int(rng.integers(len(buf)))
                buf[j], buf[-1] = buf[-1], buf[j]
                yield buf.pop()
        rng.shuffle(buf)  # type: ignore[arg-type]
        yield from buf

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self._shuffle(self._repeat(self._raw())):
            cached = self.cache.get(raw["__url__"], raw["__key__"], self.needs) if self.cache is not None else None
            if cached is not None:
                sample = cached
            else:
                try:
                    sample = decode_sample(raw)
                except (ValueError, KeyError, TypeError) as exc:  # bad JSON, corrupt JPEG, truncated npy
                    raise ValueError(
                        f"damaged sample in {raw.get('__url__', '?')} key {raw.get('__key__', '?')}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                if self.cache is not None:
                    self.cache.put(raw["__url__"], raw["__key__"], self.needs, sample)
            key = sample["key"] + (f"#{raw['__copy__']}" if raw.get("__copy__") else "")
            if self.view is None:
                yield sample
                continue
            try:
                item = self.view(sample, item_rng(self.seed, self.epoch, key))
            except ValueError as exc:  # frames decoded lazily (JPEG) fail here
                if "corrupt JPEG" not in str(exc) and "frame_jpeg_bytes" not in str(exc):
                    raise
                raise ValueError(f"damaged sample in {raw.get('__url__', '?')} key {sample['key']}: {exc}") from exc
            if item is not None:
                item.setdefault("key", sample["key"])
                yield item


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the items' arrays (same key -> one array with a leading batch axis); strings become lists."""
    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        if isinstance(vals[0], np.ndarray):
            out[k] = np.stack(vals)
        elif isinstance(vals[0], (int, float, np.integer, np.floating, bool, np.bool_)):
            out[k] = np.asarray(vals)
        else:
            out[k] = vals
    return out


def collate_tensors(items: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`collate` with the arrays as torch tensors (what ``pin_memory`` can pin)."""
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in collate(items).items()}


def batches(
    stream: ShardStream, *, batch_size: int, workers: int = 0, drop_last: bool = True, prefetch: int = 4
) -> Iterator[dict[str, Any]]:
    """Batches of ``batch_size`` items from ``stream``, read by ``workers`` processes (0: in this
    process, numpy arrays). With workers, each worker collates its own batches (``DataLoader``
    ``batch_size``; on a CUDA machine as torch tensors in pinned memory): 1.5x the clips per second
    of collating every item in the training process (16 workers, 112x112 clips, one H200,
    ``benchmarks/gpu.py``). A batch then holds the items of one worker; which clips an item holds
    does not depend on the workers (:func:`item_rng`)."""
    if workers > 0:
        pin = torch.cuda.is_available()
        loader = torch.utils.data.DataLoader(
            stream,
            batch_size=batch_size,
            drop_last=drop_last,
            num_workers=workers,
            prefetch_factor=prefetch,
            collate_fn=collate_tensors if pin else collate,
            pin_memory=pin,
            persistent_workers=False,
        )
        yield from loader
        return
    buf: list[dict[str, Any]] = []
    for item in stream:
        buf.append(item)
        if len(buf) == batch_size:
            yield collate(buf)
            buf = []
    if buf and not drop_last:
        yield collate(buf)


# -- views: what one training item is made of --------------------------------------------------


def iter_samples(shard_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yield decoded samples in shard order: ``{"key", "frames": uint8 (T,H,W,3) | None,
    "flow": uint8 (T-1,H,W,2) | None, "mel": float32 (n_mels, M) | None, "wav": int16 (N,) | None,
    "meta": dict}`` (any frame codec: JPEG frames are decoded whole here; ``wav`` only in shards
    written with the option ``waveform``). The plain "every sample as arrays" view (tests, small
    sets, inspection); training and evaluation stream with :class:`ShardStream`."""
    for s in ShardStream(shard_urls(shard_dir), shuffle=False, needs=frozenset({"frames", "flow", "mel", "wav"})):
        if s["frames"] is not None and not isinstance(s["frames"], np.ndarray):
            s["frames"] = np.asarray(s["frames"])
        yield s


def load_samples(shard_dir: str | Path) -> list[dict[str, Any]]:
    """All samples of a dataset in memory (small datasets and evaluation sets)."""
    return list(iter_samples(shard_dir))


def frame_segments(frame_times: list[float] | None, n_frames: int, fps: float) -> list[tuple[int, int]]:
    """Runs ``[a, b)`` of stored frames that are contiguous in time (no dropped frame between)."""
    if not frame_times or n_frames <= 1:
        return [(0, n_frames)] if n_frames else []
    t = np.asarray(frame_times, dtype=np.float64)
    gaps = np.flatnonzero(np.diff(t) > 1.5 / fps) + 1
    edges = [0, *gaps.tolist(), n_frames]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def clip_starts(sample_meta: dict[str, Any], clip_frames: int) -> list[int]:
    """Every frame index at which a clip of ``clip_frames`` contiguous frames can start."""
    n = int(sample_meta.get("n_frames") or 0)
    out: list[int] = []
    for a, b in frame_segments(sample_meta.get("frame_times"), n, float(sample_meta["fps"])):
        out.extend(range(a, b - clip_frames + 1))
    return out


def frame_time(meta: dict[str, Any], k: int) -> float:
    """Seconds after ``t_start`` of stored frame ``k``."""
    ft = meta.get("frame_times")
    return float(ft[k]) if ft else k / float(meta["fps"])


def mel_window(mel: np.ndarray, meta: dict[str, Any], t: float, seconds: float) -> np.ndarray:
    """The log-mel frames of ``[t, t + seconds)`` (t in seconds after ``t_start``), padded with
    the minimum when the window runs past the end. Returns float32 (n_mels, round(seconds * rate))."""
    rate = 1000.0 / float(meta["hop_ms"])
    n = int(round(seconds * rate))
    m0 = int(round(t * rate))
    out = mel[:, max(0, m0) : m0 + n]
    if out.shape[1] < n:
        pad = np.full((mel.shape[0], n - out.shape[1]), mel.min() if mel.size else 0.0, dtype=mel.dtype)
        out = np.concatenate([out, pad], axis=1) if m0 >= 0 else np.concatenate([pad, out], axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)


def wav_window(wav: np.ndarray, meta: dict[str, Any], t: float, seconds: float) -> np.ndarray:
    """The waveform of ``[t, t + seconds)`` (t in seconds after ``t_start``, the instant of
    :func:`mel_window`'s first mel frame) from a sample's int16 ``wav`` (``wav.npy``), as float32 in
    [-1, 1], zero-padded where the window runs outside the audio. Returns float32
    (round(seconds * sample_rate),)."""
    sr = float(meta["sample_rate"])
    n = int(round(seconds * sr))
    s0 = int(round(t * sr))
    out = np.zeros(n, np.float32)
    a, b = max(0, s0), min(len(wav), s0 + n)
    if b > a:
        out[a - s0 : b - s0] = wav[a:b].astype(np.float32) / 32768.0
    return out


def clip_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    clip_frames: int,
    audio: bool = True,
    flow: bool = False,
    start: int | None = None,
    wav: bool = False,
) -> dict[str, Any] | None:
    """One synchronized clip: ``video`` uint8 (T, H, W, 3), ``audio`` float32 (n_mels, A) of the
    same instant and duration (``T / fps`` seconds), ``flow`` uint8 (T, H, W, 2) (the T flow pairs
    starting at the clip's first frame, in the midpoint representation of
    :func:`avbench.preprocess.flow.flow_input`; needs T+1 contiguous frames), ``label`` int, ``start`` (first
    frame index), ``flow_bound``; with ``wav``, ``wav`` float32 (T / fps * sample_rate,) the waveform
    of the same instant (:func:`wav_window`; shards written with the option ``waveform``).
    A random start unless ``start`` is given; None when the sample has no such clip.
    """
    meta = sample["meta"]
    need = clip_frames + (1 if flow else 0)
    if sample["frames"] is None or (audio and sample["mel"] is None) or (flow and sample["flow"] is None):
        return None
    if wav and sample.get("wav") is None:
        return None
    starts = clip_starts(meta, need)
    if not starts:
        return None
    k0 = int(start) if start is not None else int(starts[int(rng.integers(len(starts)))])
    item: dict[str, Any] = {
        "video": sample["frames"][k0 : k0 + clip_frames],
        "label": int(meta.get("label_idx", -1)),
        "start": k0,
    }
    if audio:
        item["audio"] = mel_window(sample["mel"], meta, frame_time(meta, k0), clip_frames / float(meta["fps"]))
    if wav:
        item["wav"] = wav_window(sample["wav"], meta, frame_time(meta, k0), clip_frames / float(meta["fps"]))
    if flow:  # the one flow representation of pretext and downstream (avbench.preprocess.flow.flow_input)
        item["flow"] = flow_input(sample["flow"][k0 : k0 + clip_frames], float(meta["flow"]["bound"]))
        item["flow_bound"] = float(meta["flow"]["bound"])
    return item


def usable(meta: dict[str, Any], *, clip_frames: int, audio: bool, flow: bool = False) -> bool:
    """Whether a sample (its JSON, or an index row with ``n_frames``/``has_audio``) can give one clip."""
    n = int(meta.get("n_frames") or 0)
    if n < clip_frames + (1 if flow else 0):
        return False
    return not audio or bool(meta.get("has_audio", True))
