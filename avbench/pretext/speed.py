"""Playback speed: which frame stride a clip was sampled with (as in SpeedNet, Benaim et al.,
CVPR 2020, and the playback-rate pretexts of Yao et al., CVPR 2020; seed 001 lists playback speed
among the temporal pretexts).

A training item is one clip of ``clip_frames`` frames (the pretraining clip, the one evaluation
scores) taken every ``stride`` frames, ``stride`` drawn uniformly from ``strides`` (default 1, 2,
4: the video played at 1x, 2x, 4x); the class is the stride's index (chance ``1 / len(strides)``).
The clip's window, ``(clip_frames - 1) * stride + 1`` contiguous frames, is drawn with
motion-based sampling (:mod:`avbench.pretext.motion`: a still window has no speed). A video is
usable only when it holds the window of the largest stride, so that every video gives every class
and no class is told by which videos it comes from (16 frames at stride 4: 61 frames, 3.8 s at
16 fps). The shared video encoder's pooled features go into an MLP over the speed classes.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import ClassificationPretext, PretrainModel, mlp
from avbench.pretext.motion import window_start
from avbench.shards.loader import View, usable


def speed_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    clip_frames: int,
    strides: tuple[int, ...],
    motion_sampling: bool,
) -> dict[str, Any] | None:
    """One clip at a random speed: ``video_speed`` uint8 (clip_frames, H, W, 3), frames ``start +
    stride * k``, ``speed`` (the index of ``stride`` in ``strides``), ``label``, ``start``. None
    when the sample has no window of the drawn stride."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    c = int(rng.integers(len(strides)))
    stride = int(strides[c])
    span = (clip_frames - 1) * stride + 1
    k0 = window_start(frames, meta, span, rng, motion_sampling=motion_sampling)
    if k0 is None:
        return None
    idx = k0 + stride * np.arange(clip_frames)
    return {"video_speed": np.asarray(frames[idx]), "speed": c, "label": int(meta.get("label_idx", -1)), "start": k0}


class SpeedHead(nn.Module):
    """Pooled clip features -> MLP -> one logit per speed class. Input (B, D)."""

    def __init__(self, *, dim: int, n_speeds: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp = mlp(dim, n_speeds, hidden)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(f)


class Speed(ClassificationPretext):
    """Which frame stride (playback speed) a clip was sampled with: ``speed``."""

    name = "speed"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.strides = tuple(int(v) for v in s.get("strides", (1, 2, 4)))
        if len(self.strides) < 2 or min(self.strides) < 1 or len(set(self.strides)) != len(self.strides):
            raise ValueError(f"speed.strides must be 2 or more distinct positive strides, not {list(self.strides)}")
        self.motion_sampling = bool(s.get("motion_sampling", True))

    def span(self) -> int:
        """Frames of the window of the largest stride."""
        return (self.clip_frames - 1) * max(self.strides) + 1

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.span(), audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(
            speed_view, clip_frames=self.clip_frames, strides=self.strides, motion_sampling=self.motion_sampling
        )

    def heldout_view(self) -> View:
        return functools.partial(speed_view, clip_frames=self.clip_frames, strides=self.strides, motion_sampling=False)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return SpeedHead(dim=dims["video"], n_speeds=len(self.strides), hidden=int(self.settings().get("hidden", 128)))

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return model.head(model.encode("video", batch["video_speed"])), batch["speed"]
