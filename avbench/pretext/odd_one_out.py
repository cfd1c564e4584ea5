"""Odd-One-Out networks (Fernando, Bilen, Gavves & Gould, CVPR 2017).

A question is ``n_clips`` clips of one video, each ``clip_frames`` frames taken every ``stride``
frames; one of them (the odd one, at a random position) has its frames in a shuffled order
(neither the original nor the reversed order), the others are in order (:func:`odd_question`).
A shared video encoder embeds every clip; the features are fused and a classifier finds the odd
one (``n_clips``-way; chance ``1 / n_clips``). Clip positions are drawn with motion-based sampling
(the same for every clip, so that the odd clip cannot be told by its motion energy).

Fusion (``fusion``):

- ``sod``: O3N's sum of differences, ``sum_{i<j} (f_j - f_i) = sum_i (2i - N + 1) f_i`` (D,): with
  N - 1 alike clips this is the odd clip's deviation times a weight that encodes its position;
- ``concat``: the concatenated features (N * D,).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import ClassificationPretext, PretrainModel
from avbench.pretext.motion import frame_motion, motion_weighted_choice, window_motion
from avbench.shards.loader import View, clip_starts, usable


def shuffled_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` (n >= 3) that is neither the identity nor its reverse."""
    if n < 3:
        raise ValueError("a shuffled order needs at least 3 frames")
    ident = np.arange(n)
    while True:
        p = rng.permutation(n)
        if not (np.array_equal(p, ident) or np.array_equal(p, ident[::-1])):
            return p


def odd_question(
    starts: list[int],
    *,
    n_clips: int,
    clip_frames: int,
    stride: int,
    rng: np.random.Generator,
    score: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Frame indices of one odd-one-out question: (int64 (n_clips, clip_frames), odd position).

    ``starts``: frames where a window of ``(clip_frames - 1) * stride + 1`` contiguous frames can
    begin; ``score``: their motion (motion-weighted draws) or None (uniform). Clip ``i`` reads
    ``start_i + stride * order_i``; ``order`` is ``arange(clip_frames)`` except for the odd clip,
    which has :func:`shuffled_order`.
    """
    odd = int(rng.integers(n_clips))
    out = np.empty((n_clips, clip_frames), np.int64)
    for i in range(n_clips):
        s0 = (
            motion_weighted_choice(starts, score, rng)
            if score is not None
            else int(starts[int(rng.integers(len(starts)))])
        )
        order = shuffled_order(clip_frames, rng) if i == odd else np.arange(clip_frames)
        out[i] = s0 + stride * order
    return out, odd


def odd_one_out_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    n_clips: int,
    clip_frames: int,
    stride: int,
    motion_sampling: bool,
) -> dict[str, Any] | None:
    """``video_clips`` uint8 (n_clips, clip_frames, H, W, 3), ``odd`` (position of the shuffled
    clip), ``label``. None when the sample is too short."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    span = (clip_frames - 1) * stride + 1
    starts = clip_starts(meta, span)
    if not starts:
        return None
    score = window_motion(frame_motion(frames), starts, span) if motion_sampling and len(starts) > 1 else None
    idx, odd = odd_question(starts, n_clips=n_clips, clip_frames=clip_frames, stride=stride, rng=rng, score=score)
    return {"video_clips": np.stack([frames[row] for row in idx]), "odd": odd, "label": int(meta.get("label_idx", -1))}


def sum_of_differences(f: torch.Tensor) -> torch.Tensor:
    """O3N fusion: ``sum_{i<j} (f_j - f_i)`` over the clip axis. f: (B, N, D) -> (B, D)."""
    n = f.shape[1]
    w = 2 * torch.arange(n, device=f.device, dtype=f.dtype) - (n - 1)
    return (f * w[None, :, None]).sum(1)


class OddOneOutHead(nn.Module):
    """Fusion (``sod`` or ``concat``) then an MLP -> ``n_clips`` logits. Input (B, N, D)."""

    def __init__(self, *, dim: int, n_clips: int, fusion: str = "sod", hidden: int = 128) -> None:
        super().__init__()
        if fusion not in ("sod", "concat"):
            raise ValueError(f"unknown odd-one-out fusion {fusion!r}")
        self.fusion = fusion
        d_in = dim if fusion == "sod" else n_clips * dim
        self.mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_clips))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(sum_of_differences(f) if self.fusion == "sod" else f.flatten(1))


class OddOneOut(ClassificationPretext):
    """Find the shuffled clip among ``n_clips``: ``odd_one_out``."""

    name = "odd_one_out"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.n_clips = int(s.get("n_clips", 4))
        self.o3n_frames = int(s.get("clip_frames", 8))
        self.stride = int(s.get("stride", 2))
        self.fusion = str(s.get("fusion", "sod"))
        self.motion_sampling = bool(s.get("motion_sampling", True))

    def span(self) -> int:
        return (self.o3n_frames - 1) * self.stride + 1

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.span(), audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(
            odd_one_out_view,
            n_clips=self.n_clips,
            clip_frames=self.o3n_frames,
            stride=self.stride,
            motion_sampling=self.motion_sampling,
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return OddOneOutHead(
            dim=dims["video"], n_clips=self.n_clips, fusion=self.fusion, hidden=int(self.settings().get("hidden", 128))
        )

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return model.head(model.encode("video", batch["video_clips"])), batch["odd"]
