"""Phase alignment: how well a frozen encoder's per-frame embeddings align two videos of a periodic
class (issue 14's score for temporal cycle-consistency, after Dwibedi et al. CVPR 2019, section 5).

Videos: one cycle each of the world's periodic classes with the true phase of every frame
(:mod:`avbench.synthesize.phase`: pendulum, orbit, spin; phase rising from 0 to 1 through the
clip) and the way it turns (``direction``). For every ordered pair ``(u, v)`` of different videos
of a class **that turn the same way** (:func:`video_pairs`), each frame ``i`` of ``u`` is aligned to
its nearest neighbour ``j(i)`` in ``v`` (Euclidean distance of the embeddings), and:

- ``kendall_tau``: the paper's Kendall's tau of the alignment, ``(concordant - discordant) /
  (n (n - 1) / 2)`` over the pairs of frames ``i < k`` of ``u``, a pair concordant when the aligned
  frames' true phases ``phase_v[j(i)]`` and ``phase_v[j(k)]`` are in the same order as
  ``phase_u[i]`` and ``phase_u[k]`` (ties count as neither). 1: the alignment follows the phase,
  -1: it runs backwards, 0: no order. Within one cycle the phase order is the frame order, so
  this is the paper's index-based tau, on the phase the world knows;
- ``phase_error``: the mean circular distance ``|phase_u[i] - phase_v[j(i)]|`` (in cycles, 0 to 0.5;
  0.25 for unrelated frames);
- ``cycle_consistency``: the share of frames of ``u`` whose nearest neighbour's nearest neighbour
  back in ``u`` is the frame itself (the paper's cycle-consistency score).

**Why only pairs that turn the same way.** The phase is the time fraction of the cycle, while the
world draws the direction of ``orbit`` and ``spin`` 50/50: a clockwise and an anticlockwise video
pass through the same visual state at phases ``p`` and ``1 - p``. On such a pair the aligner that
matches frames by what they show (the oracle ``oracle``, which reads the world's true state,
:func:`avbench.synthesize.phase.state`; and what TCC's cycle-back rewards) scores tau -1, and one
that matches by elapsed time scores +1: the ground truth would contradict the task (align the same
state). TCC's setting has no such pairs: the videos of an action progress the same way (Dwibedi et
al. 2019 align e.g. pouring or a baseball pitch, whose phases come in one order), so that a
monotone alignment in time *is* the alignment by state. The score keeps that setting: it pairs
videos of the same class and direction (``pendulum``: one direction; ``orbit``, ``spin``: about half
the pairs), where state and time agree and the oracle scores tau 1 on every pair
(``tests/evaluate/test_alignment.py``). The alternative, mirroring the phase of the videos that run
the other way (a phase by state), was not taken: it makes the phase fall through half the videos,
so the score would no longer be the paper's tau on frame order and an aligner by time would score
-1 on pairs TCC never meets. Nothing is hidden: every same-class pair is still scored and written
(``same_direction`` column of the pairs), and ``kendall_tau_all_pairs`` (rows) and the table's
``kendall_tau_all_pairs`` give the mean over all of them, the score's former definition.

Per source, the means over pairs (all classes and each class) come with a 95% bootstrap interval
over the videos (each class's videos resampled, a pair weighted by its two videos' counts:
:func:`video_bootstrap`; the same resamples for every source, seeded by the set's videos). ``phase_progression``
(the paper's, as far as it applies): a ridge regression from embeddings to phase, fitted on the
other videos of the class that turn the same way and scored on each held-out video, R^2 over all
frames (1: the phase is linear in the embedding; <= 0: no better than the mean).

Sources: a pretraining checkpoint's video encoder (:func:`encoder_embeddings`: the pooled features
of the clip of ``context`` frames starting at each frame, what linear evaluation reads), or the
baselines ``pixels`` (the frame at 10 x 8, colour standardised), ``noise`` (i.i.d. Gaussian
features: the chance level, tau ~ 0) and ``oracle`` (the world's true state of each frame instead
of its pixels: the ceiling, tau 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

EmbedFn = Callable[[np.ndarray], np.ndarray]
BASELINES = ("pixels", "noise", "oracle")
METRICS = ("kendall_tau", "phase_error", "cycle_consistency")
#: the breakdown over every pair of a class, whatever the direction (the score's former definition)
ALL_PAIRS = "kendall_tau_all_pairs"
#: what a checkpoint is aligned with: its encoder's pooled features, or its method's per-frame embedding
EMBEDDINGS = ("encoder", "pretext")


# -- scores of one pair --------------------------------------------------------------------------


def nearest(emb_u: np.ndarray, emb_v: np.ndarray) -> np.ndarray:
    """Index of each frame of ``u``'s nearest neighbour in ``v`` (Euclidean): (N, D), (M, D) -> (N,)."""
    u, v = np.asarray(emb_u, np.float64), np.asarray(emb_v, np.float64)
    d = (u**2).sum(1)[:, None] + (v**2).sum(1)[None, :] - 2 * u @ v.T
    return d.argmin(1)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """The paper's tau: (concordant - discordant) / (n (n - 1) / 2) over all pairs, ties neither."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    s = np.sign(x[:, None] - x[None, :])[iu] * np.sign(y[:, None] - y[None, :])[iu]
    return float(s.sum() / (n * (n - 1) / 2))


def pair_scores(emb_u: np.ndarray, phase_u: np.ndarray, emb_v: np.ndarray, phase_v: np.ndarray) -> dict[str, float]:
    """``kendall_tau``, ``phase_error`` and ``cycle_consistency`` of aligning ``u`` to ``v`` (module doc)."""
    j = nearest(emb_u, emb_v)
    aligned = np.asarray(phase_v)[j]
    diff = np.abs(np.asarray(phase_u) - aligned) % 1.0
    back = nearest(np.asarray(emb_v)[j], emb_u)
    return {
        "kendall_tau": kendall_tau(phase_u, aligned),
        "phase_error": float(np.minimum(diff, 1 - diff).mean()),
        "cycle_consistency": float((back == np.arange(len(j))).mean()),
    }


# -- embeddings ----------------------------------------------------------------------------------


def encoder_embeddings(
    encoder: nn.Module,
    *,
    context: int = 4,
    batch: int = 64,
    clip_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> EmbedFn:
    """Frames (T, H, W, 3) uint8 -> (T, D): the encoder's pooled features of the clip of ``context``
    frames starting at each frame (the last frame repeated past the end), or ``clip_fn`` of those
    clips ((N, 3, context, H, W) -> (N, D)) when given. Frozen, eval mode."""
    embed = clip_fn if clip_fn is not None else encoder

    @torch.inference_mode()
    def fn(frames: np.ndarray) -> np.ndarray:
        encoder.eval()
        x = torch.from_numpy(np.asarray(frames, np.uint8)).float().div_(255.0).permute(3, 0, 1, 2)  # (3, T, H, W)
        T = x.shape[1]
        idx = torch.clamp(torch.arange(T)[:, None] + torch.arange(context)[None], max=T - 1)
        out = [embed(x[:, idx[s : s + batch]].permute(1, 0, 2, 3, 4)) for s in range(0, T, batch)]
        return torch.cat(out).float().numpy()

    return fn


def pixel_embeddings(frames: np.ndarray) -> np.ndarray:
    """The baseline with no learned feature: each frame at 10 x 8 (area), RGB flattened, each
    dimension standardised over the video."""
    x = np.stack([cv2.resize(f, (10, 8), interpolation=cv2.INTER_AREA) for f in np.asarray(frames, np.uint8)])
    x = x.reshape(len(x), -1).astype(np.float64)
    return (x - x.mean(0)) / (x.std(0) + 1e-6)


def noise_embeddings(seed: int, dim: int = 16) -> EmbedFn:
    """Chance: i.i.d. Gaussian features, seeded by the video's length and a counter."""
    count = itertools.count()

    def fn(frames: np.ndarray) -> np.ndarray:
        return np.random.default_rng([seed, len(frames), next(count)]).normal(size=(len(frames), dim))

    return fn


