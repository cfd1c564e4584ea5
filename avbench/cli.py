"""The ``avbench`` command line: one subcommand per pipeline stage. Snakemake rules call these."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd


def _config(path: str | None) -> dict[str, Any]:
    """The validated config; an invalid one stops the command with a one-line message."""
    import jsonschema

    from avbench.config import load_config

    try:
        return load_config(path or "config.yaml")
    except (ValueError, jsonschema.ValidationError) as exc:
        msg = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
        raise SystemExit(f"avbench: invalid config {path or 'config.yaml'}: {msg}") from None


def _print_counts(df: pd.DataFrame, what: str) -> None:
    counts = df["status"].value_counts().sort_index()
    print(f"{what}: {len(df)} rows; " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


def cmd_synthesize(a: argparse.Namespace) -> int:
    from avbench.paths import atomic_path
    from avbench.synthesize import write_dataset

    cfg = _config(a.config)
    t0 = time.time()
    summary = write_dataset(Path(a.out), cfg["synth"], seed=int(cfg["seed"]), workers=a.workers)
    summary = {"seed": cfg["seed"], "wall_s": round(time.time() - t0, 1), **summary}
    with atomic_path(Path(a.out) / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, default=str))
    return 0


def cmd_ingest(a: argparse.Namespace) -> int:
    from avbench.ingest import prepare, summarize
    from avbench.manifest import write_manifest

    df = prepare(a.format, a.source, videos=a.videos, dataset=a.dataset or a.format)
    write_manifest(df, a.output)
    if a.summary:
        summarize(df).to_csv(a.summary, index=False)
    _print_counts(df, f"ingest {a.format}")
    return 0


def cmd_probe(a: argparse.Namespace) -> int:
    from avbench.manifest import read_manifest, write_manifest
    from avbench.media.probe import probe_folder, probe_manifest

    src = Path(a.source)
    if src.is_dir():
        df = probe_folder(
            src,
            modality=a.modality,
            min_duration=a.min_duration,
            workers=a.workers,
            timeout_s=a.timeout,
            mem_mb=a.mem_mb,
        )
    else:
        df = probe_manifest(
            read_manifest(src),
            modality=a.modality,
            min_duration=a.min_duration,
            workers=a.workers,
            timeout_s=a.timeout,
            mem_mb=a.mem_mb,
        )
    write_manifest(df, a.output)
    _print_counts(df, "probe")
    return 0


def cmd_shard(a: argparse.Namespace) -> int:
    from avbench.config import shard_settings
    from avbench.manifest import read_manifest
    from avbench.shards.write import group_rows, write_shards

    cfg = _config(a.config)
    if a.dataset and a.dataset not in cfg["datasets"]:
        raise SystemExit(f"avbench shard: dataset {a.dataset!r} is not in the config's datasets")
    settings = shard_settings(cfg, a.dataset or None)
    manifest = group_rows(read_manifest(a.manifest), a.group, a.groups)
    if a.keys:
        from avbench.shards.write import select_keys

        manifest = select_keys(manifest, Path(a.keys).read_text().split())
    df = write_shards(manifest, a.out, a.index, cfg=settings, modality=a.modality, workers=a.workers)
    _print_counts(df, f"shard group {a.group}/{a.groups}")
    return 0


def cmd_aot_cues_keys(a: argparse.Namespace) -> int:
    from avbench.evaluate.aot_cues import heldout_keys
    from avbench.paths import atomic_path

    keys, source = heldout_keys(a.checkpoint, shards=Path(a.index).parent if a.index else None, index=a.index)
    with atomic_path(a.output, suffix=".txt") as tmp:
        tmp.write_text("".join(f"{k}\n" for k in keys))
    print(f"aot-cues-keys: {len(keys)} held-out videos ({source})", flush=True)
    return 0


def _variant(text: str) -> tuple[str, tuple[str, str | None]]:
    """``name=<shards dir>[:<index>]`` -> (name, (shards dir, index or None))."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError(f"--variant wants name=<shards dir>[:<index>], not {text!r}")
    folder, _, index = rest.partition(":")
    return name, (folder, index or None)


def cmd_aot_cues(a: argparse.Namespace) -> int:
    from avbench.evaluate.aot_cues import cue_test, run_predictions
    from avbench.paths import atomic_path

    variants = dict(a.variant)
    if len(variants) != len(a.variant):
        raise SystemExit("avbench aot-cues: variant names must be unique")
    summary, pred = cue_test(
        a.checkpoint, variants, clips_per_video=a.clips_per_video, heldout_index=a.heldout_index, run=a.run or ""
    )
    with atomic_path(a.output, suffix=".csv") as tmp:
        summary.to_csv(tmp, index=False)
    if a.predictions:
        with atomic_path(a.predictions, suffix=".parquet") as tmp:
            run_predictions(pred, a.checkpoint, run=a.run or "").to_parquet(tmp, index=False)
    print(
        summary[["variant", "n_videos", "n_clips", "accuracy", "accuracy_minus_first"]].to_string(index=False),
        flush=True,
    )
    return 0


