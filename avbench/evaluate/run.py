"""One evaluation job of a checkpoint on a downstream set, as ``avbench evaluate`` / ``avbench finetune``
run it: the frozen-encoder protocols (:func:`evaluate_checkpoint`: linear classifier on every official
fold, cross-modal retrieval) or one fine-tuned fold (:func:`finetune_checkpoint`), with the rows' key
and provenance columns (:func:`with_provenance`) and the per-clip predictions (:func:`prediction_frame`).

The command line only parses its flags, calls these and writes what they return
(:func:`write_result`); a script or a notebook gets the same rows by calling them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from avbench.checkpoint import Checkpoint, PathOrCheckpoint, load_checkpoint
from avbench.evaluate.downstream import Downstream
from avbench.evaluate.features import FeatureCache

#: the protocols :func:`evaluate_checkpoint` runs (the fine-tunes are one job per fold)
FROZEN_PROTOCOLS = ("linear", "retrieval")
EMPTY_ROWS = ["encoder", "protocol", "fold", "metric", "value"]
EMPTY_PREDICTIONS = ["encoder", "protocol", "fold", "key", "clip", "label", "pred", "video_pred"]


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation job gives: ``rows`` (tidy, with key and provenance columns: one leaderboard
    CSV), ``predictions`` (one row per (encoder, protocol, fold, test clip or retrieval query), with
    the run, its seed and the set), the checkpoint's ``meta`` and the ``protocols`` that were asked
    for."""

    rows: pd.DataFrame
    predictions: pd.DataFrame
    meta: dict[str, Any]
    protocols: tuple[str, ...]


def feature_cache(root: str | Path | None, ck: Checkpoint, ds: Downstream) -> FeatureCache | None:
    """The frozen-feature cache of a checkpoint on a downstream set (None: no cache): its encoders'
    features and, for a checkpoint with a pretext head, its retrieval embeddings."""
    if not root:
        return None
    from avbench.checkpoint import encoder_hash, pretext_model_hash

    encoders = {k: encoder_hash(ck, k) for k in ck["specs"]}
    model = pretext_model_hash(ck, encoders) if ck["head"] else ""
    return FeatureCache(Path(root), encoders, ds.manifest_hash, model=model)


def with_provenance(
    rows: pd.DataFrame,
    *,
    meta: dict[str, Any],
    run_name: str,
    downstream: str,
    index: str | Path,
    shards: str | Path = "",
    skipped: int = 0,
) -> pd.DataFrame:
    """Key and provenance columns of evaluation rows (method = the run name, pretext = its method,
    seed = its pretraining seed, ``run_name``: the config's); ``skipped`` damaged samples
    (``--on-damage skip``) are not counted in ``clips_used``."""
    from avbench.provenance import env_hash, git_revision, index_provenance, packages, shards_hash

    h, used, listed, found = index_provenance(index)
    used = max(0, used - skipped)
    rows = rows.copy()
    if rows.empty:
        rows = pd.DataFrame(columns=EMPTY_ROWS)
    rows.insert(0, "method", meta["run"])
    rows.insert(1, "pretext", meta["method"])
    rows.insert(2, "pretrain_data", meta.get("pretrain_data", meta["config"].get("dataset", "")))
    rows.insert(3, "downstream", downstream)
    for k, v in {
        "seed": meta["seed"],
        "run_name": run_name,
        "config_hash": meta.get("config_hash", ""),
        "pretrain_manifest_hash": meta.get("pretrain_manifest_hash", ""),
        "downstream_manifest_hash": h,
        "git_rev": git_revision(),
        "pretrain_clips_used": meta.get("pretrain_clips_used", 0),
        "pretrain_clips_listed": meta.get("pretrain_clips_listed", 0),
        "pretrain_clips_found": meta.get("pretrain_clips_found", 0),
        "clips_used": used,
        "clips_listed": listed,
        "clips_found": found,
        "pretrain_wall_s": meta.get("wall_s", 0),
        "pretrain_shards_hash": meta.get("pretrain_shards_hash", ""),
        "downstream_shards_hash": shards_hash(shards) if shards else "",
        "env_hash": env_hash(),
        "packages": packages(),
    }.items():
        rows[k] = v
    return rows


def prediction_frame(preds: list[dict[str, Any]], *, meta: dict[str, Any], downstream: str) -> pd.DataFrame:
    """The per-clip predictions of an evaluation job, with the run, its seed and the set in front."""
    df = pd.DataFrame(preds)
    if df.empty:
        df = pd.DataFrame(columns=EMPTY_PREDICTIONS)
    df.insert(0, "method", meta["run"])
    df.insert(1, "seed", int(meta["seed"]))
    df.insert(2, "downstream", downstream)
    return df


def frozen_protocols(settings: dict[str, Any], meta: dict[str, Any], protocols: list[str] | None = None) -> list[str]:
    """The frozen-encoder protocols a job runs: ``protocols`` (default: those of ``evaluate.protocols``),
    without retrieval for an external encoder (no pretext head: no joint video-audio embedding)."""
    out = list(protocols or [p for p in settings["protocols"] if p in FROZEN_PROTOCOLS])
    if meta["method"] == "external":
        out = [p for p in out if p != "retrieval"]
    return out


