"""AVTS: audio-visual temporal synchronization (Korbar, Tran & Torresani, NeurIPS 2018).

The loss of seed 000, on the L2 distance ``d`` of the video and audio embeddings::

    E = 1/N sum_n  y_n * d_n  +  (1 - y_n) * max(eta - d_n, 0)^2

with ``y = 1`` for in-sync pairs and ``y = 0`` for negatives. Easy negatives pair a clip with the
audio of another video; hard negatives (same video, out of sync) come with the pretext zoo.
"""

from __future__ import annotations

import torch
from torch import nn


class AVTSHead(nn.Module):
    """Projects pooled video and audio features to L2-normalised embeddings of ``embed_dim``."""

    def __init__(self, *, video_dim: int, audio_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        self.video = nn.Sequential(nn.Linear(video_dim, video_dim), nn.ReLU(inplace=True), nn.Linear(video_dim, embed_dim))
        self.audio = nn.Sequential(nn.Linear(audio_dim, audio_dim), nn.ReLU(inplace=True), nn.Linear(audio_dim, embed_dim))

    def forward(self, fv: torch.Tensor, fa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return nn.functional.normalize(self.video(fv), dim=1), nn.functional.normalize(self.audio(fa), dim=1)


def avts_loss(v: torch.Tensor, a: torch.Tensor, y: torch.Tensor, *, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Margin contrastive loss. v, a: float (N, D); y: float (N,) 1 = in sync. Returns (loss, d)."""
    d = torch.linalg.vector_norm(v - a, dim=1)
    loss = y * d + (1 - y) * torch.clamp(margin - d, min=0) ** 2
    return loss.mean(), d


def easy_negative_perm(n: int, generator: torch.Generator) -> torch.Tensor:
    """A permutation of ``range(n)`` with no fixed point: row ``i`` gets the audio of video ``perm[i]``."""
    if n < 2:
        raise ValueError("easy negatives need at least 2 videos in a batch")
    shift = int(torch.randint(1, n, (1,), generator=generator))
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(shift)
    return perm


def sync_accuracy(d_pos: torch.Tensor, d_neg: torch.Tensor, *, threshold: float) -> float:
    """Pretext accuracy: a pair is called in sync when its distance is below ``threshold``."""
    correct = (d_pos < threshold).sum() + (d_neg >= threshold).sum()
    return float(correct) / float(len(d_pos) + len(d_neg))
