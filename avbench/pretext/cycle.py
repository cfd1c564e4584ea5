"""Cycle-consistent tracking as a contrastive random walk (Jabri, Owens & Efros, NeurIPS 2020, the
successor of Wang, Jabri & Efros, CVPR 2019 "Learning correspondence from the cycle-consistency of
time"; seed 001 lists cycle-consistent tracking among the correspondence methods).

Each position of each frame's feature map is a node of a space-time graph. Between two
consecutive frames the transition matrix ``A[t]`` gives the probability of stepping from node
``i`` of frame ``t`` to node ``j`` of frame ``t + 1``: the softmax over ``j`` of the cosine
similarity of their features at ``temperature``. A walker starting at node ``i`` of the first
frame walks forward through the clip and back again (a palindrome ``0 -> 1 -> ... -> k -> ... ->
1 -> 0``, the backward steps their own softmax over the transposed similarities); the loss is the
cross-entropy of returning to where it started, ``-log P_k[i, i]`` with
``P_k = A[0] ... A[k-1] A'[k-1] ... A'[0]``, averaged over the start nodes and over every
sub-cycle ``k = 1 .. L - 1`` (the paper trains on all of them). The only way to come back is to
follow each point through the frames: tracking emerges without labels. Edge dropout (the paper's
regulariser: a share ``edge_dropout`` of the similarities set to -inf before the softmax) forces
the walk to use more than one path.

Features (as :mod:`avbench.pretext.colorization` and mask propagation use them,
:func:`avbench.evaluate.propagation.encoder_features`): frame ``t``'s map is the video encoder's
intermediate map (:func:`avbench.models.video.stage_features`) of the clip of ``map_frames``
frames starting at ``t``, averaged over its time axis. The view is one run of
``walk_frames + map_frames - 1`` contiguous frames (``walk_frames`` maps). No head: the walk on the
encoder's map is the whole model, so what propagation reads is what the walk trained.

Simplifications against the paper (README "Cycle consistency"): the nodes are the cells of a
dense map rather than independently encoded patches (so zero padding can tell border cells
apart: the walk may learn to stay put there), no feature dropout, no projection head.

Metrics: ``pretext_acc`` (the longest cycle's most likely end is its start), ``step_acc`` (the same
for the one-step cycle ``0 -> 1 -> 0``), ``chance`` (1 / nodes).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avbench.models.video import stage_features
from avbench.pretext.base import PretrainModel, Pretext
from avbench.shards.loader import View, clip_view, usable


def frame_maps(stage: Any, video: torch.Tensor, map_frames: int) -> torch.Tensor:
    """Per-frame maps of a clip: video (B, 3, L + map_frames - 1, H, W) -> (B, L, C, h, w), frame
    ``t``'s map the stage's map of frames ``t .. t + map_frames - 1`` averaged over time."""
    B, _, T, H, W = video.shape
    L = T - map_frames + 1
    if L < 1:
        raise ValueError(f"a clip of {T} frames holds no window of {map_frames}")
    clips = video.unfold(2, map_frames, 1)  # (B, 3, L, H, W, m)
    clips = clips.permute(0, 2, 1, 5, 3, 4).reshape(B * L, 3, map_frames, H, W)
    f = stage(clips).mean(2)
    return f.reshape(B, L, *f.shape[1:])


def transition(
    f_from: torch.Tensor,
    f_to: torch.Tensor,
    temperature: float,
    *,
    edge_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Transition probabilities between the nodes of two frames: L2-normalised features (B, C, N)
    and (B, C, M) -> (B, N, M), each row a softmax of cosine similarity / temperature, with a share
    ``edge_dropout`` of the edges cut (set to -inf) first."""
    aff = f_from.transpose(1, 2) @ f_to / temperature
    if edge_dropout > 0:
        drop = torch.rand(aff.shape, generator=generator, device="cpu").to(aff.device) < edge_dropout
        drop &= ~drop.all(-1, keepdim=True)  # never cut every edge of a node
        aff = aff.masked_fill(drop, float("-inf"))
    return torch.softmax(aff, dim=-1)


def round_trips(
    feats: torch.Tensor,
    temperature: float,
    *,
    edge_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """Round-trip probabilities of the palindrome walks: features (B, L, C, N) (normalised here) ->
    ``[P_1, ..., P_{L-1}]``, ``P_k`` (B, N, N) the probability that a walker leaving node ``i`` of
    frame 0 for frame ``k`` and back ends at node ``j`` of frame 0."""
    f = F.normalize(feats.float(), dim=2)
    L = f.shape[1]
    if L < 2:
        raise ValueError("a walk needs at least two frames")
    out: list[torch.Tensor] = []
    fwd: torch.Tensor | None = None  # frame 0 -> frame k
    back: torch.Tensor | None = None  # frame k -> frame 0
    for t in range(L - 1):
        a = transition(f[:, t], f[:, t + 1], temperature, edge_dropout=edge_dropout, generator=generator)
        b = transition(f[:, t + 1], f[:, t], temperature, edge_dropout=edge_dropout, generator=generator)
        fwd = a if fwd is None else fwd @ a
        back = b if back is None else b @ back
        out.append(fwd @ back)
    return out


def cycle_loss(trips: list[torch.Tensor]) -> torch.Tensor:
    """Mean over the cycles and start nodes of ``-log P_k[i, i]``."""
    losses = [-torch.log(torch.diagonal(p, dim1=-2, dim2=-1).clamp_min(1e-20)).mean() for p in trips]
    return torch.stack(losses).mean()


def cycle_accuracy(p: torch.Tensor) -> float:
    """Share of start nodes whose most likely end is the start: (B, N, N) -> float."""
    n = p.shape[-1]
    return float((p.argmax(-1) == torch.arange(n, device=p.device)).float().mean())


class ContrastiveRandomWalk(Pretext):
    """The contrastive random walk on the video encoder's map (module doc)."""

    name = "crw"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.walk_frames = int(s.get("walk_frames", 6))
        self.map_frames = int(s.get("map_frames", 4))
        self.temperature = float(s.get("temperature", 0.07))
        self.edge_dropout = float(s.get("edge_dropout", 0.1))
        if self.walk_frames < 2 or self.map_frames < 1 or self.temperature <= 0 or not 0 <= self.edge_dropout < 1:
            raise ValueError("crw: walk_frames >= 2, map_frames >= 1, temperature > 0, 0 <= edge_dropout < 1")

    @property
    def span(self) -> int:
        return self.walk_frames + self.map_frames - 1

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.span, audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(clip_view, clip_frames=self.span, audio=False)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return nn.Identity()  # no head: the walk on the encoder's map is the whole model

    def _trips(self, model: PretrainModel, batch: dict[str, Any], *, dropout: float, generator: torch.Generator):
        stage = stage_features(model.encoders["video"])
        maps = frame_maps(stage, batch["video"], self.map_frames)  # (B, L, C, h, w)
        return round_trips(maps.flatten(3), self.temperature, edge_dropout=dropout, generator=generator)

    @staticmethod
    def _metrics(trips: list[torch.Tensor]) -> dict[str, float]:
        return {
            "pretext_acc": cycle_accuracy(trips[-1]),
            "step_acc": cycle_accuracy(trips[0]),
            "chance": 1.0 / trips[0].shape[-1],
        }

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        trips = self._trips(model, batch, dropout=self.edge_dropout, generator=generator)
        return cycle_loss(trips), self._metrics([p.detach() for p in trips])

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        trips = self._trips(model, batch, dropout=0.0, generator=generator)
        return {**self._metrics(trips), "cycle_loss": float(cycle_loss(trips))}
