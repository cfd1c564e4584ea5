"""The leaderboard: tidy result rows gathered into one CSV, and a Markdown summary.

One row per (method, backbone, pretrain_data, downstream, protocol, fold, metric) with ``value``
and provenance (config hash, manifest hashes, git revision, clips used vs listed). Tables and
plots are derived from these rows; this module imports no model.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd

from avbench.paths import atomic_path

KEY_COLUMNS = [
    "method", "pretext", "encoder", "backbone", "pretrain_data", "downstream", "protocol", "fold", "metric", "value",
]
PROVENANCE_COLUMNS = [
    "n_train", "n_test", "chance", "seed", "run_name", "config_hash", "pretrain_manifest_hash", "downstream_manifest_hash",
    "git_rev", "pretrain_clips_used", "pretrain_clips_found", "pretrain_clips_listed", "clips_used", "clips_found",
    "clips_listed",
]


def git_revision(cwd: str | Path | None = None) -> str:
    """Short git revision of the avbench source tree (or of ``cwd``) (``+dirty`` when the tree has changes), or ``unknown``."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gather(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate result CSVs into the leaderboard, sorted and with key columns first."""
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    cols = [c for c in KEY_COLUMNS if c in df.columns] + [c for c in PROVENANCE_COLUMNS if c in df.columns]
    cols += [c for c in df.columns if c not in cols]
    return df[cols].sort_values(["downstream", "protocol", "metric", "method", "fold"], kind="stable").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds per (downstream, protocol, metric, method, backbone)."""
    keys = [k for k in ("downstream", "protocol", "metric", "method", "encoder", "backbone", "pretrain_data")
            if k in df.columns]
    g = df.groupby(keys, sort=True, dropna=False)["value"]
    out = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "folds"})
    out["std"] = out["std"].fillna(0.0)
    if "chance" in df.columns:
        out = out.merge(df.groupby(keys, dropna=False)["chance"].first().reset_index(), on=keys, how="left")
    return out


def render_markdown(df: pd.DataFrame) -> str:
    """The Markdown summary: one table per downstream task, methods as rows, metrics as columns."""
    if df.empty:
        return "# avbench leaderboard\n\nNo results.\n"
    s = summarize(df)
    lines = ["# avbench leaderboard", "",
             "Accuracy in %, mean ± std over the official folds (linear probe on frozen features). "
             "Generated from `results/leaderboard.csv` by `avbench leaderboard`.", ""]
    first = df.iloc[0]
    for col in ("run_name", "config_hash", "git_rev", "pretrain_data", "pretrain_clips_used", "pretrain_clips_found",
                "pretrain_clips_listed"):
        if col in df.columns:
            lines.append(f"- {col}: `{first[col]}`")
    lines.append("")
    for (down, proto), part in s.groupby(["downstream", "protocol"], sort=True):
        metrics = sorted(part["metric"].unique())
        chance = part["chance"].iloc[0] if "chance" in part.columns else float("nan")
        used = df[(df.downstream == down)]
        extra = ""
        if "clips_used" in used.columns:
            extra = f", {int(used['clips_used'].iloc[0])} of {int(used['clips_listed'].iloc[0])} listed items used"
        lines += [f"## {down} ({proto}; chance {100 * chance:.1f}%{extra})", "",
                  "| method | backbone | " + " | ".join(metrics) + " | folds |",
                  "|---|---|" + "---|" * len(metrics) + "---|"]
        for (method, backbone), rows in part.groupby(["method", "backbone"], sort=False):
            cells = []
            for m in metrics:
                r = rows[rows.metric == m]
                cells.append(f"{100 * r['mean'].iloc[0]:.1f} ± {100 * r['std'].iloc[0]:.1f}" if len(r) else "")
            lines.append(f"| {method} | {backbone} | " + " | ".join(cells) + f" | {int(rows['folds'].max())} |")
        lines.append("")
    return "\n".join(lines)


def write_leaderboard(paths: list[str | Path], csv_path: str | Path, md_path: str | Path) -> pd.DataFrame:
    df = gather(paths)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(md_path, suffix=".md") as tmp:
        tmp.write_text(render_markdown(df))
    return df
