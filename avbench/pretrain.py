"""One training entry point for every pretraining method (:data:`avbench.pretext.PRETEXTS`).

:func:`pretrain` streams the pretraining shards with :class:`avbench.shards.loader.ShardStream`
(each epoch: ``clips_per_video`` random views of every training video, in an order that depends
only on the seed and the epoch), holds out 10% of the videos for pretext metrics, seeds
everything, writes a metrics CSV row per epoch, checkpoints after every epoch (with the config
and the data-manifest hash) and resumes from the last epoch after an interruption. On a GPU it
uses mixed precision (bfloat16 autocast) and channels-last video tensors.

Under ``torchrun`` every rank reads its own share of the samples (each sample once per epoch
across ranks), gradients are averaged over the ranks before each step, and rank 0 writes the
checkpoints. BatchNorm statistics are per rank (rank 0's are saved) unless ``sync_batchnorm`` is
set, which makes them SyncBatchNorm over all ranks on GPUs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from avbench.checkpoint import load_encoders, load_state, save_checkpoint, save_state
from avbench.paths import atomic_path
from avbench.progress import progress_bar
from avbench.pretext import PRETEXTS, Pretext, PretrainModel, to_tensors
from avbench.shards.loader import SampleCache, ShardStream, View, batches, shard_urls

HELDOUT_FRACTION = 0.1


@dataclass
class Dist:
    """Where this process stands in a ``torchrun`` job (world 1 when run alone)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, nccl on
    GPU; also under ``torchrun --nproc-per-node 1``, so that a one-GPU job runs the same path as a
    multi-GPU one); a plain run is world 1 on the first GPU if there is one, else the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if world <= 1 and "TORCHELASTIC_RUN_ID" not in os.environ:
        return Dist(device=device)
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), device=device)


def convert_sync_batchnorm(model: torch.nn.Module, d: Dist) -> bool:
    """Turn the BatchNorm layers of ``model``'s children (the encoders' ``ModuleDict``) into
    ``torch.nn.SyncBatchNorm`` (statistics over the ranks' global batch) when a process group is up
    on GPUs; returns whether it did. SyncBatchNorm keeps BatchNorm's state-dict keys, so checkpoints
    load into plain BatchNorm encoders."""
    import torch.distributed as dist

    if d.device.type != "cuda" or not (dist.is_available() and dist.is_initialized()):
        return False
    for name, child in list(model.named_children()):
        setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return True


def average_gradients(model: torch.nn.Module, d: Dist) -> None:
    """Average gradients over the ranks (each rank computed them on its own samples)."""
    if d.world == 1:
        return
    import torch.distributed as dist

    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= d.world


