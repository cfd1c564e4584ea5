"""AVTS: audio-visual temporal synchronization (Korbar, Tran & Torresani, NeurIPS 2018).

A video clip and 1 s of audio (the clip's duration) are embedded by the video and audio networks
and compared by the L2 distance ``d`` of their (L2-normalised) embeddings, with the margin
contrastive loss of the paper (Korbar et al. 2018, Eq. 1; Hadsell et al.'s contrastive loss)::

    E = 1/N sum_n  y_n * d_n^2  +  (1 - y_n) * max(eta - d_n, 0)^2

``y = 1`` for in-sync pairs, ``y = 0`` for negatives. The paper squares the positive distance;
the slide of seed 000 writes ``y_n * d_n`` (the square lost): avbench follows the paper.
**Easy negatives** pair a clip with the audio of another video of the batch (never another clip
of the same video: :func:`~avbench.pretext.base.other_video_pairing`); **hard negatives** pair it
with audio of the same video, out of sync by an offset drawn from ``hard_offset_s``; they go
through the audio encoder in the same forward pass (the same BatchNorm batch) as the in-sync
audio. ``easy_fraction`` is the share of easy
negatives (1.0 easy only, 0.75 the seed's mix, 0.0 hard only); with ``curriculum_switch = s``
the first ``round(s * epochs)`` epochs use easy negatives only (the seed's curriculum: easy for
epochs 1-50, then the mix for 51-90, i.e. s = 0.556).

Pretext accuracy is measured as in the seed's table, on a held-out set of in-sync pairs and easy
negatives (a pair is called in sync when ``d < eta / 2``); the accuracy on hard negatives and the
share of easy negatives that share the positive's class (the ceiling of easy-negative accuracy on
a dataset with few classes) are logged beside it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, other_video_pairing
from avbench.shards.loader import View, clip_view, frame_time, mel_window


class EmbeddingHead(nn.Module):
    """Projects pooled video and audio features to L2-normalised embeddings of ``embed_dim``."""

    def __init__(self, *, video_dim: int, audio_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        self.video = nn.Sequential(
            nn.Linear(video_dim, video_dim), nn.ReLU(inplace=True), nn.Linear(video_dim, embed_dim)
        )
        self.audio = nn.Sequential(
            nn.Linear(audio_dim, audio_dim), nn.ReLU(inplace=True), nn.Linear(audio_dim, embed_dim)
        )

    def embed_video(self, fv: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.video(fv), dim=-1)

    def embed_audio(self, fa: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.audio(fa), dim=-1)

    def forward(self, fv: torch.Tensor, fa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_video(fv), self.embed_audio(fa)


def avts_loss(v: torch.Tensor, a: torch.Tensor, y: torch.Tensor, *, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Margin contrastive loss of Korbar et al. 2018 (Eq. 1): ``y d^2 + (1 - y) max(margin - d, 0)^2``,
    averaged. v, a: float (N, D); y: float (N,) 1 = in sync. Returns (loss, d)."""
    diff = (v - a).float()
    sq = (diff * diff).sum(1)
    d = torch.linalg.vector_norm(diff, dim=1)
    loss = y * sq + (1 - y) * torch.clamp(margin - d, min=0) ** 2
    return loss.mean(), d


def sync_accuracy(d_pos: torch.Tensor, d_neg: torch.Tensor, *, threshold: float) -> float:
    """Pretext accuracy: a pair is called in sync when its distance is below ``threshold``."""
    correct = (d_pos < threshold).sum() + (d_neg >= threshold).sum()
    return float(correct) / float(len(d_pos) + len(d_neg))


def hard_offset(
    meta: dict[str, Any], t0: float, seconds: float, lo: float, hi: float, rng: np.random.Generator
) -> float | None:
    """An offset ``delta`` with ``lo <= |delta| <= hi`` such that ``[t0 + delta, t0 + delta + seconds)``
    lies inside the sample's audio; None when the audio is too short for any."""
    dur = float(meta["t_end"]) - float(meta["t_start"])
    choices = []
    for sign in (-1.0, 1.0):
        a, b = (t0 + lo, t0 + hi) if sign > 0 else (t0 - hi, t0 - lo)
        a, b = max(a, 0.0), min(b, dur - seconds)
        if b >= a:
            choices.append((a, b))
    if not choices:
        return None
    a, b = choices[int(rng.integers(len(choices)))]
    return float(rng.uniform(a, b)) - t0


