"""Label propagation of object masks through a video with a frozen encoder (the DAVIS protocol).

What correspondence methods (colorization as tracking, cycle-consistent tracking; seed 001) learn
is measured by propagating the first frame's object masks through the rest of the video using
only feature similarity (Jabri et al. 2020, "space-time correspondence as a contrastive random
walk", and the protocol of Wang et al. 2019 / Vondrick et al. 2018): each position of frame ``t``
takes the labels of its ``top_k`` most similar positions (cosine similarity, softmax at
``temperature``) among the first frame and the ``context`` previous frames, within a spatial
``radius`` (in feature cells); the label maps are upsampled to the mask size and the arg-max is the
prediction. Scores are DAVIS's: region similarity J (IoU) and boundary F measure, averaged per
object over the frames other than the first and the last, then over objects (``j_mean``,
``f_mean``, and their mean ``jf_mean``).

Features: any callable ``frames (T, H, W, 3) uint8 -> (T, C, h, w) float``. :func:`encoder_features`
makes one from a video encoder (:mod:`avbench.models`): the feature map of an intermediate stage
(:func:`avbench.models.video.stage_features`) of a short clip starting at each
frame. :func:`pixel_features` (colour at each position) is the classic baseline that a
correspondence method must beat, and "copy the first mask" the trivial one (:func:`copy_first`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from avbench.models.video import stage_features

FeatureFn = Callable[[np.ndarray], torch.Tensor]


# -- scores ------------------------------------------------------------------------------------


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity J: IoU of two boolean masks; 1 when both are empty (DAVIS)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The 1-pixel boundary of a boolean mask (its pixels with a 4-neighbour outside it)."""
    m = np.asarray(mask, np.uint8)
    if m.size == 0:
        return m.astype(bool)
    eroded = cv2.erode(
        m, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    return (m > 0) & (eroded == 0)


def f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """Boundary F measure (DAVIS): precision and recall of the two boundaries, each boundary pixel
    matched when the other boundary passes within ``ceil(bound_th * image diagonal)`` pixels;
    1 when both boundaries are empty, 0 when only one is."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    bp, bg = boundary_map(pred), boundary_map(gt)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    r = max(1, int(math.ceil(bound_th * math.hypot(*gt.shape))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near_g = cv2.dilate(bg.astype(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), disk) > 0
    precision = float((bp & near_g).sum() / n_p)
    recall = float((bg & near_p).sum() / n_g)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def score_sequence(pred: np.ndarray, gt: np.ndarray) -> dict[int, dict[str, float]]:
    """Per object of a sequence: mean J and F over the evaluated frames.

    pred, gt: int (T, H, W) label maps (0 = background, 1..K objects). As the DAVIS evaluation
    does, the first frame (given) and the last are not scored (with fewer than 3 frames, every
    frame after the first is). Objects: the labels present in the first ground-truth frame.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    T = len(gt)
    frames = range(1, T - 1) if T >= 3 else range(1, T)
    out: dict[int, dict[str, float]] = {}
    for obj in sorted(int(v) for v in np.unique(gt[0]) if v != 0):
        js = [jaccard(pred[t] == obj, gt[t] == obj) for t in frames]
        fs = [f_measure(pred[t] == obj, gt[t] == obj) for t in frames]
        out[obj] = {"j": float(np.mean(js)) if js else float("nan"), "f": float(np.mean(fs)) if fs else float("nan")}
    return out


def summarize_scores(per_sequence: dict[str, dict[int, dict[str, float]]]) -> dict[str, float]:
    """DAVIS's means over every (sequence, object): ``j_mean``, ``f_mean``, ``jf_mean``, ``n_objects``."""
    js = [o["j"] for s in per_sequence.values() for o in s.values()]
    fs = [o["f"] for s in per_sequence.values() for o in s.values()]
    if not js:
        return {"j_mean": float("nan"), "f_mean": float("nan"), "jf_mean": float("nan"), "n_objects": 0}
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {"j_mean": j, "f_mean": f, "jf_mean": (j + f) / 2, "n_objects": len(js)}


# -- propagation -------------------------------------------------------------------------------


def _local_mask(h: int, w: int, radius: float) -> torch.Tensor:
    """(h*w, h*w) bool: position pairs within ``radius`` feature cells of each other."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    p = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).float()
    return torch.cdist(p, p) <= radius


def propagate(
    feats: torch.Tensor,
    first: np.ndarray,
    *,
    n_labels: int | None = None,
    top_k: int = 10,
    temperature: float = 0.07,
    context: int = 4,
    radius: float = 3.0,
) -> np.ndarray:
    """Propagate the first frame's label map through a sequence by feature similarity.

    feats: float (T, C, h, w) features of each frame; first: int (H, W) labels of frame 0 (0 =
    background). Returns int (T, H, W): frame 0 is ``first``, the others predicted. ``radius``:
    in feature cells (inf: no spatial restriction).
    """
    feats = F.normalize(feats.float(), dim=1)
    T, C, h, w = feats.shape
    first = np.asarray(first)
    H, W = first.shape
    K = int(n_labels if n_labels is not None else first.max() + 1)
    onehot = torch.from_numpy(np.eye(K, dtype=np.float32)[first]).permute(2, 0, 1)  # (K, H, W)
    lab0 = F.interpolate(onehot[None], size=(h, w), mode="area")[0].reshape(K, h * w)  # (K, N)
    local = _local_mask(h, w, radius) if math.isfinite(radius) else None
    keys = feats.reshape(T, C, h * w)
    labels: list[torch.Tensor] = [lab0]
    out = np.empty((T, H, W), np.int64)
    out[0] = first
    for t in range(1, T):
        ref = [0] + list(range(max(1, t - context), t))
        kf = torch.cat([keys[r] for r in ref], 1)  # (C, R*N)
        kl = torch.cat([labels[r] for r in ref], 1)  # (K, R*N)
        aff = keys[t].T @ kf  # (N, R*N)
        if local is not None:
            aff = aff.masked_fill(~local.repeat(1, len(ref)), float("-inf"))
        k = min(top_k, aff.shape[1])
        val, idx = aff.topk(k, dim=1)
        wgt = torch.softmax(val / temperature, dim=1)
        wgt = torch.nan_to_num(wgt, nan=0.0)  # a query with no neighbour in reach keeps nothing
        lab = (kl[:, idx] * wgt[None]).sum(-1)  # (K, N)
        labels.append(lab)
        up = F.interpolate(lab.reshape(1, K, h, w), size=(H, W), mode="bilinear", align_corners=False)[0]
        out[t] = up.argmax(0).numpy()
    return out


def copy_first(first: np.ndarray, n_frames: int) -> np.ndarray:
    """The trivial baseline: the first frame's masks held for every frame."""
    return np.repeat(np.asarray(first)[None], n_frames, 0)


# -- features ----------------------------------------------------------------------------------


def pixel_features(frames: np.ndarray, *, stride: int = 4) -> torch.Tensor:
    """Colour (Lab, each channel standardised) averaged over ``stride`` x ``stride`` cells: the
    baseline with no learned feature."""
    lab = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2LAB) for f in np.asarray(frames, np.uint8)]).astype(np.float32)
    x = torch.from_numpy(lab).permute(0, 3, 1, 2)
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / (x.std(dim=(0, 2, 3), keepdim=True) + 1e-6)
    return F.avg_pool2d(x, stride, stride, ceil_mode=True)


