"""Sequence sorting: the Order Prediction Network (Lee, Huang, Singh & Yang, ICCV 2017).

From a window of contiguous frames (drawn with motion-based sampling, as OPN samples its
candidate tuples by motion magnitude, :mod:`avbench.pretext.motion`), four non-overlapping
positions ``p0 < p1 < p2 < p3`` are drawn (:func:`sorting_positions`) and shown in a shuffled
order: slot ``j`` holds the element ``perm[j]`` of the sorted sequence, ``perm`` one of the 24
permutations of four. OPN counts a sequence and its reverse as the same order (which way time
runs is often ambiguous), so the 24 permutations fall into 12 classes, one per pair ``{perm,
reversed perm}`` (:data:`SORT_CLASSES`, the member with ``perm[0] < perm[3]``); the view draws
one of the 24 uniformly, so both members of a class are equally frequent and chance is 1/12.

Each element is a short **snippet** of ``snippet_frames`` frames (OPN used single frames and a 2D
CNN; the video encoder here subtracts each clip's mean frame, which leaves nothing of a single
frame, and it is the encoder that evaluation scores). One video encoder is shared by the four
elements; the head fuses them (``fusion``):

- ``differences`` (default): OPN's pairwise feature differences, ``f_i - f_j`` for the six slot
  pairs ``i < j``, concatenated (6 D) into an MLP with 12 outputs;
- ``pairs``: the six slot pairs ``i < j`` are each encoded as one clip, snippet ``i`` then snippet
  ``j`` joined in time (closer to OPN's pairwise feature extraction, a layer on both frames of a
  pair), the six features concatenated into the MLP. The encoders pool globally over space, so
  snippets encoded one by one keep the motion inside each snippet but not *where* things are
  (the reason shuffle & learn joins its pairs, :mod:`avbench.pretext.shuffle_learn`); a joined
  pair shows the jump from one element to the other. It costs 3x the encoder passes.

Measured on the tests' tiny world (48 videos, ``small3d`` [8, 16, 32, 32], 20-frame windows, 10
steps of 16 an epoch; training accuracy on each epoch's fresh views, chance 8.3%): after 6 epochs
both fusions are near chance (``differences`` 4-11%, ``pairs`` 11-13%); after 16, ``differences``
reaches 15% and ``pairs`` 28-35%.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import ClassificationPretext, PretrainModel, mlp
from avbench.pretext.motion import frame_motion, motion_weighted_choice, window_motion
from avbench.shards.loader import View, clip_starts, usable

N_ELEMENTS = 4
# The 12 orders of four elements up to reversal: the member of each {perm, reversed perm} pair
# with perm[0] < perm[3], in lexicographic order. Class c is SORT_CLASSES[c] and its reverse.
SORT_CLASSES: tuple[tuple[int, ...], ...] = tuple(p for p in itertools.permutations(range(N_ELEMENTS)) if p[0] < p[-1])
_CLASS_OF = {**{p: c for c, p in enumerate(SORT_CLASSES)}, **{p[::-1]: c for c, p in enumerate(SORT_CLASSES)}}
PAIRS: tuple[tuple[int, int], ...] = tuple(itertools.combinations(range(N_ELEMENTS), 2))


def sort_class(perm: Any) -> int:
    """The class (index in :data:`SORT_CLASSES`) of an order of four elements, the same for an
    order and its reverse."""
    return _CLASS_OF[tuple(int(v) for v in perm)]


def sorting_positions(window_frames: int, snippet_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Four sorted, non-overlapping snippet starts in a window: int64 (4,), ``p[i+1] - p[i] >=
    snippet_frames`` and ``p[3] + snippet_frames <= window_frames``, uniform over such choices."""
    free = window_frames - N_ELEMENTS * snippet_frames + N_ELEMENTS  # values the gaps can take, plus 4
    if free < N_ELEMENTS:
        raise ValueError(f"a window of {window_frames} frames holds no {N_ELEMENTS} snippets of {snippet_frames}")
    q = np.sort(rng.choice(free, size=N_ELEMENTS, replace=False))
    return (q + np.arange(N_ELEMENTS) * (snippet_frames - 1)).astype(np.int64)


