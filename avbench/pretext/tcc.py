"""Temporal cycle-consistency, TCC (Dwibedi, Aytar, Tompson, Sermanet & Zisserman, CVPR 2019; seed
001's "temporal alignment between videos").

Two videos of the same class are embedded frame by frame, ``U = (u_1 .. u_N)`` and
``V = (v_1 .. v_M)``. Frame ``u_i`` finds its *soft nearest neighbour* in the other video,
``v~ = sum_j alpha_j v_j`` with ``alpha = softmax_j(-||u_i - v_j||^2 / D / temperature)``, and ``v~``
cycles back to ``U``: ``beta = softmax_k(-||v~ - u_k||^2 / D / temperature)``. The *cycle-back
regression* loss asks the return to land on ``i``: with ``mu = sum_k beta_k t_k`` and
``sigma^2 = sum_k beta_k (t_k - mu)^2`` (``t_k`` the frame's time, here its index over N as the
official code's ``normalize_indices``), ``L = (t_i - mu)^2 / sigma^2 + variance_lambda * log sigma^2``
(the paper's Gaussian regression, ``regression_mse_var`` with lambda 0.001 and temperature 0.1).
Embeddings that satisfy it put the same moment of a process at the same place in every video:
the videos become alignable by nearest neighbours (:mod:`avbench.evaluate.alignment` scores
that with the true phase of periodic synthetic videos).

Pairs: within a batch, each item is paired with a random item of the **same class and another
video** (``pairs: class``, the paper's setting: videos of one action; this uses the labels, like
``supervised``), or of any other video (``pairs: any``: no labels); items with no partner in the
batch sit the step out.

Per-frame embeddings: ``n_frames`` frames ``stride`` apart in a random window; frame ``t`` is
represented by the clip of ``context`` frames starting at it (the paper stacks context frames with
3D convolutions too; the small 3D encoder subtracts each clip's mean frame, so one frame alone
would be blank). Two embedders (``embedder``):

- ``pooled`` (the default): the video encoder's pooled features (what linear evaluation reads)
  through an MLP head (the paper's embedder's fully connected layers) to ``embed_dim``. Small3D
  pools with a global max, which keeps *what* moves and drops *where*;
- ``map`` (:class:`MapEmbedder`, the paper's embedder: its base network's intermediate map, two 3D
  convolutions over the context frames, a 3D max pool, two fully connected layers and a linear
  embedding): the encoder's intermediate map (:func:`avbench.models.video.stage_features`, as mask
  propagation reads it) of the context clip, two 3x3x3 convolutions of ``map_channels``, a max over
  time and an adaptive max pool over space to a ``map_grid`` of ``[columns, rows]`` cells,
  flattened, two fully connected layers of ``map_hidden`` and a linear layer to ``embed_dim``.
  ``map_grid: [1, 1]`` is the paper's global 3D max pool; a grid of several cells keeps where the
  object is (on periodic motions the phase often *is* where the object is). The encoder is trained
  up to that map only.

Opt-in options of the official code (defaults keep the behaviour above):

- ``normalize``: L2-normalised per-frame embeddings (its ``L2_NORMALIZE``): their norm cannot shrink
  towards a uniform cycle-back. The logits are still the squared distances / ``embed_dim`` /
  ``temperature``; for unit vectors they span at most ``4 / (embed_dim * temperature)``, so the
  temperature must come down with it (0.01 at 64 dimensions: up to 6.25);
- ``loss: classification``: the paper's cycle-back *classification*, the cross-entropy of the
  cycle-back logits against the start frame with label smoothing 0.1 (its ``classification`` loss
  type): log N for a uniform return, and any return that favours the start frame lowers it, where
  the regression loss charges a sharper wrong return more than the uniform one;
- ``classes``: train on the videos of these classes only (e.g. the periodic ones the alignment
  score reads), as the paper trains one action at a time.

:meth:`TCC.frame_embed` is the per-frame embedding; ``avbench alignment --embedding pretext`` aligns
with it (the paper aligns with its embedder's output), ``--embedding encoder`` with the encoder's
pooled features.

Metrics: ``pretext_acc`` (hard cycle-consistency: the nearest neighbour's nearest neighbour back
is the frame itself), ``chance`` (1 / n_frames), ``pairs`` (pairs in the batch).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avbench.models.video import stage_features
from avbench.pretext.base import PretrainModel, Pretext, mlp, video_ids
from avbench.shards.loader import View, clip_starts, usable

EMBEDDERS = ("pooled", "map")
LOSSES = ("regression", "classification")


def tcc_view(
    sample: dict[str, Any], rng: np.random.Generator, *, n_frames: int, stride: int, context: int
) -> dict[str, Any] | None:
    """``video`` uint8 (n_frames, context, H, W, 3): the clip of ``context`` frames starting at each
    of ``n_frames`` frames ``stride`` apart in a random window; ``label``; ``start``."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    span = (n_frames - 1) * stride + context
    starts = clip_starts(meta, span)
    if not starts:
        return None
    k0 = int(starts[int(rng.integers(len(starts)))])
    pos = k0 + stride * np.arange(n_frames)
    clips = np.stack([np.asarray(frames[p : p + context]) for p in pos])
    return {"video": clips, "label": int(meta.get("label_idx", -1)), "start": k0}


