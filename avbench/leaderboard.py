"""The leaderboard: tidy result rows gathered into one CSV, and a Markdown summary.

One row per (method = run name, pretext, encoder, backbone, pretrain_data, downstream, protocol,
fold, metric) with ``value`` and provenance (classifier, videos and clips in train and test,
chance, test items shared with the pretraining set, seed, config hash, manifest hashes, git
revision, clips used vs listed). Tables and plots are derived from these rows; this module
imports no model.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from avbench.paths import atomic_path

KEY_COLUMNS = [
    "method",
    "pretext",
    "encoder",
    "backbone",
    "pretrain_data",
    "downstream",
    "protocol",
    "fold",
    "metric",
    "value",
]
PROVENANCE_COLUMNS = [
    "classifier",
    "n_train",
    "n_test",
    "n_train_clips",
    "n_test_clips",
    "chance",
    "pretrain_overlap",
    "seed",
    "run_name",
    "config_hash",
    "pretrain_manifest_hash",
    "downstream_manifest_hash",
    "git_rev",
    "pretrain_clips_used",
    "pretrain_clips_found",
    "pretrain_clips_listed",
    "clips_used",
    "clips_found",
    "clips_listed",
    "pretrain_shards_hash",
    "downstream_shards_hash",
    "env_hash",
    "packages",
]


def gather(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate result CSVs into the leaderboard, sorted and with key columns first."""
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    cols = [c for c in KEY_COLUMNS if c in df.columns] + [c for c in PROVENANCE_COLUMNS if c in df.columns]
    cols += [c for c in df.columns if c not in cols]
    sort = [c for c in ("downstream", "protocol", "metric", "method", "encoder", "seed", "fold") if c in df.columns]
    return df[cols].sort_values(sort, kind="stable").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of the mean over folds, the std of the fold values, the number of folds and
    seeds, per (downstream, protocol, metric, method, encoder, backbone)."""
    keys = [
        k
        for k in ("downstream", "protocol", "metric", "method", "encoder", "backbone", "pretrain_data")
        if k in df.columns
    ]
    seeds = "seed" if "seed" in df.columns else None
    per_seed = df.groupby(keys + ([seeds] if seeds else []), sort=True, dropna=False)["value"].mean().reset_index()
    out = per_seed.groupby(keys, sort=True, dropna=False)["value"].agg(["mean"]).reset_index()
    g = df.groupby(keys, sort=True, dropna=False)
    out = out.merge(g["value"].std().rename("std").reset_index(), on=keys, how="left")
    out = out.merge(
        g["fold"].nunique().rename("folds").reset_index()
        if "fold" in df.columns
        else g["value"].count().rename("folds").reset_index(),
        on=keys,
        how="left",
    )
    out["seeds"] = g[seeds].nunique().to_numpy() if seeds else 1
    out["std"] = out["std"].fillna(0.0)
    if "chance" in df.columns:
        out = out.merge(df.groupby(keys, dropna=False)["chance"].first().reset_index(), on=keys, how="left")
    return out


PROTOCOL_TEXT = {
    "linear": "linear classifier on frozen features (the last layer; logistic regression or linear SVM)",
    "finetune": "fine-tune all layers + a new fc on the fold's training videos",
    "finetune_top": "fine-tune the top stage (T-CAM: after fusion) + a new fc, the rest frozen",
    "finetune_av": "fine-tune all layers of a fused audio-visual encoder (Multisensory) + a new fc, fed each "
    "clip's own audio with its video",
    "retrieval": "cross-modal retrieval on each fold's test videos, recall@k (chance k/N)",
}
PROTOCOL_ORDER = ("linear", "finetune_top", "finetune", "finetune_av", "retrieval")
CLASS_RETRIEVAL_TEXT = (
    "`a2a`, `v2v` (within a modality), `v2a_class`, `a2v_class` (across): a query's nearest other test "
    "video of its class ranks among the k nearest (recall@k; chance depends on the class sizes)"
)


def _metric_order(m: str) -> tuple[int, str, int]:
    if "_r" in m and m.split("_r")[-1].isdigit():
        return (1, m.split("_r")[0], int(m.split("_r")[-1]))
    return (0, m, 0)


def provenance_lines(df: pd.DataFrame) -> list[str]:
    """Bullet lines: run name, config hash and git revision (every value present), and per
    pretraining set the clips used / found / listed with the runs pretrained on it (all runs when
    there is one set; else the runs of each set but the largest)."""
    lines = []
    for col in ("run_name", "config_hash", "git_rev"):
        if col in df.columns:
            lines.append(f"- {col}: " + ", ".join(f"`{v}`" for v in dict.fromkeys(df[col].astype(str))))
    if "pretrain_data" not in df.columns:
        return lines
    groups = {str(k): g for k, g in df.groupby("pretrain_data", sort=True)}
    largest = max(groups, key=lambda k: len(_runs(groups[k])))
    for data, g in groups.items():
        r = g.iloc[0]
        clips = ", ".join(
            f"{c.removeprefix('pretrain_clips_')} {int(r[c])}"
            for c in ("pretrain_clips_used", "pretrain_clips_found", "pretrain_clips_listed")
            if c in g.columns
        )
        runs = (
            "every run"
            if len(groups) == 1
            else ("the other runs" if data == largest else ", ".join(f"`{m}`" for m in _runs(g)))
        )
        lines.append(f"- pretrain_data `{data}` ({runs}): clips {clips}")
    return lines


def _runs(rows: pd.DataFrame) -> list[str]:
    return sorted(set(rows["method"].astype(str))) if "method" in rows.columns else []


def render_markdown(df: pd.DataFrame, intervals: pd.DataFrame | None = None, findings: str = "") -> str:
    """The Markdown summary: one table per (downstream set, protocol), runs (and their encoders)
    as rows, metrics as columns: the mean over seeds and folds with its 95% bootstrap interval
    (``intervals``, :meth:`avbench.stats.Bootstrap.table`) when given, else ± the fold std; then the
    ``findings`` section (Markdown) when given."""
    if df.empty:
        return "# avbench leaderboard\n\nNo results.\n" + (f"\n{findings}" if findings else "")
    df = df.assign(**{c: df[c] if c in df.columns else "" for c in ("encoder", "backbone")})
    s = summarize(df)
    ci = None
    if intervals is not None and len(intervals):
        ci = intervals.set_index(["method", "encoder", "downstream", "protocol", "metric"])
    what = (
        "Mean over pretraining seeds and official folds, in %, with its 95% bootstrap interval [lo, hi] (test "
        "videos resampled within each fold, seeds resampled among a run's replicates)"
        if ci is not None
        else "Mean ± std over the official folds, in %"
    )
    lines = [
        "# avbench leaderboard",
        "",
        f"{what}; `clip_acc` scores each evaluation clip, `video_acc` "
        "averages the clip scores of each video. `method` is the pretraining run, `scratch` its random "
        "initialisation, `seeds` its pretraining replicates. Generated from `results/leaderboard.csv` by "
        "`avbench findings`; the seeds' tables are in `results/tables/`, the checked findings below.",
        "",
    ]
    present = [p for p in PROTOCOL_ORDER if p in set(df["protocol"])]
    lines += [f"- `{p}`: {PROTOCOL_TEXT[p]}" for p in present]
    if any(str(m).startswith(("a2a_", "v2v_")) or "_class_" in str(m) for m in df["metric"].unique()):
        lines.append(f"- `retrieval` by class: {CLASS_RETRIEVAL_TEXT}")
    lines += [""]
    lines += provenance_lines(df)
    if "pretrain_overlap" in df.columns and (df["pretrain_overlap"].fillna(0) > 0).any():
        lines.append(
            f"- **{int(df.groupby('downstream')['pretrain_overlap'].max().sum())} downstream test items share "
            "a source file with the pretraining set** (column `pretrain_overlap`)"
        )
    lines.append("")
    order = {p: i for i, p in enumerate(PROTOCOL_ORDER)}
    keys = sorted({(d, p) for d, p in zip(s["downstream"], s["protocol"])}, key=lambda t: (t[0], order.get(t[1], 9)))
    for down, proto in keys:
        part = s[(s["downstream"] == down) & (s["protocol"] == proto)]
        metrics = sorted(part["metric"].unique(), key=_metric_order)
        used = df[(df.downstream == down)]
        extra = ""
        if "clips_used" in used.columns:
            extra = f", {int(used['clips_used'].iloc[0])} of {int(used['clips_listed'].iloc[0])} listed items used"
        chance = ""
        if proto != "retrieval" and "chance" in part.columns:
            chance = f"; chance {100 * part['chance'].iloc[0]:.1f}%"
        lines += [
            f"## {down} ({proto}{chance}{extra})",
            "",
            "| method | encoder | backbone | " + " | ".join(metrics) + " | folds | seeds |",
            "|---|---|---|" + "---|" * len(metrics) + "---|---|",
        ]
        for (method, encoder, backbone), rows in part.groupby(["method", "encoder", "backbone"], sort=False):
            cells = []
            for m in metrics:
                r = rows[rows.metric == m]
                if not len(r):
                    cells.append("")
                    continue
                k = (method, encoder, down, proto, m)
                if ci is not None and k in ci.index:
                    c = ci.loc[k]
                    cells.append(f"{100 * r['mean'].iloc[0]:.1f} [{100 * c['lo']:.1f}, {100 * c['hi']:.1f}]")
                else:
                    cells.append(f"{100 * r['mean'].iloc[0]:.1f} ± {100 * r['std'].iloc[0]:.1f}")
            lines.append(
                f"| {method} | {encoder} | {backbone} | "
                + " | ".join(cells)
                + f" | {int(rows['folds'].max())} | {int(rows['seeds'].max())} |"
            )
        lines.append("")
    if findings:
        lines += [findings]
    return "\n".join(lines)


def gather_predictions(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate the evaluation jobs' per-clip prediction files."""
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_leaderboard(
    paths: list[str | Path],
    csv_path: str | Path,
    md_path: str | Path | None = None,
    *,
    predictions: list[str | Path] | None = None,
    units_path: str | Path | None = None,
    intervals_path: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The leaderboard CSV (and its Markdown, when ``md_path``); from ``predictions``, the per-video
    units (:func:`avbench.stats.units`, parquet) and the 95% intervals of every score (CSV)."""
    from avbench.stats import Bootstrap, units

    df = gather(paths)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    intervals = None
    if predictions is not None:
        u = units(gather_predictions(predictions))
        intervals = Bootstrap(u, n=n_boot, seed=seed).table()
        if units_path:
            with atomic_path(units_path, suffix=".parquet") as tmp:
                u.to_parquet(tmp, index=False)
        if intervals_path:
            with atomic_path(intervals_path, suffix=".csv") as tmp:
                intervals.to_csv(tmp, index=False, float_format="%.6g")
    if md_path:
        with atomic_path(md_path, suffix=".md") as tmp:
            tmp.write_text(render_markdown(df, intervals))
    return df
