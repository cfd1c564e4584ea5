"""Pictures of the results (matplotlib, PNG), derived from result rows, tables and metrics CSVs only."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from avbench.paths import atomic_path  # noqa: E402
from avbench.tables import PROTOCOL_ORDER, fold_scores  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _save(fig: plt.Figure, out: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _grid(n: int, width: float, height: float = 3.6, max_cols: int = 3) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = max(1, min(max_cols, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[: max(1, n)]


def plot_leaderboard(
    df: pd.DataFrame, out: str | Path, *, metric: str = "video_acc", intervals: pd.DataFrame | None = None
) -> None:
    """Accuracy per run for each (downstream set, protocol, encoder): bars of the mean over seeds
    and official folds, the 95% bootstrap interval as error bars (``intervals``; else the fold
    standard deviation), chance as a dashed line, and the scratch and supervised references of the
    same encoder as horizontal lines (grey, green). Retrieval protocols get recall@1/5/10 bars
    (video->audio and audio->video) with chance marks."""
    scores = fold_scores(df, metric, intervals)
    scores = scores[scores["protocol"] != "retrieval"] if len(scores) else scores
    order = {e: i for i, e in enumerate(("video", "flow", "audio"))}
    groups = sorted(
        {(d, p, e) for d, p, e in zip(scores["downstream"], scores["protocol"], scores["encoder"])},
        key=lambda t: (t[0], PROTOCOL_ORDER.index(t[1]) if t[1] in PROTOCOL_ORDER else 9, order.get(t[2], 9)),
    )
    retr = df[df["protocol"] == "retrieval"] if "protocol" in df.columns else df.iloc[0:0]
    retr_groups = sorted(set(retr["downstream"])) if len(retr) else []
    n_runs = max(1, scores["method"].nunique() if len(scores) else 1, retr["method"].nunique() if len(retr) else 1)
    fig, axes = _grid(len(groups) + 2 * len(retr_groups), width=max(3.4, 0.32 * n_runs + 1.2))
    linear = scores[scores["protocol"] == "linear"] if len(scores) else scores
    for ax, (down, proto, enc) in zip(axes, groups):
        part = scores[(scores["downstream"] == down) & (scores["protocol"] == proto) & (scores["encoder"] == enc)]
        x = np.arange(len(part))
        if part["lo"].notna().all() and len(part):
            err = np.stack([(part["mean"] - part["lo"]).clip(lower=0), (part["hi"] - part["mean"]).clip(lower=0)])
        else:
            err = part["std"].to_numpy()
        ax.bar(x, part["mean"], yerr=err, capsize=3, color=COLORS[0])
        ax.set_xticks(x, part["method"], rotation=60, ha="right", fontsize=7)
        if "chance" in df.columns:
            ch = df[(df["downstream"] == down) & (df["protocol"] == proto)]["chance"]
            if len(ch):
                ax.axhline(100 * float(ch.iloc[0]), ls="--", color="grey", lw=1)
        for ref, color in (("scratch", "grey"), ("supervised", "tab:green")):
            hit = linear[(linear["downstream"] == down) & (linear["encoder"] == enc) & (linear["method"] == ref)]
            if len(hit):
                ax.axhline(float(hit["mean"].iloc[0]), ls="-", color=color, lw=0.8, alpha=0.7)
        ax.set_title(f"{down} · {proto} · {enc}", fontsize=9)
        ax.set_ylim(0, 100)
        ax.set_ylabel(f"{metric.replace('_', ' ')} (%)", fontsize=8)
    for i, down in enumerate(retr_groups):
        for j, way in enumerate(("v2a", "a2v")):
            ax = axes[len(groups) + 2 * i + j]
            part = retr[(retr["downstream"] == down) & retr["metric"].str.startswith(way)]
            runs = list(dict.fromkeys(part["method"]))
            ks = sorted({int(m.split("_r")[1]) for m in part["metric"]})
            w = 0.8 / max(1, len(ks))
            for n, k in enumerate(ks):
                s = part[part["metric"] == f"{way}_r{k}"].groupby("method", sort=False)["value"].agg(["mean", "std"])
                s = s.reindex(runs)
                ax.bar(
                    np.arange(len(runs)) + (n - (len(ks) - 1) / 2) * w,
                    100 * s["mean"],
                    yerr=100 * s["std"].fillna(0),
                    width=w,
                    capsize=2,
                    color=COLORS[n % len(COLORS)],
                    label=f"R@{k}",
                )
                ch = part[part["metric"] == f"{way}_r{k}"]["chance"]
                if len(ch):
                    ax.axhline(100 * float(ch.mean()), ls=":", color=COLORS[n % len(COLORS)], lw=1)
            ax.set_xticks(np.arange(len(runs)), runs, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{down} · retrieval {way.replace('2', '→')}", fontsize=9)
            ax.set_ylim(0, 100)
            ax.set_ylabel("recall (%)", fontsize=8)
            ax.legend(fontsize=7)
    _save(fig, out)


def curriculum_switch(m: pd.DataFrame) -> float | None:
    """The epoch after which the share of easy negatives changes (None without a curriculum)."""
    if "easy_fraction" not in m.columns or len(m) < 2:
        return None
    ef = m["easy_fraction"].to_numpy(dtype=float)
    change = np.flatnonzero(np.diff(ef) != 0)
    return float(m["epoch"].iloc[change[0]]) if len(change) else None


def plot_pretext_curves(metrics: dict[str, pd.DataFrame], out: str | Path) -> None:
    """Held-out pretext accuracy per epoch for each pretraining run; a dotted line of the run's
    colour marks the epoch after which an AVTS curriculum switches from easy to mixed/hard negatives."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    n = 0
    for method, df in sorted(metrics.items()):
        if "val_pretext_acc" not in df.columns or not len(df):
            continue
        color = COLORS[n % len(COLORS)]
        n += 1
        ax.plot(df["epoch"], 100 * df["val_pretext_acc"], marker="o", ms=3, color=color, label=method)
        sw = curriculum_switch(df)
        if sw is not None:
            ax.axvline(sw + 0.5, ls=":", color=color, lw=1.2)
            ax.annotate(
                f"{method}: curriculum switch",
                (sw + 0.5, 3),
                rotation=90,
                fontsize=7,
                color=color,
                ha="right",
                va="bottom",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out pretext accuracy (%)")
    ax.set_ylim(0, 100)
    if n:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    _save(fig, out)


def plot_k_sweep(table: pd.DataFrame, out: str | Path) -> None:
    """Accuracy against the number of k-means clusters (the ``k_sweep`` table), one line per
    clustering method, downstream set and protocol; the 95% interval as error bars where the table
    has it (``k=<k> lo/hi``), else the fold std."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    kcols = [c for c in table.columns if c.startswith("k=") and c[2:].isdigit()]
    ks = [int(c[2:]) for c in kcols]
    for _, vals in table.iterrows():
        y = np.array([vals[c] for c in kcols], dtype=float)
        if all(f"{c} lo" in table.columns for c in kcols):
            lo = np.array([vals[f"{c} lo"] for c in kcols], dtype=float)
            hi = np.array([vals[f"{c} hi"] for c in kcols], dtype=float)
            e = np.stack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
        else:
            e = np.array([vals.get(f"{c} ±", 0.0) for c in kcols], dtype=float)
        ok = ~np.isnan(y)
        ax.errorbar(
            np.array(ks)[ok],
            y[ok],
            yerr=np.nan_to_num(e[..., ok]),
            marker="o",
            capsize=3,
            label=f"{vals['method']} · {vals['downstream']} · {vals['protocol']}",
        )
    if ks:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (k-means clusters)")
    ax.set_ylabel("video accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if len(table):
        ax.legend(fontsize=7)
    _save(fig, out)


def plot_multisensory(table: pd.DataFrame, out: str | Path) -> None:
    """Seed 000's Multisensory table (``results/tables/multisensory.csv``) as a picture: one horizontal bar
    per row and downstream set (fine-tuned video accuracy, its 95% interval as error bars), video + audio
    rows filled, video-alone rows hatched; random init's accuracy as a dashed line per set."""
    sets = sorted(set(table["downstream"])) if len(table) else []
    fig, axes = _grid(max(1, len(sets)), 5.0, height=0.5 * max(5, len(table)) + 1.0, max_cols=2)
    for ax, down in zip(axes, sets or [""]):
        part = table[table["downstream"] == down].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        acc = part["acc"].to_numpy(float)
        lo, hi = part["acc lo"].to_numpy(float), part["acc hi"].to_numpy(float)
        err = np.nan_to_num(np.stack([np.clip(acc - lo, 0, None), np.clip(hi - acc, 0, None)]))
        av = (part["fine-tuned on"] == "video + audio").to_numpy()
        ax.barh(y, acc, xerr=err, capsize=3, color=np.where(av, "tab:blue", "white").tolist(), edgecolor="tab:blue")
        for yi, a in zip(y[~av], acc[~av]):
            ax.barh([yi], [a], color="none", edgecolor="tab:blue", hatch="//")
        scr = part.loc[part["row"] == "scratch", "acc"]
        if len(scr):
            ax.axvline(float(scr.iloc[0]), color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, [f"{r} ({f})" for r, f in zip(part["row"], part["fine-tuned on"])], fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("fine-tuned video accuracy (%)")
        ax.set_title(f"Multisensory (seed 000) · {down}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    _save(fig, out)
