"""Pictures of the results (matplotlib, PNG), derived from result rows and metrics CSVs only."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from avbench.leaderboard import summarize  # noqa: E402
from avbench.paths import atomic_path  # noqa: E402


def plot_leaderboard(df: pd.DataFrame, out: str | Path) -> None:
    """Bars of accuracy per method for each (downstream, protocol, metric), with fold std as error bars
    and chance as a dashed line."""
    s = summarize(df)
    groups = list(s.groupby(["downstream", "protocol", "metric"], sort=True))
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(3.2 * max(1, len(groups)), 3.4), squeeze=False)
    for ax, ((down, proto, metric), part) in zip(axes[0], groups):
        ax.bar(part["method"], 100 * part["mean"], yerr=100 * part["std"], capsize=3, color="#4c72b0")
        if "chance" in part.columns:
            ax.axhline(100 * part["chance"].iloc[0], ls="--", color="grey", lw=1, label="chance")
        ax.set_title(f"{down}\n{proto} {metric}", fontsize=9)
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_pretext_curves(metrics: dict[str, pd.DataFrame], out: str | Path) -> None:
    """Held-out pretext accuracy per epoch for each pretraining method."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, df in sorted(metrics.items()):
        if "val_pretext_acc" in df.columns and len(df):
            ax.plot(df["epoch"], 100 * df["val_pretext_acc"], marker="o", label=method)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out pretext accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