# -- a source over the set ------------------------------------------------------------------------


def video_pairs(videos: Sequence[dict[str, Any]], *, any_direction: bool = False) -> list[tuple[int, int]]:
    """Every ordered pair of different videos of a class that turn the same way (``direction``, +1
    when a video has none; module doc), in a fixed order; ``any_direction``: whatever the direction."""
    return [
        (a, b)
        for a, b in itertools.permutations(range(len(videos)), 2)
        if videos[a]["cls"] == videos[b]["cls"] and (any_direction or _direction(videos[a]) == _direction(videos[b]))
    ]


def _direction(video: dict[str, Any]) -> int:
    return int(video.get("direction", 1))


def phase_progression(
    embs: Sequence[np.ndarray],
    phases: Sequence[np.ndarray],
    *,
    ridge: float = 0.1,
    groups: Sequence[Any] | None = None,
) -> float:
    """R^2 of the phase predicted by a ridge regression fitted on the other videos (leave one video
    out; embeddings standardised with the training videos' statistics; penalty ``ridge`` per
    training frame, as a few hundred frames meet up to a few hundred dimensions). ``groups`` (e.g.
    the direction): fitted on the other videos of the held-out video's group only; a video alone in
    its group is not scored."""
    groups = list(groups) if groups is not None else [0] * len(embs)
    keep = [k for k in range(len(embs)) if sum(g == groups[k] for g in groups) >= 2]
    if not keep:
        return float("nan")
    pred: list[np.ndarray] = []
    for k in keep:
        train = [i for i in range(len(embs)) if i != k and groups[i] == groups[k]]
        x = np.concatenate([embs[i] for i in train])
        y = np.concatenate([phases[i] for i in train])
        mu, sd = x.mean(0), x.std(0) + 1e-6
        xs = np.c_[(x - mu) / sd, np.ones(len(x))]
        w = np.linalg.solve(xs.T @ xs + ridge * len(x) * np.diag(np.r_[np.ones(x.shape[1]), 0.0]), xs.T @ y)
        pred.append(np.c_[(embs[k] - mu) / sd, np.ones(len(embs[k]))] @ w)
    y_all, p_all = np.concatenate([phases[k] for k in keep]), np.concatenate(pred)
    return float(1 - ((y_all - p_all) ** 2).sum() / ((y_all - y_all.mean()) ** 2).sum())


