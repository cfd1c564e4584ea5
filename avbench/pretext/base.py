"""What every pretraining method implements, and the tensors its batches hold.

A method is a :class:`Pretext` subclass registered in :data:`avbench.pretext.PRETEXTS`. The one
training loop (:func:`avbench.pretrain.pretrain`) asks it for:

- ``encoders``: which encoders it trains (``video`` RGB clips, ``audio`` log-mel, ``flow``);
- ``needs``: which sample members the loader must decode (``frames``, ``mel``, ``flow``);
- :meth:`Pretext.usable`: whether a sample (an index row or a sample's JSON) can be used;
- :meth:`Pretext.view`: the per-sample function that cuts one training item (runs in loader
  workers, must be picklable: a ``functools.partial`` of a module-level function);
- :meth:`Pretext.build_head`: the method's heads on top of the pooled encoder features;
- :meth:`Pretext.loss`: the loss and logged metrics of one batch;
- :meth:`Pretext.heldout_metrics`: pretext metrics on a batch of held-out videos;
- :meth:`Pretext.before_epoch`: work between epochs (e.g. k-means for deep clustering), with
  :class:`avbench.pretrain.Trainer` giving access to the data and the model;
- :meth:`Pretext.repeats`: copies of each training sample per epoch (resampling).

Batches arrive as tensors made by :func:`to_tensors` from the numpy items: keys starting with
``video`` hold float (..., 3, T, H, W) in [0, 1]; ``audio``: float (..., 1, n_mels, A), normalised
by the training set's log-mel mean and std; ``flow``: float (..., T, 2, H, W) in units of the
quantization bound (in [-1, 1], see :func:`flow_unit`); ``label``: int64 (B,); other numeric keys:
tensors as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from avbench.models import build_encoder, encoder_spec
from avbench.shards.loader import View, clip_view, usable

if TYPE_CHECKING:  # pragma: no cover
    from avbench.pretrain import Trainer


def flow_unit(q: torch.Tensor) -> torch.Tensor:
    """Quantized uint8 flow (levels ``k * 2b/255 - b``, see ``avbench.shards.codec.quantize_flow``)
    -> float in units of the bound ``b``, with the two levels next to zero (127, 128) read as 0.

    Zero flow quantizes to 128 (``+b/255``), so a plain ``q / 127.5 - 1`` gives static pixels a
    small positive value whose sign flips under negation (``255 - q``, the exact negation of the
    levels): a reversed clip would betray itself by its background. With the dead zone, zero flow
    is 0, ``255 - q`` reads as exactly minus ``q``, and 0 / 255 read as -1 / 1.
    """
    c = q.float() - 127.5
    return torch.sign(c) * (c.abs() - 0.5) / 127.0


def to_tensors(batch: dict[str, Any], *, device: torch.device, mel_norm: tuple[float, float]) -> dict[str, Any]:
    """Numpy (or, from loader workers on a GPU machine, pinned torch) batch (see
    :func:`avbench.shards.loader.collate`) -> tensors on ``device`` (module doc)."""
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(v)
        elif isinstance(v, torch.Tensor):
            t = v
        else:
            out[k] = v
            continue
        t = t.to(device, non_blocking=True)
        if k.startswith("video"):
            nd = t.ndim
            perm = list(range(nd - 4)) + [nd - 1, nd - 4, nd - 3, nd - 2]
            out[k] = t.permute(*perm).float().div_(255.0)
        elif k.startswith("audio"):
            out[k] = ((t.float() - mel_norm[0]) / mel_norm[1]).unsqueeze(-3)
        elif k.startswith("flow") and t.dtype == torch.uint8:
            nd = t.ndim
            perm = list(range(nd - 4)) + [nd - 4, nd - 1, nd - 3, nd - 2]
            out[k] = flow_unit(t.permute(*perm))
        elif not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool:
            out[k] = t.long()
        else:
            out[k] = t
    return out


class PretrainModel(nn.Module):
    """The encoders a method trains (``encoders[kind]``) and its heads (``head``)."""

    def __init__(self, *, specs: dict[str, dict[str, Any]], head: "Pretext") -> None:
        super().__init__()
        self.specs = specs
        self.encoders = nn.ModuleDict({k: build_encoder(s) for k, s in specs.items()})
        self.head = head.build_head({k: int(e.out_dim) for k, e in self.encoders.items()})

    def encode(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of encoder ``kind``; extra leading axes (several clips per item) are kept:
        (B, N, *input) -> (B, N, D)."""
        base = {"video": 4, "audio": 3, "flow": 4}[kind]
        lead = x.shape[: x.ndim - base]
        y = self.encoders[kind](x.reshape(-1, *x.shape[x.ndim - base :]))
        return y.reshape(*lead, y.shape[-1])