def cmd_avsync(a: argparse.Namespace) -> int:
    import torch

    from avbench.evaluate.avsync import SyncSettings, avsync_checkpoint, load_sync_model
    from avbench.paths import atomic_path

    cfg = _config(a.config)
    torch.set_num_threads(max(1, a.threads))
    try:
        model, meta = load_sync_model(a.checkpoint)
        settings = SyncSettings.from_config(cfg["avsync"], seed=int(cfg["seed"]))
    except ValueError as exc:
        raise SystemExit(f"avbench avsync: {exc}") from None
    if a.active and not a.truth:
        raise SystemExit("avbench avsync: --active needs --truth (the world's ground-truth folder with the boxes)")
    job = avsync_checkpoint(
        model,
        meta,
        a.shards,
        settings,
        index=a.index,
        inject=bool(a.injected),
        run=a.run,
        dataset=a.dataset,
        truth=a.truth,
    )
    summary = job.summary
    if a.active:
        import pandas as pd

        from avbench.evaluate.active_object import ActiveSettings, active_summary, estimate_active
        from avbench.evaluate.avsync import shard_set_urls, summary_frame

        active = estimate_active(
            model,
            shard_set_urls(a.shards),
            settings,
            ActiveSettings.from_config(cfg["avsync"].get("active")),
            clip_frames=int(meta["config"]["clip_frames"]),
            truth=a.truth,
            index=pd.read_parquet(a.index) if a.index else None,
            run=job.run,
            seed=int(meta["seed"]),
            dataset=job.dataset,
        )
        extra = summary_frame(
            active_summary(active, dataset=job.dataset), run=job.run, seed=int(meta["seed"]), dataset=job.dataset
        )
        summary = pd.concat([summary, extra], ignore_index=True)
        with atomic_path(a.active, suffix=".parquet") as tmp:
            active.to_parquet(tmp, index=False)
    with atomic_path(a.output, suffix=".parquet") as tmp:
        job.result.as_is.to_parquet(tmp, index=False)
    if a.injected:
        with atomic_path(a.injected, suffix=".parquet") as tmp:
            job.result.injected.to_parquet(tmp, index=False)
    if a.summary:
        with atomic_path(a.summary, suffix=".csv") as tmp:
            summary.to_csv(tmp, index=False)
    counts = job.result.as_is["status"].value_counts().sort_index().to_dict()
    print(f"avsync {job.run} on {job.dataset}: {len(job.result.as_is)} videos; {counts}", flush=True)
    scores = summary[summary["mode"].isin(["injected", "world", "active"]) & (summary["subset"] == "all")]
    scores = scores[scores["chance"].notna()]
    if len(scores):
        print(scores[["mode", "metric", "value", "lo", "hi", "chance", "n"]].to_string(index=False), flush=True)
    return 0


def _write_world_set(a: argparse.Namespace, command: str, section: str, writer: Any) -> int:
    """The world-set commands (sync-set, localize-set): ``writer(out, cfg[section]["set"], seed=,
    workers=)``, a bad setting as one line, the summary (seed, wall time) written atomically beside the
    set and printed."""
    from avbench.paths import atomic_path

    cfg = _config(a.config)
    t0 = time.time()
    try:
        summary = writer(Path(a.out), (cfg.get(section) or {}).get("set"), seed=int(cfg["seed"]), workers=a.workers)
    except ValueError as exc:
        raise SystemExit(f"avbench {command}: {exc}") from None
    summary = {"seed": cfg["seed"], "wall_s": round(time.time() - t0, 1), **summary}
    with atomic_path(Path(a.out) / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, default=str), flush=True)
    return 0


def cmd_sync_set(a: argparse.Namespace) -> int:
    from avbench.synthesize.dataset import write_sync_set

    return _write_world_set(a, "sync-set", "avsync", write_sync_set)


def cmd_shard_index(a: argparse.Namespace) -> int:
    from avbench.shards.write import merge_indexes

    from avbench.manifest import dataset_summary
    from avbench.paths import atomic_path

    df = merge_indexes(a.indexes, a.output)
    if a.summary:
        with atomic_path(a.summary, suffix=".csv") as tmp:
            dataset_summary(df).to_csv(tmp, index=False)
    _print_counts(df, "shard index")
    return 0


def cmd_pretrain(a: argparse.Namespace) -> int:
    from avbench.config import config_hash, parse_instance, run_settings
    from avbench.pretrain import pretrain

    cfg = _config(a.config)
    try:
        run, seed = parse_instance(cfg, a.run)
        settings = run_settings(cfg, run)
    except KeyError as exc:
        raise SystemExit(f"avbench pretrain: {exc.args[0]}") from None
    from avbench.provenance import index_provenance, shards_hash

    h, used, listed, found = index_provenance(a.index)
    prov = {
        "config_hash": config_hash(cfg),
        "pretrain_manifest_hash": h,
        "pretrain_clips_used": used,
        "pretrain_clips_listed": listed,
        "pretrain_clips_found": found,
        "pretrain_data": settings["dataset"],
    }
    prov["pretrain_shards_hash"] = shards_hash(a.shards)
    out = pretrain(
        run=run,
        cfg=settings,
        shard_dir=a.shards,
        out_dir=a.out,
        seed=seed,
        index=a.index,
        provenance=prov,
        threads=a.threads,
        workers=a.loader_workers,
        on_damage=a.on_damage,
        cache_mb=a.cache_mb,
    )
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
    print(json.dumps(out, default=str))
    return 0


def _print_rows(result: Any, what: str) -> None:
    from avbench.evaluate.run import row_summary

    print(f"{what}: {row_summary(result.rows)}", flush=True)


def cmd_evaluate(a: argparse.Namespace) -> int:
    import torch

    from avbench.evaluate.run import evaluate_checkpoint, write_result

    cfg = _config(a.config)
    torch.set_num_threads(max(1, a.threads))
    result = evaluate_checkpoint(
        checkpoint=a.checkpoint,
        shard_dir=a.shards,
        index_path=a.index,
        task=a.kind,
        downstream=a.downstream,
        settings=cfg["evaluate"],
        run_name=cfg["run_name"],
        protocols=a.protocols,
        pretrain_index=a.pretrain_index,
        threads=a.threads,
        on_damage=a.on_damage,
        feature_cache_dir=a.feature_cache,
    )
    write_result(result, a.output, a.predictions)
    _print_rows(result, f"evaluate {result.meta['run']} on {a.downstream} ({a.kind}, {'+'.join(result.protocols)})")
    return 0


def cmd_finetune(a: argparse.Namespace) -> int:
    import torch

    from avbench.evaluate.run import finetune_checkpoint, write_result

    cfg = _config(a.config)
    torch.set_num_threads(max(1, a.threads))
    result = finetune_checkpoint(
        checkpoint=a.checkpoint,
        shard_dir=a.shards,
        index_path=a.index,
        task=a.kind,
        downstream=a.downstream,
        fold=a.fold,
        protocol=a.protocol,
        settings=cfg["evaluate"],
        run_name=cfg["run_name"],
        pretrain_index=a.pretrain_index,
        model_dir=a.model_out,
        on_damage=a.on_damage,
        feature_cache_dir=a.feature_cache,
    )
    write_result(result, a.output, a.predictions)
    _print_rows(result, f"{a.protocol} {result.meta['run']} on {a.downstream} fold {a.fold}")
    return 0


