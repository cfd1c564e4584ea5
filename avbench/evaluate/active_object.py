"""Which on-screen object is sounding (SyncNet's active-speaker task, Chung & Zisserman 2016;
issue 13, item 4), scored on the synthetic world's ground truth.

In a world video with two moving objects, the sounding one and a silent one (``p_silent_object``,
per-frame boxes from ``record_boxes``), each object gets the SyncNet confidence (median minus
minimum of the offset curve of :mod:`avbench.evaluate.avsync`) of its own view of each of the
video's windows (the clips avsync would use). The object's box in every stored frame is the world's
box mapped through the sample's decode region and scale, at the source frame that stored frame shows
(:func:`avbench.evaluate.localize.shard_box` and :func:`~avbench.evaluate.localize.source_frame`).
The view (``avsync.active.region``, :func:`object_view`):

- ``crop`` (default; SyncNet's face track): in every frame a window centred on the object's box,
  of one size per window (the largest box grown by ``margin`` on each side, at least ``min_size`` of
  the frame's height, at the frame's aspect ratio), resized to the stored size;
- ``mask``: the whole frame at its own scale, everything outside the object's grown box replaced by
  the window's per-pixel temporal median (the still background).

The object whose view is more confidently in sync is called sounding; the video's answer is right
(1), wrong (0) or a tie (0.5). Accuracy over the scored videos with a 95% bootstrap interval over
videos, against chance 0.5.

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


REGIONS = ("crop", "mask")


@dataclass(frozen=True)
class ActiveSettings:
    """How each object's view is cut (config ``avsync.active``)."""

    region: str = "crop"  # crop: a window that follows the object, resized; mask: the full frame, the rest still
    margin: float = 0.5  # grow the object's box by this share of its width / height on each side
    min_size: float = 0.3  # crop: at least this share of the frame's height

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"avsync.active.region must be one of {', '.join(REGIONS)}, not {self.region!r}")

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> ActiveSettings:
        sec = section or {}
        return cls(
            region=str(sec.get("region", cls.region)),
            margin=float(sec.get("margin", cls.margin)),
            min_size=float(sec.get("min_size", cls.min_size)),
        )


def crop_size(boxes: np.ndarray, size: tuple[int, int], a: ActiveSettings) -> tuple[int, int]:
    """The size (w, h) of a tracking crop for the boxes (L, 4) of one window: the largest box grown
    by ``margin`` on each side, at least ``min_size`` of the frame height, at the frame's aspect
    ratio, at most the frame."""
    W, H = int(size[0]), int(size[1])
    b = np.asarray(boxes, float)
    w = float((b[:, 2] - b[:, 0]).max()) * (1 + 2 * a.margin)
    h = float((b[:, 3] - b[:, 1]).max()) * (1 + 2 * a.margin)
    h = min(max(h, w * H / W, a.min_size * H, 2.0), float(H))
    w = min(h * W / H, float(W))
    return max(2, int(round(w))), max(2, int(round(h)))


def place(box: np.ndarray, cw: int, ch: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A ``cw`` x ``ch`` window (integer pixel edges x0, y0, x1, y1) centred on ``box``, moved inside the frame."""
    W, H = int(size[0]), int(size[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    left = int(round(min(max(cx - cw / 2, 0), W - cw)))
    top = int(round(min(max(cy - ch / 2, 0), H - ch)))
    return left, top, left + cw, top + ch


def object_view(frames: np.ndarray, boxes: np.ndarray, a: ActiveSettings) -> np.ndarray:
    """One object's view of a window, (L, H, W, 3) uint8 like ``frames``, from its per-frame boxes (L, 4):

    - ``crop`` (SyncNet's face track): in every frame, a window of :func:`crop_size` centred on that
      frame's box, resized to the frame's size;
    - ``mask``: the full frame, everything but the box grown by ``margin`` replaced by the window's
      per-pixel temporal median (the still background: what moves elsewhere, the other object, is gone).
    """
    L, H, W = frames.shape[:3]
    if a.region == "crop":
        cw, ch = crop_size(boxes, (W, H), a)
        out = []
        for f, b in zip(frames, boxes):
            x0, y0, x1, y1 = place(b, cw, ch, (W, H))
            out.append(cv2.resize(np.ascontiguousarray(f[y0:y1, x0:x1]), (W, H), interpolation=cv2.INTER_LINEAR))
        return np.stack(out)
    still = np.median(frames, axis=0).round().astype(np.uint8)
    out = np.repeat(still[None], L, axis=0)
    for i, b in enumerate(boxes):
        gw, gh = (b[2] - b[0]) * a.margin, (b[3] - b[1]) * a.margin
        x0, y0 = max(0, int(np.floor(b[0] - gw))), max(0, int(np.floor(b[1] - gh)))
        x1, y1 = min(W, int(np.ceil(b[2] + gw))), min(H, int(np.ceil(b[3] + gh)))
        out[i, y0:y1, x0:x1] = frames[i, y0:y1, x0:x1]
    return out


def clip_boxes(meta: dict[str, Any], gt: dict[str, Any], prefix: str, k0: int, clip_frames: int) -> np.ndarray | None:
    """The boxes (frame coordinates) of object ``prefix`` in the stored frames ``k0 ..
    k0 + clip_frames - 1``, (clip_frames, 4); a frame where it is hidden (black frame, out of the
    crop) takes the box of the nearest frame where it is seen. None when it is not seen in the
    clip's middle frame."""
    region = (meta.get("geometry") or {}).get("region")
    size = tuple(int(v) for v in meta["size"])
    fps_src, n_src = float(gt["spec"]["fps"]), int(gt["n_frames"])
    boxes: list[np.ndarray | None] = []
    for k in range(k0, k0 + clip_frames):
        j = source_frame(float(meta["t_start"]) + frame_time(meta, k), fps_src, n_src)
        box = shard_box(gt[f"{prefix}_box_frame"][j], region, size) if gt[f"{prefix}_visible"][j] else None
        boxes.append(box if box is not None and box_mask(box, size).any() else None)
    if boxes[clip_frames // 2] is None:
        return None
    seen = [i for i, b in enumerate(boxes) if b is not None]
    return np.stack([boxes[min(seen, key=lambda s: abs(s - i))] for i in range(clip_frames)])


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
    frames = np.asarray(sample["frames"])
    judged = []
    audio_cache: dict[int, np.ndarray] | None = None
    for i, _ in enumerate(OBJECTS):
        fr = frames.copy()
        for k in keep:
            fr[k : k + clip_frames] = object_view(frames[k : k + clip_frames], boxes[k][i], a)
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