def evaluate_checkpoint(
    *,
    checkpoint: PathOrCheckpoint,
    shard_dir: str | Path,
    index_path: str | Path,
    task: str,
    downstream: str,
    settings: dict[str, Any],
    run_name: str,
    protocols: list[str] | None = None,
    pretrain_index: str | Path | None = None,
    threads: int = 1,
    on_damage: str = "fail",
    feature_cache_dir: str | Path | None = None,
) -> EvalResult:
    """The frozen-encoder protocols of a checkpoint on a labelled set (``task``: ``video`` or
    ``audio``): the linear classifier of every encoder that fits the task on every official fold,
    and cross-modal retrieval (video sets, runs whose head embeds video and audio).

    settings: the config's ``evaluate`` section (protocols, overlap, clips_per_video, linear_C,
    audio_classifier); run_name: the config's ``run_name``; feature_cache_dir: where frozen features
    and retrieval embeddings are kept between jobs (None: computed here, not kept)."""
    from avbench.checkpoint import load_encoders
    from avbench.evaluate.linear import linear_eval
    from avbench.evaluate.retrieval import load_pretrain_model, retrieval_rows, wants_class_retrieval

    ck = load_checkpoint(checkpoint)
    encoders, meta = load_encoders(ck)
    ds = Downstream.load(
        name=downstream,
        shard_dir=shard_dir,
        index_path=index_path,
        pretrain_index=pretrain_index,
        overlap_policy=settings["overlap"],
        on_damage=on_damage,
    )
    if ds.overlap:
        print(
            f"{len(ds.overlap)} items of {downstream} share a source file with the pretraining set "
            f"(policy: {settings['overlap']})",
            flush=True,
        )
    protocols = frozen_protocols(settings, meta, protocols)
    cache = feature_cache(feature_cache_dir, ck, ds)
    rows: list[dict[str, Any]] = []
    preds: list[dict[str, Any]] = []
    if "linear" in protocols:
        classifier = settings["audio_classifier"] if task == "audio" else "logreg"
        rows += linear_eval(
            encoders=encoders,
            meta=meta,
            downstream=ds,
            task=task,
            clips_per_video=int(settings["clips_per_video"]),
            C=float(settings["linear_C"]),
            classifier=classifier,
            seed=int(meta["seed"]),
            threads=threads,
            predictions=preds,
            cache=cache,
        )
    if "retrieval" in protocols and task == "video":
        model, _ = load_pretrain_model(ck)
        rows += retrieval_rows(
            model=model,
            meta=meta,
            downstream=ds,
            clips_per_video=int(settings["clips_per_video"]),
            predictions=preds,
            cache=cache,
            by_class=wants_class_retrieval(settings, meta),
        )
    out = with_provenance(
        pd.DataFrame(rows),
        meta=meta,
        run_name=run_name,
        downstream=downstream,
        index=index_path,
        shards=shard_dir,
        skipped=ds.skipped,
    )
    return EvalResult(
        rows=out,
        predictions=prediction_frame(preds, meta=meta, downstream=downstream),
        meta=meta,
        protocols=tuple(protocols),
    )


def finetune_checkpoint(
    *,
    checkpoint: PathOrCheckpoint,
    shard_dir: str | Path,
    index_path: str | Path,
    task: str,
    downstream: str,
    fold: int,
    protocol: str,
    settings: dict[str, Any],
    run_name: str,
    pretrain_index: str | Path | None = None,
    model_dir: str | Path | None = None,
    on_damage: str = "fail",
    feature_cache_dir: str | Path | None = None,
) -> EvalResult:
    """One official fold of a fine-tune protocol (``finetune`` or ``finetune_top``) of a checkpoint's
    encoders that fit ``task`` (:func:`avbench.evaluate.finetune.finetune_fold`), with provenance.
    settings: the config's ``evaluate`` section (its ``finetune`` recipe, overlap, clips_per_video)."""
    from avbench.evaluate.finetune import finetune_fold

    ck = load_checkpoint(checkpoint)
    ds = Downstream.load(
        name=downstream,
        shard_dir=shard_dir,
        index_path=index_path,
        pretrain_index=pretrain_index,
        overlap_policy=settings["overlap"],
        on_damage=on_damage,
    )
    preds: list[dict[str, Any]] = []
    rows = finetune_fold(
        checkpoint=ck,
        downstream=ds,
        task=task,
        fold=fold,
        protocol=protocol,
        settings=settings["finetune"],
        clips_per_video=int(settings["clips_per_video"]),
        seed=int(ck["meta"]["seed"]),
        model_dir=model_dir,
        predictions=preds,
        cache=feature_cache(feature_cache_dir, ck, ds),
    )
    meta = ck["meta"]
    out = with_provenance(
        pd.DataFrame(rows),
        meta=meta,
        run_name=run_name,
        downstream=downstream,
        index=index_path,
        shards=shard_dir,
        skipped=ds.skipped,
    )
    return EvalResult(
        rows=out,
        predictions=prediction_frame(preds, meta=meta, downstream=downstream),
        meta=meta,
        protocols=(protocol,),
    )


def row_summary(rows: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """Mean value per (protocol, encoder, metric), rounded to 4 places (what the job prints)."""
    if not len(rows):
        return {}
    return rows.groupby(["protocol", "encoder", "metric"])["value"].mean().round(4).to_dict()


def write_result(result: EvalResult, output: str | Path, predictions: str | Path | None = None) -> None:
    """Write a job's rows (CSV) and, when ``predictions`` is given, its predictions (parquet); atomically."""
    from avbench.paths import atomic_path

    if predictions:
        with atomic_path(predictions, suffix=".parquet") as tmp:
            result.predictions.to_parquet(tmp, index=False)
    with atomic_path(output, suffix=".csv") as tmp:
        result.rows.to_csv(tmp, index=False)
