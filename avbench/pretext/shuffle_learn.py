"""Shuffle & Learn: temporal order verification (Misra, Zitnick & Hebert, ECCV 2016).

From a high-motion window of a video (motion-based sampling: windows drawn with probability
proportional to their frame-difference energy, :mod:`avbench.pretext.motion`), five ordered
positions ``p1 < p2 < p3 < p4 < p5`` are drawn. The positive tuple is ``(p2, p3, p4)``; the
negative replaces the middle by a position outside the interval, ``(p2, p1, p4)`` or
``(p2, p5, p4)`` (:func:`order_tuples`). Both tuples are read backwards with probability 1/2, so
that the question is the paper's geometric one, "given a start and an end, can this point lie in
between?", and not the arrow of time.

Each position is a short **snippet** of ``snippet_frames`` frames (the paper used single frames
and a 2D CNN; snippets let the video encoder that evaluation scores be the one trained, and its
input mean-subtraction needs more than one frame). One video encoder is shared by every element
and the features are concatenated into an MLP that says ordered (1) or not (0). Every item gives
one positive and one negative tuple, so chance is exactly 50%.

``pairing``: ``independent`` encodes the three snippets one by one (the paper's siamese towers);
``pairs`` (default) encodes the two consecutive pairs, ``a|b`` and ``b|c`` joined in time. The
encoders here pool globally over space (max pooling, so that a small object dominates), which
throws away *where* things are: independently encoded snippets carry the motion inside each
snippet but not the positions that betweenness is about, and the task stays at chance (measured
on the default data and on the test world). A joined pair shows the jump from one element to the
next, which the convolutions see locally: in an ordered tuple the two jumps continue each other,
in a negative one the second comes back.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import ClassificationPretext, PretrainModel, positives_negatives
from avbench.pretext.motion import frame_motion, motion_weighted_choice, window_motion
from avbench.shards.loader import View, clip_starts, usable


def order_tuples(n_positions: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A positive and a negative tuple of positions in ``range(n_positions)`` (needs >= 5).

    Draws five distinct sorted positions p1 < ... < p5; positive (p2, p3, p4), negative (p2, p1, p4)
    or (p2, p5, p4) with equal probability; each tuple is reversed with probability 1/2.
    Returns (positive int64 (3,), negative int64 (3,)).
    """
    if n_positions < 5:
        raise ValueError(f"order tuples need at least 5 positions, got {n_positions}")
    p = np.sort(rng.choice(n_positions, size=5, replace=False))
    pos = np.array([p[1], p[2], p[3]])
    neg = np.array([p[1], p[0] if rng.random() < 0.5 else p[4], p[3]])
    if rng.random() < 0.5:
        pos = pos[::-1].copy()
    if rng.random() < 0.5:
        neg = neg[::-1].copy()
    return pos.astype(np.int64), neg.astype(np.int64)


def is_ordered(t: np.ndarray) -> bool:
    """Whether the middle position of a tuple lies between its ends (the positive class)."""
    a, b, c = (int(v) for v in t)
    return min(a, c) < b < max(a, c)


def shuffle_learn_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    snippet_frames: int,
    window_frames: int,
    motion_sampling: bool,
    pairing: str = "pairs",
) -> dict[str, Any] | None:
    """One positive and one negative tuple of snippets from one window of contiguous frames:
    ``video_pos`` and ``video_neg`` uint8 (3, snippet_frames, H, W, 3) (``pairing="independent"``)
    or (2, 2 * snippet_frames, H, W, 3), the pairs a|b and b|c joined in time (``"pairs"``),
    ``label``, ``start`` (the window's first frame). None when the sample has no window of
    ``window_frames`` frames."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    starts = clip_starts(meta, window_frames)
    if not starts:
        return None
    if motion_sampling and len(starts) > 1:
        w0 = motion_weighted_choice(starts, window_motion(frame_motion(frames), starts, window_frames), rng)
    else:
        w0 = int(starts[int(rng.integers(len(starts)))])
    pos, neg = order_tuples(window_frames - snippet_frames + 1, rng)

    def snippets(t: np.ndarray) -> np.ndarray:
        s = np.stack([np.asarray(frames[w0 + int(k) : w0 + int(k) + snippet_frames]) for k in t])
        return s if pairing == "independent" else np.stack([np.concatenate([s[0], s[1]]), np.concatenate([s[1], s[2]])])

    return {
        "video_pos": snippets(pos),
        "video_neg": snippets(neg),
        "label": int(meta.get("label_idx", -1)),
        "start": w0,
    }


class OrderHead(nn.Module):
    """Concatenated features of a tuple's ``n`` elements -> MLP -> 2 logits. Input (B, n, D); output (B, 2)."""

    def __init__(self, *, dim: int, hidden: int = 128, n: int = 3) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n * dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(f.flatten(1))


class ShuffleLearn(ClassificationPretext):
    """Temporal order verification of snippet triplets: ``shuffle_learn``."""

    name = "shuffle_learn"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.snippet_frames = int(s.get("snippet_frames", 4))
        self.window_frames = int(s.get("window_frames", 24))
        self.motion_sampling = bool(s.get("motion_sampling", True))
        self.pairing = str(s.get("pairing", "pairs"))
        if self.pairing not in ("pairs", "independent"):
            raise ValueError(f"unknown shuffle_learn.pairing {self.pairing!r}")
        if self.window_frames - self.snippet_frames + 1 < 5:
            raise ValueError("shuffle_learn.window_frames must leave room for 5 snippet positions")

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.window_frames, audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(
            shuffle_learn_view,
            snippet_frames=self.snippet_frames,
            window_frames=self.window_frames,
            motion_sampling=self.motion_sampling,
            pairing=self.pairing,
        )

    def heldout_view(self) -> View:
        return functools.partial(
            shuffle_learn_view,
            snippet_frames=self.snippet_frames,
            window_frames=self.window_frames,
            motion_sampling=False,
            pairing=self.pairing,
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return OrderHead(
            dim=dims["video"],
            hidden=int(self.settings().get("hidden", 128)),
            n=3 if self.pairing == "independent" else 2,
        )

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        # (2B, 3 or 2, C, T, H, W): ordered 1, shuffled 0
        return positives_negatives(model, "video", batch["video_pos"], batch["video_neg"])
