"""Which on-screen object is sounding (SyncNet's active-speaker task, Chung & Zisserman 2016;
issue 13, item 4), scored on the synthetic world's ground truth.

In a world video with two moving objects, the sounding one and a silent one (``p_silent_object``,
per-frame boxes from ``record_boxes``), each object gets the SyncNet confidence (median minus
minimum of the offset curve of :mod:`avbench.evaluate.avsync`) of its own **crop**: for each of the
video's windows (the clips avsync would use), the union of the object's boxes over the clip's frames
(mapped into the stored frames through the sample's decode region and scale, at the source frame each
stored frame shows: :func:`avbench.evaluate.localize.shard_box` and
:func:`~avbench.evaluate.localize.source_frame`), grown by ``margin`` of its size on each side, at
least ``min_size`` of the frame's height, at the frame's aspect ratio and moved inside the frame, is
cut out of every frame of the clip and resized to the stored size (what the sync model was trained
on). The object whose crop is more confidently in sync is called sounding; the video's answer is
right (1), wrong (0) or a tie (0.5). Accuracy over the scored videos with a 95% bootstrap interval
over videos, against chance 0.5.

Every video gets a row; one that cannot be scored says why (``reason``): the sample's own
(``no_frames``, ``no_audio``, ``silent_audio``), ``no_truth`` (no safe id or no ground-truth file
with boxes), ``one_object`` (no silent object), ``no_region`` (no decode region to map the boxes),
``too_short`` (no window inside the offset range), ``not_visible`` (no window where both objects
are in the picture), ``not_sharded`` (listed by the index, not in the shards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from avbench.evaluate.avsync import (
    AnySync,
    SyncSettings,
    _Embeddings,
    _samples,
    _text,
    distance_curve,
    interval,
    judge,
    truth_file,
    unscorable,
    video_id,
    window_starts,
)
from avbench.evaluate.localize import box_mask, shard_box, source_frame
from avbench.shards.loader import frame_time

OBJECTS = ("object", "silent_object")  # the ground truth's key prefixes: sounding, silent
ACTIVE_COLUMNS = [
    "run",
    "seed",
    "dataset",
    "key",
    "id",
    "status",
    "reason",
    "detail",
    "n_windows",
    "confidence_sounding",
    "confidence_silent",
    "offset_sounding",
    "offset_silent",
    "pick",
    "correct",
]


@dataclass(frozen=True)
class ActiveSettings:
    """The crop of each object (config ``avsync.active``)."""

    margin: float = 0.5  # grow the union box by this share of its width / height on each side
    min_size: float = 0.3  # the crop is at least this share of the frame's height

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> ActiveSettings:
        sec = section or {}
        return cls(margin=float(sec.get("margin", cls.margin)), min_size=float(sec.get("min_size", cls.min_size)))


def crop_box(boxes: np.ndarray, size: tuple[int, int], a: ActiveSettings) -> tuple[int, int, int, int]:
    """The crop (integer pixel edges ``x0, y0, x1, y1``) around the union of ``boxes`` (K, 4),
    frame coordinates of :func:`~avbench.evaluate.localize.shard_box`: grown by ``margin``, at least
    ``min_size`` of the frame's height, at the frame's aspect ratio, inside the frame."""
    W, H = int(size[0]), int(size[1])
    b = np.asarray(boxes, float)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    w, h = (x1 - x0) * (1 + 2 * a.margin), (y1 - y0) * (1 + 2 * a.margin)
    h = max(h, w * H / W, a.min_size * H, 2.0)
    h = min(h, float(H))
    w = min(h * W / H, float(W))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cw, ch = max(2, int(round(w))), max(2, int(round(h)))
    left = int(round(min(max(cx - cw / 2, 0), W - cw)))
    top = int(round(min(max(cy - ch / 2, 0), H - ch)))
    return left, top, left + cw, top + ch


def crop_clip(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Every frame (L, H, W, 3) uint8 cut to ``box`` and resized back to (W, H)."""
    H, W = frames.shape[1:3]
    x0, y0, x1, y1 = box
    return np.stack(
        [cv2.resize(np.ascontiguousarray(f[y0:y1, x0:x1]), (W, H), interpolation=cv2.INTER_LINEAR) for f in frames]
    )


def clip_boxes(meta: dict[str, Any], gt: dict[str, Any], prefix: str, k0: int, clip_frames: int) -> np.ndarray | None:
    """The boxes (frame coordinates) of object ``prefix`` in the stored frames ``k0 ..
    k0 + clip_frames - 1`` where it is visible, (K, 4); None when it is not visible (or its box lies
    outside the crop) in the clip's middle frame."""
    region = (meta.get("geometry") or {}).get("region")
    size = tuple(int(v) for v in meta["size"])
    fps_src, n_src = float(gt["spec"]["fps"]), int(gt["n_frames"])
    out, mid_ok = [], False
    for k in range(k0, k0 + clip_frames):
        j = source_frame(float(meta["t_start"]) + frame_time(meta, k), fps_src, n_src)
        if not gt[f"{prefix}_visible"][j]:
            continue
        box = shard_box(gt[f"{prefix}_box_frame"][j], region, size)
        if not box_mask(box, size).any():
            continue
        out.append(box)
        mid_ok |= k == k0 + clip_frames // 2
    return np.array(out) if mid_ok else None


def _row(reason: str, detail: str) -> dict[str, Any]:
    return {"status": "unscored", "reason": reason, "detail": detail, "n_windows": 0}


def _truth(gt_dir: str | Path | None, vid: str) -> dict[str, Any] | None:
    p = truth_file(gt_dir, vid) if gt_dir is not None else None
    if p is None:
        return None
    try:
        gt = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return gt if isinstance(gt, dict) and "object_box_frame" in gt else None