def video_bootstrap(u: Sequence[str], v: Sequence[str], classes: Sequence[str], n: int, seed: int) -> np.ndarray:
    """(n, pairs) bootstrap weights of ordered video pairs ``(u[i], v[i])`` of class ``classes[i]``:
    each class's videos are resampled with replacement (seeded by the set's video ids, so every
    source of a set gets the same draws) and a pair weighs the product of its two videos' counts.
    Pairs share videos, so resampling the pairs themselves would treat them as independent and
    give too narrow intervals; this resamples the units that are independent."""
    from avbench.stats import _rng

    u, v, classes = [str(x) for x in u], [str(x) for x in v], [str(c) for c in classes]
    members: dict[str, set[str]] = {}
    for a, b, c in zip(u, v, classes):
        members.setdefault(c, set()).update((a, b))
    videos = sorted({x for m in members.values() for x in m})
    col = {x: i for i, x in enumerate(videos)}
    counts = np.zeros((n, len(videos)))
    for c in sorted(members):
        vids = sorted(members[c])
        m = len(vids)
        counts[:, [col[x] for x in vids]] = _rng(seed, "alignment-videos", c, *vids).multinomial(
            m, np.full(m, 1.0 / m), size=n
        )
    return counts[:, [col[a] for a in u]] * counts[:, [col[b] for b in v]]


