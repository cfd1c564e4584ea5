"""Evenly spaced evaluation clips of every sample, and the frozen features of an encoder on them.

Each video (or sound file) gives up to ``clips_per_video`` clips, evenly spaced over the frames
(video, flow) or the log-mel frames (audio) of the sample. Clip-level accuracy scores each clip;
video-level accuracy averages the predictions over the clips of one video.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.pretext.base import to_tensors
from avbench.shards.loader import ShardStream, clip_starts, clip_view, collate, mel_window

NEEDS = {"video": frozenset({"frames"}), "audio": frozenset({"mel"}), "flow": frozenset({"frames", "flow"})}


def spaced(values: list[int], k: int) -> list[int]:
    """Up to ``k`` evenly spaced elements of ``values`` (the middle one when k == 1)."""
    if not values:
        return []
    if k <= 1:
        return [values[len(values) // 2]]
    idx = sorted({int(round(x)) for x in np.linspace(0, len(values) - 1, k)})
    return [values[i] for i in idx]


def eval_clips(sample: dict[str, Any], *, kind: str, clip_frames: int, clips_per_video: int) -> list[dict[str, Any]]:
    """The evaluation clips of one sample for encoder ``kind``: items with ``video`` uint8
    (T, H, W, 3), ``audio`` float32 (n_mels, A) or ``flow`` uint8 (T, H, W, 2), and ``label``."""
    meta = sample["meta"]
    label = int(meta.get("label_idx", -1))
    if kind == "audio":
        mel = sample["mel"]
        if mel is None:
            return []
        seconds = clip_frames / float(meta["fps"])
        rate = 1000.0 / float(meta["hop_ms"])
        n = int(round(seconds * rate))
        starts = spaced(list(range(max(1, mel.shape[1] - n + 1))), clips_per_video)
        return [{"audio": mel_window(mel, meta, m0 / rate, seconds), "label": label} for m0 in starts]
    flow = kind == "flow"
    starts = spaced(clip_starts(meta, clip_frames + (1 if flow else 0)), clips_per_video)
    out = []
    for k0 in starts:
        item = clip_view(sample, np.random.default_rng(0), clip_frames=clip_frames, audio=False, flow=flow, start=k0)
        if item is not None:
            out.append({kind: item[kind], "label": label})
    return out


def _clip_items(stream: ShardStream, *, kind: str, clip_frames: int, clips_per_video: int) -> Iterator[dict[str, Any]]:
    for s in stream:
        for j, item in enumerate(eval_clips(s, kind=kind, clip_frames=clip_frames, clips_per_video=clips_per_video)):
            yield {**item, "key": s["key"], "clip": j}


@dataclass(frozen=True)
class FeatureCache:
    """Where frozen features are kept between jobs: ``root/<key>.npz``, one file per (encoder, dataset
    shards, clip settings). ``encoders``: encoder kind -> its content hash
    (:func:`avbench.checkpoint.encoder_hash`); ``data``: the dataset's shard index hash; ``model``: the
    content hash of the checkpoint's whole pretext model (:func:`avbench.checkpoint.pretext_model_hash`,
    encoders and head: the key of its retrieval embeddings, ``root/retrieval-<key>.npz``; empty: they are
    not cached). Every fold and protocol reading the same features (the linear classifier's folds, the
    fine-tune's fc init, retrieval's folds) computes them once; a config change that touches neither the
    model nor the shards costs nothing."""

    root: Path
    encoders: dict[str, str]
    data: str
    model: str = ""

    def path(
        self,
        urls: list[str],
        *,
        kind: str,
        clip_frames: int,
        clips_per_video: int,
        mel_norm: tuple[float, float],
        device: torch.device,
    ) -> Path:
        shards = [(Path(u).name, os.path.getsize(u)) for u in urls]
        blob = json.dumps(
            {
                "encoder": self.encoders[kind],
                "kind": kind,
                "data": self.data,
                "shards": shards,
                "clip_frames": int(clip_frames),
                "clips_per_video": int(clips_per_video),
                "mel_norm": [float(v) for v in mel_norm],
                "device": device.type,
                "torch": torch.__version__,
            },
            sort_keys=True,
        )
        return Path(self.root) / f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.npz"

    def embedding_path(
        self,
        urls: list[str],
        *,
        clip_frames: int,
        clips_per_video: int,
        mel_norm: tuple[float, float],
        device: torch.device,
    ) -> Path:
        """The file of the retrieval embeddings (video and audio of the synchronized clips) of the
        pretext model ``model`` on these shards with these clip settings."""
        shards = [(Path(u).name, os.path.getsize(u)) for u in urls]
        blob = json.dumps(
            {
                "model": self.model,
                "kind": "retrieval",
                "data": self.data,
                "shards": shards,
                "clip_frames": int(clip_frames),
                "clips_per_video": int(clips_per_video),
                "mel_norm": [float(v) for v in mel_norm],
                "device": device.type,
                "torch": torch.__version__,
            },
            sort_keys=True,
        )
        return Path(self.root) / f"retrieval-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.npz"


def subset_features(f: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """The features of the samples in ``keys`` only (as if extracted with ``keys``)."""
    keep_v = np.array([k in keys for k in f["keys"]], dtype=bool)
    new_pos = np.cumsum(keep_v) - 1
    rows = keep_v[f["video"]] if len(f["video"]) else np.zeros(0, bool)
    return {
        "features": f["features"][rows],
        "video": new_pos[f["video"][rows]].astype(np.int64),
        "keys": [k for k, ok in zip(f["keys"], keep_v) if ok],
        "labels": f["labels"][keep_v],
    }


def extract_features(
    encoder: torch.nn.Module,
    urls: list[str],
    *,
    kind: str,
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    keys: frozenset[str] | None = None,
    batch_size: int = 64,
    device: torch.device | None = None,
    cache: FeatureCache | None = None,
) -> dict[str, Any]:
    """Pooled features of every evaluation clip of the samples (in shard order).

    Returns ``{"features": float32 (N_clips, D), "video": int64 (N_clips,) index into "keys",
    "keys": list of sample keys (N_videos), "labels": int64 (N_videos,)}``. With a ``cache`` (whose
    ``encoders`` has ``kind``), the features of every sample are read from it, or computed once and
    written to it, and ``keys`` selects among them.
    """
    device = device or torch.device("cpu")
    if cache is None or kind not in cache.encoders:
        return _extract(
            encoder,
            urls,
            kind=kind,
            clip_frames=clip_frames,
            clips_per_video=clips_per_video,
            mel_norm=mel_norm,
            keys=keys,
            batch_size=batch_size,
            device=device,
        )
    from avbench.paths import atomic_path

    path = cache.path(
        urls, kind=kind, clip_frames=clip_frames, clips_per_video=clips_per_video, mel_norm=mel_norm, device=device
    )
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            f = {
                "features": z["features"],
                "video": z["video"],
                "keys": [str(k) for k in z["keys"]],
                "labels": z["labels"],
            }
        print(f"{kind} features: from the cache {path}", flush=True)
    else:
        f = _extract(
            encoder,
            urls,
            kind=kind,
            clip_frames=clip_frames,
            clips_per_video=clips_per_video,
            mel_norm=mel_norm,
            keys=None,
            batch_size=batch_size,
            device=device,
        )
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    features=f["features"],
                    video=f["video"],
                    keys=np.array(f["keys"], dtype=str),
                    labels=f["labels"],
                )
        print(f"{kind} features: computed, cached in {path}", flush=True)
    return f if keys is None else subset_features(f, keys)


@torch.inference_mode()
def _extract(
    encoder: torch.nn.Module,
    urls: list[str],
    *,
    kind: str,
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    keys: frozenset[str] | None,
    batch_size: int,
    device: torch.device,
) -> dict[str, Any]:
    encoder.eval().to(device)
    stream = ShardStream(urls, shuffle=False, keys=keys, needs=NEEDS[kind])
    feats: list[np.ndarray] = []
    clip_keys: list[str] = []
    labels: dict[str, int] = {}
    items = _clip_items(stream, kind=kind, clip_frames=clip_frames, clips_per_video=clips_per_video)
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        if not buf:
            return
        b = to_tensors(collate(buf), device=device, mel_norm=mel_norm)
        feats.append(encoder(b[kind]).float().cpu().numpy())
        for it in buf:
            clip_keys.append(it["key"])
            labels[it["key"]] = int(it["label"])
        buf.clear()

    for item in items:
        buf.append(item)
        if len(buf) == batch_size:
            flush()
    flush()
    order = list(dict.fromkeys(clip_keys))
    pos = {k: i for i, k in enumerate(order)}
    dim = int(getattr(encoder, "out_dim", 0))
    return {
        "features": np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
        "video": np.array([pos[k] for k in clip_keys], dtype=np.int64),
        "keys": order,
        "labels": np.array([labels[k] for k in order], dtype=np.int64),
    }
