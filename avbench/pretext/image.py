"""Seed 002's image pretexts on single frames of the pretraining videos, and their multi-task combination.

Each training item is one frame drawn uniformly from a video (any frame of its decoded segments),
cut into the inputs of one or more tasks; the encoder is a frame-level 2D CNN
(``video_backbone: small2d``, :class:`avbench.models.video.Small2D`) that reads images as clips of
one frame, so that the clip protocols (linear probe, fine-tuning on the action set) evaluate it
exactly like the video encoders (on a clip, the mean of its frames' features).

Tasks (``image`` config section, defaults in brackets; the stored frames are 40x30):

- ``context``, relative position (Doersch, Gupta, Efros, ICCV 2015): a 3x3 grid of cells of
  ``patch + gap`` pixels is placed at random in the frame; the centre patch and one of its 8
  neighbours (each moved by up to ``jitter`` px) are encoded separately, their features
  concatenated and classified 8-way (which neighbour). The gap and the jitter are the paper's
  guards against trivial shortcuts (continuous edges and textures across the border): the gap must
  exceed twice the jitter, so that two patches never touch. A patch of 7 px with a 3 px gap and
  1 px jitter (at least 1 px between patches) takes 29 px of the 30 px frame height (the paper's
  96 px patches, 48 px gap and 7 px jitter are the same guard at 224 px). ``channel_drop``: both patches
  show one random colour channel (the chromatic-aberration guard; the synthetic world has none).
- ``colour``, colourization (Zhang, Isola, Efros 2016): the grey frame (its luminance in all three
  channels) in; at each position of the encoder's last map (stride 4: 10x8 for 40x30 frames) a
  1x1-convolution head predicts the quantized colour of the frame averaged to that cell
  (``bins`` x ``bins`` cells of an opponent colour plane,
  :func:`avbench.pretext.colorization.quantize_colors`); cross-entropy, by default rebalanced by
  the inverse frequency of each class in the batch (Zhang et al.'s class rebalancing, so that the
  grey background does not dominate). Metrics: ``colour_acc`` and ``colour_mode_acc`` (always
  predicting the batch's most frequent class: the baseline to beat).
- ``exemplar``, exemplar networks (Dosovitskiy et al., NIPS 2014) in their modern form, instance
  discrimination with InfoNCE over the batch: two random augmentations of the frame (a crop of
  ``min_scale``..1 of each side rescaled to the frame size, a horizontal flip, brightness, contrast
  and channel gains within +-``jitter``, grey with probability ``jitter``) go through the encoder
  and an MLP projection to an L2-normalised ``embed_dim`` vector; each must pick its twin among
  the batch's other frames (``tau``; frames of the same video are no negatives).
- ``rotation`` (Gidaris, Singh, Komodakis, ICLR 2018): the frame's centred square crop (a
  non-square frame rotated by 90 degrees would betray itself by its shape) rotated by 0, 90, 180
  or 270 degrees (counter-clockwise, ``np.rot90``), classified 4-way.

Methods: ``image_context``, ``image_colour``, ``image_exemplar``, ``image_rotation`` (one task
each) and ``image_multitask`` (``image.tasks``, all on one shared encoder, one head each, the
weighted sum of the task losses: Doersch & Zisserman's multi-task network, ICCV 2017, without
their lasso over layers or harmonised inputs). Metrics: ``<task>_acc`` for every task, and
``pretext_acc``, their mean (chance: 1/8 context, 1/4 rotation, 1/B exemplar, the colour prior).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avbench.pretext.base import PretrainModel, Pretext, accuracy, mlp, same_video
from avbench.pretext.colorization import grey, quantize_colors
from avbench.pretext.infonce import info_nce, top1
from avbench.shards.loader import View, clip_starts, usable

TASKS = ("context", "colour", "exemplar", "rotation")
#: the 8 neighbours of the centre cell of a 3x3 grid as (row, column) offsets, in reading order: class k
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
#: each task's settings and their defaults (the schema's, ``pretrain.image.<task>``; a test checks)
DEFAULTS: dict[str, dict[str, Any]] = {
    "context": {"patch": 7, "gap": 3, "jitter": 1, "channel_drop": False},
    "colour": {"bins": 4, "rebalance": True},
    "exemplar": {"tau": 0.1, "embed_dim": 64, "min_scale": 0.5, "jitter": 0.3},
    "rotation": {"crop_jitter": 0},
}


def task_settings(image: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each task's settings: the ``image`` section's over :data:`DEFAULTS`."""
    image = image or {}
    return {t: {**DEFAULTS[t], **(image.get(t) or {})} for t in TASKS}


# -- the per-task cuts of a frame (numpy, in loader workers) ---------------------------------------