def weighted_means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n,) bootstrap means ``weights @ values / weights.sum(1)`` (NaN where a resample keeps no pair)."""
    total = weights.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weights @ values / np.where(total > 0, total, 1.0), np.nan)


def evaluate_alignment(
    videos: Sequence[dict[str, Any]], embed: EmbedFn, *, n_boot: int = 2000, seed: int = 0, key: str = "frames"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-pair scores, summary rows ``class, metric, value, lo, hi, n_pairs, n_videos``; class
    ``all`` over every scored pair) of one embedding over the set. ``embed`` reads each video's
    ``key`` (``frames``; ``state`` for the oracle). A video's ``frames`` may run past its ``phase``
    (frames after the cycle, context for the last frames' clips): the embeddings of the first
    ``len(phase)`` frames are scored. The per-pair scores hold every pair of a class with
    ``same_direction`` (the scored pairs: True); the metrics are over the scored pairs, and
    ``kendall_tau_all_pairs`` is tau's mean over all of them (module doc)."""
    embs = [np.asarray(embed(v[key]), np.float64)[: len(v["phase"])] for v in videos]
    rows = []
    for a, b in video_pairs(videos, any_direction=True):
        s = pair_scores(embs[a], videos[a]["phase"], embs[b], videos[b]["phase"])
        same = _direction(videos[a]) == _direction(videos[b])
        rows.append(
            {"class": videos[a]["cls"], "u": videos[a]["id"], "v": videos[b]["id"], "same_direction": same, **s}
        )
    every = pd.DataFrame(rows, columns=["class", "u", "v", "same_direction", *METRICS])
    scored = every[every["same_direction"].astype(bool)]
    summary = []
    classes = sorted({v["cls"] for v in videos})
    for cls in ["all", *classes]:
        for per, metrics in ((scored, METRICS), (every, ("kendall_tau",))):
            part = per if cls == "all" else per[per["class"] == cls]
            if not len(part):
                continue
            w = video_bootstrap(part["u"], part["v"], part["class"], n_boot, seed)
            for m in metrics:
                vals = part[m].to_numpy(float)
                lo, hi = np.nanpercentile(weighted_means(w, vals), [2.5, 97.5])
                name = m if per is scored else ALL_PAIRS
                summary.append(
                    {"class": cls, "metric": name, "value": float(vals.mean()), "lo": float(lo), "hi": float(hi)}
                    | {"n_pairs": len(part)}
                )
        idx = [i for i, v in enumerate(videos) if cls in ("all", v["cls"])]
        if cls != "all" and len(idx) >= 2:
            r2 = phase_progression(
                [embs[i] for i in idx], [videos[i]["phase"] for i in idx], groups=[_direction(videos[i]) for i in idx]
            )
            summary.append(
                {"class": cls, "metric": "phase_progression", "value": r2, "lo": np.nan, "hi": np.nan, "n_pairs": 0}
            )
    out = pd.DataFrame(summary)
    prog = out[out["metric"] == "phase_progression"]
    if len(prog):
        mean = {"class": "all", "metric": "phase_progression", "value": float(prog["value"].mean())}
        out = pd.concat([out, pd.DataFrame([mean | {"lo": np.nan, "hi": np.nan, "n_pairs": 0}])], ignore_index=True)
    out["n_videos"] = [len(videos) if c == "all" else sum(v["cls"] == c for v in videos) for c in out["class"]]
    return every, out


