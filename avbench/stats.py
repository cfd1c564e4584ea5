"""Intervals from predictions: a bootstrap over test videos within folds and over pretraining seeds.

The unit of evidence is a test video of a fold, scored by one run instance (a run and a pretraining
seed). :func:`units` turns the per-clip predictions of the evaluation jobs into one value per
(run, seed, encoder, downstream, protocol, fold, metric, video): ``video_acc`` is 1 when the
video's averaged clip scores pick its label, ``clip_acc`` the share of its clips that do (weighted
by its number of clips), a retrieval recall@k the share of its clips whose true match ranks
among the k nearest.

A score (:class:`Bootstrap`) is the mean over a run's seeds of the mean over folds of the
(weighted) mean over each fold's test videos, as the leaderboard reports it. Each bootstrap
resample draws, for every (downstream set, fold), the test videos with replacement, and draws the
run's seeds with replacement. The video draws depend only on (bootstrap seed, downstream set,
fold) and the seed draws only on the list of seeds, so every run is resampled on the same videos
and, for runs with the same seeds, the same seeds: a difference between two runs is a paired
bootstrap (:meth:`Bootstrap.difference`), and its 95% interval is read off the resampled
differences (percentile method).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

GROUP = ("method", "encoder", "downstream", "protocol", "metric")
UNIT_COLUMNS = ["method", "seed", "encoder", "downstream", "protocol", "fold", "metric", "key", "value", "weight"]
RECALL_KS = (1, 5, 10)


def units(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-video values of every metric from per-clip prediction rows (see module doc)."""
    if predictions.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    ids = ["method", "seed", "encoder", "downstream", "protocol", "fold", "key"]
    out = []
    retr = (
        predictions[predictions["protocol"] == "retrieval"] if "rank" in predictions.columns else predictions.iloc[0:0]
    )
    cls = predictions[predictions["protocol"] != "retrieval"]
    if len(cls):
        c = cls.assign(
            hit=(cls["pred"] == cls["label"]).astype(float), vhit=(cls["video_pred"] == cls["label"]).astype(float)
        )
        g = c.groupby(ids, sort=False).agg(n=("hit", "size"), hits=("hit", "sum"), vhit=("vhit", "first")).reset_index()
        out.append(g[ids].assign(metric="clip_acc", value=g["hits"] / g["n"], weight=g["n"].astype(float)))
        out.append(g[ids].assign(metric="video_acc", value=g["vhit"], weight=1.0))
    if len(retr):
        for k in RECALL_KS:
            r = retr.assign(hit=(retr["rank"] < k).astype(float))
            g = r.groupby(ids + ["direction"], sort=False).agg(n=("hit", "size"), hits=("hit", "sum")).reset_index()
            out.append(
                g[ids].assign(metric=g["direction"] + f"_r{k}", value=g["hits"] / g["n"], weight=g["n"].astype(float))
            )
    if not out:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    df = pd.concat(out, ignore_index=True)
    df["seed"] = df["seed"].astype(int)
    df["fold"] = df["fold"].astype(int)
    return df[UNIT_COLUMNS]


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@dataclass
class Estimate:
    """A score: its value, the 95% interval, and what it was computed from."""

    mean: float
    lo: float
    hi: float
    seeds: int
    folds: int
    videos: int
    samples: np.ndarray


