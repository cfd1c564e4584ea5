"""Cross-modal InfoNCE: audio-visual instance discrimination, the modern contrastive baseline
(seed 001's InfoNCE; as in AVID / CMC-style audio-visual pretraining).

A batch of B synchronized (clip, audio) pairs is embedded (two-layer projections, L2-normalised,
as in :mod:`avbench.pretext.avts`); the similarity matrix ``S = V A^T / tau`` (B, B) scores every
clip against every audio window of the batch. The loss is symmetric::

    L = 1/2 [ CE(S, diag) + CE(S^T, diag) ]
      = -1/(2B) sum_i [ log softmax_j(S_ij)[i] + log softmax_j(S_ji)[i] ]

i.e. each clip must pick its own audio among the B audio windows (video -> audio), and each audio
window its own clip (audio -> video); the other items of the batch are the negatives, except
other clips of the same video (a batch holds several clips of a video: ``clips_per_video``
copies meet in the shuffle buffer), whose logits are masked out. ``tau`` = 0.1 worked
best in the synthetic-world experiment (shared/synthetic-world.md).

Pretext metrics: training batches: in-batch top-1 retrieval accuracy ``pretext_acc`` (video ->
audio; chance 1/B) and ``acc_a2v``; held-out: top-1 retrieval over the whole held-out set of N
videos (``pretext_acc`` v->a, ``acc_a2v``; chance 1/N, logged as ``retrieval_n``) and recall@5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.avts import EmbeddingHead
from avbench.pretext.base import Pretext, PretrainModel, same_video


def info_nce(
    v: torch.Tensor, a: torch.Tensor, *, tau: float, same: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric cross-modal InfoNCE. v, a: float (B, D) L2-normalised; pair i is (v[i], a[i]).
    ``same``: bool (B, B), True where items i and j are clips of the same video
    (:func:`~avbench.pretext.base.same_video`); those pairs (off the diagonal) are no negatives:
    their logits are set to -inf in both directions. Returns (loss, similarity logits (B, B) =
    v a^T / tau, masked)."""
    logits = (v @ a.t()).float() / tau
    if same is not None:
        eye = torch.eye(len(v), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same.to(logits.device) & ~eye, float("-inf"))
    target = torch.arange(len(v), device=v.device)
    loss = 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.t(), target))
    return loss, logits


def top1(logits: torch.Tensor) -> float:
    """Share of rows whose largest entry is on the diagonal."""
    return float((logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().mean())


class InfoNCE(Pretext):
    """Symmetric audio-visual InfoNCE: ``infonce``."""

    name = "infonce"
    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.tau = float(s.get("tau", 0.1))
        self.embed_dim = int(s.get("embed_dim", 64))

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return EmbeddingHead(video_dim=dims["video"], audio_dim=dims["audio"], embed_dim=self.embed_dim)

    def _embed(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return model.head(model.encode("video", batch["video"]), model.encode("audio", batch["audio"]))

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        v, a = self._embed(model, batch)
        loss, logits = info_nce(v, a, tau=self.tau, same=same_video(batch["key"], v.device))
        logits = logits.detach()
        return loss, {"pretext_acc": top1(logits), "acc_a2v": top1(logits.t())}

    @torch.no_grad()
    def heldout_outputs(self, model: PretrainModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        v, a = self._embed(model, batch)
        return {"v": v, "a": a}

    def heldout_summary(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        v = torch.from_numpy(outputs["v"])
        a = torch.from_numpy(outputs["a"])
        loss, logits = info_nce(v, a, tau=self.tau)
        target = torch.arange(len(v))
        top5 = logits.topk(min(5, len(v)), dim=1).indices
        return {
            "pretext_acc": top1(logits),
            "acc_a2v": top1(logits.t()),
            "loss": float(loss),
            "recall5_v2a": float((top5 == target[:, None]).any(1).float().mean()),
            "retrieval_n": float(len(v)),
        }