def average_logs(logs: dict[str, float], d: Dist) -> dict[str, float]:
    if d.world == 1:
        return logs
    import torch.distributed as dist

    keys = sorted(logs)
    t = torch.tensor([logs[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / d.world for k, v in zip(keys, t)}


def all_ranks_have(flag: bool, d: Dist) -> bool:
    """True when every rank has ``flag`` (keeps the ranks' step counts equal)."""
    if d.world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def gather_objects(obj: Any, d: Dist) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` when run alone)."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


# -- the data --------------------------------------------------------------------------------------


def data_hash(urls: list[str], index: str | Path | None = None) -> str:
    """A fingerprint of the data a run trains on: the index file's bytes (which hold each shard's
    checksum) and the shards' names and sizes (and modification times when there is no index).
    A resume state with another fingerprint is not resumed."""
    import hashlib

    h = hashlib.sha256()
    has_index = index is not None and Path(index).is_file()
    if has_index:
        h.update(Path(index).read_bytes())  # type: ignore[arg-type]
    for u in sorted(urls):
        st = os.stat(u)
        h.update(
            f"{Path(u).parent.name}/{Path(u).name}\0{st.st_size}\0{'' if has_index else st.st_mtime_ns}\0".encode()
        )
    return h.hexdigest()[:16]


def sample_rows(
    shard_dir: str | Path, index: str | Path | None = None, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per shard sample: ``key``, ``label_idx``, ``n_frames``, ``has_audio``, ``n_mel_frames``,
    ``label`` (the class name, where the index or the sample has one).

    From the shard index (``status == ok`` rows; ``table`` when given: the index already read and
    checked) when given, else by reading the samples' JSON.
    """
    if table is not None or (index is not None and Path(index).is_file()):
        df = table if table is not None else pd.read_parquet(index)  # type: ignore[arg-type]
        df = df[df["status"] == "ok"].copy()
        if "has_audio" not in df.columns:
            df["has_audio"] = df.get("n_mel_frames", pd.Series(0, index=df.index)).fillna(0).astype(float) > 0
        cols = ["key", "label_idx", "n_frames", "has_audio", "n_mel_frames", "label"]
        return df[[c for c in cols if c in df.columns]].reset_index(drop=True)
    rows = []
    stream = ShardStream(shard_urls(shard_dir), shuffle=False, needs=frozenset())
    for s in stream:
        m = s["meta"]
        rows.append(
            {
                "key": s["key"],
                "label_idx": int(m.get("label_idx", -1)),
                "n_frames": int(m.get("n_frames") or 0),
                "has_audio": bool(m.get("has_audio", False)),
                "n_mel_frames": int(m.get("n_mel_frames") or 0),
                "label": m.get("label"),
            }
        )
    return pd.DataFrame(rows, columns=["key", "label_idx", "n_frames", "has_audio", "n_mel_frames", "label"])


def split_heldout(keys: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(training keys, held-out keys): a seeded 10% of the videos (at least 2 when there are 8+)."""
    keys = sorted(keys)
    order = np.random.default_rng([seed, 3]).permutation(len(keys))
    n_val = max(2, int(round(HELDOUT_FRACTION * len(keys)))) if len(keys) >= 8 else 0
    held = sorted(keys[i] for i in order[:n_val])
    return sorted(keys[i] for i in order[n_val:]), held


def mel_statistics(urls: list[str], keys: frozenset[str], *, max_samples: int = 256) -> tuple[float, float]:
    """Mean and std of the log-mel values of up to ``max_samples`` training samples."""
    total = 0.0
    sq = 0.0
    n = 0
    seen = 0
    for s in ShardStream(urls, shuffle=False, keys=keys, needs=frozenset({"mel"})):
        if s["mel"] is None:
            continue
        m = s["mel"].astype(np.float64)
        total += float(m.sum())
        sq += float(np.square(m).sum())
        n += m.size
        seen += 1
        if seen >= max_samples:
            break
    if n == 0:
        return 0.0, 1.0
    mean = total / n
    return mean, float(np.sqrt(max(sq / n - mean * mean, 0.0)) + 1e-6)


class Trainer:
    """The state one pretraining run shares with its method: data, model, device, ranks.

    Methods use it between epochs (:meth:`Pretext.before_epoch`), e.g. to compute features of every
    training video (:meth:`features`).
    """

    def __init__(
        self,
        *,
        pretext: Pretext,
        model: PretrainModel,
        urls: list[str],
        train_keys: list[str],
        heldout_keys: list[str],
        rows: pd.DataFrame,
        mel_norm: tuple[float, float],
        cfg: dict[str, Any],
        seed: int,
        dist: Dist,
        workers: int,
        progress: bool,
        cache_mb: int = 0,
    ) -> None:
        self.pretext, self.model, self.urls = pretext, model, urls
        self.train_keys, self.heldout_keys, self.rows = train_keys, heldout_keys, rows
        self.mel_norm, self.cfg, self.seed, self.dist = mel_norm, cfg, seed, dist
        self.workers, self.progress = workers, progress
        # decoded samples kept across epochs (avbench.shards.loader.SampleCache); the same numbers without it
        self.cache = SampleCache(max_bytes=int(cache_mb) << 20) if cache_mb > 0 else None
        self.device = dist.device
        self.optimizer: torch.optim.Optimizer | None = None

    def reset_optimizer_state(self, params: Iterator[torch.nn.Parameter] | list[torch.nn.Parameter]) -> None:
        """Forget the optimizer's state (e.g. Adam moments) of ``params``, for heads that a method
        re-initialises between epochs."""
        if self.optimizer is not None:
            for p in params:
                self.optimizer.state.pop(p, None)

    def stream(
        self,
        *,
        view: View | None,
        keys: list[str],
        epoch: int,
        shuffle: bool,
        split: bool = True,
        repeats: dict[str, float] | None = None,
        needs: frozenset[str] | None = None,
        seed: int | None = None,
    ) -> ShardStream:
        return ShardStream(
            self.urls,
            view=view,
            seed=self.seed if seed is None else seed,
            epoch=epoch,
            shuffle=shuffle,
            rank=self.dist.rank if split else 0,
            world=self.dist.world if split else 1,
            keys=frozenset(keys),
            repeats=repeats,
            needs=needs or self.pretext.needs,
            cache=self.cache,
        )

    def tensors(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = to_tensors(batch, device=self.device, mel_norm=self.mel_norm)
        if self.device.type == "cuda":
            for k, v in out.items():
                if k.startswith("video") and isinstance(v, torch.Tensor) and v.ndim == 5:
                    out[k] = v.contiguous(memory_format=torch.channels_last_3d)
        return out

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and bool(self.cfg.get("amp", True)):
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def features(
        self,
        kinds: tuple[str, ...],
        view: View,
        *,
        batch_size: int | None = None,
        desc: str = "features",
        keys: list[str] | None = None,
    ) -> tuple[list[str], dict[str, np.ndarray]]:
        """Pooled features of every training video (or of ``keys``, e.g. the held-out ones), one
        deterministic view each, gathered over the ranks: (keys, {kind: float32 (N, D)}), rows in
        the order of the returned keys (sorted)."""
        self.model.eval()
        bs = batch_size or int(self.cfg["batch_size"])
        wanted = self.train_keys if keys is None else list(keys)
        keys = []
        feats: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
        stream = self.stream(view=view, keys=wanted, epoch=0, shuffle=False, seed=self.seed + 1)
        n = len(wanted)
        with progress_bar(total=n, desc=desc, enabled=self.progress and self.dist.main) as bar:
            for b in batches(stream, batch_size=bs, workers=self.workers, drop_last=False):
                t = self.tensors(b)
                with self.autocast():
                    for k in kinds:
                        feats[k].append(self.model.encode(k, t[k]).float().cpu().numpy())
                keys += list(b["key"])
                bar.update(len(b["key"]))
        local = (keys, {k: np.concatenate(v) if v else np.zeros((0, 1), np.float32) for k, v in feats.items()})
        parts = gather_objects(local, self.dist)
        all_keys = [k for p in parts for k in p[0]]
        all_feats = {k: np.concatenate([p[1][k] for p in parts]) for k in kinds}
        order = np.argsort(np.asarray(all_keys))
        self.model.train()
        return [all_keys[i] for i in order], {k: v[order] for k, v in all_feats.items()}


def evaluate_pretext(trainer: Trainer, pretext: Pretext) -> dict[str, float]:
    """Held-out pretext metrics: the same views of the same held-out videos every epoch."""
    if len(trainer.heldout_keys) < 2:
        return {}
    trainer.model.eval()
    bs = max(2, min(int(trainer.cfg["batch_size"]), len(trainer.heldout_keys)))
    stream = trainer.stream(
        view=pretext.heldout_view(),
        keys=trainer.heldout_keys,
        epoch=0,
        shuffle=False,
        split=False,
        seed=trainer.seed + 2,
    )
    sums: dict[str, float] = {}
    n = 0
    gen = torch.Generator().manual_seed(trainer.seed + 2)
    outputs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for b in batches(stream, batch_size=bs, drop_last=False):
            if len(b["key"]) < 2:
                continue
            t = trainer.tensors(b)
            with trainer.autocast():
                m = pretext.heldout_metrics(trainer.model, t, generator=gen)
                o = pretext.heldout_outputs(trainer.model, t)
            for k, v in (o or {}).items():
                outputs.setdefault(k, []).append(v.float().cpu().numpy())
            w = len(b["key"])
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v * w
            n += w
    trainer.model.train()
    out = {k: v / n for k, v in sums.items()} if n else {}
    if outputs:
        out.update(pretext.heldout_summary({k: np.concatenate(v) for k, v in outputs.items()}))
    return out


@dataclass
class _TrainingData:
    """The shards a run reads (checked against the index when there is one) and their samples."""

    shard_dir: str | Path
    urls: list[str]
    fingerprint: str  # data_hash of the shards and index (before the check)
    rows: pd.DataFrame  # sample_rows: one row per sample
    skipped: int  # damaged or missing samples left out (on_damage="skip")


def _training_data(shard_dir: str | Path, index: str | Path | None, on_damage: str) -> _TrainingData:
    """The shards under ``shard_dir``, their fingerprint and their sample rows; with an ``index``,
    the shards are checked against it first (:func:`avbench.shards.verify.checked_index`)."""
    from avbench.shards.verify import checked_index

    urls = shard_urls(shard_dir)
    if not urls:
        raise FileNotFoundError(f"no shard-*.tar under {shard_dir}")
    fingerprint = data_hash(urls, index)
    table = None
    skipped = 0
    if index is not None and Path(index).is_file():
        checked = checked_index(shard_dir, pd.read_parquet(index), on_damage)
        table, skipped, urls = checked.index, checked.skipped, checked.urls(urls)
    rows = sample_rows(shard_dir, index, table)
    return _TrainingData(shard_dir=shard_dir, urls=urls, fingerprint=fingerprint, rows=rows, skipped=skipped)


def _make_trainer(
    cfg: dict[str, Any], data: _TrainingData, *, seed: int, dist: Dist, workers: int, progress: bool, cache_mb: int
) -> tuple[Trainer, int, bool]:
    """The method's pretext, the held-out split, the log-mel normalization and the model (its
    initialization draws from the seeded torch generator), in a :class:`Trainer`. Returns
    (trainer, number of classes, whether the BatchNorm layers became SyncBatchNorm)."""
    method = str(cfg["method"])
    rows = data.rows
    labels = rows["label_idx"].to_numpy() if len(rows) else np.zeros(0, int)
    n_classes = int(labels.max()) + 1 if len(labels) and (labels >= 0).any() else 1
    pretext = PRETEXTS[method](cfg, n_classes=n_classes, seed=seed)
    ok = [r["key"] for r in rows.to_dict("records") if pretext.usable(r)]
    if pretext.trains and len(ok) < 4:
        raise ValueError(f"only {len(ok)} usable samples for {method} in {data.shard_dir}")
    train_keys, heldout_keys = split_heldout(ok, seed)
    mel_norm = mel_statistics(data.urls, frozenset(train_keys)) if len(ok) else (0.0, 1.0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext).to(dist.device)
    sync_bn = bool(cfg.get("sync_batchnorm", False)) and convert_sync_batchnorm(model.encoders, dist)
    trainer = Trainer(
        pretext=pretext,
        model=model,
        urls=data.urls,
        train_keys=train_keys,
        heldout_keys=heldout_keys,
        rows=rows,
        mel_norm=mel_norm,
        cfg=cfg,
        seed=seed,
        dist=dist,
        workers=workers,
        progress=progress,
        cache_mb=cache_mb,
    )
    return trainer, n_classes, sync_bn


def _run_meta(
    run: str, trainer: Trainer, data: _TrainingData, *, n_classes: int, sync_bn: bool, provenance: dict[str, Any] | None
) -> dict[str, Any]:
    """The checkpoint's metadata known before training: the run, its settings, its data and split,
    the provenance, and the damaged samples left out (not counted in ``pretrain_clips_used``)."""
    cfg, seed, dist, pretext = trainer.cfg, trainer.seed, trainer.dist, trainer.pretext
    meta = {
        "run": run,
        "method": str(cfg["method"]),
        "config": cfg,
        "seed": seed,
        "n_classes": n_classes,
        "mel_norm": trainer.mel_norm,
        "world_size": dist.world,
        "n_train_videos": len(trainer.train_keys),
        "n_val_videos": len(trainer.heldout_keys),
        "heldout_keys": list(trainer.heldout_keys),  # the videos the pretext is scored on (avbench aot-cues)
        "encoders": list(pretext.encoders),
        "sync_batchnorm": sync_bn,
        **(provenance or {}),
        "data_hash": data.fingerprint,
    }
    if data.skipped:
        meta["pretrain_clips_damaged"] = data.skipped
        meta["pretrain_clips_used"] = max(0, int(meta.get("pretrain_clips_used", 0)) - data.skipped)
    return meta


def _resume(
    trainer: Trainer, opt: torch.optim.Optimizer, last: Path, *, run: str, fingerprint: str
) -> tuple[list[dict[str, Any]], int]:
    """Load ``last`` (the state after the last finished epoch) into the model, ``opt`` and the
    pretext when it was written with this config, seed and data fingerprint. Returns (the metrics
    rows so far, the epoch to start from): ([], 0) when there is nothing to resume."""
    pretext, dist = trainer.pretext, trainer.dist
    if not (last.exists() and pretext.trains):
        return [], 0
    state = load_state(last, map_location=dist.device)
    same_data = state["meta"].get("data_hash") == fingerprint
    if not same_data and dist.main:
        print(
            f"not resuming {run} from {last}: the shards or index changed since it was written "
            "(data fingerprint differs); training from epoch 0",
            flush=True,
        )
    if not (same_data and state["meta"]["config"] == trainer.cfg and state["meta"]["seed"] == trainer.seed):
        return [], 0
    trainer.model.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    pretext.load_state_dict(state.get("pretext", {}))
    start_epoch = int(state["epoch"])
    if dist.main:
        print(f"resuming {run} from epoch {start_epoch}", flush=True)
    return state["metrics"], start_epoch


def _train_steps(
    trainer: Trainer,
    opt: torch.optim.Optimizer,
    stream: ShardStream,
    *,
    epoch: int,
    bs: int,
    gen: torch.Generator,
    n_steps: int,
    desc: str,
) -> tuple[dict[str, float], int]:
    """One epoch's optimizer steps over ``stream`` (in batches of ``bs``, until a rank runs out).
    Returns (the sums over the steps of the loss and the method's logs, the number of steps)."""
    model, pretext, dist = trainer.model, trainer.pretext, trainer.dist
    sums: dict[str, float] = {}
    done = 0
    it: Iterator[dict[str, Any]] = batches(stream, batch_size=bs, workers=trainer.workers)
    with progress_bar(total=n_steps, desc=desc, enabled=trainer.progress and dist.main) as bar:
        while True:
            b = next(it, None)
            if not all_ranks_have(b is not None, dist):
                break
            assert b is not None
            with trainer.autocast():
                loss, logs = pretext.loss(model, trainer.tensors(b), epoch=epoch, generator=gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(model, dist)
            opt.step()
            logs = average_logs({"loss": float(loss.item()), **logs}, dist)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{logs['loss']:.3f}")
    return sums, done


def _train_epoch(
    trainer: Trainer, opt: torch.optim.Optimizer, epoch: int, *, run: str, bs: int, gen: torch.Generator
) -> dict[str, Any]:
    """One epoch: the method's between-epoch work, ``clips_per_video`` (times the method's
    repeats) shuffled views of every training video, then the held-out pretext metrics. Returns
    the epoch's metrics row (without ``wall_s``)."""
    pretext, dist, train_keys = trainer.pretext, trainer.dist, trainer.train_keys
    row: dict[str, Any] = {"epoch": epoch + 1, **pretext.epoch_logs(epoch)}
    row.update(pretext.before_epoch(trainer, epoch))
    cpv = float(trainer.cfg["clips_per_video"])
    extra = pretext.repeats(train_keys)
    repeats = {k: cpv * (extra.get(k, 1.0) if extra else 1.0) for k in train_keys}
    stream = trainer.stream(view=pretext.view(epoch), keys=train_keys, epoch=epoch, shuffle=True, repeats=repeats)
    n_steps = max(1, int(sum(repeats.values()) // (bs * dist.world)))
    sums, done = _train_steps(
        trainer,
        opt,
        stream,
        epoch=epoch,
        bs=bs,
        gen=gen,
        n_steps=n_steps,
        desc=f"{run} epoch {epoch + 1}/{pretext.epochs}",
    )
    if done == 0:
        raise RuntimeError(
            f"{run}: epoch {epoch + 1} produced no training batch (fewer usable samples than "
            f"batch_size {bs}, or shards without what {trainer.cfg['method']} reads: "
            f"{sorted(pretext.needs)}?)"
        )
    row.update({f"train_{k}": v / max(1, done) for k, v in sums.items()})
    row["train_steps"] = done
    row.update({f"val_{k}": v for k, v in evaluate_pretext(trainer, pretext).items()})
    return row


def _write_outputs(out_dir: Path, model: PretrainModel, meta: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
    """``checkpoint.pt`` (encoders, head, meta, metrics) and ``metrics.csv``; the resume state
    ``last.pt`` is removed."""
    model.to("cpu")
    save_checkpoint(
        out_dir / "checkpoint.pt",
        encoders=dict(model.encoders.items()),
        specs=model.specs,
        head=model.head.state_dict(),
        meta=meta,
        metrics=metrics,
    )
    cols = ["epoch"] + sorted({k for r in metrics for k in r} - {"epoch"})
    with atomic_path(out_dir / "metrics.csv", suffix=".csv") as tmp:
        pd.DataFrame(metrics, columns=cols).to_csv(tmp, index=False)
    last = out_dir / "last.pt"
    if last.exists():
        last.unlink()


def pretrain(
    *,
    run: str,
    cfg: dict[str, Any],
    shard_dir: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    index: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    threads: int = 1,
    workers: int = 0,
    progress: bool = True,
    on_damage: str = "fail",
    cache_mb: int = 2048,
) -> dict[str, Any]:
    """Pretrain run ``run`` (``cfg``: the run's settings, :func:`avbench.config.run_settings`) on the
    shards in ``shard_dir``; writes ``out_dir/checkpoint.pt`` and ``out_dir/metrics.csv`` (one row
    per epoch with training and held-out pretext metrics). Returns a summary.

    With an ``index``, the shards are checked against it first (:mod:`avbench.shards.verify`):
    damaged or missing samples stop the run (``on_damage="fail"``) or are left out and counted
    (``"skip"``: ``pretrain_clips_damaged``, not in ``pretrain_clips_used``). ``out_dir/last.pt``
    (written after every epoch) is resumed only when the config, seed and data fingerprint
    (:func:`data_hash`) are those of this call; otherwise training starts from epoch 0. Up to
    ``cache_mb`` of decoded samples are kept in memory across epochs (0: read the shards every
    epoch); the results are the same either way."""
    method = str(cfg["method"])
    if method not in PRETEXTS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(PRETEXTS)}")
    dist = setup_distributed()
    torch.set_num_threads(max(1, threads // dist.world))
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = _training_data(shard_dir, index, on_damage)
    trainer, n_classes, sync_bn = _make_trainer(
        cfg, data, seed=seed, dist=dist, workers=workers, progress=progress, cache_mb=cache_mb
    )
    model, pretext = trainer.model, trainer.pretext
    meta = _run_meta(run, trainer, data, n_classes=n_classes, sync_bn=sync_bn, provenance=provenance)
    last = out_dir / "last.pt"
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    trainer.optimizer = opt
    metrics, start_epoch = _resume(trainer, opt, last, run=run, fingerprint=data.fingerprint)
    meta.update(pretext.prepare(trainer))
    bs = max(2, int(cfg["batch_size"]) // dist.world)
    gen = torch.Generator().manual_seed(seed * 1000 + dist.rank)
    model.train()
    for epoch in range(start_epoch, pretext.epochs):
        gen.manual_seed(seed * 1000 + dist.rank + 7919 * epoch)
        row = _train_epoch(trainer, opt, epoch, run=run, bs=bs, gen=gen)
        row["wall_s"] = round(time.time() - t0, 1)
        metrics.append(row)
        if dist.main:
            print(json.dumps(row), flush=True)
            save_state(
                last,
                {
                    "model": model.state_dict(),
                    "optim": opt.state_dict(),
                    "epoch": epoch + 1,
                    "metrics": metrics,
                    "meta": meta,
                    "pretext": pretext.state_dict(),
                },
            )
    meta["wall_s"] = round(time.time() - t0, 1)
    meta.update(pretext.checkpoint_meta())
    summary = {
        "run": run,
        "method": method,
        "epochs": pretext.epochs,
        "wall_s": meta["wall_s"],
        "world_size": dist.world,
        "final": metrics[-1] if metrics else {},
    }
    if dist.main:
        _write_outputs(out_dir, model, meta, metrics)
    return summary


# ``load_encoders`` lives in avbench.checkpoint; re-exported here for older callers.
__all__ = ["load_encoders", "pretrain", "sample_rows", "split_heldout"]