def avts_view(
    sample: dict[str, Any], rng: np.random.Generator, *, clip_frames: int, hard_offset_s: tuple[float, float]
) -> dict[str, Any] | None:
    """A synchronized clip (see :func:`clip_view`) plus ``audio_hard``: the same video's audio
    out of sync by an offset in ``hard_offset_s`` (``hard_ok`` False, and a copy of the in-sync
    audio, when the video is too short for one)."""
    item = clip_view(sample, rng, clip_frames=clip_frames, audio=True)
    if item is None:
        return None
    meta = sample["meta"]
    seconds = clip_frames / float(meta["fps"])
    k0 = item.pop("start")
    t0 = frame_time(meta, k0)
    delta = hard_offset(meta, t0, seconds, *hard_offset_s, rng)
    item["hard_ok"] = delta is not None
    item["audio_hard"] = mel_window(sample["mel"], meta, t0 + delta, seconds) if delta is not None else item["audio"]
    return item


class AVTS(Pretext):
    name = "avts"
    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.margin = float(s["margin"])
        self.embed_dim = int(s["embed_dim"])
        self.easy_fraction = float(s["easy_fraction"])
        self.switch_epoch = int(round(float(s["curriculum_switch"]) * self.epochs))
        self.offsets = (float(s["hard_offset_s"][0]), float(s["hard_offset_s"][1]))

    def easy_fraction_at(self, epoch: int) -> float:
        """Share of easy negatives during ``epoch`` (0-based): 1.0 before the curriculum switch."""
        return 1.0 if epoch < self.switch_epoch else self.easy_fraction

    def view(self, epoch: int) -> View:
        return functools.partial(avts_view, clip_frames=self.clip_frames, hard_offset_s=self.offsets)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return EmbeddingHead(video_dim=dims["video"], audio_dim=dims["audio"], embed_dim=self.embed_dim)

    def epoch_logs(self, epoch: int) -> dict[str, float]:
        return {"easy_fraction": self.easy_fraction_at(epoch)}

    def _embed(
        self, model: PretrainModel, batch: dict[str, Any], hard: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(v (N, E), in-sync a (N, E), hard-negative audio (H, E) of the items where ``hard``):
        the in-sync and the out-of-sync audio windows go through the audio encoder in one
        forward pass (one BatchNorm batch), then are split."""
        n = len(batch["audio"])
        audio = batch["audio"]
        if bool(hard.any()):
            audio = torch.cat([audio, batch["audio_hard"][hard.to(audio.device)]])
        v = model.head.embed_video(model.encode("video", batch["video"]))
        a_all = model.head.embed_audio(model.encode("audio", audio))
        return v, a_all[:n], a_all[n:]

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        n = len(batch["video"])
        perm = other_video_pairing(batch["key"], n, generator)
        easy = self.easy_fraction_at(epoch)
        hard = (torch.rand(n, generator=generator) >= easy) & batch["hard_ok"].cpu().bool()
        v, a, a_hard = self._embed(model, batch, hard)
        dev = v.device
        a_neg = a[perm.to(dev)]
        if bool(hard.any()):
            a_neg = a_neg.clone()
            a_neg[hard.to(dev)] = a_hard
        y = torch.cat([torch.ones(n), torch.zeros(n)]).to(dev)
        loss, d = avts_loss(torch.cat([v, v]), torch.cat([a, a_neg]), y, margin=self.margin)
        d = d.detach()
        return loss, {
            "pretext_acc": sync_accuracy(d[:n], d[n:], threshold=self.margin / 2),
            "d_pos": float(d[:n].mean()),
            "d_neg": float(d[n:].mean()),
            "hard_share": float(hard.float().mean()),
        }

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        n = len(batch["video"])
        perm = other_video_pairing(batch["key"], n, generator)
        ok = batch["hard_ok"].cpu().bool()
        v, a, a_hard = self._embed(model, batch, ok)
        perm, ok = perm.to(v.device), ok.to(v.device)
        thr = self.margin / 2
        d_pos = torch.linalg.vector_norm(v - a, dim=1)
        d_easy = torch.linalg.vector_norm(v - a[perm], dim=1)
        out = {"pretext_acc": sync_accuracy(d_pos, d_easy, threshold=thr)}
        if bool(ok.any()):
            d_hard = torch.linalg.vector_norm(v[ok] - a_hard, dim=1)
            out["pretext_acc_hard"] = sync_accuracy(d_pos[ok], d_hard, threshold=thr)
        labels = batch.get("label")
        if labels is not None and bool((labels >= 0).all()):
            out["neg_same_class"] = float((labels == labels[perm.to(labels.device)]).float().mean())
        return out
