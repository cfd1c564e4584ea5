"""Deep clustering of audio and video (Alwassel et al., seed 003): SDC, MDC, CDC and XDC.

Every ``recluster_every`` epochs (:meth:`DeepClustering.before_epoch`) the pooled features of
every training video (one fixed clip and its audio each, :meth:`avbench.pretrain.Trainer.features`)
are standardised, PCA-whitened to ``pca_dim`` dimensions (``whiten``) and L2-normalised (as in
DeepCluster),
and clustered by k-means into ``k`` pseudo-classes; the encoders are then trained with
cross-entropy to predict the pseudo-labels through linear heads. The four variants differ in
which clusters each encoder predicts:

- ``sdc`` single-modality: the video encoder predicts the video clusters, the audio encoder the
  audio clusters;
- ``mdc`` multi-head: each encoder has two heads and predicts both modalities' clusters;
- ``cdc`` concatenated: one clustering of the concatenated (normalised) video and audio features;
  both encoders predict it;
- ``xdc`` cross-modal: each encoder predicts the **other** modality's clusters.

Trivial-solution guards (seed 003, from DeepCluster):

- empty clusters are re-seeded (:func:`reassign_empty_clusters`): an empty cluster takes the
  centroid of a random non-empty cluster with a small perturbation, and that cluster's members
  are split between the two;
- uniform sampling over pseudo-classes (:func:`uniform_weights` through :meth:`Pretext.repeats`):
  each training video is resampled with weight ``N / (k' * n_c)`` (``n_c`` the size of its
  cluster, ``k'`` the number of non-empty clusters), so that every pseudo-class contributes the
  same expected number of samples per epoch and the total stays N; with two label sets (SDC,
  MDC, XDC) the weight is the mean of the two;
- the classifier heads are re-initialised (and their optimizer state cleared) after every
  re-clustering, since the new cluster indices have nothing to do with the old ones; unless
  ``match_labels``: then the new clusters are renamed to agree best with the old ones
  (:func:`match_labels`, Hungarian matching on the videos they share) and the heads keep
  learning across re-clusterings. DeepCluster's epochs are thousands of steps; here an epoch is
  ~30, and a head re-initialised at every clustering never fits its labels (measured on the
  default world, k = 32, re-clustering every 2 epochs: training pseudo-label accuracy 6-12%
  against chance 3.1%, loss within 0.3 of ln k, so held-out accuracy near chance).

Pseudo-labels (and the centroids of the held-out assignment) are part of :meth:`state_dict`, so a
resumed run continues with the labels it had. Pretext metrics: held-out pseudo-label accuracy
(held-out videos are assigned to the nearest centroid of the same clustering; chance 1/k for a
classifier trained under uniform sampling, but the held-out clusters are not balanced: the share
of the largest one, what a constant guess gets, is logged as ``heldout_largest_<set>``) for
each (encoder, label set) pair, ``pretext_acc`` being the video encoder's first one; and, when
the pretraining set has labels, the NMI of each clustering with the true classes (logged, never
used for training).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, accuracy
from avbench.shards.loader import View, clip_view

if TYPE_CHECKING:  # pragma: no cover
    from avbench.pretrain import Trainer

# (encoder, label set) pairs each variant trains; label sets: "video", "audio", "concat".
TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    "sdc": (("video", "video"), ("audio", "audio")),
    "mdc": (("video", "video"), ("video", "audio"), ("audio", "video"), ("audio", "audio")),
    "cdc": (("video", "concat"), ("audio", "concat")),
    "xdc": (("video", "audio"), ("audio", "video")),
}


# -- clustering: pure functions on arrays ---------------------------------------------------------


def fit_whitening(x: np.ndarray, dim: int, *, whiten: bool = True) -> dict[str, np.ndarray]:
    """Standardise, then project on the first ``min(dim, D, N-1)`` principal components, scaled to
    unit variance when ``whiten`` (``dim`` 0: no projection). x: float (N, D)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    std = x.std(0) + 1e-6
    if dim <= 0:
        return {"mean": mean, "std": std, "proj": np.eye(x.shape[1])}
    z = (x - mean) / std
    d = int(max(1, min(dim, z.shape[1], z.shape[0] - 1)))
    _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    proj = vt[:d].T
    if whiten:
        proj = proj / np.sqrt((s[:d] ** 2) / max(1, len(z) - 1) + 1e-6)[None]
    return {"mean": mean, "std": std, "proj": proj}