def partner_pairs(
    labels: torch.Tensor | None, keys: Sequence[str], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) int64: each item ``a[i]`` paired with a random item ``b[i]`` of another video and, when
    ``labels`` are given, of the same class (labels < 0: no class, never paired). Items with no such
    partner are left out."""
    g = video_ids(keys)
    n = len(g)
    ok = g[:, None] != g[None, :]
    if labels is not None:
        lab = labels.detach().cpu().long()
        ok &= (lab[:, None] == lab[None, :]) & (lab >= 0)[:, None]
    pick = torch.rand(n, n, generator=generator).masked_fill(~ok, -1.0)
    has = ok.any(1)
    a = torch.nonzero(has).flatten()
    return a, pick.argmax(1)[a]


def paired(emb: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The embeddings of the pairs' items, ``(emb[a], emb[b])``, by ``index_select``: ``b`` repeats
    items, and the backward of advanced indexing with repeats (``index_put_`` with accumulate) adds
    them in a thread-dependent order on the CPU, so two runs of one seed gave different weights (the
    ``tcc`` checkpoints of two reference runs); ``index_select``'s backward adds in index order."""
    return emb.index_select(0, a), emb.index_select(0, b)


def _sq_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (P, N, D), (P, M, D) -> (P, N, M)."""
    return (x.pow(2).sum(-1)[..., :, None] + y.pow(2).sum(-1)[..., None, :] - 2 * x @ y.transpose(-1, -2)).clamp_min(0)


def cycle_back_logits(u: torch.Tensor, v: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits of the cycle-back: embeddings (P, N, D) and (P, M, D) -> (P, N, N), row ``i`` the
    scaled negative squared distances of frame ``i``'s soft nearest neighbour in ``v`` to the frames
    of ``u``."""
    d = u.shape[-1]
    alpha = torch.softmax(-_sq_dist(u, v) / d / temperature, dim=-1)
    v_soft = alpha @ v
    return -_sq_dist(v_soft, u) / d / temperature