class Pretext:
    """Base class of a pretraining method (see the module docstring). ``cfg`` is the run's
    pretraining settings: the ``pretrain`` config section with the run's overrides merged in."""

    name: ClassVar[str] = ""
    encoders: ClassVar[tuple[str, ...]] = ("video", "audio")
    needs: ClassVar[frozenset[str]] = frozenset({"frames", "mel"})
    uses_labels: ClassVar[bool] = False
    trains: ClassVar[bool] = True

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        self.cfg = cfg
        self.n_classes = int(n_classes)
        self.seed = int(seed)
        self.clip_frames = int(cfg["clip_frames"])
        self.epochs = int(cfg["epochs"]) if self.trains else 0

    # -- data -----------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """This method's own config section (``cfg[<method>]``), or {}."""
        return dict(self.cfg.get(self.name) or {})

    def encoder_specs(self) -> dict[str, dict[str, Any]]:
        return {k: encoder_spec(k, self.cfg) for k in self.encoders}

    def flow_frames(self) -> int:
        f = self.cfg["flow"]
        return int(f["segments"]) * int(f["frames"])

    def usable(self, row: dict[str, Any]) -> bool:
        frames = self.flow_frames() if "flow" in self.needs else self.clip_frames
        return usable(row, clip_frames=frames, audio="mel" in self.needs, flow="flow" in self.needs)

    def view(self, epoch: int) -> View:
        """The training view of epoch ``epoch``: by default one random synchronized clip."""
        return functools.partial(
            clip_view, clip_frames=self.clip_frames, audio="mel" in self.needs, flow="flow" in self.needs
        )

    def heldout_view(self) -> View:
        """The view of held-out videos (drawn with a fixed seed, so every epoch sees the same items)."""
        return self.view(0)

    def prepare(self, trainer: Any) -> dict[str, Any]:
        """Called once before the first epoch (after a resume too); what it returns goes into the
        checkpoint meta. Default: nothing."""
        return {}

    def repeats(self, keys: list[str]) -> dict[str, float] | None:
        """Expected copies of each training sample per epoch, on top of ``clips_per_video``
        (None: one each)."""
        return None

    # -- model ----------------------------------------------------------------------------------
    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return nn.Identity()

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError(f"{type(self).__name__} does not train")

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def heldout_outputs(self, model: PretrainModel, batch: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """Per-item outputs of a held-out batch that :meth:`heldout_summary` needs over the whole
        held-out set (e.g. embeddings for retrieval); None: no set-level metrics."""
        return None

    def heldout_summary(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        """Metrics over the whole held-out set from :meth:`heldout_outputs` of every batch,
        concatenated along the first axis in a fixed order (the same every epoch)."""
        return {}

    def before_epoch(self, trainer: "Trainer", epoch: int) -> dict[str, float]:
        """Work between epochs; returns values to log in the epoch's metrics row."""
        return {}

    def epoch_logs(self, epoch: int) -> dict[str, float]:
        """Settings in force during ``epoch`` worth a column in metrics.csv (e.g. a curriculum stage)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Method state to checkpoint for resuming (e.g. pseudo-labels)."""
        return {}

    def checkpoint_meta(self) -> dict[str, Any]:
        """Facts about the run's data or state worth keeping in the checkpoint's meta (JSON-able)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A permutation of ``range(n)`` with no fixed point: item ``i`` is paired with item ``perm[i]``
    (every item its own video; with clips of one video in a batch use :func:`other_video_pairing`)."""
    return other_video_pairing(None, n, generator)


def video_ids(keys: Sequence[str]) -> torch.Tensor:
    """Index of each item's video (its sample key) in order of first appearance: int64 (B,).
    Items with the same key are clips of the same video."""
    seen: dict[str, int] = {}
    return torch.tensor([seen.setdefault(str(k), len(seen)) for k in keys], dtype=torch.long)


def same_video(keys: Sequence[str], device: torch.device | None = None) -> torch.Tensor:
    """bool (B, B): True where items i and j are clips of the same video (the diagonal included)."""
    g = video_ids(keys)
    return (g[:, None] == g[None, :]).to(device) if device is not None else g[:, None] == g[None, :]


def other_video_pairing(keys: Sequence[str] | None, n: int, generator: torch.Generator) -> torch.Tensor:
    """For each of ``n`` items, the index of an item of **another video** (easy negatives): int64 (n,),
    ``keys[perm[i]] != keys[i]`` for every i (``keys`` None: every item is its own video).

    A batch holds several clips of one video (``clips_per_video`` copies meet in the shuffle
    buffer), so a plain derangement would pair a clip with a clip of the same video. When no video
    has more than half the items, the pairing is a permutation (each item is used once as a
    negative): items are put in a random order with each video's clips contiguous (videos in order
    of their first appearance in a random permutation) and paired with the item ``s`` places on,
    ``m <= s <= n - m`` (``m`` the largest video's clip count), which never lands in the same
    video. With unique keys this is exactly :func:`derangement`. Otherwise each item gets a
    uniformly drawn item of another video. Raises when the batch holds a single video.
    """
    if keys is not None and len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} items")
    g = video_ids(keys) if keys is not None else torch.arange(n)
    sizes = torch.bincount(g)
    if len(sizes) < 2:
        raise ValueError("negatives from other videos need at least 2 videos in a batch")
    m = int(sizes.max())
    if 2 * m <= n:
        shift = int(torch.randint(m, n - m + 1, (1,), generator=generator))
        order = torch.randperm(n, generator=generator)
        if m > 1:  # each video's clips contiguous, videos in order of first appearance in `order`
            first = torch.full((len(sizes),), n, dtype=torch.long)
            first.scatter_reduce_(0, g[order], torch.arange(n), reduce="amin")
            order = order[torch.argsort(first[g[order]], stable=True)]
        perm = torch.empty(n, dtype=torch.long)
        perm[order] = order.roll(shift)
        return perm
    other = g[:, None] != g[None, :]
    pick = torch.rand(n, n, generator=generator).masked_fill(~other, -1.0)
    return pick.argmax(1)


class ClassificationPretext(Pretext):
    """A pretext whose head classifies each item: subclasses give ``targets(model, batch) ->
    (logits, y)``; the loss is cross-entropy and the pretext metric accuracy (arrow of time,
    shuffle & learn, odd-one-out)."""

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits, y = self.targets(model, batch)
        return nn.functional.cross_entropy(logits.float(), y), {"pretext_acc": accuracy(logits, y)}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        logits, y = self.targets(model, batch)
        return {"pretext_acc": accuracy(logits, y)}


def positives_negatives(
    model: PretrainModel, kind: str, pos: torch.Tensor, neg: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Head logits of encoder ``kind`` on ``pos`` (target 1) then ``neg`` (target 0)."""
    x = torch.cat([pos, neg])
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long().to(x.device)
    return model.head(model.encode(kind, x)), y


def members_read(kinds: Iterable[str]) -> frozenset[str]:
    """The sample members that encoders ``kinds`` read: frames always, mel for audio, flow for flow."""
    kinds = set(kinds)
    return frozenset({"frames"} | ({"mel"} if "audio" in kinds else set()) | ({"flow"} if "flow" in kinds else set()))


def mlp(in_dim: int, out_dim: int, hidden: int = 128) -> nn.Sequential:
    """Linear -> ReLU -> Linear: the classifier of the temporal pretexts' heads (sorting, jigsaw, speed)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean())