def cmd_propagation_set(a: argparse.Namespace) -> int:
    from avbench.synthesize.davis import write_davis_set

    cfg = _config(a.config)
    st = cfg["propagation"]["set"]
    summary = write_davis_set(
        a.out,
        n_sequences=int(st["n_sequences"]),
        n_frames=int(st["n_frames"]),
        size=(int(st["size"][0]), int(st["size"][1])),
        seed=int(cfg["seed"]),
    )
    print(
        f"propagation set: {len(summary['sequences'])} sequences of {summary['n_frames']} frames in {a.out}", flush=True
    )
    return 0


def cmd_propagation(a: argparse.Namespace) -> int:
    import torch

    from avbench.evaluate.propagation import PropagationSettings, example_picture, run_propagation

    cfg = _config(a.config)
    torch.set_num_threads(max(1, a.threads))
    settings = PropagationSettings.from_config(cfg["propagation"])
    try:
        job = run_propagation(a.source, a.davis, settings, dataset=a.dataset, run=a.run)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"avbench propagation: {exc}") from None
    _write_csvs((a.output, job.rows), (a.objects, job.objects), (a.skipped, job.skipped))
    if a.picture and job.example is not None:
        example_picture(job.example, a.picture, title=f"{job.rows['method'].iloc[0]} on {a.dataset}")
    r = job.rows.set_index("metric")
    scores = _interval_scores(r)
    print(
        f"propagation {job.rows['method'].iloc[0]} on {a.dataset}: {job.objects['sequence'].nunique()} sequences, "
        f"{len(job.skipped)} skipped; {scores}",
        flush=True,
    )
    return 0


def _per_dataset_table(paths: list[str], by: str, build: Any, reference: str, output: str, label: str) -> int:
    """The stage tables (propagation-table, localize-table): the CSVs concatenated, one
    ``build({name: rows}, dataset=, reference=)`` per downstream set with ``name`` from column ``by``,
    written atomically and printed."""
    import pandas as pd

    from avbench.paths import atomic_path

    rows = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    tables = []
    for dataset, part in rows.groupby("downstream", sort=True):
        named = {str(n): g for n, g in part.groupby(by, sort=False)}
        tables.append(build(named, dataset=str(dataset), reference=reference))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    with atomic_path(output, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False) if len(table) else f"{label}: no rows", flush=True)
    return 0


def _interval_scores(rows: Any) -> str:
    """``metric value [lo, hi]`` of each row of a stage's summary (indexed by metric), for its log line."""
    return ", ".join(
        f"{m} {rows.loc[m, 'value']:.3f} [{rows.loc[m, 'lo']:.3f}, {rows.loc[m, 'hi']:.3f}]" for m in rows.index
    )


def _write_csvs(*pairs: tuple[str | None, Any]) -> None:
    """Each (path, frame) whose path is given, written atomically."""
    from avbench.paths import atomic_path

    for path, df in pairs:
        if path:
            with atomic_path(path, suffix=".csv") as tmp:
                df.to_csv(tmp, index=False)


def cmd_propagation_table(a: argparse.Namespace) -> int:
    from avbench.evaluate.propagation import propagation_table

    return _per_dataset_table(a.objects, "run", propagation_table, a.reference, a.output, "propagation table")


def cmd_localize_set(a: argparse.Namespace) -> int:
    from avbench.synthesize.dataset import write_localize_set

    return _write_world_set(a, "localize-set", "localize", write_localize_set)


def cmd_localize(a: argparse.Namespace) -> int:
    import torch

    from avbench.evaluate.localize import LocalizeSettings, overlay_picture, run_localize

    cfg = _config(a.config)
    torch.set_num_threads(max(1, a.threads))
    settings = LocalizeSettings.from_config(cfg.get("localize") or {})
    try:
        job = run_localize(a.source, a.shards, a.truth, settings, dataset=a.dataset, run=a.run)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"avbench localize: {exc}") from None
    _write_csvs((a.output, job.rows), (a.clips, job.clips), (a.skipped, job.skipped))
    name = job.rows["method"].iloc[0]
    if a.picture:
        overlay_picture(job.examples, a.picture, title=f"{name} on {a.dataset} (white: sounding, red: silent)")
    r = job.rows[job.rows["subset"] == "all"].set_index("metric")
    scores = _interval_scores(r)
    print(f"localize {name} on {a.dataset}: {len(job.clips)} clips, {len(job.skipped)} skipped; {scores}", flush=True)
    return 0


def cmd_localize_table(a: argparse.Namespace) -> int:
    from avbench.evaluate.localize import localize_table

    return _per_dataset_table(a.clips, "source", localize_table, a.reference, a.output, "localize table")


def cmd_alignment(a: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    from avbench.evaluate.alignment import evaluate_alignment, source_embeddings
    from avbench.paths import atomic_path
    from avbench.synthesize.phase import phase_videos

    torch.set_num_threads(max(1, a.threads))
    videos = phase_videos(
        n_per_class=a.n_per_class, seed=a.seed, size=(a.size[0], a.size[1]), fps=a.fps, duration=a.duration
    )
    rows, pairs = [], []
    for source in a.sources:
        try:
            embed, meta = source_embeddings(source, context=a.context, seed=a.seed, embedding=a.embedding)
        except (ValueError, OSError) as exc:
            raise SystemExit(f"avbench alignment: {exc}") from None
        key = str(meta.get("input", "frames"))
        per, summary = evaluate_alignment(videos, embed, n_boot=a.n_boot, seed=a.seed, key=key)
        name = str(meta.get("run") or source)
        summary.insert(0, "run", name)
        summary.insert(1, "method", str(meta.get("method", "")))
        per.insert(0, "run", name)
        per.insert(1, "method", str(meta.get("method", "")))
        rows.append(summary)
        pairs.append(per)
        r = summary[summary["class"] == "all"].set_index("metric")
        print(
            f"alignment {name}: {len(videos)} videos, {int(r.loc['kendall_tau', 'n_pairs'])} pairs; "
            + ", ".join(
                f"{m} {r.loc[m, 'value']:.3f}"
                + (f" [{r.loc[m, 'lo']:.3f}, {r.loc[m, 'hi']:.3f}]" if r.loc[m, "lo"] == r.loc[m, "lo"] else "")
                for m in r.index
            ),
            flush=True,
        )
    with atomic_path(a.output, suffix=".csv") as tmp:
        pd.concat(rows, ignore_index=True).to_csv(tmp, index=False)
    if a.pairs:
        with atomic_path(a.pairs, suffix=".csv") as tmp:
            pd.concat(pairs, ignore_index=True).to_csv(tmp, index=False)
    return 0


def cmd_alignment_table(a: argparse.Namespace) -> int:
    import pandas as pd

    from avbench.evaluate.alignment import alignment_table
    from avbench.paths import atomic_path

    rows = pd.read_csv(a.rows) if a.rows else None
    table = alignment_table(pd.read_csv(a.pairs), rows, reference=a.reference or None, n_boot=a.n_boot, seed=a.seed)
    with atomic_path(a.output, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False) if len(table) else "alignment table: no rows", flush=True)
    return 0


