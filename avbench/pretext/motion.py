"""Motion-based sampling shared by the temporal-order pretext tasks (shuffle & learn, odd-one-out,
arrow of time): informative training items come from windows where something moves (seed 002:
"important to select informative data ... heuristics, e.g. motion energy")."""

from __future__ import annotations

from typing import Any

import numpy as np

from avbench.shards.loader import clip_starts


def frame_motion(frames: np.ndarray) -> np.ndarray:
    """Motion energy between consecutive frames: mean absolute difference of the luma.
    frames: uint8 (T, H, W, 3) (or the shards' lazily decoded JPEG frames). Returns float32
    (T - 1,), entry k between frames k and k + 1."""
    if len(frames) < 2:
        return np.zeros(0, np.float32)
    y = np.asarray(frames).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.abs(np.diff(y, axis=0)).reshape(len(frames) - 1, -1).mean(1)


def window_motion(motion: np.ndarray, starts: list[int], length: int) -> np.ndarray:
    """Summed ``motion`` (per transition, (T-1,)) over the transitions inside each window
    ``[s, s + length)`` of frames. Returns float64 (len(starts),)."""
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(motion, np.float64))])
    n = len(csum) - 1
    return np.array([csum[min(n, s + length - 1)] - csum[min(n, s)] for s in starts])


def motion_weighted_choice(
    starts: list[int], score: np.ndarray, rng: np.random.Generator, *, floor: float = 0.1
) -> int:
    """One of ``starts``, drawn with probability proportional to ``score`` plus ``floor`` times the
    mean score (so that still windows stay possible, and a video without motion is uniform)."""
    score = np.asarray(score, np.float64)
    p = score + floor * (score.mean() + 1e-6)
    return int(starts[int(rng.choice(len(starts), p=p / p.sum()))])


def window_start(
    frames: np.ndarray, meta: dict[str, Any], span: int, rng: np.random.Generator, *, motion_sampling: bool
) -> int | None:
    """The first frame of a window of ``span`` contiguous frames of a sample (None: no such window):
    drawn by :func:`motion_weighted_choice` over the windows' frame-difference energy with
    ``motion_sampling``, uniformly otherwise."""
    starts = clip_starts(meta, span)
    if not starts:
        return None
    if motion_sampling and len(starts) > 1:
        return motion_weighted_choice(starts, window_motion(frame_motion(frames), starts, span), rng)
    return int(starts[int(rng.integers(len(starts)))])