def source_embeddings(
    source: str, *, context: int = 4, seed: int = 0, embedding: str = "encoder"
) -> tuple[EmbedFn, dict[str, Any]]:
    """The embedding of a source (a checkpoint path, ``pixels``, ``noise`` or ``oracle``) and its meta
    (``input``: the video's field it reads, ``state`` for the oracle; ``frames`` when absent).
    ``embedding``: ``encoder`` (the video encoder's pooled features) or ``pretext`` (the method's own
    per-frame embedding when it has one, ``frame_embed``, e.g. TCC's embedder, as the paper aligns;
    the encoder's features for the other methods). The meta's ``embedding`` says which was used."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, not {embedding!r}")
    if source == "pixels":
        return pixel_embeddings, {"run": "pixels", "method": "pixels", "pretext": "baseline"}
    if source == "noise":
        return noise_embeddings(seed), {"run": "noise", "method": "noise", "pretext": "baseline"}
    if source == "oracle":  # reads each video's true state (evaluate_alignment's key), not its frames
        return np.asarray, {"run": "oracle", "method": "oracle", "pretext": "baseline", "input": "state"}
    if embedding == "pretext":
        from avbench.checkpoint import checkpoint_meta
        from avbench.pretext import PRETEXTS

        meta = checkpoint_meta(source)
        cls = PRETEXTS.get(str(meta.get("method")))
        if cls is not None and callable(getattr(cls, "frame_embed", None)):
            from avbench.evaluate.retrieval import load_pretrain_model

            model, meta = load_pretrain_model(source)
            pretext = cls(meta["config"], n_classes=int(meta.get("n_classes", 1)), seed=int(meta["seed"]))
            fn = encoder_embeddings(model, context=context, clip_fn=lambda x: pretext.frame_embed(model, x))
            return fn, {**meta, "embedding": "pretext"}
    from avbench.checkpoint import load_encoders

    encoders, meta = load_encoders(source)
    if "video" not in encoders:
        raise ValueError(f"run {meta.get('run')!r} ({meta.get('method')}) has no video encoder to align with")
    return encoder_embeddings(encoders["video"], context=context), {**meta, "embedding": "encoder"}


# -- the table of every source -------------------------------------------------------------------


def _pair_ids(pairs: pd.DataFrame) -> list[str]:
    return [f"{u}>{v}" for u, v in zip(pairs["u"].astype(str), pairs["v"].astype(str))]


def alignment_table(
    pairs: pd.DataFrame,
    rows: pd.DataFrame | None = None,
    *,
    reference: str | None = "scratch",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per run of ``pairs`` (the per-pair scores of :func:`evaluate_alignment` with a ``run``
    column, every run's pairs together): the means over all pairs of Kendall's tau, phase error and
    cycle consistency with their 95% intervals (the videos resampled, :func:`video_bootstrap`: the
    same resamples as ``avbench alignment``'s rows), ``phase_progression`` from ``rows`` when given,
    and, against ``reference``, the paired difference in tau (``tau_diff``, the same resamples of the
    same pairs for both runs) with its interval and the verdict of "aligns phase better than the
    reference" (:func:`avbench.stats.verdict`). A run scored on other pairs than the reference gets
    no difference (NaN, verdict inconclusive). Only the pairs that turn the same way are scored
    (``same_direction``, module doc); ``kendall_tau_all_pairs`` with its interval and ``pairs_all``
    are the breakdown over every pair (pairs without the column: every pair is scored, no breakdown)."""
    from avbench.stats import verdict

    if "same_direction" in pairs.columns:  # the scored pairs; all of them for the breakdown
        every = {str(r): p.reset_index(drop=True) for r, p in pairs.groupby("run", sort=False)}
        pairs = pairs[pairs["same_direction"].astype(str).str.lower().isin(["true", "1"])]
    else:  # pairs written before the direction was recorded: every pair is scored
        every = {}
    keyed = {str(r): p.reset_index(drop=True) for r, p in pairs.groupby("run", sort=False)}
    keyed |= {r: pairs.iloc[:0] for r in every if r not in keyed}
    methods = {}
    if rows is not None and len(rows) and "method" in rows.columns:
        methods = dict(zip(rows["run"].astype(str), rows["method"].astype(str)))
    boots: dict[str, np.ndarray] = {}
    out = []
    for run, p in keyed.items():
        cnt = video_bootstrap(p["u"], p["v"], p["class"], n_boot, seed) if len(p) else np.zeros((n_boot, 0))
        boots[run] = cnt
        row: dict[str, Any] = {"run": run}
        row["method"] = str(p["method"].iloc[0]) if "method" in p.columns and len(p) else methods.get(run, "")
        row |= {"pairs": int(len(p)), "videos": int(pd.concat([p["u"], p["v"]]).nunique())}
        for m in METRICS:
            vals = p[m].to_numpy(float)
            row[m] = float(vals.mean()) if len(p) else float("nan")
            if len(p):
                lo, hi = np.nanpercentile(weighted_means(cnt, vals), [2.5, 97.5])
            else:
                lo = hi = float("nan")
            row[f"{m}_lo"], row[f"{m}_hi"] = float(lo), float(hi)
        if run in every:  # the breakdown over every pair of a class, whatever the direction
            q = every[run]
            vals = q["kendall_tau"].to_numpy(float)
            lo, hi = np.nanpercentile(
                weighted_means(video_bootstrap(q["u"], q["v"], q["class"], n_boot, seed), vals), [2.5, 97.5]
            )
            row |= {"pairs_all": int(len(q)), ALL_PAIRS: float(vals.mean())}
            row |= {f"{ALL_PAIRS}_lo": float(lo), f"{ALL_PAIRS}_hi": float(hi)}
        out.append(row)
    ref = keyed.get(reference) if reference is not None else None
    for row in out:
        run = row["run"]
        if reference is None or run == reference:
            continue
        p, row["reference"] = keyed[run], reference
        ids = _pair_ids(p)
        same = ref is not None and len(p) > 0 and len(set(ids)) == len(ids) and sorted(ids) == sorted(_pair_ids(ref))
        if same:  # the reference's pairs in its order (one order for every run: avbench alignment's)
            assert ref is not None
            tau = pd.Series(p["kendall_tau"].to_numpy(float), index=ids).loc[_pair_ids(ref)].to_numpy()
            d = tau - ref["kendall_tau"].to_numpy(float)
            lo, hi = np.nanpercentile(weighted_means(boots[reference], d), [2.5, 97.5])
            row["tau_diff"], row["tau_diff_lo"], row["tau_diff_hi"] = float(d.mean()), float(lo), float(hi)
        else:
            row["tau_diff"] = row["tau_diff_lo"] = row["tau_diff_hi"] = float("nan")
        row["tau_verdict"] = verdict(row["tau_diff_lo"], row["tau_diff_hi"])
    table = pd.DataFrame(out)
    if rows is not None and len(rows) and len(table):
        prog = rows[(rows["class"] == "all") & (rows["metric"] == "phase_progression")]
        table["phase_progression"] = table["run"].map(dict(zip(prog["run"].astype(str), prog["value"].astype(float))))
    return table