def score_active(
    model: AnySync,
    sample: dict[str, Any],
    gt: dict[str, Any] | None,
    s: SyncSettings,
    a: ActiveSettings,
    *,
    clip_frames: int,
) -> dict[str, Any]:
    """One video's row: each object's crop confidence and offset, the pick and whether it is right,
    or the reason it has none."""
    bad = unscorable(sample)
    if bad is not None:
        return _row(*bad)
    if gt is None:
        return _row("no_truth", "no ground-truth file with the objects' boxes for this video")
    if not gt.get("silent_object") or "silent_object_box_frame" not in gt:
        return _row("one_object", "the video has no silent object: nothing to choose between")
    meta = sample["meta"]
    if not (meta.get("geometry") or {}).get("region"):
        return _row("no_region", "the sample has no decode region to map the boxes into its frames")
    cand = s.candidates
    starts = window_starts(
        meta,
        int(sample["mel"].shape[-1]),
        clip_frames=clip_frames,
        reads=(int(cand[0]), int(cand[-1])),
        windows=s.windows,
    )
    if not starts:
        return _row("too_short", f"no {clip_frames}-frame window with audio at offsets {s.offsets[0]}..{s.offsets[1]}")
    boxes = {k: [clip_boxes(meta, gt, p, k, clip_frames) for p in OBJECTS] for k in starts}
    keep = [k for k in starts if all(b is not None for b in boxes[k])]
    if not keep:
        return _row("not_visible", f"neither of {len(starts)} windows shows both objects in its middle frame")
    size = tuple(int(v) for v in meta["size"])
    frames = np.asarray(sample["frames"])
    judged = []
    audio_cache: dict[int, np.ndarray] | None = None
    for i, _ in enumerate(OBJECTS):
        fr = frames.copy()
        for k in keep:
            fr[k : k + clip_frames] = crop_clip(frames[k : k + clip_frames], crop_box(boxes[k][i], size, a))
        emb = _Embeddings(model, {**sample, "frames": fr}, clip_frames)
        if audio_cache is not None:
            emb.audio = audio_cache  # the same log-mel windows for both objects
        judged.append(judge(distance_curve(emb, keep, cand), cand, s))
        audio_cache = emb.audio
    cs, cq = judged[0]["confidence"], judged[1]["confidence"]
    pick = "sounding" if cs > cq else "silent" if cq > cs else "tie"
    return {
        "status": "scored",
        "reason": "",
        "detail": "",
        "n_windows": len(keep),
        "confidence_sounding": cs,
        "confidence_silent": cq,
        "offset_sounding": judged[0]["offset_frames"],
        "offset_silent": judged[1]["offset_frames"],
        "pick": pick,
        "correct": {"sounding": 1.0, "silent": 0.0, "tie": 0.5}[pick],
    }


def estimate_active(
    model: AnySync,
    urls: list[str],
    s: SyncSettings,
    a: ActiveSettings,
    *,
    clip_frames: int,
    truth: str | Path,
    index: pd.DataFrame | None = None,
    run: str = "",
    seed: int = 0,
    dataset: str = "",
) -> pd.DataFrame:
    """One row per video of the shards ``urls`` (and per index row not sharded) with the world's
    ground truth in ``truth`` (``<id>.json``, ids validated: :func:`~avbench.evaluate.avsync.truth_file`)."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sample in _samples(urls):
        key = str(sample["key"])
        seen.add(key)
        meta = sample["meta"]
        gt = _truth(truth, video_id(meta))
        row = score_active(model, sample, gt, s, a, clip_frames=clip_frames)
        rows.append({"key": key, "id": str(meta.get("id", key)), **row})
    if index is not None:
        for r in index.to_dict("records"):
            key = _text(r.get("key")) or _text(r.get("id"))
            if key in seen:
                continue
            status = _text(r.get("status")) or "ok"
            rows.append({"key": key, "id": _text(r.get("id")) or key, **_row("not_sharded", f"shard status {status}")})
    df = pd.DataFrame([{"run": run, "seed": int(seed), "dataset": dataset, **r} for r in rows])
    df = df.reindex(columns=ACTIVE_COLUMNS)
    for c in ("confidence_sounding", "confidence_silent", "offset_sounding", "offset_silent", "correct"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["n_windows"] = df["n_windows"].fillna(0).astype("int64")
    for c in ("key", "id", "status", "reason", "detail", "pick"):
        df[c] = df[c].fillna("").astype(str)
    return df.sort_values("key", kind="stable").reset_index(drop=True)


def active_summary(df: pd.DataFrame, *, dataset: str = "") -> list[dict[str, Any]]:
    """Summary rows (mode ``active``): ``active_acc`` (share of scored videos whose sounding object
    is picked, ties a half) with its 95% interval over videos against chance 0.5, ``n_videos``,
    ``n_scored`` and the count of each reason."""
    scored = df[df["status"] == "scored"]
    c = scored["correct"].to_numpy(float)
    lo, hi = interval(lambda i: c[i].mean(), len(c), "active_acc", dataset)
    out = [
        {
            "metric": "active_acc",
            "value": float(c.mean()) if len(c) else np.nan,
            "lo": lo,
            "hi": hi,
            "chance": 0.5,
            "n": int(len(c)),
        },
        {"metric": "n_videos", "value": float(len(df)), "chance": np.nan, "n": int(len(df))},
        {"metric": "n_ties", "value": float((scored["pick"] == "tie").sum()), "chance": np.nan, "n": int(len(c))},
    ]
    for reason, k in df.loc[df["status"] != "scored", "reason"].value_counts().sort_index().items():
        out.append({"metric": f"n_{reason}", "value": float(k), "chance": np.nan, "n": int(len(df))})
    return [{"mode": "active", "subset": "all", **r} for r in out]
