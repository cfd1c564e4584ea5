"""The seeds' result tables, computed from the leaderboard rows only (no model is imported).

Inputs:

- ``rows``: the tidy leaderboard (:mod:`avbench.leaderboard`): one row per (method = run name,
  pretext, encoder, downstream, protocol, fold, metric) with ``value``;
- ``runs``: one row per pretraining run with its settings flattened (:func:`run_table`:
  ``run``, ``method``, ``dataset``, ``epochs``, ``avts.easy_fraction``, ``xdc.k``, ...), from the
  effective config. Runs are recognised by these settings (their method and e.g. the AVTS
  negatives or the number of clusters), never by their names;
- ``metrics``: each run's pretraining ``metrics.csv`` (held-out pretext accuracy per epoch, the
  curriculum stage, the arrow-of-time cue shares...).

Every table is a DataFrame with one row per run (or per method and downstream set); accuracies
are in %, the mean over the official folds with the standard deviation across folds beside it
(``<downstream> <protocol>`` and ``... ±``). The metric is video-level accuracy unless asked
otherwise. A table whose runs are absent from the config is not planned (:func:`plan_tables`);
one whose rows are missing (e.g. no flow in the shards yet) is written with its header only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avbench.paths import atomic_path

# Method families, by the `method` of a run (the names of avbench.pretext.PRETEXTS).
REFERENCE = {"scratch": "none (random init)", "supervised": "supervised", "external": "external (not trained here)"}
CLUSTERING = ("sdc", "mdc", "cdc", "xdc")
AOT = ("aot",)
TEMPORAL_ORDER = ("shuffle_learn", "odd_one_out", "sorting", "jigsaw", "speed")  # temporal visual pretexts
# seed 002's image pretexts on single frames (avbench.pretext.image); image_multitask trains `image.tasks` together
IMAGE = ("image_context", "image_colour", "image_exemplar", "image_rotation", "image_multitask")
IMAGE_TASKS = ("context", "colour", "exemplar", "rotation")  # the order of the seed's rows
IMAGE_TASK_NAMES = {"context": "Rel. Pos", "colour": "Colour", "exemplar": "Exemplar", "rotation": "Rotation"}
IMAGE_MULTITASK_DEFAULT = ("context", "colour", "exemplar")  # image.tasks' default (the schema's)
MULTISENSORY = ("multisensory",)  # the early-fusion audio-visual network (avbench.pretext.multisensory)
EMBEDDING = ("avts", "avenet", "infonce", "avolnet")  # heads that embed video and audio: cross-modal retrieval
PROTOCOL_ORDER = ("linear", "finetune_top", "finetune", "retrieval")
PROTOCOL_NAMES = {"linear": "last layer (linear)", "finetune_top": "after fusion / top stage", "finetune": "all layers"}
TASK_ENCODERS = ("video", "flow", "audio")  # the first of these a run has is its row for a downstream set


# -- inputs --------------------------------------------------------------------------------------


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings -> ``{"avts.easy_fraction": 0.75, ...}`` (lists as JSON strings)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(list(v))
        else:
            out[key] = v
    return out


def run_table(cfg: dict[str, Any]) -> pd.DataFrame:
    """One row per pretraining run of a (validated or effective) config: ``run`` and its flattened
    settings (:func:`avbench.config.run_settings`); then one per external encoder (``method``
    ``external``, ``dataset`` what it was trained on or ``none``, its spec as ``external.*``)."""
    from avbench.config import external_names, run_names, run_settings

    rows = [{"run": r, **flatten(run_settings(cfg, r))} for r in run_names(cfg)]
    for name in external_names(cfg):
        spec = cfg["external"][name]
        model = str(spec["model"]).rpartition(":")[2]
        rows.append(
            {
                "run": name,
                "method": "external",
                "dataset": spec.get("pretrained_on") or "none",
                f"{spec['modality']}_backbone": model,
                **flatten({"external": spec}),
            }
        )
    return pd.DataFrame(rows)


def read_metrics(paths: list[str | Path]) -> dict[str, pd.DataFrame]:
    """``results/models/<run>/metrics.csv`` files -> {run: metrics}."""
    out = {}
    for p in paths:
        try:
            out[Path(p).parent.name] = pd.read_csv(p)
        except pd.errors.EmptyDataError:
            out[Path(p).parent.name] = pd.DataFrame()
    return out


def last_epoch(metrics: dict[str, pd.DataFrame], run: str) -> dict[str, Any]:
    """The last epoch's metrics of a run, averaged over its seed instances (``<run>.seed<N>``)
    where they are numbers."""
    rows = [
        m.iloc[-1]
        for name, m in metrics.items()
        if (name == run or name.startswith(f"{run}.seed")) and m is not None and not m.empty
    ]
    if not rows:
        return {}
    if len(rows) == 1:
        return rows[0].to_dict()
    df = pd.DataFrame(rows)
    out = df.iloc[0].to_dict()
    out.update(df.mean(numeric_only=True).to_dict())
    return out


# -- scores --------------------------------------------------------------------------------------


def fold_scores(rows: pd.DataFrame, metric: str = "video_acc", intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (method, encoder, downstream, protocol) of one metric, in %: ``mean`` (over pretraining
    seeds of the mean over folds), ``std`` (of the fold values), ``folds``, ``seeds``, and the 95%
    bootstrap interval ``lo``/``hi`` from ``intervals`` (:meth:`avbench.stats.Bootstrap.table`) when
    given (else NaN)."""
    keys = ["method", "encoder", "downstream", "protocol"]
    cols = keys + ["mean", "std", "folds", "seeds", "lo", "hi"]
    if rows.empty or "metric" not in rows.columns:
        return pd.DataFrame(columns=cols)
    r = rows[rows["metric"] == metric]
    if r.empty:
        return pd.DataFrame(columns=cols)
    r = r.assign(seed=r["seed"] if "seed" in r.columns else 0)
    mean = r.groupby(keys + ["seed"], sort=False)["value"].mean().groupby(keys, sort=False).mean().rename("mean")
    g = r.groupby(keys, sort=False)
    out = pd.concat(
        [
            mean,
            g["value"].std().rename("std"),
            g["fold"].nunique().rename("folds") if "fold" in r.columns else g["value"].count().rename("folds"),
            g["seed"].nunique().rename("seeds"),
        ],
        axis=1,
    ).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out[["mean", "std"]] = (100 * out[["mean", "std"]]).round(1)
    out["lo"] = np.nan
    out["hi"] = np.nan
    if intervals is not None and len(intervals):
        ci = intervals[intervals["metric"] == metric].set_index(keys)[["lo", "hi"]]
        idx = pd.MultiIndex.from_frame(out[keys])
        out["lo"] = (100 * ci["lo"].reindex(idx).to_numpy()).round(1)
        out["hi"] = (100 * ci["hi"].reindex(idx).to_numpy()).round(1)
    return out[cols]