class Bootstrap:
    """Bootstrap estimates of the scores of :func:`units` (see module doc).

    ``n``: resamples; ``seed``: the bootstrap's own seed (the same seed gives the same intervals).
    """

    def __init__(self, unit_rows: pd.DataFrame, *, n: int = 2000, seed: int = 0) -> None:
        self.units = unit_rows
        self.n = int(n)
        self.seed = int(seed)
        self._keys: dict[tuple[str, int], dict[str, int]] = {}
        self._draws: dict[tuple[str, int], np.ndarray] = {}
        self._seed_draws: dict[tuple[int, ...], np.ndarray] = {}
        self._cache: dict[tuple[Any, ...], Estimate | None] = {}
        for (down, fold), part in unit_rows.groupby(["downstream", "fold"], sort=True):
            keys = sorted(set(part["key"].astype(str)))
            self._keys[(str(down), int(fold))] = {k: i for i, k in enumerate(keys)}
        self._groups = {tuple(k): g for k, g in unit_rows.groupby(list(GROUP), sort=False)} if len(unit_rows) else {}

    def groups(self) -> list[tuple[Any, ...]]:
        """Every (method, encoder, downstream, protocol, metric) with units."""
        return list(self._groups)

    def _video_draws(self, down: str, fold: int) -> np.ndarray:
        """Counts (n, videos of the fold): how often each test video is drawn in each resample."""
        key = (down, fold)
        if key not in self._draws:
            m = len(self._keys[key])
            self._draws[key] = _rng(self.seed, "videos", down, fold).multinomial(m, np.full(m, 1.0 / m), size=self.n)
        return self._draws[key]

    def _seed_counts(self, seeds: tuple[int, ...]) -> np.ndarray:
        if seeds not in self._seed_draws:
            s = len(seeds)
            self._seed_draws[seeds] = _rng(self.seed, "seeds", *seeds).multinomial(s, np.full(s, 1.0 / s), size=self.n)
        return self._seed_draws[seeds]

    def estimate(self, method: str, encoder: str, downstream: str, protocol: str, metric: str) -> Estimate | None:
        """The score of a run's encoder on a set, protocol and metric, or None without units."""
        gkey = (method, encoder, downstream, protocol, metric)
        if gkey in self._cache:
            return self._cache[gkey]
        part = self._groups.get(gkey)
        if part is None or part.empty:
            self._cache[gkey] = None
            return None
        seeds = tuple(sorted({int(s) for s in part["seed"]}))
        folds = sorted({int(f) for f in part["fold"]})
        point = np.zeros(len(seeds))
        boot = np.zeros((len(seeds), self.n))
        for i, s in enumerate(seeds):
            ps, bs = [], []
            for f in folds:
                u = part[(part["seed"] == s) & (part["fold"] == f)]
                if u.empty:
                    continue
                index = self._keys[(downstream, f)]
                wv = np.zeros(len(index))
                w = np.zeros(len(index))
                pos = np.array([index[k] for k in u["key"].astype(str)])
                np.add.at(wv, pos, u["weight"].to_numpy(float) * u["value"].to_numpy(float))
                np.add.at(w, pos, u["weight"].to_numpy(float))
                ps.append(wv.sum() / w.sum())
                c = self._video_draws(downstream, f)
                den = c @ w
                with np.errstate(invalid="ignore", divide="ignore"):
                    bs.append(np.where(den > 0, (c @ wv) / np.where(den > 0, den, 1), np.nan))
            point[i] = float(np.mean(ps))
            boot[i] = np.nanmean(np.stack(bs), axis=0)
        if len(seeds) > 1:
            cnt = self._seed_counts(seeds)
            samples = (cnt * boot.T).sum(1) / len(seeds)
        else:
            samples = boot[0]
        lo, hi = np.nanpercentile(samples, [2.5, 97.5])
        est = Estimate(
            mean=float(point.mean()),
            lo=float(lo),
            hi=float(hi),
            seeds=len(seeds),
            folds=len(folds),
            videos=int(len(part[["fold", "key"]].drop_duplicates())),
            samples=samples,
        )
        self._cache[gkey] = est
        return est

    def table(self) -> pd.DataFrame:
        """One row per group: mean, 95% interval (lo, hi), seeds, folds and test videos."""
        rows = []
        for g in self.groups():
            e = self.estimate(*g)
            if e is not None:
                rows.append(
                    {
                        **dict(zip(GROUP, g)),
                        "mean": e.mean,
                        "lo": e.lo,
                        "hi": e.hi,
                        "seeds": e.seeds,
                        "folds": e.folds,
                        "videos": e.videos,
                    }
                )
        return pd.DataFrame(rows, columns=list(GROUP) + ["mean", "lo", "hi", "seeds", "folds", "videos"])


@dataclass
class Difference:
    """a - b with its paired 95% interval."""

    diff: float
    lo: float
    hi: float
    a: Estimate
    b: Estimate


def difference(a: Estimate, b: Estimate) -> Difference:
    """The difference of two estimates of one :class:`Bootstrap` (paired by construction)."""
    d = a.samples - b.samples
    lo, hi = np.nanpercentile(d, [2.5, 97.5])
    return Difference(diff=a.mean - b.mean, lo=float(lo), hi=float(hi), a=a, b=b)


def seed_estimate(values: list[float], *, n: int = 2000, seed: int = 0, key: str = "") -> Estimate | None:
    """An estimate from one value per pretraining seed (e.g. a held-out pretext accuracy): the
    mean and a bootstrap over the seeds (a single seed gives no interval: lo = hi = nan)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if not len(v):
        return None
    if len(v) == 1:
        return Estimate(
            mean=float(v[0]), lo=float("nan"), hi=float("nan"), seeds=1, folds=0, videos=0, samples=np.full(n, np.nan)
        )
    cnt = _rng(seed, "seed-values", key, len(v)).multinomial(len(v), np.full(len(v), 1.0 / len(v)), size=n)
    samples = (cnt * v).sum(1) / len(v)
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return Estimate(mean=float(v.mean()), lo=float(lo), hi=float(hi), seeds=len(v), folds=0, videos=0, samples=samples)


def verdict(lo: float, hi: float) -> str:
    """``reproduced`` when the interval of (claimed better - other) is above 0, ``contradicted``
    when below, ``inconclusive`` when it contains 0 (or there is no interval)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if lo > 0:
        return "reproduced"
    if hi < 0:
        return "contradicted"
    return "inconclusive"
