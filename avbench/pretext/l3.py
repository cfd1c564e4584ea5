"""L3-Net: audio-visual correspondence (Arandjelovic & Zisserman, "Look, listen and learn", ICCV 2017).

A video clip (the paper: one frame; here a clip, so that the video encoder that evaluation scores
is the one trained) and the audio of the same instant are encoded by the video and audio
networks; their pooled features are **concatenated** and an MLP says whether they correspond
(2-way softmax). Each batch holds every clip twice: with its own audio (positive) and with the
audio of another video of the batch (negative; never another clip of the same video, although a
batch holds several clips of a video), so the classes are balanced and chance is 50%.

Pretext accuracy is reported on held-out videos with the same construction. On a dataset with
few classes some negatives share the positive's class (``neg_same_class``, logged when labels
exist): they are semantically indistinguishable, which caps the attainable accuracy at about
``1 - neg_same_class / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, accuracy, other_video_pairing


class CorrespondenceHead(nn.Module):
    """MLP on concatenated video and audio features -> 2 logits (0: no correspondence, 1: corresponds),
    with batch normalisation of the fused features and of the hidden layer (as L3-Net's fusion
    layers; without it the fusion MLP sits at chance on the default data).

    Input: fv float (N, video_dim), fa float (N, audio_dim). Output: float (N, 2).
    """

    def __init__(self, *, video_dim: int, audio_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.BatchNorm1d(video_dim + audio_dim),
            nn.Linear(video_dim + audio_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 2),
        )

    def forward(self, fv: torch.Tensor, fa: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([fv, fa], dim=-1))


def correspondence_pairs(
    n: int, generator: torch.Generator, keys: Sequence[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairs of a batch of ``n`` synchronized clips: (video index (2n,), audio index (2n,),
    target (2n,) int64). The first n pairs are the clips with their own audio (target 1), the next
    n the same clips with the audio of a clip of **another video** (target 0; ``keys``: the items'
    sample keys, see :func:`~avbench.pretext.base.other_video_pairing`; None: all different)."""
    idx = torch.arange(n)
    perm = other_video_pairing(keys, n, generator)
    return torch.cat([idx, idx]), torch.cat([idx, perm]), torch.cat([torch.ones(n), torch.zeros(n)]).long()


class L3(Pretext):
    """Audio-visual correspondence with a fusion (concatenation) head: ``l3``."""

    name = "l3"
    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return CorrespondenceHead(
            video_dim=dims["video"], audio_dim=dims["audio"], hidden=int(self.settings().get("hidden", 128))
        )

    def _logits(
        self, model: PretrainModel, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fv = model.encode("video", batch["video"])
        fa = model.encode("audio", batch["audio"])
        vi, ai, y = correspondence_pairs(len(fv), generator, batch["key"])
        dev = fv.device
        return model.head(fv[vi.to(dev)], fa[ai.to(dev)]), y.to(dev), ai

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits, y, _ = self._logits(model, batch, generator)
        return nn.functional.cross_entropy(logits.float(), y), {"pretext_acc": accuracy(logits, y)}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        logits, y, ai = self._logits(model, batch, generator)
        out = {"pretext_acc": accuracy(logits, y)}
        out.update(negatives_same_class(batch, ai))
        return out


def negatives_same_class(batch: dict[str, Any], audio_index: torch.Tensor) -> dict[str, float]:
    """Share of negative pairs (the second half of ``audio_index``) whose audio comes from a video
    of the same class, when the batch has labels (the ceiling of correspondence accuracy)."""
    labels = batch.get("label")
    if labels is None or not bool((labels >= 0).all()):
        return {}
    n = len(labels)
    perm = audio_index[n:].to(labels.device)
    return {"neg_same_class": float((labels == labels[perm]).float().mean())}