def apply_whitening(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The features as k-means sees them: whitened and L2-normalised. Returns float32 (N, d)."""
    z = ((np.asarray(x, np.float64) - w["mean"]) / w["std"]) @ w["proj"]
    return (z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each row. x: (N, d), centroids: (k, d) -> int64 (N,)."""
    d = (x**2).sum(1)[:, None] - 2 * x @ centroids.T + (centroids**2).sum(1)[None]
    return d.argmin(1).astype(np.int64)


def reassign_empty_clusters(
    x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, rng: np.random.Generator, *, eps: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, int]:
    """DeepCluster's guard against empty clusters.

    For each empty cluster ``e``: pick a random cluster ``c`` with at least two members, set the
    two centroids to ``mu_c +/- eps * u`` (``u`` a random unit vector), give each of ``c``'s members
    to the nearer of the two (split in two halves along ``u`` when they all fall on one side),
    then move both centroids to the means of their members. Other clusters are untouched.

    x: (N, d); labels: int (N,); centroids: (k, d). Returns (labels, centroids, number of empty
    clusters re-seeded); no cluster is empty afterwards when N >= k.
    """
    labels = np.asarray(labels, np.int64).copy()
    centroids = np.asarray(centroids, np.float64).copy()
    x = np.asarray(x, np.float64)
    k = len(centroids)
    fixed = 0
    for e in range(k):
        counts = np.bincount(labels, minlength=k)
        if counts[e] > 0:
            continue
        donors = np.flatnonzero(counts >= 2)
        if not len(donors):
            break
        c = int(donors[rng.integers(len(donors))])
        u = rng.normal(size=x.shape[1])
        u /= np.linalg.norm(u) + 1e-12
        members = np.flatnonzero(labels == c)
        side = (x[members] - centroids[c]) @ u
        to_e = side > 0
        if to_e.all() or not to_e.any():  # all on one side (e.g. identical points): split in halves
            order = np.argsort(side, kind="stable")
            to_e = np.zeros(len(members), bool)
            to_e[order[len(members) // 2 :]] = True
        labels[members[to_e]] = e
        centroids[e] = x[members[to_e]].mean(0)
        centroids[c] = x[members[~to_e]].mean(0)
        fixed += 1
    return labels, centroids.astype(np.float32), fixed


def kmeans(x: np.ndarray, k: int, *, seed: int, n_init: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """k-means (scikit-learn) of x (N, d) into k clusters. Returns (labels int64 (N,), centroids (k, d))."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=int(k), n_init=int(n_init), random_state=int(seed) % (2**31)).fit(x)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)


def uniform_weights(label_sets: list[np.ndarray], k: int) -> np.ndarray:
    """Resampling weight of each item so that every non-empty pseudo-class gets the same expected
    number of samples and the total stays N: ``N / (k' * n_c)``, averaged over the label sets.
    label_sets: int arrays (N,) each. Returns float64 (N,)."""
    out = np.zeros(len(label_sets[0]))
    for lab in label_sets:
        counts = np.bincount(lab, minlength=k).astype(np.float64)
        out += len(lab) / (np.count_nonzero(counts) * counts[lab])
    return out / len(label_sets)


def match_labels(new: np.ndarray, old: np.ndarray, k: int) -> np.ndarray:
    """The renaming of the new clusters that best agrees with the old clustering of the same items:
    ``perm`` int64 (k,), new cluster ``c`` is called ``perm[c]``, chosen to maximise the number of
    items whose (renamed) new label equals their old one (Hungarian matching of the k x k
    co-occurrence counts). k-means numbers its clusters arbitrarily, so without it a classifier
    head's outputs mean other clusters after every re-clustering. new, old: int (N,) in range(k)."""
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (np.asarray(new, np.int64), np.asarray(old, np.int64)), 1)
    rows, cols = linear_sum_assignment(-counts)
    perm = np.arange(k, dtype=np.int64)
    perm[rows] = cols
    return perm


def nmi(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(labels_true, labels_pred))


# -- the method ----------------------------------------------------------------------------------


class ClusterHeads(nn.Module):
    """One linear classifier per (encoder, label set) pair, ``heads["<encoder>_<set>"]`` (D -> k), on
    batch-normalised features (the encoders' pooled features drift in scale while they learn)."""

    def __init__(self, *, dims: dict[str, int], pairs: tuple[tuple[str, str], ...], k: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(
            {f"{e}_{s}": nn.Sequential(nn.BatchNorm1d(dims[e]), nn.Linear(dims[e], k)) for e, s in pairs}
        )

    def forward(self, enc: str, target: str, f: torch.Tensor) -> torch.Tensor:
        return self.heads[f"{enc}_{target}"](f)


class DeepClustering(Pretext):
    """Shared machinery of ``sdc``, ``mdc``, ``cdc`` and ``xdc`` (settings: ``deep_clustering``)."""

    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.k = int(s.get("k", 32))
        self.pca_dim = int(s.get("pca_dim", 32))
        self.whiten = bool(s.get("whiten", True))
        self.recluster_every = int(s.get("recluster_every", 1))
        self.n_init = int(s.get("n_init", 3))
        self.match = bool(s.get("match_labels", False))
        self.pairs = self.target_pairs()
        self.label_sets = tuple(dict.fromkeys(t for _, t in self.pairs))
        self.keys: list[str] = []
        self.labels: dict[str, np.ndarray] = {}
        self.heldout_keys: list[str] = []
        self.heldout_labels: dict[str, np.ndarray] = {}
        self.clustered_epoch = -1
        self._pos: dict[str, int] = {}
        self._heldout_pos: dict[str, int] = {}

    def settings(self) -> dict[str, Any]:
        return dict(self.cfg.get("deep_clustering") or {})

    def target_pairs(self) -> tuple[tuple[str, str], ...]:
        """The (encoder, label set) pairs this variant trains (:data:`TARGETS`)."""
        return TARGETS[self.name]

    def cluster_view(self) -> View:
        """The fixed clip of each video whose features are clustered."""
        return functools.partial(clip_view, clip_frames=self.clip_frames, audio=True)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return ClusterHeads(dims=dims, pairs=self.pairs, k=self.k)

    # -- clustering between epochs ----------------------------------------------------------------

    def _set_labels(
        self,
        keys: list[str],
        labels: dict[str, np.ndarray],
        heldout_keys: list[str],
        heldout_labels: dict[str, np.ndarray],
    ) -> None:
        self.keys, self.labels = list(keys), {s: np.asarray(v, np.int64) for s, v in labels.items()}
        self.heldout_keys = list(heldout_keys)
        self.heldout_labels = {s: np.asarray(v, np.int64) for s, v in heldout_labels.items()}
        self._pos = {k: i for i, k in enumerate(self.keys)}
        self._heldout_pos = {k: i for i, k in enumerate(self.heldout_keys)}

    def before_epoch(self, trainer: "Trainer", epoch: int) -> dict[str, float]:
        if self.labels and epoch % self.recluster_every != 0:
            return {"k": float(self.k)}
        view = self.cluster_view()
        keys, feats = trainer.features(("video", "audio"), view, desc=f"features for k-means (epoch {epoch + 1})")
        hkeys, hfeats = (
            trainer.features(("video", "audio"), view, keys=trainer.heldout_keys, desc="held-out features")
            if trainer.heldout_keys
            else ([], {"video": None, "audio": None})
        )
        rng = np.random.default_rng([self.seed, epoch, 17])
        labels: dict[str, np.ndarray] = {}
        held: dict[str, np.ndarray] = {}
        logs: dict[str, float] = {"k": float(self.k)}
        spaces: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for kind in ("video", "audio"):
            w = fit_whitening(feats[kind], self.pca_dim, whiten=self.whiten)
            spaces[kind] = (apply_whitening(feats[kind], w), apply_whitening(hfeats[kind], w) if hkeys else None)
        if "concat" in self.label_sets:
            x = np.concatenate([spaces["video"][0], spaces["audio"][0]], 1) / np.sqrt(2.0)
            h = (np.concatenate([spaces["video"][1], spaces["audio"][1]], 1) / np.sqrt(2.0)) if hkeys else None
            spaces["concat"] = (x, h)
        true = self._true_labels(trainer, keys)
        for j, s in enumerate(self.label_sets):
            x, h = spaces[s]
            lab, cen = kmeans(x, self.k, seed=self.seed * 1000 + epoch * 10 + j, n_init=self.n_init)
            lab, cen, fixed = reassign_empty_clusters(x, lab, cen, rng)
            ho = assign(h, cen) if h is not None else np.zeros(0, np.int64)
            old = self.labels.get(s)
            if self.match and old is not None and list(keys) == self.keys and len(old) == len(lab):
                perm = match_labels(lab, old, self.k)
                lab, ho = perm[lab], perm[ho]
                logs[f"label_agreement_{s}"] = float((lab == old).mean())
            labels[s] = lab
            held[s] = ho
            if len(ho):  # held-out labels need not be balanced: the share a constant guess would get
                logs[f"heldout_largest_{s}"] = float(np.bincount(ho, minlength=self.k).max() / len(ho))
            counts = np.bincount(lab, minlength=self.k)
            logs[f"empty_reassigned_{s}"] = float(fixed)
            logs[f"largest_cluster_{s}"] = float(counts.max() / max(1, len(lab)))
            if true is not None:
                logs[f"nmi_{s}"] = nmi(true, lab)
        matched = self.match and bool(self.labels) and list(keys) == self.keys
        self._set_labels(keys, labels, hkeys, held)
        self.clustered_epoch = epoch
        if not matched:
            self._reset_heads(trainer, epoch)
        return logs

    @staticmethod
    def _true_labels(trainer: "Trainer", keys: list[str]) -> np.ndarray | None:
        rows = trainer.rows
        if "label_idx" not in rows.columns:
            return None
        by_key = dict(zip(rows["key"], rows["label_idx"]))
        y = np.array([int(by_key.get(k, -1)) for k in keys])
        return y if len(y) and (y >= 0).all() else None

    def _reset_heads(self, trainer: "Trainer", epoch: int) -> None:
        head = trainer.model.head
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 7919 + epoch)
            for m in head.modules():
                if isinstance(m, (nn.Linear, nn.BatchNorm1d)):
                    m.reset_parameters()  # (BatchNorm: also its running statistics)
        trainer.reset_optimizer_state(list(head.parameters()))

    def repeats(self, keys: list[str]) -> dict[str, float] | None:
        if not self.labels:
            return None
        w = uniform_weights([self.labels[s] for s in self.label_sets], self.k)
        return {k: float(w[self._pos[k]]) for k in keys if k in self._pos}

    def epoch_logs(self, epoch: int) -> dict[str, float]:
        return {}

    # -- training -------------------------------------------------------------------------------

    def _targets(self, keys: list[str], heldout: bool, device: torch.device) -> dict[str, torch.Tensor]:
        pos, labels = (self._heldout_pos, self.heldout_labels) if heldout else (self._pos, self.labels)
        idx = np.array([pos[k] for k in keys])
        return {s: torch.from_numpy(labels[s][idx]).to(device) for s in self.label_sets}

    def _logits(self, model: PretrainModel, batch: dict[str, Any]) -> dict[tuple[str, str], torch.Tensor]:
        f = {e: model.encode(e, batch[e]) for e in self.encoders}
        return {(e, s): model.head(e, s, f[e]) for e, s in self.pairs}

    def _metrics(self, logits: dict[tuple[str, str], torch.Tensor], y: dict[str, torch.Tensor]) -> dict[str, float]:
        out = {f"acc_{e}_{s}": accuracy(z, y[s]) for (e, s), z in logits.items()}
        out["pretext_acc"] = out[f"acc_{self.pairs[0][0]}_{self.pairs[0][1]}"]
        return out

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self._logits(model, batch)
        y = self._targets(list(batch["key"]), False, batch["video"].device)
        loss = sum(nn.functional.cross_entropy(z.float(), y[s]) for (_, s), z in logits.items()) / len(logits)
        return loss, self._metrics(logits, y)  # type: ignore[return-value]

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        if not self.heldout_keys:
            return {}
        return self._metrics(self._logits(model, batch), self._targets(list(batch["key"]), True, batch["video"].device))

    # -- resume ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "labels": {s: v.tolist() for s, v in self.labels.items()},
            "heldout_keys": self.heldout_keys,
            "heldout_labels": {s: v.tolist() for s, v in self.heldout_labels.items()},
            "clustered_epoch": self.clustered_epoch,
            "k": self.k,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state or not state.get("labels"):
            return
        self._set_labels(state["keys"], state["labels"], state["heldout_keys"], state["heldout_labels"])
        self.clustered_epoch = int(state.get("clustered_epoch", -1))


class SDC(DeepClustering):
    name = "sdc"


class MDC(DeepClustering):
    name = "mdc"


class CDC(DeepClustering):
    name = "cdc"


class XDC(DeepClustering):
    name = "xdc"