def sorting_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    snippet_frames: int,
    window_frames: int,
    motion_sampling: bool,
    fusion: str = "differences",
) -> dict[str, Any] | None:
    """Four snippets of one window in a shuffled order: ``video_snippets`` uint8 (4, snippet_frames,
    H, W, 3) (slot j holds the sorted sequence's element ``perm[j]``; ``fusion="pairs"``: (6, 2 *
    snippet_frames, H, W, 3), slot pairs i < j joined in time, in :data:`PAIRS` order), ``order``
    (the class, :func:`sort_class` of ``perm``), ``perm`` int64 (4,), ``label``, ``start`` (the
    window's first frame). None when the sample has no window of ``window_frames`` frames."""
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
    pos = sorting_positions(window_frames, snippet_frames, rng)
    perm = rng.permutation(N_ELEMENTS).astype(np.int64)
    s = np.stack([np.asarray(frames[w0 + int(pos[k]) : w0 + int(pos[k]) + snippet_frames]) for k in perm])
    if fusion == "pairs":
        s = np.stack([np.concatenate([s[i], s[j]]) for i, j in PAIRS])
    return {
        "video_snippets": s,
        "order": sort_class(perm),
        "perm": perm,
        "label": int(meta.get("label_idx", -1)),
        "start": w0,
    }


def pairwise_differences(f: torch.Tensor) -> torch.Tensor:
    """OPN fusion: ``f_i - f_j`` for the slot pairs i < j (:data:`PAIRS` order), concatenated.
    f: (B, N, D) -> (B, N (N - 1) / 2 * D)."""
    i, j = zip(*itertools.combinations(range(f.shape[1]), 2))
    return (f[:, list(i)] - f[:, list(j)]).flatten(1)


class SortingHead(nn.Module):
    """Fusion (``differences``: input (B, 4, D); ``pairs``: (B, 6, D)) then an MLP -> 12 logits."""

    def __init__(self, *, dim: int, fusion: str = "differences", hidden: int = 128) -> None:
        super().__init__()
        if fusion not in ("differences", "pairs"):
            raise ValueError(f"unknown sorting fusion {fusion!r}")
        self.fusion = fusion
        self.mlp = mlp(len(PAIRS) * dim, len(SORT_CLASSES), hidden)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(pairwise_differences(f) if self.fusion == "differences" else f.flatten(1))


class Sorting(ClassificationPretext):
    """Order of four shuffled snippets, up to reversal (12 classes): ``sorting``."""

    name = "sorting"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.snippet_frames = int(s.get("snippet_frames", 4))
        self.window_frames = int(s.get("window_frames", 24))
        self.motion_sampling = bool(s.get("motion_sampling", True))
        self.fusion = str(s.get("fusion", "differences"))
        if self.fusion not in ("differences", "pairs"):
            raise ValueError(f"unknown sorting.fusion {self.fusion!r}")
        if self.window_frames < N_ELEMENTS * self.snippet_frames:
            raise ValueError("sorting.window_frames must hold 4 snippets of sorting.snippet_frames frames")

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.window_frames, audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(
            sorting_view,
            snippet_frames=self.snippet_frames,
            window_frames=self.window_frames,
            motion_sampling=self.motion_sampling,
            fusion=self.fusion,
        )

    def heldout_view(self) -> View:
        return functools.partial(
            sorting_view,
            snippet_frames=self.snippet_frames,
            window_frames=self.window_frames,
            motion_sampling=False,
            fusion=self.fusion,
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return SortingHead(dim=dims["video"], fusion=self.fusion, hidden=int(self.settings().get("hidden", 128)))

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return model.head(model.encode("video", batch["video_snippets"])), batch["order"]
