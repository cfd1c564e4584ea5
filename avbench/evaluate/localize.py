"""Sound-source localization (issue 13, item 2): "what is making the sound?", scored on the world's boxes.

For every clip of a localization set (shards of world videos written with ``record_boxes``, e.g.
``avbench localize-set``; a share of them with a **silent moving object**), a heatmap over the
clip's middle frame at the shard's resolution comes from one of:

- a run whose head localizes (``avolnet``, :mod:`avbench.pretext.avol`): the similarity of the
  clip's audio embedding with every position of the frame's visual map, resized to the frame;
- a ``multisensory`` run (:mod:`avbench.pretext.multisensory`): the **class activation map** of its
  in-sync logit (:func:`multisensory_cam`, Zhou et al. 2016 as Owens & Efros 2018 use it): the sync
  head's weights applied to every position of the fused network's last map, with the clip's own
  audio, averaged over the map's time steps and resized to the frame;
- ``centre``: a centred Gaussian (sigma a quarter of each side), the prior every method must beat;
- ``motion``: frame-difference energy at each position (the mean absolute difference of the frame
  with its two neighbours, blurred by 1 px): points at whatever moves, so a silent moving object
  (or a moving background) fools it.

The sounding object's box of that frame (the world's ``object_box_frame``: full-frame pixels, bars
and the shake camera included) is mapped into the shard's frame through the sample's decode region
(``meta.geometry.region``: the crop of the bars and the cover cut) and scale (:func:`shard_box`), at
the source frame the stored frame shows (the last one at or before its time). Two scores per clip:

- ``pointing``: the heatmap's maximum (its first, in row-major order) lies inside the box (the
  pointing game);
- ``ciou``: IoU of the heatmap's top ``top_fraction`` of pixels with the box (consensus-IoU style:
  the literature thresholds the map; a fixed area makes sources comparable).

Rows give each score with a 95% bootstrap interval over videos (a video's clips resampled
together; one clip per video makes it "over clips"), for ``all`` clips and separately for clips
with / without a silent object visible; the table compares each source with the centre prior,
paired over the same clips. Clips whose sounding object is not visible are skipped with a reason.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

PRIORS = ("centre", "motion")
METRICS = ("pointing", "ciou")
SUBSETS = ("all", "silent_object", "no_silent_object")

# -- geometry ----------------------------------------------------------------------------------


def shard_box(box: Any, region: Any, size: Any) -> np.ndarray:
    """A box in source-frame pixels (``[x0, y0, x1, y1]``, pixel centres at integers, as the world
    writes them) -> the same box in the stored frame's continuous coordinates (pixel ``j`` covers
    ``[j, j + 1)``), through the decode ``region`` (source pixels scaled into the frame, edges) and
    ``size`` = (W, H); clipped to the frame. float (4,)."""
    b = np.asarray(box, float)
    x0, y0, x1, y1 = (float(v) for v in region)
    W, H = float(size[0]), float(size[1])
    sx, sy = W / (x1 - x0), H / (y1 - y0)
    out = np.array([(b[0] + 0.5 - x0) * sx, (b[1] + 0.5 - y0) * sy, (b[2] + 0.5 - x0) * sx, (b[3] + 0.5 - y0) * sy])
    return np.clip(out, [0, 0, 0, 0], [W, H, W, H])


def box_mask(box: Any, size: tuple[int, int]) -> np.ndarray:
    """bool (H, W): the pixels whose centre lies in ``box`` (frame coordinates, :func:`shard_box`);
    a box smaller than a pixel: the pixel holding its centre. Empty when the box has no area."""
    W, H = int(size[0]), int(size[1])
    b = np.asarray(box, float)
    m = np.zeros((H, W), bool)
    if b[2] <= b[0] or b[3] <= b[1]:
        return m
    xs, ys = np.arange(W) + 0.5, np.arange(H) + 0.5
    m[np.ix_((ys >= b[1]) & (ys <= b[3]), (xs >= b[0]) & (xs <= b[2]))] = True
    if not m.any():
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        m[min(H - 1, int(cy)), min(W - 1, int(cx))] = True
    return m


def source_frame(t: float, fps: float, n_frames: int) -> int:
    """The source frame shown at ``t`` seconds: the last one whose time is at or before it."""
    return int(min(n_frames - 1, max(0, math.floor(t * fps + 1e-6))))


# -- heatmaps and scores -----------------------------------------------------------------------


def centre_prior(size: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """A centred Gaussian, sigma ``sigma`` of each side: float (H, W), maximum at the centre."""
    W, H = int(size[0]), int(size[1])
    x = (np.arange(W) + 0.5 - W / 2) / (sigma * W)
    y = (np.arange(H) + 0.5 - H / 2) / (sigma * H)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def motion_prior(frames: np.ndarray, k: int, blur: float = 1.0) -> np.ndarray:
    """Frame-difference energy at frame ``k`` of ``frames`` (T, H, W, 3) uint8: the mean absolute
    difference with frames k-1 and k+1 (those that exist), summed over colours, blurred (sigma
    ``blur`` px). float (H, W); zero for a still picture."""
    f = frames.astype(np.float32)
    nb = [j for j in (k - 1, k + 1) if 0 <= j < len(f)]
    if not nb:
        return np.zeros(f.shape[1:3], np.float32)
    e = sum(np.abs(f[k] - f[j]).sum(-1) for j in nb) / len(nb)
    return cv2.GaussianBlur(e, (0, 0), blur) if blur > 0 else e


def pointing_hit(heat: np.ndarray, mask: np.ndarray) -> bool:
    """The pointing game: the heatmap's maximum (the first in row-major order) lies in ``mask``."""
    i = int(np.argmax(heat))
    return bool(mask.reshape(-1)[i])