def cycle_back(u: torch.Tensor, v: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cycle-back distributions: embeddings (P, N, D) and (P, M, D) -> beta (P, N, N), row ``i``
    where frame ``i`` of ``u`` lands back in ``u`` through its soft nearest neighbour in ``v``."""
    return torch.softmax(cycle_back_logits(u, v, temperature), dim=-1)


def cycle_back_regression(
    u: torch.Tensor, v: torch.Tensor, *, temperature: float = 0.1, variance_lambda: float = 0.001
) -> torch.Tensor:
    """TCC's cycle-back regression loss (module doc), averaged over the frames and pairs."""
    beta = cycle_back(u, v, temperature)
    n = u.shape[-2]
    t = torch.arange(n, dtype=beta.dtype, device=beta.device) / n
    mu = beta @ t
    var = (beta @ t.pow(2) - mu.pow(2)).clamp_min(1e-8)
    log_var = torch.log(var)
    return (torch.exp(-log_var) * (t - mu).pow(2) + variance_lambda * log_var).mean()


def cycle_back_classification(
    u: torch.Tensor, v: torch.Tensor, *, temperature: float = 0.1, label_smoothing: float = 0.1
) -> torch.Tensor:
    """TCC's cycle-back classification loss (the paper's other loss, ``loss: classification``): the
    cross-entropy of the cycle-back logits against the start frame, labels smoothed by
    ``label_smoothing`` (the official code's 0.1), averaged over the frames and pairs."""
    logits = cycle_back_logits(u, v, temperature)
    n = u.shape[-2]
    target = torch.arange(n, device=logits.device).expand(logits.shape[:-1])
    return F.cross_entropy(logits.reshape(-1, n), target.reshape(-1), label_smoothing=label_smoothing)


def cycle_consistency(u: torch.Tensor, v: torch.Tensor) -> float:
    """Share of frames of ``u`` whose nearest neighbour in ``v`` has its nearest neighbour in ``u``
    at the frame itself (the paper's cycle-consistency score): (P, N, D), (P, M, D) -> float."""
    j = _sq_dist(u, v).argmin(-1)  # (P, N)
    vj = torch.gather(v, 1, j[..., None].expand(-1, -1, v.shape[-1]))
    back = _sq_dist(vj, u).argmin(-1)
    return float((back == torch.arange(u.shape[1], device=u.device)).float().mean())


class MapEmbedder(nn.Module):
    """TCC's per-frame embedder on an intermediate map (module doc, ``embedder: map``): (N, C, T', h, w)
    -> (N, out_dim). Two 3x3x3 convolutions (BatchNorm, ReLU), the max over time, an adaptive max pool
    to ``grid`` = (rows, columns) cells, flattened; Linear-ReLU-Linear-ReLU of ``hidden``; a linear
    embedding."""

    def __init__(self, in_channels: int, *, channels: int, grid: tuple[int, int], hidden: int, out_dim: int) -> None:
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        self.conv = nn.Sequential(
            nn.Conv3d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(channels),
            nn.ReLU(inplace=True),
        )
        cells = self.grid[0] * self.grid[1]
        self.fc = nn.Sequential(
            nn.Linear(channels * cells, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = self.conv(f).amax(dim=2)  # (N, channels, h, w)
        x = F.adaptive_max_pool2d(x, self.grid)
        return self.fc(x.flatten(1))


class TCC(Pretext):
    """Temporal cycle-consistency between videos of a class (module doc)."""

    name = "tcc"
    encoders = ("video",)
    needs = frozenset({"frames"})
    uses_labels = True

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.n_frames = int(s.get("n_frames", 8))
        self.stride = int(s.get("stride", 2))
        self.context = int(s.get("context", 4))
        self.embed_dim = int(s.get("embed_dim", 64))
        self.temperature = float(s.get("temperature", 0.1))
        self.variance_lambda = float(s.get("variance_lambda", 0.001))
        self.pairs = str(s.get("pairs", "class"))
        self.embedder = str(s.get("embedder", "pooled"))
        cols, rows = (int(v) for v in s.get("map_grid", (4, 3)))
        self.map_grid = (rows, cols)
        self.map_channels = int(s.get("map_channels", 32))
        self.map_hidden = int(s.get("map_hidden", 128))
        self.normalize = bool(s.get("normalize", False))
        self.loss_type = str(s.get("loss", "regression"))
        self.classes = tuple(str(c) for c in s.get("classes") or ())
        if self.loss_type not in LOSSES:
            raise ValueError(f"tcc: loss must be one of {LOSSES}, not {self.loss_type!r}")
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"tcc: embedder must be one of {EMBEDDERS}, not {self.embedder!r}")
        if min(rows, cols, self.map_channels, self.map_hidden) < 1:
            raise ValueError("tcc: map_grid cells, map_channels and map_hidden must be positive")
        if self.n_frames < 2 or self.stride < 1 or self.context < 1 or self.temperature <= 0:
            raise ValueError("tcc: n_frames >= 2, stride >= 1, context >= 1, temperature > 0")
        if self.pairs not in ("class", "any"):
            raise ValueError(f"tcc: pairs must be class or any, not {self.pairs!r}")

    @property
    def span(self) -> int:
        return (self.n_frames - 1) * self.stride + self.context

    def usable(self, row: dict[str, Any]) -> bool:
        ok = usable(row, clip_frames=self.span, audio=False)
        if self.classes and str(row.get("label")) not in self.classes:
            return False
        return ok and (self.pairs == "any" or int(row.get("label_idx", -1)) >= 0)

    def view(self, epoch: int) -> View:
        return functools.partial(tcc_view, n_frames=self.n_frames, stride=self.stride, context=self.context)

    def map_channels_in(self) -> int:
        """Channels of the video encoder's intermediate map (a probe of a throw-away encoder of the
        run's spec on a small clip; the global random state is left as it was)."""
        from avbench.models import build_encoder

        with torch.random.fork_rng(devices=[]):
            enc = build_encoder(self.encoder_specs()["video"]).eval()
            with torch.no_grad():
                f = stage_features(enc)(torch.zeros(1, 3, max(2, self.context), 32, 32))
        return int(f.shape[1])

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        if self.embedder == "map":
            return MapEmbedder(
                self.map_channels_in(),
                channels=self.map_channels,
                grid=self.map_grid,
                hidden=self.map_hidden,
                out_dim=self.embed_dim,
            )
        return mlp(dims["video"], self.embed_dim)

    def frame_embed(self, model: PretrainModel, clips: torch.Tensor) -> torch.Tensor:
        """Embeddings of context clips: (N, 3, context, H, W) -> (N, embed_dim) (module doc), of unit
        length with ``normalize``."""
        if self.embedder == "map":
            emb = model.head(stage_features(model.encoders["video"])(clips)).float()
        else:
            emb = model.head(model.encode("video", clips)).float()
        return F.normalize(emb, dim=-1) if self.normalize else emb

    def embed(self, model: PretrainModel, video: torch.Tensor) -> torch.Tensor:
        """(B, n_frames, 3, context, H, W) -> per-frame embeddings (B, n_frames, embed_dim)."""
        emb = self.frame_embed(model, video.reshape(-1, *video.shape[-4:]))
        return emb.reshape(*video.shape[:-4], emb.shape[-1])

    def _pairs(
        self, model: PretrainModel, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.embed(model, batch["video"])
        labels = batch["label"] if self.pairs == "class" else None
        keys = batch.get("key") or [str(i) for i in range(len(emb))]
        a, b = partner_pairs(labels, keys, generator)
        return emb, a.to(emb.device), b.to(emb.device)

    def cycle_loss(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The run's cycle-back loss (``loss``) of embeddings (P, N, D) cycled through (P, M, D)."""
        if self.loss_type == "classification":
            return cycle_back_classification(u, v, temperature=self.temperature)
        return cycle_back_regression(u, v, temperature=self.temperature, variance_lambda=self.variance_lambda)

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        emb, a, b = self._pairs(model, batch, generator)
        logs = {"chance": 1.0 / self.n_frames, "pairs": float(len(a))}
        if len(a) == 0:  # no two videos of a class in this batch
            return emb.sum() * 0.0, {**logs, "pretext_acc": float("nan")}
        u, v = paired(emb, a, b)
        loss = self.cycle_loss(u, v)
        return loss, {**logs, "pretext_acc": cycle_consistency(u.detach(), v.detach())}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        emb, a, b = self._pairs(model, batch, generator)
        if len(a) == 0:
            return {}
        u, v = paired(emb, a, b)
        return {
            "pretext_acc": cycle_consistency(u, v),
            "chance": 1.0 / self.n_frames,
            "tcc_loss": float(self.cycle_loss(u, v)),
        }