def encoder_features(
    encoder: nn.Module,
    *,
    clip_frames: int = 4,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    batch: int = 16,
) -> FeatureFn:
    """Frames (T, H, W, 3) uint8 -> (T, C, h, w): the encoder's intermediate feature map of the clip
    of ``clip_frames`` frames starting at each frame (the last frame repeated past the end),
    averaged over the clip's time axis. Frozen, eval mode, no gradients."""
    stage = stage_features(encoder)

    @torch.inference_mode()
    def fn(frames: np.ndarray) -> torch.Tensor:
        encoder.eval()
        x = torch.from_numpy(np.asarray(frames, np.uint8)).float().div_(255.0).permute(3, 0, 1, 2)  # (3, T, H, W)
        if mean is not None and std is not None:
            x = (x - torch.tensor(mean).view(3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
        T = x.shape[1]
        idx = torch.clamp(torch.arange(T)[:, None] + torch.arange(clip_frames)[None], max=T - 1)  # (T, L)
        out = []
        for s in range(0, T, batch):
            clips = x[:, idx[s : s + batch]].permute(1, 0, 2, 3, 4)  # (B, 3, L, H, W)
            out.append(stage(clips).mean(dim=2))
        return torch.cat(out, 0)

    return fn


def evaluate_sequences(
    sequences: Sequence[dict[str, Any]], features: FeatureFn | None, **kw: Any
) -> tuple[dict[str, float], dict[str, dict[int, dict[str, float]]]]:
    """Propagate and score every sequence (``{"id", "frames": (T,H,W,3) uint8, "masks": (T,H,W) int}``);
    ``features=None``: the copy-first-mask baseline. Returns the DAVIS means and the per-sequence,
    per-object scores."""
    per: dict[str, dict[int, dict[str, float]]] = {}
    for s in sequences:
        masks = np.asarray(s["masks"])
        if features is None:
            pred = copy_first(masks[0], len(masks))
        else:
            pred = propagate(features(s["frames"]), masks[0], n_labels=int(masks.max()) + 1, **kw)
        per[str(s["id"])] = score_sequence(pred, masks)
    return summarize_scores(per), per


# -- a run's rows, and the table of runs -----------------------------------------------------

METRICS = ("j_mean", "f_mean", "jf_mean")


def checkpoint_features(checkpoint: Any, *, clip_frames: int = 4) -> tuple[FeatureFn, dict[str, Any]]:
    """The feature function of a pretraining checkpoint's video encoder, and its meta. A run
    without a video encoder (sound only, flow only) has nothing to propagate with: ValueError."""
    from avbench.checkpoint import load_encoders

    encoders, meta = load_encoders(checkpoint)
    if "video" not in encoders:
        raise ValueError(
            f"run {meta.get('run')!r} ({meta.get('method')}) has no video encoder "
            f"(encoders: {', '.join(sorted(encoders)) or 'none'}): nothing to propagate with"
        )
    return encoder_features(encoders["video"], clip_frames=clip_frames), meta


def per_object_frame(per: dict[str, dict[int, dict[str, float]]]) -> pd.DataFrame:
    """Per-sequence, per-object scores as rows ``sequence, object, j, f``."""
    rows = [
        {"sequence": s, "object": int(o), "j": v["j"], "f": v["f"]} for s, objs in per.items() for o, v in objs.items()
    ]
    return pd.DataFrame(rows, columns=["sequence", "object", "j", "f"])


def _means(objects: pd.DataFrame) -> dict[str, float]:
    """DAVIS's means (:func:`summarize_scores`) of per-object rows."""
    per = {
        str(s): {int(o): {"j": float(j), "f": float(f)} for o, j, f in zip(g["object"], g["j"], g["f"])}
        for s, g in objects.groupby("sequence", sort=True)
    }
    return summarize_scores(per)


def _sequence_draws(sequences: list[str], n: int, seed: int, dataset: str) -> np.ndarray:
    """(n, S) counts of each sequence in each bootstrap resample: the same for every run of a set
    (sorted sequence names, seeded by the set), so differences between runs are paired."""
    from avbench.stats import _rng

    s = len(sequences)
    return _rng(seed, "propagation", dataset, *sequences).multinomial(s, np.full(s, 1.0 / s), size=n)


def bootstrap_scores(objects: pd.DataFrame, *, dataset: str, n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Bootstrap samples (n,) of ``j_mean``, ``f_mean``, ``jf_mean`` with the sequences as units
    (an object's score stays with its sequence)."""
    seqs = sorted(objects["sequence"].astype(str).unique())
    if not seqs:
        return {m: np.full(n, np.nan) for m in METRICS}
    idx = {s: i for i, s in enumerate(seqs)}
    pos = objects["sequence"].astype(str).map(idx).to_numpy()
    cnt = _sequence_draws(seqs, n, seed, dataset)
    w = cnt[:, pos].astype(float)  # (n, objects): each object weighted by its sequence's count
    out = {}
    for m, col in (("j_mean", "j"), ("f_mean", "f")):
        v = objects[col].to_numpy(float)
        out[m] = (w @ v) / w.sum(1)
    out["jf_mean"] = (out["j_mean"] + out["f_mean"]) / 2
    return out


def propagation_rows(
    objects: pd.DataFrame,
    *,
    method: str,
    pretext: str,
    backbone: str,
    pretrain_data: str,
    dataset: str,
    seed: int = 0,
    n_boot: int = 2000,
    extra: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Leaderboard-style rows (protocol ``propagation``, one per metric) with the 95% interval over
    the set's sequences (``lo``, ``hi``)."""
    summary = _means(objects)
    boot = bootstrap_scores(objects, dataset=dataset, n=n_boot)
    rows = []
    for m in METRICS:
        lo, hi = np.nanpercentile(boot[m], [2.5, 97.5]) if np.isfinite(boot[m]).any() else (np.nan, np.nan)
        rows.append(
            {
                "method": method,
                "pretext": pretext,
                "encoder": "video",
                "backbone": backbone,
                "pretrain_data": pretrain_data,
                "downstream": dataset,
                "protocol": "propagation",
                "fold": 0,
                "metric": m,
                "value": summary[m],
                "lo": float(lo),
                "hi": float(hi),
                "n_test": int(objects["sequence"].nunique()),
                "n_objects": int(summary["n_objects"]),
                "seed": seed,
                **(extra or {}),
            }
        )
    return pd.DataFrame(rows)


def propagation_table(
    objects: dict[str, pd.DataFrame], *, dataset: str, reference: str | None = None, n_boot: int = 2000
) -> pd.DataFrame:
    """One row per run (``objects``: run name -> its per-object scores on ``dataset``): J, F and
    J&F means with intervals, and, with a ``reference`` run (e.g. the randomly initialised encoder),
    the paired difference of J&F to it with its interval and the verdict of "better than it"."""
    from avbench.stats import verdict

    boots = {r: bootstrap_scores(o, dataset=dataset, n=n_boot) for r, o in objects.items()}
    rows = []
    for r, o in objects.items():
        row: dict[str, Any] = {"run": r, "downstream": dataset, "sequences": int(o["sequence"].nunique())}
        for m in METRICS:
            lo, hi = np.nanpercentile(boots[r][m], [2.5, 97.5])
            row[m] = float(_means(o)[m])
            row[f"{m}_lo"], row[f"{m}_hi"] = float(lo), float(hi)
        if reference is not None and reference in boots and r != reference:
            same = sorted(o["sequence"].unique()) == sorted(objects[reference]["sequence"].unique())
            if same:
                d = boots[r]["jf_mean"] - boots[reference]["jf_mean"]
                lo, hi = np.nanpercentile(d, [2.5, 97.5])
                ref_jf = _means(objects[reference])["jf_mean"]
                row.update(
                    {
                        "reference": reference,
                        "jf_diff": row["jf_mean"] - ref_jf,
                        "jf_diff_lo": float(lo),
                        "jf_diff_hi": float(hi),
                        "verdict": verdict(float(lo), float(hi)),
                    }
                )
        rows.append(row)
    return pd.DataFrame(rows)


# -- one job: a run (or a baseline) on a DAVIS-layout set ------------------------------------

BASELINES = ("pixels", "copy_first")


@dataclass
class PropagationSettings:
    """The ``propagation`` config section's protocol settings."""

    short_side: int = 64
    max_frames: int | None = None
    clip_frames: int = 4
    top_k: int = 10
    temperature: float = 0.07
    context: int = 4
    radius: float = 3.0
    n_boot: int = 2000

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> PropagationSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in names})

    def propagate_kw(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "temperature": self.temperature, "context": self.context, "radius": self.radius}


@dataclass
class PropagationJob:
    rows: pd.DataFrame  # leaderboard-style rows (one per metric) with intervals
    objects: pd.DataFrame  # per sequence and object: j, f (and the run and set)
    skipped: pd.DataFrame  # sequences not evaluated, with their status and reason
    example: dict[str, Any] | None  # one sequence's frames, truth and prediction (for a picture)


def run_propagation(
    source: str,
    davis_root: str | os.PathLike[str],
    settings: PropagationSettings,
    *,
    dataset: str,
    run: str | None = None,
) -> PropagationJob:
    """Propagate the first masks through every usable sequence of a DAVIS-layout folder with the
    video encoder of checkpoint ``source`` (a path), or a baseline (``pixels``: colour features;
    ``copy_first``: the first mask held), and score them. Sequences the manifest marks unusable are
    listed in ``skipped`` with their reason, never silently dropped."""
    from avbench.ingest.davis import load_sequence, prepare_davis

    if source in BASELINES:
        meta: dict[str, Any] = {
            "run": source,
            "method": source,
            "pretext": "baseline",
            "backbone": "none",
            "dataset": "none",
            "seed": 0,
        }
        features: FeatureFn | None = (lambda f: pixel_features(f, stride=4)) if source == "pixels" else None
    else:
        features, meta = checkpoint_features(source, clip_frames=settings.clip_frames)
    manifest = prepare_davis(davis_root)
    ok = manifest[manifest["status"] == "ok"]
    skipped = manifest[manifest["status"] != "ok"][["id", "status", "reason"]].reset_index(drop=True)
    per: dict[str, dict[int, dict[str, float]]] = {}
    example = None
    for _, r in ok.iterrows():
        seq = load_sequence(r["path"], short_side=settings.short_side, max_frames=settings.max_frames)
        masks = seq["masks"]
        if len(masks) < 2 or masks[0].max() <= 0:
            skipped.loc[len(skipped)] = [r["id"], "malformed", "fewer than 2 frames or no object in the first mask"]
            continue
        if features is None:
            pred = copy_first(masks[0], len(masks))
        else:
            pred = propagate(
                features(seq["frames"]), masks[0], n_labels=int(masks.max()) + 1, **settings.propagate_kw()
            )
        valid = masks >= 0
        per[str(r["id"])] = score_sequence(np.where(valid, pred, 0), np.where(valid, masks, 0))
        if example is None:
            example = {"id": str(r["id"]), "frames": seq["frames"], "masks": masks, "pred": pred}
    name = run or str(meta.get("run"))
    objects = per_object_frame(per)
    rows = propagation_rows(
        objects,
        method=name,
        pretext=str(meta.get("method", meta.get("pretext", ""))),
        backbone=str(meta.get("backbone", (meta.get("config") or {}).get("video_backbone", ""))),
        pretrain_data=str(meta.get("pretrain_data", meta.get("dataset", ""))),
        dataset=dataset,
        seed=int(meta.get("seed", 0)),
        n_boot=settings.n_boot,
        extra={"run_name": name},
    )
    objects.insert(0, "run", name)
    objects.insert(1, "downstream", dataset)
    return PropagationJob(rows=rows, objects=objects, skipped=skipped, example=example)


def example_picture(example: dict[str, Any], path: str | os.PathLike[str], *, title: str = "", n: int = 4) -> None:
    """A strip of ``n`` frames of one sequence: the truth's outline in white, the propagated
    mask's in yellow (dashed) over a dimmed frame, frame 0 (given) first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avbench.paths import atomic_path

    frames, masks, pred = example["frames"], example["masks"], example["pred"]
    T = len(frames)
    picks = sorted({int(round(i * (T - 1) / max(1, n - 1))) for i in range(n)})
    fig, axes = plt.subplots(1, len(picks), figsize=(2.4 * len(picks), 2.2), squeeze=False)
    for ax, t in zip(axes[0], picks):
        ax.imshow(frames[t].astype(np.float32) / 255.0 * 0.7)
        ax.contour((masks[t] > 0).astype(float), levels=[0.5], colors="white", linewidths=1.0)
        if (pred[t] > 0).any():
            ax.contour((pred[t] > 0).astype(float), levels=[0.5], colors="yellow", linewidths=1.2, linestyles="dashed")
        ax.set_title(f"frame {t}" + (" (given)" if t == 0 else ""), fontsize=8)
        ax.axis("off")
    fig.suptitle(title or str(example["id"]), fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