def context_span(s: dict[str, Any]) -> int:
    """Pixels the jittered 3x3 grid of relative position needs in each direction."""
    return 3 * int(s["patch"]) + 2 * int(s["gap"]) + 2 * int(s["jitter"])


def context_patches(
    frame: np.ndarray, rng: np.random.Generator, *, patch: int, gap: int, jitter: int, channel_drop: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """(centre patch, neighbour patch) uint8 (patch, patch, 3) each, and the neighbour's class
    (index into :data:`NEIGHBOURS`). Raises ValueError when the frame is smaller than the grid."""
    h, w = frame.shape[:2]
    cell = patch + gap
    span = 3 * patch + 2 * gap + 2 * jitter
    if h < span or w < span:
        raise ValueError(
            f"relative position: a {w}x{h} frame holds no 3x3 grid of {patch} px patches with a {gap} px gap "
            f"and {jitter} px jitter ({span} px); lower image.context.patch, gap or jitter"
        )
    y0 = int(rng.integers(0, h - span + 1)) + jitter  # the grid's top-left corner
    x0 = int(rng.integers(0, w - span + 1)) + jitter
    c = int(rng.integers(len(NEIGHBOURS)))
    dr, dc = NEIGHBOURS[c]

    def cut(row: int, col: int) -> np.ndarray:
        jy, jx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
        y, x = y0 + row * cell + jy, x0 + col * cell + jx
        return np.asarray(frame[y : y + patch, x : x + patch])

    a, b = cut(1, 1), cut(1 + dr, 1 + dc)
    if channel_drop:
        ch = int(rng.integers(3))
        a, b = (np.repeat(p[..., ch : ch + 1], 3, axis=-1) for p in (a, b))
    return a, b, c


def square_crop(frame: np.ndarray, rng: np.random.Generator, crop_jitter: int = 0) -> np.ndarray:
    """The frame's square of side min(H, W), centred (moved by up to ``crop_jitter`` px along the
    long side)."""
    h, w = frame.shape[:2]
    s = min(h, w)
    off = (max(h, w) - s) // 2
    if crop_jitter:
        off = int(np.clip(off + int(rng.integers(-crop_jitter, crop_jitter + 1)), 0, max(h, w) - s))
    return np.asarray(frame[off : off + s]) if h > w else np.asarray(frame[:, off : off + s])


def rotate(img: np.ndarray, k: int) -> np.ndarray:
    """``img`` (S, S, 3) rotated by k x 90 degrees counter-clockwise (as displayed)."""
    return np.ascontiguousarray(np.rot90(img, k, axes=(0, 1)))


def augment(frame: np.ndarray, rng: np.random.Generator, *, min_scale: float, jitter: float) -> np.ndarray:
    """One exemplar augmentation of ``frame`` (H, W, 3) uint8, the same size: a random crop of
    ``min_scale``..1 of each side rescaled, a horizontal flip (p 0.5), brightness, contrast and
    per-channel gains within +-``jitter``, and grey with probability ``jitter``."""
    h, w = frame.shape[:2]
    sh, sw = (float(v) for v in rng.uniform(min_scale, 1.0, size=2))
    ch, cw = max(1, int(round(h * sh))), max(1, int(round(w * sw)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = cv2.resize(np.ascontiguousarray(frame[y : y + ch, x : x + cw]), (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    f = out.astype(np.float32) / 255.0
    if jitter > 0:
        gains = 1.0 + rng.uniform(-jitter, jitter, size=3)
        f = f * gains.astype(np.float32)
        mean = f.mean()
        f = (f - mean) * float(1.0 + rng.uniform(-jitter, jitter)) + mean
        f = f + float(rng.uniform(-jitter, jitter)) * 0.5
        if rng.random() < jitter:
            f = np.repeat((f @ np.array([0.299, 0.587, 0.114], np.float32))[..., None], 3, axis=-1)
    return np.clip(np.round(f * 255.0), 0, 255).astype(np.uint8)


def image_view(
    sample: dict[str, Any], rng: np.random.Generator, *, tasks: tuple[str, ...], settings: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """One random frame of the sample, cut for each task. Keys (uint8 images as one-frame clips,
    (..., 1, H, W, 3), read by :func:`avbench.pretext.base.to_tensors` as (..., 3, 1, H, W)):
    ``context``: ``video_ctx`` (2, 1, p, p, 3) (centre, neighbour) and ``position``; ``colour``:
    ``video_col`` (1, H, W, 3) (the colour frame; the loss greys it); ``exemplar``: ``video_ex``
    (2, 1, H, W, 3), two augmentations; ``rotation``: ``video_rot`` (1, S, S, 3) and
    ``rotation`` (k of k x 90 degrees). Also ``frame`` (its index) and ``label``."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    starts = clip_starts(meta, 1)
    if not starts:
        return None
    k = int(starts[int(rng.integers(len(starts)))])
    frame = np.asarray(frames[k])
    out: dict[str, Any] = {"frame": k, "label": int(meta.get("label_idx", -1))}
    for t in tasks:
        s = settings[t]
        if t == "context":
            a, b, c = context_patches(
                frame,
                rng,
                patch=int(s["patch"]),
                gap=int(s["gap"]),
                jitter=int(s["jitter"]),
                channel_drop=bool(s["channel_drop"]),
            )
            out["video_ctx"] = np.stack([a, b])[:, None]
            out["position"] = c
        elif t == "colour":
            out["video_col"] = frame[None]
        elif t == "exemplar":
            kw = {"min_scale": float(s["min_scale"]), "jitter": float(s["jitter"])}
            out["video_ex"] = np.stack([augment(frame, rng, **kw), augment(frame, rng, **kw)])[:, None]
        elif t == "rotation":
            r = int(rng.integers(4))
            out["video_rot"] = rotate(square_crop(frame, rng, int(s["crop_jitter"])), r)[None]
            out["rotation"] = r
        else:
            raise ValueError(f"unknown image task {t!r}")
    return out


# -- heads and losses --------------------------------------------------------------------------------


class ColourHead(nn.Module):
    """The encoder's last map (N, C, h, w) -> colour-class logits per position (N, K, h, w): 1x1 convolutions."""

    def __init__(self, *, dim: int, n_colours: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, n_colours, 1))

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return self.net(m)


def image_map(model: PretrainModel, images: torch.Tensor) -> torch.Tensor:
    """The frame encoder's last map of images (N, 3, H, W)."""
    enc = model.encoders["video"]
    fn = getattr(enc, "image_map", None)
    if not callable(fn):
        raise ValueError(f"the image pretexts need a frame encoder with image_map (small2d), not {type(enc).__name__}")
    return fn(images)


def colour_targets(rgb: torch.Tensor, size: tuple[int, int], bins: int) -> torch.Tensor:
    """Colour classes of images (N, 3, H, W) in [0, 1] averaged to the map's cells: int64 (N, h, w)."""
    return quantize_colors(F.adaptive_avg_pool2d(rgb, size), bins)


def rebalanced_ce(logits: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """Per-position cross-entropy (logits (N, K, h, w), y (N, h, w)) weighted by the inverse
    frequency of each position's class in the batch (weights averaging 1)."""
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    counts = torch.bincount(y.flatten(), minlength=n).float()
    w = (1.0 / counts.clamp_min(1.0))[y]
    return (ce * w).sum() / w.sum()


class ImagePretext(Pretext):
    """Base of the image pretexts (module doc): ``tasks`` on one frame of each video, one head each."""

    tasks: ClassVar[tuple[str, ...]] = ()
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        from avbench.models.video import FRAME_NAMES

        if cfg.get("video_backbone") not in FRAME_NAMES:
            raise ValueError(
                f"{self.name} trains a frame encoder: set video_backbone to one of {list(FRAME_NAMES)} in the run "
                f"(not {cfg.get('video_backbone')!r})"
            )
        image = dict(cfg.get("image") or {})
        self.image = image
        self.task_cfg = task_settings(image)
        self.hidden = int(image.get("hidden", 128))
        self.tasks = self.chosen_tasks(image)  # type: ignore[misc]
        weights = dict(image.get("weights") or {})
        bad = sorted(set(weights) - set(self.tasks))
        if bad:
            raise ValueError(f"image.weights names tasks {bad} that {self.name} does not train ({list(self.tasks)})")
        self.weights = {t: float(weights.get(t, 1.0)) for t in self.tasks}
        c = self.task_cfg["context"]
        if "context" in self.tasks and int(c["jitter"]) > 0 and int(c["gap"]) <= 2 * int(c["jitter"]):
            raise ValueError(
                f"image.context: the gap ({c['gap']} px) must exceed twice the jitter ({c['jitter']} px), "
                "or two jittered patches can touch (the shortcut the gap is there to remove)"
            )

    def chosen_tasks(self, image: dict[str, Any]) -> tuple[str, ...]:
        return type(self).tasks

    def settings(self) -> dict[str, Any]:
        return dict(self.image)

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=1, audio=False)

    def view(self, epoch: int) -> View:
        return functools.partial(image_view, tasks=self.tasks, settings=self.task_cfg)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        d, h = dims["video"], self.hidden
        heads: dict[str, nn.Module] = {}
        for t in self.tasks:
            if t == "context":
                heads[t] = mlp(2 * d, len(NEIGHBOURS), h)
            elif t == "rotation":
                heads[t] = mlp(d, 4, h)
            elif t == "colour":
                heads[t] = ColourHead(dim=d, n_colours=int(self.task_cfg["colour"]["bins"]) ** 2, hidden=h)
            elif t == "exemplar":
                heads[t] = mlp(d, int(self.task_cfg["exemplar"]["embed_dim"]), h)
        return nn.ModuleDict(heads)

    # -- one task ----------------------------------------------------------------------------------
    def task_loss(self, t: str, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss and metrics (``<t>_acc``, ...) of task ``t`` on a batch."""
        head = model.head[t]
        if t == "context":
            f = model.encode("video", batch["video_ctx"])  # (B, 2, D)
            logits = head(f.flatten(1))
            y = batch["position"]
            return F.cross_entropy(logits.float(), y), {"context_acc": accuracy(logits, y)}
        if t == "rotation":
            logits = head(model.encode("video", batch["video_rot"]))
            y = batch["rotation"]
            return F.cross_entropy(logits.float(), y), {"rotation_acc": accuracy(logits, y)}
        if t == "colour":
            rgb = batch["video_col"][:, :, 0]  # (B, 3, H, W)
            m = image_map(model, grey(batch["video_col"])[:, :, 0])
            logits = head(m)
            bins = int(self.task_cfg["colour"]["bins"])
            y = colour_targets(rgb, tuple(m.shape[-2:]), bins)
            n = bins**2
            if bool(self.task_cfg["colour"]["rebalance"]):
                loss = rebalanced_ce(logits, y, n)
            else:
                loss = F.cross_entropy(logits.float(), y)
            mode = torch.bincount(y.flatten(), minlength=n).max().float() / y.numel()
            return loss, {
                "colour_acc": float((logits.argmax(1) == y).float().mean()),
                "colour_mode_acc": float(mode),
            }
        if t == "exemplar":
            x = batch["video_ex"]  # (B, 2, 3, 1, H, W)
            z = F.normalize(head(model.encode("video", x)).float(), dim=-1)  # (B, 2, E)
            same = same_video(batch["key"], z.device) if "key" in batch else None
            loss, logits = info_nce(z[:, 0], z[:, 1], tau=float(self.task_cfg["exemplar"]["tau"]), same=same)
            return loss, {"exemplar_acc": top1(logits.detach())}
        raise ValueError(f"unknown image task {t!r}")

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        total: torch.Tensor | None = None
        logs: dict[str, float] = {}
        for t in self.tasks:
            loss, m = self.task_loss(t, model, batch)
            logs.update(m)
            if len(self.tasks) > 1:
                logs[f"{t}_loss"] = float(loss.detach())
            total = self.weights[t] * loss if total is None else total + self.weights[t] * loss
        logs["pretext_acc"] = float(np.mean([logs[f"{t}_acc"] for t in self.tasks]))
        assert total is not None
        return total, logs

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        logs: dict[str, float] = {}
        for t in self.tasks:
            logs.update(self.task_loss(t, model, batch)[1])
        logs["pretext_acc"] = float(np.mean([logs[f"{t}_acc"] for t in self.tasks]))
        return logs


class ImageContext(ImagePretext):
    """Relative position of two patches (8-way): ``image_context``."""

    name = "image_context"
    tasks = ("context",)


class ImageColour(ImagePretext):
    """Colourization of a grey frame (quantized colours per position): ``image_colour``."""

    name = "image_colour"
    tasks = ("colour",)


class ImageExemplar(ImagePretext):
    """Exemplar instance discrimination (two augmentations, InfoNCE over the batch): ``image_exemplar``."""

    name = "image_exemplar"
    tasks = ("exemplar",)


class ImageRotation(ImagePretext):
    """Which of four rotations a square frame crop shows: ``image_rotation``."""

    name = "image_rotation"
    tasks = ("rotation",)


class ImageMultitask(ImagePretext):
    """Several image tasks (``image.tasks``) on one shared encoder, one head each, losses summed."""

    name = "image_multitask"

    def chosen_tasks(self, image: dict[str, Any]) -> tuple[str, ...]:
        tasks = tuple(str(t) for t in (image.get("tasks") or ("context", "colour", "exemplar")))
        bad = [t for t in tasks if t not in TASKS]
        if bad or len(set(tasks)) != len(tasks) or not tasks:
            raise ValueError(f"image.tasks must be distinct tasks of {list(TASKS)}, not {list(tasks)}")
        return tuple(t for t in TASKS if t in tasks)  # a fixed order: the same run whatever the list's order


IMAGE_PRETEXTS = (ImageContext, ImageColour, ImageExemplar, ImageRotation, ImageMultitask)