def top_region(heat: np.ndarray, fraction: float) -> np.ndarray:
    """bool (H, W): the ``fraction`` of pixels with the largest heat (ties in row-major order; at
    least one pixel)."""
    n = heat.size
    k = max(1, int(round(fraction * n)))
    order = np.argsort(-heat.reshape(-1), kind="stable")[:k]
    m = np.zeros(n, bool)
    m[order] = True
    return m.reshape(heat.shape)


def region_iou(heat: np.ndarray, mask: np.ndarray, fraction: float) -> float:
    """IoU of the heatmap's top ``fraction`` region with ``mask``."""
    r = top_region(heat, fraction)
    union = int((r | mask).sum())
    return float((r & mask).sum() / union) if union else 0.0


# -- the clips of a localization set -----------------------------------------------------------


@dataclass
class LocalizeSettings:
    """The ``localize`` config section's protocol settings."""

    clip_frames: int = 16
    clips_per_video: int = 1
    top_fraction: float = 0.05
    centre_sigma: float = 0.25
    motion_blur: float = 1.0
    n_boot: int = 2000
    pictures: int = 6

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> LocalizeSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in names})


@dataclass
class Clip:
    video: str
    clip: int
    frames: np.ndarray  # (T, H, W, 3) uint8, the clip
    k: int  # the scored frame within the clip
    audio: np.ndarray | None  # (n_mels, A) float32 log-mel of the clip
    box: np.ndarray  # sounding object, frame coordinates
    silent_box: np.ndarray | None  # the silent object's when visible in that frame
    silent_object: bool  # the video has a silent object
    wav: np.ndarray | None = None  # (N,) float32 waveform of the clip (shards written with ``waveform``)


def _truth(gt_dir: Path, source: str) -> dict[str, Any] | None:
    import json

    p = gt_dir / f"{Path(source).stem}.json"
    return json.loads(p.read_text()) if p.exists() else None


