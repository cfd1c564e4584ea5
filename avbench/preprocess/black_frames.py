"""Fully black frames: detection on the luma plane, and which frames of a window to keep.

A frame is black when at least ``min_fraction`` of its (subsampled) luma pixels are at or below
``max_luma`` (the definition of FFmpeg's ``blackdetect``: ``pix_th`` and ``picture_black_ratio_th``).
Black runs at the start and at the end of a window are *trimmed* (the window shrinks, audio with
it, so audio and video stay in sync); black runs inside the window are *dropped* (the remaining
frames keep their times, so the stored frame times show a gap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def is_black(luma: np.ndarray, *, max_luma: float, min_fraction: float = 0.98, step: int = 8) -> bool:
    """Whether a frame is black. luma: uint8 (H, W) Y plane; ``max_luma`` in its units.

    Every ``step``-th pixel of every ``step``-th row is looked at (exact for uniform frames).
    """
    sub = luma[::step, ::step]
    if sub.size == 0:
        return False
    n_dark = int(np.count_nonzero(sub <= max_luma))
    return n_dark >= min_fraction * sub.size


@dataclass
class BlackPlan:
    """What to keep of a window of ``n`` frames given their black flags.

    keep: int (K,) indices of the frames kept, increasing; ``lead``/``trail``: black frames
    trimmed at the start/end; ``dropped``: ``[(start, end, reason)]`` with ``end`` exclusive and
    reason ``black_lead_in``, ``black_interior`` or ``black_lead_out``.
    """

    n: int
    keep: np.ndarray
    lead: int = 0
    trail: int = 0
    dropped: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def all_black(self) -> bool:
        return self.n > 0 and len(self.keep) == 0


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def plan_black_frames(black: np.ndarray) -> BlackPlan:
    """Frames to keep given black flags ``black``: bool (T,)."""
    black = np.asarray(black, dtype=bool)
    n = len(black)
    if n == 0:
        return BlackPlan(n=0, keep=np.zeros(0, np.int64))
    if black.all():
        return BlackPlan(n=n, keep=np.zeros(0, np.int64), lead=n, trail=0, dropped=[(0, n, "black_all")])
    dropped: list[tuple[int, int, str]] = []
    lead = trail = 0
    for a, b in _runs(black):
        if a == 0:
            lead = b
            dropped.append((a, b, "black_lead_in"))
        elif b == n:
            trail = b - a
            dropped.append((a, b, "black_lead_out"))
        else:
            dropped.append((a, b, "black_interior"))
    keep = np.flatnonzero(~black).astype(np.int64)
    return BlackPlan(n=n, keep=keep, lead=lead, trail=trail, dropped=dropped)
