"""AVE-Net: audio-visual embedding (Arandjelovic & Zisserman, "Objects that sound", ECCV 2018).

The correspondence task of L3-Net (:mod:`avbench.pretext.l3`: the same positive and negative pairs,
negatives never from the same video, chance 50%), but the two modalities are not fused: each is
projected by two fully connected layers to an L2-normalised embedding, the only thing compared is
the **Euclidean distance** of the two embeddings, and a tiny fully connected layer (1 -> 2, a scale
and a bias) turns the distance into the correspondence logits. Because the decision depends on the
distance alone, corresponding audio and video land close together in one space, which enables
cross-modal retrieval.

Pretext metrics on held-out videos: correspondence accuracy, and retrieval over the whole
held-out set of N videos (one clip each): ``recall1_v2a`` / ``recall5_v2a`` (a video clip
retrieves its own audio among the N audio windows within the top 1 / 5 by distance) and
``recall1_a2v`` / ``recall5_a2v`` (the reverse); chance is k / N (logged as ``retrieval_n``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, accuracy
from avbench.pretext.l3 import correspondence_pairs, negatives_same_class


class AVEHead(nn.Module):
    """Two-layer projections to L2-normalised embeddings and the distance -> logits layer.

    embed_video: float (N, video_dim) -> (N, embed_dim); embed_audio likewise;
    forward(v, a) on embeddings -> float (N, 2) correspondence logits from ``||v - a||``.
    """

    def __init__(self, *, video_dim: int, audio_dim: int, embed_dim: int = 128) -> None:
        super().__init__()
        self.video = nn.Sequential(
            nn.Linear(video_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, embed_dim)
        )
        self.audio = nn.Sequential(
            nn.Linear(audio_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, embed_dim)
        )
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():  # start where a small distance means "corresponds"
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
            self.fc.bias.copy_(torch.tensor([-1.0, 1.0]))

    def embed_video(self, fv: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.video(fv), dim=-1)

    def embed_audio(self, fa: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.audio(fa), dim=-1)

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        d = torch.linalg.vector_norm(v - a, dim=-1, keepdim=True)
        return self.fc(d)


def retrieval_recall(query: np.ndarray, gallery: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Recall@k of cross-modal retrieval by Euclidean distance: query i's match is gallery i.

    query, gallery: float (N, D). Returns {k: share of queries whose match is among their k
    nearest gallery items} (ties counted against the query). Chance is k / N.
    """
    q = torch.from_numpy(np.asarray(query, np.float32))
    g = torch.from_numpy(np.asarray(gallery, np.float32))
    d = torch.cdist(q, g)
    own = d.diagonal().unsqueeze(1)
    rank = (d <= own).sum(1) - 1  # other items at least as close as the match
    return {k: float((rank < k).float().mean()) for k in ks}


def cross_modal_recalls(v: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """Held-out recall@1 and @5 video->audio and audio->video of unit embeddings ``v``, ``a``
    (item i's pair is item i), and the number of items."""
    v2a, a2v = retrieval_recall(v, a), retrieval_recall(a, v)
    return {
        "recall1_v2a": v2a[1],
        "recall5_v2a": v2a[5],
        "recall1_a2v": a2v[1],
        "recall5_a2v": a2v[5],
        "retrieval_n": float(len(v)),
    }


class AVENet(Pretext):
    """Audio-visual correspondence through an embedding distance: ``avenet``."""

    name = "avenet"
    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return AVEHead(
            video_dim=dims["video"], audio_dim=dims["audio"], embed_dim=int(self.settings().get("embed_dim", 128))
        )

    def _embed(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            model.head.embed_video(model.encode("video", batch["video"])),
            model.head.embed_audio(model.encode("audio", batch["audio"])),
        )

    def _logits(
        self, model: PretrainModel, v: torch.Tensor, a: torch.Tensor, keys: list[str], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        vi, ai, y = correspondence_pairs(len(v), generator, keys)
        dev = v.device
        return model.head(v[vi.to(dev)], a[ai.to(dev)]), y.to(dev), ai

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        v, a = self._embed(model, batch)
        logits, y, _ = self._logits(model, v, a, batch["key"], generator)
        n = len(v)
        d = torch.linalg.vector_norm(v - a, dim=-1).detach()
        return nn.functional.cross_entropy(logits.float(), y), {
            "pretext_acc": accuracy(logits, y),
            "d_pos": float(d[:n].mean()),
        }

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        v, a = self._embed(model, batch)
        logits, y, ai = self._logits(model, v, a, batch["key"], generator)
        return {"pretext_acc": accuracy(logits, y), **negatives_same_class(batch, ai)}

    @torch.no_grad()
    def heldout_outputs(self, model: PretrainModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        v, a = self._embed(model, batch)
        return {"v": v, "a": a}

    def heldout_summary(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        return cross_modal_recalls(outputs["v"], outputs["a"])