def iter_clips(
    samples: list[dict[str, Any]], gt_dir: str | os.PathLike[str], settings: LocalizeSettings
) -> tuple[list[Clip], list[dict[str, Any]]]:
    """The scored clips of decoded shard samples (:func:`avbench.shards.loader.load_samples`) with
    the world's ground truth in ``gt_dir`` (``<id>.json``), and the skipped ones (video, clip,
    status, reason)."""
    from avbench.shards.loader import clip_starts, frame_time, mel_window, wav_window

    gt_dir = Path(gt_dir)
    clips: list[Clip] = []
    skipped: list[dict[str, Any]] = []
    for s in samples:
        meta = s["meta"]
        vid = Path(str(meta.get("source") or meta.get("id"))).stem
        gt = _truth(gt_dir, vid)
        if gt is None or "object_box_frame" not in gt:
            skipped.append({"video": vid, "clip": -1, "status": "no_truth", "reason": "no box ground truth"})
            continue
        if s.get("frames") is None:
            skipped.append({"video": vid, "clip": -1, "status": "no_frames", "reason": "sample without frames"})
            continue
        L = int(settings.clip_frames)
        starts = clip_starts(meta, L)
        if not starts:
            skipped.append({"video": vid, "clip": -1, "status": "too_short", "reason": f"no {L}-frame clip"})
            continue
        n = max(1, int(settings.clips_per_video))
        if n == 1:
            picks = [starts[len(starts) // 2]]
        else:
            picks = sorted({starts[int(round(i * (len(starts) - 1) / (n - 1)))] for i in range(n)})
        region = (meta.get("geometry") or {}).get("region")
        size = tuple(int(v) for v in meta["size"])
        fps_src, n_src = float(gt["spec"]["fps"]), int(gt["n_frames"])
        for ci, k0 in enumerate(picks):
            k = k0 + L // 2
            t = float(meta["t_start"]) + frame_time(meta, k)
            j = source_frame(t, fps_src, n_src)
            if region is None or not gt["object_visible"][j]:
                skipped.append(
                    {"video": vid, "clip": ci, "status": "not_visible", "reason": f"sounding object not in frame {j}"}
                )
                continue
            box = shard_box(gt["object_box_frame"][j], region, size)
            if not box_mask(box, size).any():
                skipped.append({"video": vid, "clip": ci, "status": "not_visible", "reason": "box outside the crop"})
                continue
            sbox = None
            if gt.get("silent_object") and gt["silent_object_visible"][j]:
                sb = shard_box(gt["silent_object_box_frame"][j], region, size)
                sbox = sb if box_mask(sb, size).any() else None
            audio = wav = None
            if s.get("mel") is not None:
                audio = mel_window(s["mel"], meta, frame_time(meta, k0), L / float(meta["fps"]))
            if s.get("wav") is not None:
                wav = wav_window(s["wav"], meta, frame_time(meta, k0), L / float(meta["fps"]))
            clips.append(
                Clip(
                    video=vid,
                    clip=ci,
                    frames=np.asarray(s["frames"][k0 : k0 + L]),
                    k=L // 2,
                    audio=audio,
                    wav=wav,
                    box=box,
                    silent_box=sbox,
                    silent_object=bool(gt.get("silent_object")),
                )
            )
    return clips, skipped


HeatFn = Callable[[list[Clip]], list[np.ndarray]]


def prior_heatmaps(name: str, settings: LocalizeSettings) -> HeatFn:
    """The heatmap function of a prior (``centre`` or ``motion``)."""
    if name == "centre":
        return lambda clips: [centre_prior(c.frames.shape[2:0:-1], settings.centre_sigma) for c in clips]
    if name == "motion":
        return lambda clips: [motion_prior(c.frames, c.k, settings.motion_blur) for c in clips]
    raise ValueError(f"unknown prior {name!r} (one of {', '.join(PRIORS)})")


def multisensory_cam(net: Any, fc: Any, video: Any, audio: Any) -> Any:
    """Class activation map of a Multisensory network's in-sync logit: the fused map
    (:meth:`~avbench.models.multisensory.MultisensoryNet.fuse_map`, (B, C, T, h, w), the clip's video
    with ``audio``) weighted by the sync head's linear layer ``fc`` (one output), plus its bias, at
    every position: float (B, T, h, w). The network pools the map with a global max, so the logit is
    the head applied to the channel-wise maxima; the CAM says which positions carry the evidence."""
    import torch

    with torch.no_grad():
        fmap = net.fuse_map(net.video_map(video), audio)
        w = fc.weight.reshape(-1).to(fmap.dtype)
        return torch.einsum("bcthw,c->bthw", fmap, w) + fc.bias.reshape(()).to(fmap.dtype)


def cam_heatmaps(net: Any, fc: Any, video: Any, audio: Any, size: tuple[int, int]) -> Any:
    """:func:`multisensory_cam` of clips ``video`` (B, 3, T, H, W) in [0, 1] averaged over its time
    steps and bilinearly resized to ``size`` = (W, H): float (B, H, W)."""
    import torch

    cam = multisensory_cam(net, fc, video, audio).mean(dim=1)
    with torch.no_grad():
        return torch.nn.functional.interpolate(
            cam[:, None], size=(size[1], size[0]), mode="bilinear", align_corners=False
        )[:, 0]


LOCALIZING = ("avolnet", "multisensory")


def checkpoint_heatmaps(checkpoint: Any, *, batch_size: int = 64) -> tuple[HeatFn, dict[str, Any]]:
    """The heatmap function of a pretraining checkpoint whose head localizes (``avolnet``: the
    similarity map; ``multisensory``: the CAM of the in-sync logit), and its meta. Other methods have
    no localization map: ValueError."""
    import torch

    from avbench.checkpoint import load_checkpoint
    from avbench.pretext import PRETEXTS, PretrainModel
    from avbench.pretext.avol import AVOLNet, similarity_map

    ck = load_checkpoint(checkpoint)
    meta = ck["meta"]
    cls = PRETEXTS.get(str(meta.get("method")))
    if cls is None or not (issubclass(cls, AVOLNet) or cls.name == "multisensory"):
        raise ValueError(
            f"run {meta.get('run')!r} ({meta.get('method')}) has no localization map "
            f"(localizing methods: {', '.join(LOCALIZING)})"
        )
    pretext = cls(meta["config"], n_classes=int(meta.get("n_classes", 0)), seed=int(meta.get("seed", 0)))
    model = PretrainModel(specs=ck["specs"], head=pretext)
    for k, st in ck["encoders"].items():
        model.encoders[k].load_state_dict(st)
    model.head.load_state_dict(ck["head"])
    model.eval()
    mu, sd = (float(v) for v in meta["mel_norm"])
    if not issubclass(cls, AVOLNet):
        return _cam_fn(model, pretext, (mu, sd), batch_size), meta

    def fn(clips: list[Clip]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(clips), batch_size):
            part = clips[i : i + batch_size]
            if any(c.audio is None for c in part):
                raise ValueError("a clip without audio: the localization set must have sound")
            fr = torch.from_numpy(np.stack([c.frames[c.k] for c in part])).permute(0, 3, 1, 2).float() / 255.0
            au = (torch.from_numpy(np.stack([c.audio for c in part])).float() - mu) / sd
            size = (fr.shape[3], fr.shape[2])
            out += list(similarity_map(model, pretext, fr, au.unsqueeze(1), size).numpy())
        return out

    return fn, meta


def _cam_fn(model: Any, pretext: Any, mel_norm: tuple[float, float], batch_size: int) -> HeatFn:
    """The heatmap function of a Multisensory model: :func:`cam_heatmaps` of each clip with its
    own audio (the run's input: the waveform, or the normalised log-mel)."""
    import torch

    waveform = getattr(pretext, "audio_input", "waveform") == "waveform"
    mu, sd = mel_norm

    @torch.no_grad()
    def fn(clips: list[Clip]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(clips), batch_size):
            part = clips[i : i + batch_size]
            if waveform and any(c.wav is None for c in part):
                raise ValueError("a clip without a waveform: shard the localization set with `shard.waveform: true`")
            if not waveform and any(c.audio is None for c in part):
                raise ValueError("a clip without audio: the localization set must have sound")
            video = torch.from_numpy(np.stack([c.frames for c in part])).permute(0, 4, 1, 2, 3).float() / 255.0
            if waveform:
                audio = torch.from_numpy(np.stack([c.wav for c in part])).float()
            else:
                audio = ((torch.from_numpy(np.stack([c.audio for c in part])).float() - mu) / sd).unsqueeze(1)
            size = (video.shape[4], video.shape[3])
            out += list(cam_heatmaps(model.encoders["video"], model.head.fc, video, audio, size).numpy())
        return out

    return fn


def score_clips(clips: list[Clip], heats: list[np.ndarray], settings: LocalizeSettings) -> pd.DataFrame:
    """One row per clip: video, clip, silent_object (the video has one), silent_visible (in the
    scored frame), pointing (0/1), ciou, box_fraction (the box's share of the frame), and whether the
    silent object's box holds the heatmap's maximum (``pointing_silent``)."""
    rows = []
    for c, h in zip(clips, heats):
        size = (h.shape[1], h.shape[0])
        m = box_mask(c.box, size)
        sm = box_mask(c.silent_box, size) if c.silent_box is not None else None
        rows.append(
            {
                "video": c.video,
                "clip": c.clip,
                "silent_object": c.silent_object,
                "silent_visible": sm is not None,
                "pointing": float(pointing_hit(h, m)),
                "ciou": region_iou(h, m, settings.top_fraction),
                "pointing_silent": float(pointing_hit(h, sm)) if sm is not None else np.nan,
                "box_fraction": float(m.mean()),
            }
        )
    cols = ["video", "clip", "silent_object", "silent_visible", "pointing", "ciou", "pointing_silent", "box_fraction"]
    return pd.DataFrame(rows, columns=cols)


# -- intervals, rows and the table -------------------------------------------------------------


def subset(clips: pd.DataFrame, name: str) -> pd.DataFrame:
    """``all`` clips, those with a visible silent object (``silent_object``), or without one."""
    if name == "all":
        return clips
    vis = clips["silent_visible"].astype(bool)
    return clips[vis] if name == "silent_object" else clips[~vis]


def _video_draws(videos: list[str], n: int, dataset: str, subset_name: str) -> np.ndarray:
    """(n, V) counts of each video in each bootstrap resample, the same for every source of a set
    and subset (sorted video names, seeded by them), so differences between sources are paired."""
    from avbench.stats import _rng

    v = len(videos)
    return _rng(0, "localize", dataset, subset_name, *videos).multinomial(v, np.full(v, 1.0 / v), size=n)


def bootstrap(clips: pd.DataFrame, *, dataset: str, subset_name: str, n: int = 2000) -> dict[str, np.ndarray]:
    """Bootstrap samples (n,) of the mean of each metric, videos as units (their clips together)."""
    videos = sorted(clips["video"].astype(str).unique())
    if not videos:
        return {m: np.full(n, np.nan) for m in METRICS}
    idx = {v: i for i, v in enumerate(videos)}
    pos = clips["video"].astype(str).map(idx).to_numpy()
    w = _video_draws(videos, n, dataset, subset_name)[:, pos].astype(float)
    return {m: (w @ clips[m].to_numpy(float)) / w.sum(1) for m in METRICS}


def _interval(x: np.ndarray) -> tuple[float, float]:
    if not np.isfinite(x).any():
        return float("nan"), float("nan")
    lo, hi = np.nanpercentile(x, [2.5, 97.5])
    return float(lo), float(hi)


def localize_rows(
    clips: pd.DataFrame, *, method: str, pretext: str, dataset: str, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Leaderboard-style rows (protocol ``localization``): one per subset and metric, the mean over
    clips with the 95% interval over videos (``lo``, ``hi``), ``n_test`` clips and ``n_videos``."""
    rows = []
    for sub in SUBSETS:
        part = subset(clips, sub)
        boot = bootstrap(part, dataset=dataset, subset_name=sub, n=n_boot)
        for m in METRICS:
            lo, hi = _interval(boot[m])
            rows.append(
                {
                    "method": method,
                    "pretext": pretext,
                    "encoder": "video+audio" if pretext not in ("prior",) else "none",
                    "downstream": dataset,
                    "protocol": "localization",
                    "subset": sub,
                    "metric": m,
                    "value": float(part[m].mean()) if len(part) else float("nan"),
                    "lo": lo,
                    "hi": hi,
                    "n_test": int(len(part)),
                    "n_videos": int(part["video"].nunique()),
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows)


def localize_table(
    clips: dict[str, pd.DataFrame], *, dataset: str, reference: str | None = "centre", n_boot: int = 2000
) -> pd.DataFrame:
    """One row per source and subset: pointing and ciou means with intervals and, against
    ``reference`` (the centre prior), the paired difference of each (same clips, same resamples)
    with its interval and the verdict of "better than it" (:func:`avbench.stats.verdict`)."""
    from avbench.stats import verdict

    rows = []
    for sub in SUBSETS:
        parts = {s: subset(c, sub).sort_values(["video", "clip"]).reset_index(drop=True) for s, c in clips.items()}
        boots = {s: bootstrap(p, dataset=dataset, subset_name=sub, n=n_boot) for s, p in parts.items()}
        for s, p in parts.items():
            row: dict[str, Any] = {"source": s, "downstream": dataset, "subset": sub, "clips": int(len(p))}
            row["videos"] = int(p["video"].nunique())
            for m in METRICS:
                row[m] = float(p[m].mean()) if len(p) else float("nan")
                row[f"{m}_lo"], row[f"{m}_hi"] = _interval(boots[s][m])
            ref = parts.get(reference) if reference is not None else None
            if ref is not None and s != reference:
                same = list(zip(p["video"], p["clip"])) == list(zip(ref["video"], ref["clip"]))
                row["reference"] = reference
                for m in METRICS:
                    if same and len(p):
                        lo, hi = _interval(boots[s][m] - boots[reference][m])
                        row[f"{m}_diff"] = row[m] - float(ref[m].mean())
                    else:
                        lo = hi = float("nan")
                        row[f"{m}_diff"] = float("nan")
                    row[f"{m}_diff_lo"], row[f"{m}_diff_hi"] = lo, hi
                    row[f"{m}_verdict"] = verdict(lo, hi)
            rows.append(row)
    return pd.DataFrame(rows)


# -- one job -----------------------------------------------------------------------------------


@dataclass
class LocalizeJob:
    rows: pd.DataFrame  # leaderboard-style rows with intervals
    clips: pd.DataFrame  # per clip scores (and the source and set)
    skipped: pd.DataFrame  # clips not scored, with their status and reason
    examples: list[dict[str, Any]]  # a few clips' frame, heatmap and boxes (for a picture)


def run_localize(
    source: str,
    shard_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    settings: LocalizeSettings,
    *,
    dataset: str,
    run: str | None = None,
) -> LocalizeJob:
    """Score ``source`` (a prior name, or the path of a checkpoint whose head localizes) on every clip
    of the shards in ``shard_dir`` whose ground truth is in ``gt_dir``."""
    from avbench.shards.loader import load_samples

    if source in PRIORS:
        heat_fn = prior_heatmaps(source, settings)
        meta: dict[str, Any] = {"run": source, "method": source, "pretext": "prior", "seed": 0}
    else:
        heat_fn, meta = checkpoint_heatmaps(source)
    clips, skipped = iter_clips(load_samples(shard_dir), gt_dir, settings)
    heats = heat_fn(clips) if clips else []
    per = score_clips(clips, heats, settings)
    name = run or str(meta.get("run"))
    pretext = "prior" if source in PRIORS else str(meta.get("method", ""))
    rows = localize_rows(
        per, method=name, pretext=pretext, dataset=dataset, n_boot=settings.n_boot, seed=int(meta.get("seed", 0))
    )
    per.insert(0, "source", name)
    per.insert(1, "downstream", dataset)
    with_silent = [i for i, c in enumerate(clips) if c.silent_box is not None]
    without = [i for i, c in enumerate(clips) if c.silent_box is None]
    half = settings.pictures // 2
    order = with_silent[:half] + without[: settings.pictures - min(half, len(with_silent))]
    examples = [
        {
            "video": clips[i].video,
            "frame": clips[i].frames[clips[i].k],
            "heat": heats[i],
            "box": clips[i].box,
            "silent_box": clips[i].silent_box,
            "hit": bool(per["pointing"].iloc[i]),
        }
        for i in order
    ]
    sk = pd.DataFrame(skipped, columns=["video", "clip", "status", "reason"])
    return LocalizeJob(rows=rows, clips=per, skipped=sk, examples=examples)


def overlay_picture(examples: list[dict[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> None:
    """Heatmaps over their frames: the sounding object's box in white, the silent object's in red
    (dashed), the heatmap's maximum as a cross (green: inside the box, red: outside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from avbench.paths import atomic_path

    n = max(1, len(examples))
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.2), squeeze=False)
    for ax, ex in zip(axes[0], examples):
        fr = ex["frame"].astype(np.float32) / 255.0
        h = np.asarray(ex["heat"], np.float32)
        H, W = h.shape
        ax.imshow(fr * 0.75, extent=(0, W, H, 0))
        rng = float(h.max() - h.min())
        ax.imshow((h - h.min()) / rng if rng > 0 else h * 0, cmap="jet", alpha=0.45, extent=(0, W, H, 0))
        b = ex["box"]
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="white", lw=1.2))
        if ex.get("silent_box") is not None:
            s = ex["silent_box"]
            ax.add_patch(Rectangle((s[0], s[1]), s[2] - s[0], s[3] - s[1], fill=False, ec="red", lw=1.0, ls="--"))
        y, x = np.unravel_index(int(np.argmax(h)), h.shape)
        ax.plot([x + 0.5], [y + 0.5], marker="x", color="lime" if ex["hit"] else "red", ms=6)
        ax.set_title(ex["video"][:11], fontsize=7)
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.axis("off")
    for ax in axes[0][len(examples) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