def primary(scores: pd.DataFrame, encoders: tuple[str, ...] = TASK_ENCODERS) -> pd.DataFrame:
    """For each (run, downstream, protocol), the scores of the first of ``encoders`` that the run
    was evaluated with (an RGB encoder before a flow encoder; audio for the sound sets)."""
    if scores.empty:
        return scores
    rank = {e: i for i, e in enumerate(encoders)}
    s = scores[scores["encoder"].isin(rank)].copy()
    s["_rank"] = s["encoder"].map(rank)
    s = s.sort_values("_rank", kind="stable").drop_duplicates(["method", "downstream", "protocol"])
    return s.drop(columns="_rank")


def _protocol_key(p: str) -> int:
    return PROTOCOL_ORDER.index(p) if p in PROTOCOL_ORDER else len(PROTOCOL_ORDER)


def wide(
    scores: pd.DataFrame,
    runs: list[str],
    *,
    protocols: tuple[str, ...] | None = None,
    label: Callable[[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per run of ``runs`` (in that order): ``<downstream> <protocol>`` mean and ``±`` std
    columns (downstream sets sorted, protocols in :data:`PROTOCOL_ORDER`)."""
    s = scores[scores["method"].isin(runs)]
    if protocols is not None:
        s = s[s["protocol"].isin(protocols)]
    label = label or (lambda d, p: f"{d} {p}")
    out = pd.DataFrame({"run": pd.Series(runs, dtype=object)})
    keys = sorted({(d, p) for d, p in zip(s["downstream"], s["protocol"])}, key=lambda t: (t[0], _protocol_key(t[1])))
    for d, p in keys:
        part = s[(s["downstream"] == d) & (s["protocol"] == p)].set_index("method")
        out[label(d, p)] = out["run"].map(part["mean"])
        out[label(d, p) + " ±"] = out["run"].map(part["std"])
        if "lo" in part.columns and part["lo"].notna().any():
            out[label(d, p) + " lo"] = out["run"].map(part["lo"])
            out[label(d, p) + " hi"] = out["run"].map(part["hi"])
    return out


def wide_by_encoder(
    scores: pd.DataFrame,
    runs: list[str],
    *,
    protocols: tuple[str, ...] | None = None,
    label: Callable[[str, str], str] | None = None,
) -> pd.DataFrame:
    """:func:`wide` for each encoder (RGB video, flow, audio) separately: one row per (run,
    encoder) that was evaluated, so that a run is compared with the references of the same encoder."""
    parts = []
    for enc in TASK_ENCODERS:
        s = scores[scores["encoder"] == enc]
        if protocols is not None:
            s = s[s["protocol"].isin(protocols)]
        have = [r for r in runs if r in set(s["method"])]
        if not have:
            continue
        w = wide(s, have, protocols=protocols, label=label)
        w.insert(1, "encoder", enc)
        parts.append(w)
    if not parts:
        return pd.DataFrame(columns=["run", "encoder"])
    return pd.concat(parts, ignore_index=True)


# -- run selection -------------------------------------------------------------------------------


def runs_of(runs: pd.DataFrame, methods: tuple[str, ...] | str) -> list[str]:
    methods = (methods,) if isinstance(methods, str) else methods
    return runs.loc[runs["method"].isin(methods), "run"].tolist()


def supervision(method: str) -> str:
    return REFERENCE.get(method, "self-supervised")


def run_setting(runs: pd.DataFrame, run: str, key: str, default: Any = np.nan) -> Any:
    """Setting ``key`` of run ``run`` in a run table (:func:`run_table`), ``default`` when absent or NaN."""
    row = runs.loc[runs["run"] == run]
    if row.empty or key not in row.columns:
        return default
    v = row.iloc[0][key]
    return default if (not isinstance(v, str) and pd.isna(v)) else v


def _ordered(runs: pd.DataFrame, names: list[str]) -> list[str]:
    """scratch first, then the others in config order, supervised, the external encoders last."""

    def key(r: str) -> int:
        m = run_setting(runs, r, "method", "")
        return 0 if m == "scratch" else 2 if m == "supervised" else 3 if m == "external" else 1

    return sorted(dict.fromkeys(names), key=key)


def cluster_k(runs: pd.DataFrame, run: str) -> Any:
    """The number of clusters of a deep-clustering run (``deep_clustering.k``, else ``<method>.k``,
    else any ``*.k`` setting)."""
    method = run_setting(runs, run, "method", "")
    k = run_setting(runs, run, "deep_clustering.k")
    if pd.isna(k):
        k = run_setting(runs, run, f"{method}.k")
    if pd.isna(k):
        for c in runs.columns:
            if c.endswith(".k"):
                k = run_setting(runs, run, c)
                if not pd.isna(k):
                    break
    return int(k) if not pd.isna(k) else np.nan


def varying_settings(runs: pd.DataFrame, names: list[str], prefix: str) -> list[str]:
    """Setting columns starting with ``prefix`` whose value differs among the runs ``names``."""
    part = runs[runs["run"].isin(names)]
    cols = [c for c in part.columns if c.startswith(prefix)]
    return [c for c in cols if part[c].astype(str).nunique(dropna=False) > 1]


# -- the tables ----------------------------------------------------------------------------------


def _negatives(easy: float) -> str:
    if easy >= 1.0:
        return "easy"
    if easy <= 0.0:
        return "hard"
    return f"{100 * easy:.0f}% easy, {100 * (1 - easy):.0f}% hard"


def avts_curriculum(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 000: AVTS negatives x curriculum -> held-out pretext accuracy (in-sync vs easy
    negatives, the seed's test set) and downstream accuracy."""
    names = runs_of(runs, "avts")
    out = []
    for r in names:
        easy = float(run_setting(runs, r, "avts.easy_fraction", 1.0))
        switch = float(run_setting(runs, r, "avts.curriculum_switch", 0.0))
        epochs = int(run_setting(runs, r, "epochs", 0))
        n_easy = int(round(switch * epochs))
        last = last_epoch(metrics, r)
        out.append(
            {
                "run": r,
                "stage": "curriculum" if n_easy > 0 else "single stage",
                "negatives": _negatives(easy) if n_easy == 0 else f"easy, then {_negatives(easy)}",
                "epochs": f"1-{n_easy}, {n_easy + 1}-{epochs}" if n_easy > 0 else f"1-{epochs}",
                "easy_fraction": easy,
                "curriculum_switch": switch,
                "pretext acc (%)": _pct(last.get("val_pretext_acc")),
                "pretext acc, hard negatives (%)": _pct(last.get("val_pretext_acc_hard")),
                "easy negatives of the same class (%)": _pct(last.get("val_neg_same_class")),
            }
        )
    table = pd.DataFrame(
        out,
        columns=[
            "run",
            "stage",
            "negatives",
            "epochs",
            "easy_fraction",
            "curriculum_switch",
            "pretext acc (%)",
            "pretext acc, hard negatives (%)",
            "easy negatives of the same class (%)",
        ],
    )
    acc = wide(primary(fold_scores(rows, metric, intervals)), names, protocols=("linear", "finetune"))
    return table.merge(acc, on="run", how="left")


def _pct(v: Any) -> float:
    try:
        return round(100 * float(v), 1)
    except (TypeError, ValueError):
        return np.nan


def supervision_table(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seeds 000/003: scratch vs self-supervised vs supervised pretraining, every run."""
    names = _ordered(runs, runs["run"].tolist())
    meta = pd.DataFrame(
        [
            {
                "run": r,
                "pretext": run_setting(runs, r, "method", ""),
                "supervision": supervision(str(run_setting(runs, r, "method", ""))),
                "pretrain data": "none"
                if run_setting(runs, r, "method", "") == "scratch"
                else run_setting(runs, r, "dataset", ""),
                "video backbone": run_setting(runs, r, "video_backbone", ""),
            }
            for r in names
        ],
        columns=["run", "pretext", "supervision", "pretrain data", "video backbone"],
    )
    acc = wide_by_encoder(fold_scores(rows, metric, intervals), names, protocols=("linear", "finetune"))
    return acc.merge(meta, on="run", how="left")[
        ["run"] + [c for c in meta.columns if c != "run"] + [c for c in acc.columns if c != "run"]
    ]


def clustering_table(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 003: SDC / MDC / CDC / XDC against scratch and supervised."""
    clus = sorted(
        runs_of(runs, CLUSTERING), key=lambda r: (CLUSTERING.index(run_setting(runs, r, "method")), cluster_k(runs, r))
    )
    names = runs_of(runs, "scratch") + clus + runs_of(runs, "random_targets") + runs_of(runs, "supervised")
    meta = pd.DataFrame(
        [
            {
                "run": r,
                "method": run_setting(runs, r, "method", ""),
                "k": cluster_k(runs, r),
                "pretext acc (%)": _pct(last_epoch(metrics, r).get("val_pretext_acc")),
            }
            for r in names
        ],
        columns=["run", "method", "k", "pretext acc (%)"],
    )
    acc = wide(primary(fold_scores(rows, metric, intervals)), names, protocols=("linear", "finetune"))
    return meta.merge(acc, on="run", how="left")


def k_sweep(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 003: accuracy against the number of k-means clusters, per clustering method (with
    two or more values of k), downstream set and protocol; columns ``k=<k>`` (and ``±``)."""
    scores = primary(fold_scores(rows, metric, intervals))
    out = []
    for method in CLUSTERING:
        names = runs_of(runs, method)
        ks = {r: cluster_k(runs, r) for r in names}
        ks = {r: k for r, k in ks.items() if not pd.isna(k)}
        if len(set(ks.values())) < 2:
            continue
        s = scores[scores["method"].isin(list(ks)) & (scores["protocol"] != "retrieval")]
        for (down, proto), part in s.groupby(["downstream", "protocol"], sort=True):
            row: dict[str, Any] = {"method": method, "downstream": down, "protocol": proto}
            for r, k in sorted(ks.items(), key=lambda t: t[1]):
                hit = part[part["method"] == r]
                row[f"k={k}"] = hit["mean"].iloc[0] if len(hit) else np.nan
                row[f"k={k} ±"] = hit["std"].iloc[0] if len(hit) else np.nan
                if intervals is not None:
                    row[f"k={k} lo"] = hit["lo"].iloc[0] if len(hit) else np.nan
                    row[f"k={k} hi"] = hit["hi"].iloc[0] if len(hit) else np.nan
            out.append(row)
    return pd.DataFrame(
        out,
        columns=["method", "downstream", "protocol"]
        + sorted({c for r in out for c in r if c.startswith("k=")}, key=lambda c: (int(c[2:].split()[0]), c)),
    )


def fc_vs_all(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 003: a linear classifier on frozen features (fc) against fine-tuning all layers, for
    every run evaluated both ways."""
    scores = fold_scores(rows, metric, intervals)
    both = set(scores.loc[scores["protocol"] == "linear", "method"]) & set(
        scores.loc[scores["protocol"] == "finetune", "method"]
    )
    names = [r for r in _ordered(runs, runs["run"].tolist()) if r in both]
    meta = pd.DataFrame(
        [{"run": r, "pretext": run_setting(runs, r, "method", "")} for r in names], columns=["run", "pretext"]
    )
    names_map = {"linear": "fc (linear probe)", "finetune_fc": "fc (same loop)", "finetune": "all"}
    acc = wide_by_encoder(
        scores, names, protocols=("linear", "finetune_fc", "finetune"), label=lambda d, p: f"{d} {names_map[p]}"
    )
    acc = acc[[c for c in acc.columns if c in ("run", "encoder") or not pd.isna(acc[c]).all()]]
    keep = acc.filter(regex=r" all$").notna().any(axis=1)
    return acc[keep].merge(meta, on="run", how="left")[["run", "pretext"] + [c for c in acc.columns if c != "run"]]


def aot_cues(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 002: arrow of time with and without the shortcut cues: the cue settings that differ
    among the AoT runs, the share of videos with each cue and the held-out AoT accuracies
    (every ``val_*acc*`` and ``*share*`` column of the run's last epoch)."""
    names = runs_of(runs, AOT)
    out = []
    for r in names:
        method = run_setting(runs, r, "method", "")
        row: dict[str, Any] = {"run": r}
        for c in varying_settings(runs, names, f"{method}.") + varying_settings(runs, names, "dataset"):
            row[c] = run_setting(runs, r, c)
        last = last_epoch(metrics, r)
        for c, v in last.items():
            if "share" in c or (c.startswith("val_") and "acc" in c):
                row[f"{c} (%)"] = _pct(v)
        out.append(row)
    return pd.DataFrame(out, columns=list(dict.fromkeys(["run"] + [c for r in out for c in r])))


def aot_finetune(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seeds 000/002: fine-tune the last layer (the linear classifier) / after fusion (the top stage) /
    all layers, for random init, supervised and arrow-of-time initialisations, on the action sets.
    T-CAM flow encoders where they were evaluated, else the RGB encoder (column ``encoder``)."""
    scores = fold_scores(rows, metric, intervals)
    scores = scores[scores["protocol"].isin(PROTOCOL_NAMES)]
    flow = scores[scores["encoder"] == "flow"]
    s = flow if not flow.empty else scores[scores["encoder"] == "video"]
    names = [r for r in _ordered(runs, runs_of(runs, ("scratch", "supervised") + AOT)) if r in set(s["method"])]
    meta = pd.DataFrame(
        [
            {
                "run": r,
                "initialisation": supervision(str(run_setting(runs, r, "method", "")))
                if run_setting(runs, r, "method", "") in REFERENCE
                else "arrow of time",
                "encoder": s.loc[s["method"] == r, "encoder"].iloc[0],
            }
            for r in names
        ],
        columns=["run", "initialisation", "encoder"],
    )
    acc = wide(s, names, label=lambda d, p: f"{d} {PROTOCOL_NAMES[p]}")
    return meta.merge(acc, on="run", how="left")


def temporal_order(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The temporal visual pretexts against random init (and supervised): seed 002's shuffle & learn
    and odd-one-out, seed 001's sequence sorting, video jigsaw and playback speed."""
    names = _ordered(runs, runs_of(runs, ("scratch",) + TEMPORAL_ORDER + ("supervised",)))
    meta = pd.DataFrame(
        [
            {
                "run": r,
                "initialisation": run_setting(runs, r, "method", ""),
                "pretext acc (%)": _pct(last_epoch(metrics, r).get("val_pretext_acc")),
            }
            for r in names
        ],
        columns=["run", "initialisation", "pretext acc (%)"],
    )
    acc = wide(primary(fold_scores(rows, metric, intervals)), names, protocols=("linear", "finetune"))
    return meta.merge(acc, on="run", how="left")


def image_tasks(runs: pd.DataFrame, run: str) -> tuple[str, ...]:
    """The image tasks a run trains, in :data:`IMAGE_TASKS` order: one for the single-task methods,
    ``image.tasks`` for ``image_multitask`` (its default when absent); () for other methods."""
    method = str(run_setting(runs, run, "method", ""))
    if method not in IMAGE:
        return ()
    if method != "image_multitask":
        return (method[len("image_") :],)
    raw = run_setting(runs, run, "image.tasks", None)
    tasks = json.loads(raw) if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else []
    tasks = tasks or list(IMAGE_MULTITASK_DEFAULT)
    return tuple(t for t in IMAGE_TASKS if t in tasks)


def image_runs(runs: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """(random-init references, image-pretext runs, supervised references) of the image table: the
    references are the scratch / supervised runs whose video backbone is one the image runs use
    (a frame encoder is compared with random init and supervised training of the same encoder).
    Image runs: single tasks in :data:`IMAGE_TASKS` order, then combinations by size."""
    names = runs_of(runs, IMAGE)
    backbones = {str(run_setting(runs, r, "video_backbone", "")) for r in names}

    def same(rs: list[str]) -> list[str]:
        return [r for r in rs if str(run_setting(runs, r, "video_backbone", "")) in backbones]

    def key(r: str) -> tuple[int, list[int]]:
        t = image_tasks(runs, r)
        return (len(t), [IMAGE_TASKS.index(x) for x in t])

    return same(runs_of(runs, "scratch")), sorted(names, key=key), same(runs_of(runs, "supervised"))


def image_pretexts(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Seed 002 (Doersch & Zisserman 2017's multi-task table, Gidaris et al.'s rotation row): the image
    pretexts at frame level, each alone and combined in one network, between random init and
    supervised training of the same frame encoder; accuracy on the action sets (linear on frozen
    features, the seed's "ImageNet-frozen", and fine-tuned where evaluated), with the held-out
    pretext accuracy of every task (``<task> acc (%)``) and their mean."""
    scratch, names, sup = image_runs(runs)
    order = scratch + names + sup
    out = []
    for r in order:
        method = str(run_setting(runs, r, "method", ""))
        tasks = image_tasks(runs, r)
        last = last_epoch(metrics, r)
        row: dict[str, Any] = {
            "run": r,
            "self-supervision task": " + ".join(IMAGE_TASK_NAMES[t] for t in tasks)
            if tasks
            else ("Random" if method == "scratch" else "labels (supervised)"),
            "tasks": len(tasks),
            "video backbone": run_setting(runs, r, "video_backbone", ""),
            "pretext acc (%)": _pct(last.get("val_pretext_acc")) if tasks else np.nan,
        }
        for t in IMAGE_TASKS:
            row[f"{IMAGE_TASK_NAMES[t]} acc (%)"] = _pct(last.get(f"val_{t}_acc")) if t in tasks else np.nan
        out.append(row)
    cols = ["run", "self-supervision task", "tasks", "video backbone", "pretext acc (%)"] + [
        f"{IMAGE_TASK_NAMES[t]} acc (%)" for t in IMAGE_TASKS
    ]
    meta = pd.DataFrame(out, columns=cols)
    acc = wide(primary(fold_scores(rows, metric, intervals), ("video",)), order, protocols=("linear", "finetune"))
    return meta.merge(acc, on="run", how="left")


def multisensory_variant(runs: pd.DataFrame, run: str) -> str:
    """Seed 000's name of a Multisensory run, from its settings: ``full`` (raw waveform, shifted
    negatives), ``spectrogram`` (log-mel input, shifted negatives), ``random pairing`` (waveform,
    negatives from other videos); any other combination by its settings."""
    audio = str(run_setting(runs, run, "multisensory.audio_input", "waveform"))
    neg = str(run_setting(runs, run, "multisensory.negatives", "shifted"))
    names = {
        ("waveform", "shifted"): "full",
        ("spectrogram", "shifted"): "spectrogram",
        ("waveform", "random"): "random pairing",
    }
    return names.get((audio, neg), f"{audio} input, {neg} negatives")


MULTISENSORY_ORDER = ("full", "spectrogram", "random pairing")


def multisensory_plan(runs: pd.DataFrame) -> tuple[list[tuple[str, str, str]], str | None, str | None]:
    """The rows of seed 000's Multisensory table: (row name, run, fine-tune protocol), in the seed's
    order: each Multisensory run fine-tuned on video + audio (``finetune_av``; full, spectrogram,
    random pairing, others), then the same runs fine-tuned on video alone (``finetune``: "vision
    only" for the full run, ``<variant>, vision only`` for the others), then random init: the fused
    network at random init (a scratch run with ``video_backbone: multisensory``, the seed's
    "Multisensory (scratch)") both ways, and the video random init (the scratch run with the
    Multisensory runs' video backbone setting: the same video stages without the audio subnet). Also
    returns those two random-init runs (or None)."""
    names = runs_of(runs, MULTISENSORY)

    def key(r: str) -> tuple[int, str]:
        v = multisensory_variant(runs, r)
        return (MULTISENSORY_ORDER.index(v) if v in MULTISENSORY_ORDER else len(MULTISENSORY_ORDER), r)

    names = sorted(names, key=key)
    plan = [(multisensory_variant(runs, r), r, "finetune_av") for r in names]
    for r in names:
        v = multisensory_variant(runs, r)
        plan.append(("vision only" if v == "full" else f"{v}, vision only", r, "finetune"))
    backbones = {str(run_setting(runs, r, "video_backbone", "")) for r in names}
    scratch_runs = runs_of(runs, "scratch")
    fused = [r for r in scratch_runs if str(run_setting(runs, r, "video_backbone", "")) == "multisensory"]
    scratch = [r for r in scratch_runs if str(run_setting(runs, r, "video_backbone", "")) in backbones]
    if fused:
        plan += [("scratch (fused)", fused[0], "finetune_av"), ("scratch (fused), vision only", fused[0], "finetune")]
    if scratch:
        plan.append(("scratch", scratch[0], "finetune"))
    return plan, (scratch[0] if scratch else None), (fused[0] if fused else None)


def multisensory_table(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
    boot: Any = None,
) -> pd.DataFrame:
    """Seed 000 (Owens & Efros 2018, action recognition fine-tuned on UCF101): Multisensory full
    (waveform, shifted negatives), spectrogram input, random pairing, vision only (the audio-visual
    network fine-tuned without its audio) and scratch (random init: the fused network, and the video
    network), as rows (:func:`multisensory_plan`);
    one row per (row, video downstream set the row was fine-tuned on): ``fine-tuned on`` (``video +
    audio``: protocol ``finetune_av``, each clip's own audio; ``video alone``: ``finetune``), the
    fine-tuned accuracy in % with its 95% interval (``acc``, ``acc lo`` / ``acc hi``), the paired
    difference to scratch fine-tuned on the same set (``diff to scratch`` and its interval, from the
    predictions: ``boot``, a :class:`avbench.stats.Bootstrap` of the evaluation units; without it, no
    difference), the paired difference to the fused network at random init fine-tuned the same way (``diff
    to fused scratch``: what the pretraining adds to the same network and inputs; when that run exists), the
    linear probe of the run's vision-only features beside it, the held-out pretext
    accuracy and sync AUC of its last epoch, and the test videos without audio (``finetune_av``)."""
    from avbench.stats import difference

    plan, scratch, fused = multisensory_plan(runs)
    cols = [
        "row",
        "run",
        "audio input",
        "negatives",
        "fine-tuned on",
        "downstream",
        "acc",
        "acc ±",
        "acc lo",
        "acc hi",
        "diff to scratch",
        "diff lo",
        "diff hi",
        "diff to fused scratch",
        "fused diff lo",
        "fused diff hi",
        "linear acc",
        "linear lo",
        "linear hi",
        "pretext acc (%)",
        "sync AUC (%)",
        "test videos",
        "test videos without audio",
    ]
    scores = fold_scores(rows, metric, intervals)
    scores = scores[scores["encoder"] == "video"]
    out = []
    for name, run, protocol in plan:
        method = str(run_setting(runs, run, "method", ""))
        mine = scores[(scores["method"] == run) & (scores["protocol"] == protocol)]
        last = last_epoch(metrics, run) if method != "scratch" else {}
        for _, sc in mine.sort_values("downstream").iterrows():
            down = str(sc["downstream"])
            lin = scores[(scores["method"] == run) & (scores["protocol"] == "linear") & (scores["downstream"] == down)]
            d = df = None
            if boot is not None:
                ea = boot.estimate(run, "video", down, protocol, metric)
                eb = boot.estimate(scratch, "video", down, "finetune", metric) if scratch else None
                ef = boot.estimate(fused, "video", down, protocol, metric) if fused else None
                d = difference(ea, eb) if ea is not None and eb is not None else None
                df = difference(ea, ef) if ea is not None and ef is not None else None
            part = rows[(rows["method"] == run) & (rows["protocol"] == protocol) & (rows["downstream"] == down)]
            part = part[part["encoder"] == "video"] if "encoder" in part.columns else part
            part = part[part["seed"] == part["seed"].min()] if "seed" in part.columns and len(part) else part
            part = part[part["metric"] == metric] if "metric" in part.columns else part
            no_audio = (
                int(part["n_test_no_audio"].fillna(0).sum())
                if protocol == "finetune_av" and "n_test_no_audio" in part.columns
                else np.nan
            )
            out.append(
                {
                    "row": name,
                    "run": run,
                    "audio input": str(run_setting(runs, run, "multisensory.audio_input", "waveform"))
                    if method in MULTISENSORY or run == fused
                    else "none",
                    "negatives": str(run_setting(runs, run, "multisensory.negatives", "shifted"))
                    if method in MULTISENSORY
                    else "none",
                    "fine-tuned on": "video + audio" if protocol == "finetune_av" else "video alone",
                    "downstream": down,
                    "acc": sc["mean"],
                    "acc ±": sc["std"],
                    "acc lo": sc["lo"],
                    "acc hi": sc["hi"],
                    "diff to scratch": round(100 * d.diff, 1) if d is not None else np.nan,
                    "diff lo": round(100 * d.lo, 1) if d is not None else np.nan,
                    "diff hi": round(100 * d.hi, 1) if d is not None else np.nan,
                    "diff to fused scratch": round(100 * df.diff, 1) if df is not None else np.nan,
                    "fused diff lo": round(100 * df.lo, 1) if df is not None else np.nan,
                    "fused diff hi": round(100 * df.hi, 1) if df is not None else np.nan,
                    "linear acc": lin["mean"].iloc[0] if len(lin) else np.nan,
                    "linear lo": lin["lo"].iloc[0] if len(lin) else np.nan,
                    "linear hi": lin["hi"].iloc[0] if len(lin) else np.nan,
                    "pretext acc (%)": _pct(last.get("val_pretext_acc")),
                    "sync AUC (%)": _pct(last.get("val_sync_auc")),
                    "test videos": int(part["n_test"].sum()) if "n_test" in part.columns and len(part) else np.nan,
                    "test videos without audio": no_audio,
                }
            )
    return pd.DataFrame(out, columns=cols)


def retrieval_table(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Cross-modal retrieval of the embedding methods: recall@1/5/10 both ways, in %; with
    ``evaluate.retrieval_intra``, also by class within and across modalities (a2a, v2v, v2a_class,
    a2v_class)."""
    r = rows[rows["protocol"] == "retrieval"] if "protocol" in rows.columns else rows.iloc[0:0]
    cols = ["run", "downstream", "test videos"]
    if r.empty:
        return pd.DataFrame(columns=cols)
    g = r.groupby(["method", "downstream", "metric"])["value"].agg(["mean", "std"]).reset_index()
    out = []
    for (run, down), part in g.groupby(["method", "downstream"], sort=False):
        row: dict[str, Any] = {
            "run": run,
            "downstream": down,
            "test videos": int(r[(r.method == run) & (r.downstream == down)]["n_test"].mean()),
        }
        for m in sorted(part["metric"], key=lambda m: (m.rsplit("_r", 1)[0], int(m.rsplit("_r", 1)[1]))):
            hit = part[part["metric"] == m].iloc[0]
            row[m.replace("_r", " R@")] = round(100 * hit["mean"], 1)
            row[m.replace("_r", " R@") + " ±"] = round(100 * (0.0 if pd.isna(hit["std"]) else hit["std"]), 1)
            if intervals is not None and len(intervals):
                ci = intervals[
                    (intervals["method"] == run)
                    & (intervals["downstream"] == down)
                    & (intervals["protocol"] == "retrieval")
                    & (intervals["metric"] == m)
                ]
                if len(ci):
                    row[m.replace("_r", " R@") + " lo"] = round(100 * float(ci["lo"].iloc[0]), 1)
                    row[m.replace("_r", " R@") + " hi"] = round(100 * float(ci["hi"].iloc[0]), 1)
        out.append(row)
    return pd.DataFrame(out)


TABLES: dict[str, Callable[..., pd.DataFrame]] = {
    "avts_curriculum": avts_curriculum,
    "supervision": supervision_table,
    "clustering": clustering_table,
    "k_sweep": k_sweep,
    "fc_vs_all": fc_vs_all,
    "aot_cues": aot_cues,
    "aot_finetune": aot_finetune,
    "temporal_order": temporal_order,
    "image_pretexts": image_pretexts,
    "multisensory": multisensory_table,
    "retrieval": retrieval_table,
}


#: tables with paired differences between runs, computed from the evaluation units (``boot``)
PAIRED = ("multisensory",)


def plan_tables(runs: pd.DataFrame, protocols: list[str] | tuple[str, ...]) -> list[str]:
    """The tables a config's runs and protocols give (the others are skipped, not errors)."""
    methods = set(runs["method"])
    ks: dict[str, set[Any]] = {}
    for r in runs_of(runs, CLUSTERING):
        k = cluster_k(runs, r)
        if not pd.isna(k):
            ks.setdefault(str(run_setting(runs, r, "method")), set()).add(k)
    want = {
        "avts_curriculum": "avts" in methods,
        "supervision": True,
        "clustering": bool(methods & set(CLUSTERING)),
        "k_sweep": any(len(v) >= 2 for v in ks.values()),
        "fc_vs_all": "linear" in protocols and "finetune" in protocols,
        "aot_cues": bool(methods & set(AOT)),
        "aot_finetune": bool(methods & set(AOT)) or "finetune_top" in protocols,
        "temporal_order": bool(methods & set(TEMPORAL_ORDER)),
        "image_pretexts": bool(methods & set(IMAGE)),
        "multisensory": bool(methods & set(MULTISENSORY)),
        "retrieval": "retrieval" in protocols and bool(methods & set(EMBEDDING)),
    }
    return [name for name in TABLES if want[name]]


def compute_tables(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: dict[str, pd.DataFrame],
    *,
    protocols: list[str] | tuple[str, ...],
    metric: str = "video_acc",
    intervals: pd.DataFrame | None = None,
    boot: Any = None,
) -> dict[str, pd.DataFrame]:
    """Every planned table, by name (with 95% intervals, ``<column> lo`` / ``hi``, when
    ``intervals`` is given). ``boot`` (a :class:`avbench.stats.Bootstrap` of the evaluation units)
    gives the tables that report paired differences (``multisensory``) their intervals."""
    return {
        name: TABLES[name](
            rows, runs, metrics, metric=metric, intervals=intervals, **({"boot": boot} if name in PAIRED else {})
        )
        for name in plan_tables(runs, protocols)
    }


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """``out_dir/<name>.csv`` for each table (atomically)."""
    paths = []
    for name, df in tables.items():
        path = Path(out_dir) / f"{name}.csv"
        with atomic_path(path, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
        paths.append(path)
    return paths