def cmd_download(a: argparse.Namespace) -> int:
    from avbench.download import download_all, read_url_list
    from avbench.paths import atomic_path

    df = download_all(
        read_url_list(a.urls), a.out, extract_to=a.extract_to, workers=a.workers, timeout=a.timeout, retries=a.retries
    )
    if a.report:
        with atomic_path(a.report, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
    _print_counts(df, "download")
    return 1 if a.strict and (df["status"] != "ok").any() else 0


def cmd_leaderboard(a: argparse.Namespace) -> int:
    from avbench.leaderboard import write_leaderboard

    df = write_leaderboard(
        a.results,
        a.output,
        a.markdown,
        predictions=a.predictions,
        units_path=a.units,
        intervals_path=a.intervals,
        n_boot=a.bootstrap,
        seed=a.seed,
    )
    print(
        f"leaderboard: {len(df)} rows -> {a.output}"
        + "".join(f", {x}" for x in (a.markdown, a.units, a.intervals) if x)
    )
    return 0


def cmd_findings(a: argparse.Namespace) -> int:
    from avbench.findings import Checker, cue_units, render_markdown
    from avbench.leaderboard import gather_predictions, render_markdown as leaderboard_markdown
    from avbench.paths import atomic_path
    from avbench.stats import Bootstrap
    from avbench.tables import read_metrics, run_table

    cfg = _config(a.config)
    n_boot = a.bootstrap or int(cfg["evaluate"]["bootstrap"])
    boot = Bootstrap(pd.read_parquet(a.units), n=n_boot, seed=int(cfg["seed"]))
    cues = cue_units(gather_predictions(a.cue_predictions)) if a.cue_predictions else None
    propagation = pd.read_csv(a.propagation) if a.propagation else None
    localization = pd.read_csv(a.localization) if a.localization else None
    alignment = pd.read_csv(a.alignment) if a.alignment else None
    df = Checker(
        boot,
        run_table(cfg),
        read_metrics(a.metrics),
        metric=a.metric,
        cue_units=cues,
        propagation=propagation,
        localization=localization,
        alignment=alignment,
    ).all()
    with atomic_path(a.output, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)
    section = render_markdown(df)
    if a.markdown:
        rows = pd.read_csv(a.leaderboard) if a.leaderboard else pd.DataFrame()
        intervals = pd.read_csv(a.intervals) if a.intervals else None
        with atomic_path(a.markdown, suffix=".md") as tmp:
            tmp.write_text(leaderboard_markdown(rows, intervals, section))
    counts = df["verdict"].value_counts().to_dict() if len(df) else {}
    print(f"findings: {len(df)} rows -> {a.output}; {counts}", flush=True)
    return 0


def cmd_tables(a: argparse.Namespace) -> int:
    from avbench.tables import compute_tables, read_metrics, run_table, write_tables

    cfg = _config(a.config)
    rows = pd.read_csv(a.leaderboard)
    intervals = pd.read_csv(a.intervals) if a.intervals else None
    boot = None
    if a.units:
        from avbench.stats import Bootstrap

        n_boot = a.bootstrap or int(cfg["evaluate"]["bootstrap"])
        boot = Bootstrap(pd.read_parquet(a.units), n=n_boot, seed=int(cfg["seed"]))
    tables = compute_tables(
        rows,
        run_table(cfg),
        read_metrics(a.metrics),
        protocols=cfg["evaluate"]["protocols"],
        metric=a.metric,
        intervals=intervals,
        boot=boot,
    )
    for path in write_tables(tables, a.out):
        print(f"table {path.stem}: {len(tables[path.stem])} rows -> {path}", flush=True)
    return 0


def cmd_plots(a: argparse.Namespace) -> int:
    from avbench.plots import plot_k_sweep, plot_leaderboard, plot_multisensory, plot_pretext_curves
    from avbench.tables import read_metrics

    plot_leaderboard(
        pd.read_csv(a.leaderboard), a.bars, metric=a.metric, intervals=pd.read_csv(a.intervals) if a.intervals else None
    )
    plot_pretext_curves(read_metrics(a.metrics), a.curves)
    if a.k_sweep:
        plot_k_sweep(pd.read_csv(a.k_sweep_table), a.k_sweep)
    if a.multisensory:
        plot_multisensory(pd.read_csv(a.multisensory_table), a.multisensory)
    print(f"plots: {', '.join(p for p in (a.bars, a.curves, a.k_sweep, a.multisensory) if p)}")
    return 0


def _external_spec(a: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, spec, config) of an external encoder: ``external.<name>`` of the config (when it has one),
    with the spec flags given on the command line over it."""
    cfg = _config(a.config)
    spec = dict((cfg.get("external") or {}).get(a.name) or {})
    flags = {
        "kind": a.kind,
        "model": a.model,
        "weights": a.weights,
        "modality": a.modality,
        "layout": a.layout,
        "frames": a.frames,
        "size": a.size,
        "mean": a.mean,
        "std": a.std,
        "feature_dim": a.feature_dim,
        "pretrained_on": a.pretrained_on,
        "kwargs": json.loads(a.kwargs) if a.kwargs else None,
    }
    spec.update({k: v for k, v in flags.items() if v is not None})
    if not spec:
        raise SystemExit(
            f"avbench: no external encoder {a.name!r} in {a.config} and no spec flags (--kind, "
            "--model, --modality, --feature-dim)"
        )
    return a.name, spec, cfg


def cmd_import_encoder(a: argparse.Namespace) -> int:
    from avbench.evaluate.external import import_encoder

    name, spec, cfg = _external_spec(a)
    try:
        ck = import_encoder(name, spec, cfg, a.output)
    except (ValueError, FileNotFoundError, TypeError, ImportError) as exc:
        raise SystemExit(f"avbench import-encoder {name}: {exc}") from None
    s = ck["meta"]["external"]
    print(
        f"external encoder {name}: {s['kind']} {s['model']} ({s['modality']}, {s['feature_dim']} features"
        f"{', weights ' + str(s['weights']) if s['weights'] else ''}) -> {a.output}",
        flush=True,
    )
    return 0


def cmd_validate_encoder(a: argparse.Namespace) -> int:
    from avbench.evaluate.external import validate_encoder

    name, spec, cfg = _external_spec(a)
    problems, info = validate_encoder(
        spec, a.shards, clip_frames=int(cfg["pretrain"]["clip_frames"]), batch_size=a.batch
    )
    if problems:
        print(f"external encoder {name}: NOT usable", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        if info:
            print(f"  (avbench input {info['input']}, model input {info['model_input']})", file=sys.stderr)
        return 1
    print(
        f"external encoder {name}: ok (avbench input {info['input']} -> model input {info['model_input']} -> "
        f"features {info['output']} {info['dtype']}, mean {info['mean']:.4g}, std {info['std']:.4g})",
        flush=True,
    )
    return 0


def _add_spec_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "name",
        help="the encoder's name (its rows' method); its spec is external.<name> of --config, "
        "the flags below override or replace it",
    )
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--kind", choices=["torchvision", "callable"], default=None)
    s.add_argument(
        "--model", default=None, help="torchvision.models.video builder (r2plus1d_18) or package.module:function"
    )
    s.add_argument("--weights", default=None, help="local state-dict file (never downloaded)")
    s.add_argument("--kwargs", default=None, help="builder keyword arguments (JSON object)")
    s.add_argument("--modality", choices=["video", "audio"], default=None)
    s.add_argument("--layout", choices=["BCTHW", "B1FM"], default=None)
    s.add_argument("--frames", type=int, default=None)
    s.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"))
    s.add_argument("--mean", type=float, nargs="+", default=None)
    s.add_argument("--std", type=float, nargs="+", default=None)
    s.add_argument("--feature-dim", type=int, default=None)
    s.add_argument("--pretrained-on", default=None, help="what it was trained on (the rows' pretrain_data)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avbench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    workers = max(1, (os.cpu_count() or 1))

    # `synth`: the former name of `synthesize`, a deprecated alias kept so that old commands still work
    s = sub.add_parser(
        "synthesize",
        aliases=["synth"],
        help="write the synthetic audio-visual datasets (the synthesize rule; `synth` is a deprecated alias)",
    )
    s.add_argument("-o", "--out", default="results/data/synth")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--workers", type=int, default=workers)
    s.set_defaults(func=cmd_synthesize)

    s = sub.add_parser("ingest", help="read a dataset's annotation files into a manifest (parquet)")
    s.add_argument("format", choices=["kinetics", "audioset", "ucf101", "hmdb51", "esc50", "dcase", "folder"])
    s.add_argument("source", help="annotation CSV (kinetics, audioset) or dataset root (the others)")
    s.add_argument("--videos", default=None, help="media folder for CSV formats (default: the CSV's folder)")
    s.add_argument("--dataset", default=None, help="dataset name written in the rows")
    s.add_argument("--summary", default=None, help="also write the manifest summary CSV here")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("probe", help="probe every file of a folder or of a manifest")
    s.add_argument("source", help="a folder of media files, or a manifest parquet")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--modality", choices=["audiovisual", "video", "audio"], default="audiovisual")
    s.add_argument("--min-duration", type=float, default=0.0)
    s.add_argument("--workers", type=int, default=workers)
    s.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per file")
    s.add_argument("--mem-mb", type=int, default=4096, help="memory bound per worker")
    s.set_defaults(func=cmd_probe)

    s = sub.add_parser("shard", help="decode a probed manifest into WebDataset shards")
    s.add_argument("manifest")
    s.add_argument("-o", "--out", required=True, help="folder for the tar shards")
    s.add_argument("--index", required=True, help="per-sample index parquet")
    s.add_argument("--modality", choices=["audiovisual", "video", "audio"], default="audiovisual")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--workers", type=int, default=workers)
    s.add_argument("--group", type=int, default=0, help="which contiguous slice of the manifest (0-based)")
    s.add_argument("--groups", type=int, default=1, help="number of slices (independent shard jobs)")
    s.add_argument(
        "--dataset", default="", help="dataset name: apply its datasets.<name>.shard overrides over the shard section"
    )
    s.add_argument(
        "--keys",
        default=None,
        help="shard only the rows whose key is listed in this file (one a line; "
        "e.g. a checkpoint's held-out videos, avbench aot-cues-keys)",
    )
    s.set_defaults(func=cmd_shard)

    s = sub.add_parser("shard-index", help="merge per-group shard indexes into a dataset index")
    s.add_argument("indexes", nargs="+", help="group-NNN.index.parquet files, in group order")
    s.add_argument("-o", "--output", required=True)
    s.add_argument(
        "--summary", default=None, help="also write the dataset summary CSV (listed, found, usable, dropped by reason)"
    )
    s.set_defaults(func=cmd_shard_index)

    s = sub.add_parser("pretrain", help="pretrain encoders: one run of pretrain.runs (a method and its settings)")
    s.add_argument(
        "run",
        help="run name (a key of pretrain.runs, or scratch), or a replicate instance "
        "<run>.seed<N> of a run with several seeds (pretrain.replicates / seeds)",
    )
    s.add_argument("--shards", required=True)
    s.add_argument("--index", default=None, help="shard index (sample list and provenance)")
    s.add_argument("--out", required=True)
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument(
        "--loader-workers",
        type=int,
        default=0,
        help="data loader processes (0: read the shards in the training process)",
    )
    s.add_argument(
        "--cache-mb",
        type=int,
        default=2048,
        help="decoded samples kept in memory across epochs, per process (0: read the shards every epoch; "
        "the results are the same either way)",
    )
    s.add_argument(
        "--on-damage",
        choices=["fail", "skip"],
        default="fail",
        help="samples the index lists that are missing or damaged in the shards: fail (default, names the "
        "shard and key) or skip them (not counted in clips_used)",
    )
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser(
        "evaluate",
        help="frozen-encoder protocols of a checkpoint on a labeled dataset: linear classifier "
        "(every official fold) and cross-modal retrieval",
    )
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--shards", required=True)
    s.add_argument("--index", required=True)
    s.add_argument("--kind", choices=["video", "audio"], required=True)
    s.add_argument("--downstream", required=True)
    s.add_argument(
        "--protocols",
        nargs="*",
        choices=["linear", "retrieval"],
        default=None,
        help="default: those of evaluate.protocols",
    )
    s.add_argument("--pretrain-index", default=None, help="the pretraining set's shard index (overlap check)")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument("-o", "--output", required=True)
    s.add_argument(
        "--predictions",
        default=None,
        help="also write one prediction row per (fold, test video, clip) "
        "here (parquet; retrieval: the rank of each query's true match)",
    )
    s.add_argument(
        "--on-damage",
        choices=["fail", "skip"],
        default="fail",
        help="samples the index lists that are missing or damaged in the shards: fail (default, names the "
        "shard and key) or skip them (not counted in clips_used)",
    )
    s.add_argument(
        "--feature-cache",
        default=None,
        help="folder of cached frozen features and retrieval embeddings "
        "(keyed by the encoder's or the pretext model's hash and the shard index's hash): computed once, "
        "reused by every job that reads them",
    )
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser(
        "import-encoder",
        help="write an external encoder (a torchvision model with local weights, "
        "or a package.module:build callable) as an avbench checkpoint, evaluated like a run",
    )
    _add_spec_flags(s)
    s.add_argument("-o", "--output", required=True, help="checkpoint path (results/models/<name>/checkpoint.pt)")
    s.set_defaults(func=cmd_import_encoder)

    s = sub.add_parser(
        "validate-encoder",
        help="check an external encoder's spec and model on one shard batch "
        "(shape, dtype, NaN, no output); exit status 1 when something is wrong",
    )
    _add_spec_flags(s)
    s.add_argument("--shards", required=True, help="a dataset's shard folder (one batch of its clips)")
    s.add_argument("--batch", type=int, default=4)
    s.set_defaults(func=cmd_validate_encoder)

    s = sub.add_parser(
        "finetune", help="fine-tune a checkpoint's encoders on one official fold and score them on its test videos"
    )
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--shards", required=True)
    s.add_argument("--index", required=True)
    s.add_argument("--kind", choices=["video", "audio"], required=True)
    s.add_argument("--downstream", required=True)
    s.add_argument("--fold", type=int, required=True)
    s.add_argument(
        "--protocol",
        choices=["finetune", "finetune_top", "finetune_av"],
        default="finetune",
        help="finetune: all layers; finetune_top: the top of the encoder (T-CAM: after fusion) + fc; "
        "finetune_av: all layers of a fused audio-visual encoder (Multisensory) fed each clip's own audio",
    )
    s.add_argument("--pretrain-index", default=None, help="the pretraining set's shard index (overlap check)")
    s.add_argument("--model-out", default=None, help="also save the fine-tuned models (with their fold) here")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--predictions", default=None, help="also write one prediction row per test clip here (parquet)")
    s.add_argument(
        "--on-damage",
        choices=["fail", "skip"],
        default="fail",
        help="samples the index lists that are missing or damaged in the shards: fail (default, names the "
        "shard and key) or skip them (not counted in clips_used)",
    )
    s.add_argument(
        "--feature-cache",
        default=None,
        help="folder of cached frozen features (the linear classifier "
        "that starts the fc reads them; see avbench evaluate)",
    )
    s.set_defaults(func=cmd_finetune)

    s = sub.add_parser(
        "aot-cues-keys",
        help="the held-out videos of an arrow-of-time checkpoint's pretraining "
        "(one key a line), to shard the cue test's variants of only those",
    )
    s.add_argument("checkpoint")
    s.add_argument(
        "--index",
        default=None,
        help="its pretraining shard index (when the checkpoint does not record "
        "its held-out keys, they are recomputed from it)",
    )
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_aot_cues_keys)

    s = sub.add_parser(
        "aot-cues",
        help="the arrow of time's paired cue test (seed 002): one checkpoint scored "
        "forward vs backward on its held-out videos under each preprocessing variant",
    )
    s.add_argument("--checkpoint", required=True)
    s.add_argument(
        "--variant",
        action="append",
        type=_variant,
        required=True,
        help="name=<shards dir>[:<index>], repeated; the first is the original videos (e.g. raw=..., "
        "cropped=..., stabilized=...)",
    )
    s.add_argument(
        "--heldout-index",
        default=None,
        help="the pretraining shard index, to recompute the held-out "
        "keys when the checkpoint does not record them (default: the first variant)",
    )
    s.add_argument("--clips-per-video", type=int, default=4)
    s.add_argument("--run", default=None, help="run name written in the summary (default: the checkpoint's)")
    s.add_argument("-o", "--output", required=True, help="summary CSV: accuracy per variant")
    s.add_argument("--predictions", default=None, help="per (variant, video, clip, direction) predictions (parquet)")
    s.set_defaults(func=cmd_aot_cues)

    s = sub.add_parser(
        "avsync",
        help="SyncNet-style audio-visual offset per video of a shard set with a "
        "synchronization model (AVTS): offset, confidence, in_sync / out_of_sync / no_sync_signal",
    )
    s.add_argument(
        "--checkpoint",
        required=True,
        help="a synchronization model: a checkpoint whose head embeds video and audio (AVTS), or a "
        "Multisensory run on the log-mel (multisensory_spec)",
    )
    s.add_argument("--shards", required=True, help="the dataset's shard folder")
    s.add_argument(
        "--index",
        default=None,
        help="its shard index: the videos it lists that were not sharded get a row too (reason not_sharded)",
    )
    s.add_argument("--dataset", default=None, help="dataset name written in the rows (default: the folder's name)")
    s.add_argument("--run", default=None, help="run name written in the rows (default: the checkpoint's)")
    s.add_argument("--config", default="config.yaml", help="its avsync section: offsets, windows, threshold, injection")
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument("-o", "--output", required=True, help="one row per video, audio as stored (parquet)")
    s.add_argument(
        "--injected",
        default=None,
        help="also evaluate with known offsets injected into a seeded share "
        "of the videos (avsync.inject) and write those rows here (parquet)",
    )
    s.add_argument(
        "--summary",
        default=None,
        help="status counts (and, with --injected or --truth, offset accuracy and out-of-sync detection against "
        "chance; with --active, the active-object accuracy) as a CSV",
    )
    s.add_argument(
        "--truth",
        default=None,
        help="the synthetic world's ground-truth folder of this set (<id>.json): the videos' recorded "
        "audio-visual offsets are scored as stored (summary mode world)",
    )
    s.add_argument(
        "--active",
        default=None,
        help="also decide, in each two-object world video, which object is sounding (sync confidence of a crop "
        "around each object's box; needs --truth) and write one row per video here (parquet)",
    )
    s.set_defaults(func=cmd_avsync)

    s = sub.add_parser(
        "sync-set",
        help="write the synthetic audio-visual sync set (Kinetics layout; a share of videos with their audio "
        "out of sync by a known offset, per-frame boxes, a silent moving object; config avsync.set)",
    )
    s.add_argument("-o", "--out", required=True, help="the folder to write (sync/videos, sync/kinetics.csv, ...)")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_sync_set)

    s = sub.add_parser(
        "propagation-set",
        help="write the synthetic mask-propagation set (DAVIS layout, the world's "
        "exact object masks; config propagation.set)",
    )
    s.add_argument("-o", "--out", required=True, help="the DAVIS-layout folder to write")
    s.add_argument("--config", default="config.yaml")
    s.set_defaults(func=cmd_propagation_set)

    s = sub.add_parser(
        "propagation",
        help="propagate first-frame object masks through every sequence of a "
        "DAVIS-layout folder with a run's frozen video encoder (or a baseline) and score J and F",
    )
    s.add_argument("source", help="a pretraining checkpoint, or a baseline: pixels (colour features) or copy_first")
    s.add_argument("--davis", required=True, help="a DAVIS-layout folder (JPEGImages, Annotations, ImageSets)")
    s.add_argument("--dataset", required=True, help="set name written in the rows (e.g. davis_synth, davis)")
    s.add_argument("--run", default=None, help="run name written in the rows (default: the checkpoint's)")
    s.add_argument(
        "--config",
        default="config.yaml",
        help="its propagation section: short_side, top_k, temperature, context, radius, clip_frames",
    )
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument("-o", "--output", required=True, help="rows (j_mean, f_mean, jf_mean with 95%% intervals), CSV")
    s.add_argument("--objects", default=None, help="per-sequence, per-object J and F, CSV")
    s.add_argument("--skipped", default=None, help="sequences not evaluated with their reason, CSV")
    s.add_argument("--picture", default=None, help="one sequence's propagated masks over its frames, PNG")
    s.set_defaults(func=cmd_propagation)

    s = sub.add_parser(
        "propagation-table",
        help="the runs' J, F and J&F with intervals, and the paired J&F "
        "difference to a reference run (random init) with its verdict",
    )
    s.add_argument("objects", nargs="*", help="per-object CSVs of `avbench propagation --objects`")
    s.add_argument("--reference", default="scratch", help="the run every other is compared with")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_propagation_table)

    s = sub.add_parser(
        "localize-set",
        help="write the synthetic sound-source localization set (Kinetics layout; per-frame object boxes, "
        "a share of videos with a silent moving object; config localize.set)",
    )
    s.add_argument(
        "-o", "--out", required=True, help="the folder to write (localize/videos, localize/kinetics.csv, ...)"
    )
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_localize_set)

    s = sub.add_parser(
        "localize",
        help="score a sound-source heatmap (a localizing run, or the centre / motion prior) against the "
        "sounding object's box: pointing game and top-region IoU with intervals over videos",
    )
    s.add_argument(
        "source",
        help="a pretraining checkpoint whose head localizes (avolnet, multisensory), or a prior: centre, motion",
    )
    s.add_argument("--shards", required=True, help="the localization set's shard folder")
    s.add_argument("--truth", required=True, help="the world's ground-truth folder (<id>.json with the boxes)")
    s.add_argument("--dataset", required=True, help="set name written in the rows")
    s.add_argument("--run", default=None, help="run name written in the rows (default: the checkpoint's)")
    s.add_argument("--config", default="config.yaml", help="its localize section")
    s.add_argument("--threads", type=int, default=workers)
    s.add_argument("-o", "--output", required=True, help="rows (pointing, ciou per subset with 95%% intervals), CSV")
    s.add_argument("--clips", default=None, help="per-clip scores, CSV")
    s.add_argument("--skipped", default=None, help="clips not scored with their reason, CSV")
    s.add_argument("--picture", default=None, help="heatmaps over frames with the true boxes, PNG")
    s.set_defaults(func=cmd_localize)

    s = sub.add_parser(
        "localize-table",
        help="each heatmap source's pointing and IoU with intervals, and the paired difference to the centre prior",
    )
    s.add_argument("clips", nargs="*", help="per-clip CSVs of `avbench localize --clips`")
    s.add_argument("--reference", default="centre", help="the source every other is compared with")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_localize_table)

    s = sub.add_parser(
        "alignment",
        help="phase alignment (issue 14, TCC's evaluation): align one cycle of periodic world videos "
        "(pendulum, orbit, spin) pairwise (videos that turn the same way) by nearest neighbours of a frozen "
        "video encoder's per-frame embeddings; Kendall's tau of the aligned true phases, phase error, cycle consistency with "
        "bootstrap intervals over the videos, and phase progression (R^2)",
    )
    s.add_argument(
        "sources",
        nargs="+",
        help="pretraining checkpoints, or baselines: pixels, noise (chance), oracle (the true state: the ceiling)",
    )
    s.add_argument("-o", "--output", required=True, help="summary rows per run, class and metric, CSV")
    s.add_argument("--pairs", default=None, help="scores of every ordered pair of videos, CSV")
    s.add_argument("--n-per-class", type=int, default=8, help="videos (one cycle each) per periodic class")
    s.add_argument("--seed", type=int, default=0, help="the set's seed (and the bootstrap's)")
    s.add_argument("--size", type=int, nargs=2, default=[40, 30], help="width height of the frames (the shards')")
    s.add_argument("--fps", type=float, default=16.0, help="frame rate (the shards')")
    s.add_argument("--duration", type=float, default=7.0, help="seconds rendered to find one whole cycle")
    s.add_argument("--context", type=int, default=4, help="each frame's clip: this many frames starting at it")
    s.add_argument(
        "--embedding",
        choices=["encoder", "pretext"],
        default="encoder",
        help="encoder: the video encoder's pooled features; pretext: the method's own per-frame embedding "
        "where it has one (TCC's embedder, as the paper aligns), the encoder's features otherwise",
    )
    s.add_argument("--n-boot", type=int, default=2000)
    s.add_argument("--threads", type=int, default=workers)
    s.set_defaults(func=cmd_alignment)

    s = sub.add_parser(
        "alignment-table",
        help="each run's phase alignment (tau, phase error, cycle consistency) with intervals over the videos, "
        "and its paired difference in tau to the reference run (random init)",
    )
    s.add_argument("pairs", help="the per-pair scores of `avbench alignment --pairs` (every run's)")
    s.add_argument("--rows", default=None, help="the summary rows of `avbench alignment -o` (phase progression)")
    s.add_argument("--reference", default="scratch", help="the run every other is compared with ('': none)")
    s.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (avbench alignment's --seed)")
    s.add_argument("--n-boot", type=int, default=2000)
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_alignment_table)

    s = sub.add_parser("download", help="download mirror archives (resumable, checksum-verified) and extract them")
    s.add_argument("urls", help="text file: one '<url> <md5 or sha256>' per line")
    s.add_argument("-o", "--out", required=True, help="folder for the archives")
    s.add_argument("--extract-to", default=None, help="extract tar archives here (idempotent, completion markers)")
    s.add_argument("--report", default=None, help="per-archive status CSV")
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--retries", type=int, default=5)
    s.add_argument("--strict", action="store_true", help="exit 1 when any archive failed")
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("leaderboard", help="gather result CSVs into the leaderboard")
    s.add_argument("results", nargs="+")
    s.add_argument("-o", "--output", default="results/leaderboard.csv")
    s.add_argument("--markdown", default="results/leaderboard.md")
    s.add_argument(
        "--predictions",
        nargs="*",
        default=None,
        help="the evaluation jobs' *.predictions.parquet: per-video units and 95%% bootstrap intervals",
    )
    s.add_argument("--units", default=None, help="write the per-video units here (parquet; needs --predictions)")
    s.add_argument("--intervals", default=None, help="write every score's 95%% interval here (CSV)")
    s.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    s.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    s.set_defaults(func=cmd_leaderboard)

    s = sub.add_parser(
        "findings",
        help="check the seeds' findings on the predictions (paired bootstrap) and "
        "write findings.csv and the leaderboard's Markdown with its Findings section",
    )
    s.add_argument("--units", required=True, help="the leaderboard's per-video units (parquet)")
    s.add_argument("--leaderboard", default=None, help="results/leaderboard.csv (for the Markdown)")
    s.add_argument("--intervals", default=None, help="the leaderboard's intervals CSV (for the Markdown)")
    s.add_argument("--config", default="config.yaml")
    s.add_argument("--metrics", nargs="*", default=[], help="pretraining metrics CSVs (models/<run>/metrics.csv)")
    s.add_argument(
        "--cue-predictions",
        nargs="*",
        default=None,
        help="predictions of the paired arrow-of-time cue test (results/aot_cues/*.predictions.parquet)",
    )
    s.add_argument(
        "--propagation",
        default=None,
        help="the mask-propagation table (results/tables/propagation.csv): tracking methods vs random features",
    )
    s.add_argument(
        "--localization",
        default=None,
        help="the sound-source localization table (results/tables/localization.csv): localizing runs vs the centre prior",
    )
    s.add_argument(
        "--alignment",
        default=None,
        help="the phase-alignment table (results/tables/alignment.csv): tcc vs random init in Kendall's tau",
    )
    s.add_argument("--metric", default="video_acc")
    s.add_argument("--bootstrap", type=int, default=0, help="resamples (default: evaluate.bootstrap)")
    s.add_argument("-o", "--output", default="results/findings.csv")
    s.add_argument("--markdown", default=None, help="also write the leaderboard Markdown with the Findings section")
    s.set_defaults(func=cmd_findings)

    s = sub.add_parser(
        "tables",
        help="the seeds' result tables (CSV) from the leaderboard, the runs' settings and their pretraining metrics",
    )
    s.add_argument("leaderboard", help="results/leaderboard.csv")
    s.add_argument("--config", default="config.yaml", help="the config the runs were made with (the effective one)")
    s.add_argument("--metrics", nargs="*", default=[], help="pretraining metrics CSVs (models/<run>/metrics.csv)")
    s.add_argument("--metric", default="video_acc", help="accuracy metric of the tables")
    s.add_argument("--intervals", default=None, help="the leaderboard's 95%% intervals (CSV): '<column> lo/hi'")
    s.add_argument(
        "--units",
        default=None,
        help="the leaderboard's evaluation units (parquet): paired differences between runs with their 95%% "
        "intervals in the tables that report them (multisensory)",
    )
    s.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples (default: evaluate.bootstrap)")
    s.add_argument("-o", "--out", default="results/tables", help="folder for <table>.csv")
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("plots", help="accuracy bars with fold error bars, pretext curves, the k sweep (PNG)")
    s.add_argument("leaderboard", help="results/leaderboard.csv")
    s.add_argument("--metrics", nargs="*", default=[], help="pretraining metrics CSVs (models/<run>/metrics.csv)")
    s.add_argument("--metric", default="video_acc")
    s.add_argument("--intervals", default=None, help="the leaderboard's 95%% intervals (CSV): error bars")
    s.add_argument("--bars", required=True, help="accuracy per run, downstream set and protocol (PNG)")
    s.add_argument("--curves", required=True, help="held-out pretext accuracy per epoch (PNG)")
    s.add_argument("--k-sweep-table", default=None, help="results/tables/k_sweep.csv")
    s.add_argument("--k-sweep", default=None, help="accuracy against k (PNG; needs --k-sweep-table)")
    s.add_argument("--multisensory-table", default=None, help="results/tables/multisensory.csv")
    s.add_argument(
        "--multisensory", default=None, help="seed 000's Multisensory table as bars (PNG; needs --multisensory-table)"
    )
    s.set_defaults(func=cmd_plots)
    return p


def main(argv: list[str] | None = None) -> int:
    from avbench.paths import OutputLocked
    from avbench.shards.verify import DamagedShards

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (OutputLocked, DamagedShards, FileExistsError) as exc:  # one clear line, no traceback
        raise SystemExit(f"avbench {args.command}: {str(exc).removeprefix('avbench shard: ')}") from None


if __name__ == "__main__":
    sys.exit(main())
