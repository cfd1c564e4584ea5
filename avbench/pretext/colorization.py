"""Colorization as tracking (Vondrick, Shrivastava, Fathi, Guadarrama, Murphy, ECCV 2018; seed 001
lists it among the correspondence methods).

The model sees two grey clips of one video, a *reference* and a *target* ``gap`` frames later,
and must colour the target by copying colours from the reference: each target position attends
over the reference positions (softmax of the cosine similarity of their features at
``temperature``) and takes the attention-weighted mix of their colours. The colours are quantized
(``bins`` x ``bins`` cells of an opponent colour plane, ``a = R - G``, ``b = (R + G) / 2 - B``,
luminance left out since the input shows it), the loss is the cross-entropy of the copied colour
distribution at each target position. The only way to colour a moved object right is to find
it: tracking emerges, and the features are what mask propagation uses
(:mod:`avbench.evaluate.propagation`).

Features: the video encoder's intermediate map (:func:`avbench.models.video.stage_features`) of a
clip of ``map_frames`` frames at each end, averaged over its time axis, at the map's resolution
(the colours are averaged to it). Metrics: ``pretext_acc`` (colour right at every target
position), ``copy_acc`` (what copying the colour at the same position gets: the no-tracking
baseline), ``moved_acc`` (accuracy where the colour changed between the two, 0 for copying).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avbench.models.video import stage_features
from avbench.pretext.base import PretrainModel, Pretext
from avbench.pretext.motion import window_start
from avbench.shards.loader import View, usable

COLOR_RANGE = 0.6  # the opponent plane's cells cover [-0.6, 0.6] on each axis (beyond: the edge cells)


def colorization_view(
    sample: dict[str, Any], rng: np.random.Generator, *, map_frames: int, max_gap: int, motion_sampling: bool
) -> dict[str, Any] | None:
    """A reference and a target clip of ``map_frames`` frames, the target ``gap`` (1..max_gap,
    uniform) frames later: ``video_ref``, ``video_tgt`` uint8 (map_frames, H, W, 3), ``gap``."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    gap = int(rng.integers(1, max_gap + 1))
    span = gap + map_frames
    k0 = window_start(frames, meta, span, rng, motion_sampling=motion_sampling)
    if k0 is None:
        return None
    return {
        "video_ref": np.asarray(frames[k0 : k0 + map_frames]),
        "video_tgt": np.asarray(frames[k0 + gap : k0 + gap + map_frames]),
        "gap": gap,
        "label": int(meta.get("label_idx", -1)),
    }


def quantize_colors(rgb: torch.Tensor, bins: int) -> torch.Tensor:
    """Colour classes of RGB in [0, 1]: (B, 3, h, w) -> int64 (B, h, w) in ``[0, bins**2)``."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    a = r - g
    o = (r + g) / 2 - b
    qa = ((a + COLOR_RANGE) / (2 * COLOR_RANGE) * bins).floor().clamp(0, bins - 1).long()
    qo = ((o + COLOR_RANGE) / (2 * COLOR_RANGE) * bins).floor().clamp(0, bins - 1).long()
    return qa * bins + qo


def grey(clip: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) colour -> its luminance in all three channels (what the encoder sees)."""
    y = 0.299 * clip[:, 0] + 0.587 * clip[:, 1] + 0.114 * clip[:, 2]
    return y[:, None].expand(-1, 3, -1, -1, -1)


def copy_colors(
    f_tgt: torch.Tensor, f_ref: torch.Tensor, c_ref: torch.Tensor, n_colors: int, temperature: float
) -> torch.Tensor:
    """Copied colour distributions: features (B, C, h, w) of the target and the reference, the
    reference's colour classes (B, h, w) -> probabilities (B, h*w, n_colors)."""
    q = F.normalize(f_tgt.flatten(2), dim=1)  # (B, C, N)
    k = F.normalize(f_ref.flatten(2), dim=1)
    att = torch.softmax(q.transpose(1, 2) @ k / temperature, dim=-1)  # (B, N target, N reference)
    onehot = F.one_hot(c_ref.flatten(1), n_colors).float()  # (B, N, K)
    return att @ onehot


class Colorization(Pretext):
    """Colour the target clip from the reference clip through attention (module doc)."""

    name = "colorization"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.map_frames = int(s.get("map_frames", 4))
        self.max_gap = int(s.get("max_gap", 8))
        self.bins = int(s.get("bins", 4))
        self.temperature = float(s.get("temperature", 0.1))
        self.motion_sampling = bool(s.get("motion_sampling", True))
        if self.map_frames < 1 or self.max_gap < 1 or self.bins < 2 or self.temperature <= 0:
            raise ValueError("colorization: map_frames >= 1, max_gap >= 1, bins >= 2 and temperature > 0")

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.map_frames + self.max_gap, audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(
            colorization_view, map_frames=self.map_frames, max_gap=self.max_gap, motion_sampling=self.motion_sampling
        )

    def heldout_view(self) -> View:
        return functools.partial(
            colorization_view, map_frames=self.map_frames, max_gap=self.max_gap, motion_sampling=False
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return nn.Identity()  # no head: the copy through attention is the whole model

    def _copy(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(copied distributions (B, N, K), target colours (B, N), reference colours (B, N))."""
        stage = stage_features(model.encoders["video"])
        ref, tgt = batch["video_ref"], batch["video_tgt"]
        f_ref = stage(grey(ref)).mean(2)
        f_tgt = stage(grey(tgt)).mean(2)
        size = f_ref.shape[-2:]
        c_ref = quantize_colors(F.adaptive_avg_pool2d(ref[:, :, 0], size), self.bins)
        c_tgt = quantize_colors(F.adaptive_avg_pool2d(tgt[:, :, 0], size), self.bins)
        probs = copy_colors(f_tgt, f_ref, c_ref, self.bins**2, self.temperature)
        return probs, c_tgt.flatten(1), c_ref.flatten(1)

    @staticmethod
    def _metrics(probs: torch.Tensor, c_tgt: torch.Tensor, c_ref: torch.Tensor) -> dict[str, float]:
        right = probs.argmax(-1) == c_tgt
        moved = c_ref != c_tgt
        return {
            "pretext_acc": float(right.float().mean()),
            "copy_acc": float((~moved).float().mean()),
            "moved_acc": float(right[moved].float().mean()) if bool(moved.any()) else float("nan"),
        }

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        probs, c_tgt, c_ref = self._copy(model, batch)
        nll = -torch.log(probs.gather(-1, c_tgt[..., None])[..., 0].clamp_min(1e-6))
        return nll.mean(), self._metrics(probs.detach(), c_tgt, c_ref)

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        return self._metrics(*self._copy(model, batch))
