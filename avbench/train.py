"""One training entry point for every pretraining method (``avts``, ``supervised``, ``scratch``).

Training reads the shards of the pretraining set into memory (uint8 frames and float16 mels: the
default synthetic set is ~300 MB) and draws random synchronized clip windows each epoch. It seeds
everything, writes a metrics CSV per epoch, checkpoints after every epoch (with the config and the
data-manifest hash) and resumes from the last epoch after an interruption.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from avbench.models import build_audio_encoder, build_video_encoder
from avbench.paths import atomic_path
from avbench.pretext.avts import AVTSHead, avts_loss, easy_negative_perm, sync_accuracy
from avbench.progress import progress_bar

METHODS = ("avts", "supervised", "scratch")


@dataclass
class ClipBank:
    """Decoded samples of one dataset, in memory.

    frames[i]: uint8 (T_i, H, W, 3) or None; mels[i]: float32 (n_mels, M_i) or None.
    """

    frames: list[np.ndarray | None]
    mels: list[np.ndarray | None]
    labels: np.ndarray
    ids: list[str]
    fps: float
    mel_rate: float

    def __len__(self) -> int:
        return len(self.ids)

    def clip_lengths(self, clip_frames: int) -> tuple[int, int]:
        """(video frames, mel frames) of one clip window."""
        return clip_frames, int(round(clip_frames / self.fps * self.mel_rate))


def load_bank(shard_dir: str | Path) -> ClipBank:
    """Load every sample of a shard folder (see :mod:`avbench.shards.load`)."""
    from avbench.shards.load import iter_samples

    frames, mels, labels, ids = [], [], [], []
    fps = mel_rate = 0.0
    for s in iter_samples(shard_dir):
        meta = s["meta"]
        frames.append(s["frames"])
        mels.append(s["mel"])
        labels.append(int(meta.get("label_idx", -1)))
        ids.append(str(meta["id"]))
        fps = float(meta["fps"])
        mel_rate = 1000.0 / float(meta["hop_ms"])
    return ClipBank(frames=frames, mels=mels, labels=np.asarray(labels, dtype=np.int64), ids=ids, fps=fps, mel_rate=mel_rate)


def mel_stats(bank: ClipBank) -> tuple[float, float]:
    vals = np.concatenate([m.reshape(-1) for m in bank.mels if m is not None])
    return float(vals.mean()), float(vals.std() + 1e-6)


DEVICE = torch.device("cpu")  # where batches go; set by pretrain() for GPU runs


def video_tensor(clips: list[np.ndarray]) -> torch.Tensor:
    """uint8 list of (T, H, W, 3) -> float (B, 3, T, H, W) in [0, 1], on ``DEVICE``."""
    x = torch.from_numpy(np.stack(clips)).to(DEVICE, non_blocking=True)
    return x.permute(0, 4, 1, 2, 3).float().div_(255.0)


def audio_tensor(windows: list[np.ndarray], norm: tuple[float, float]) -> torch.Tensor:
    """list of (n_mels, A) -> float (B, 1, n_mels, A), normalised by the training set statistics."""
    x = torch.from_numpy(np.stack(windows)).to(DEVICE, non_blocking=True).float()
    return ((x - norm[0]) / norm[1]).unsqueeze(1)


def take_video(bank: ClipBank, i: int, k0: int, n: int) -> np.ndarray:
    f = bank.frames[i]
    assert f is not None
    idx = np.clip(np.arange(k0, k0 + n), 0, len(f) - 1)
    return f[idx]


def take_audio(bank: ClipBank, i: int, m0: int, n: int) -> np.ndarray:
    m = bank.mels[i]
    assert m is not None
    if m0 + n > m.shape[1]:
        pad = np.full((m.shape[0], m0 + n - m.shape[1]), m.min(), dtype=m.dtype)
        m = np.concatenate([m, pad], axis=1)
    return m[:, m0:m0 + n]


def random_windows(bank: ClipBank, items: np.ndarray, clip_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """For each video index, a random start (frame k0, mel frame m0) of a synchronized window."""
    out = []
    for i in items:
        f = bank.frames[i]
        t_frames = len(f) if f is not None else int(bank.mels[i].shape[1] / bank.mel_rate * bank.fps)
        k0 = int(rng.integers(0, max(1, t_frames - clip_frames + 1)))
        out.append((k0, int(round(k0 / bank.fps * bank.mel_rate))))
    return out


class Encoders(nn.Module):
    """The video and audio encoders with the method's heads."""

    def __init__(self, *, method: str, cfg: dict[str, Any], n_classes: int) -> None:
        super().__init__()
        ch = tuple(cfg["channels"])
        self.video = build_video_encoder(name=cfg["video_backbone"], channels=ch)
        self.audio = build_audio_encoder(name=cfg["audio_backbone"], channels=ch)
        self.method = method
        if method == "avts":
            self.head = AVTSHead(video_dim=self.video.out_dim, audio_dim=self.audio.out_dim,
                                 embed_dim=int(cfg["avts"]["embed_dim"]))
        elif method == "supervised":
            self.head = nn.ModuleDict({"video": nn.Linear(self.video.out_dim, n_classes),
                                       "audio": nn.Linear(self.audio.out_dim, n_classes)})


def _split_heldout(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = max(2, int(round(0.1 * n))) if n >= 8 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _step_avts(model: Encoders, bank: ClipBank, items: np.ndarray, wins: list[tuple[int, int]], cfg: dict[str, Any],
               norm: tuple[float, float], gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    nf, na = bank.clip_lengths(int(cfg["clip_frames"]))
    vid = video_tensor([take_video(bank, i, k0, nf) for i, (k0, _) in zip(items, wins)])
    aud = audio_tensor([take_audio(bank, i, m0, na) for i, (_, m0) in zip(items, wins)], norm)
    v, a = model.head(model.video(vid), model.audio(aud))
    perm = easy_negative_perm(len(items), gen).to(DEVICE)
    margin = float(cfg["avts"]["margin"])
    y = torch.cat([torch.ones(len(items)), torch.zeros(len(items))]).to(DEVICE)
    loss, d = avts_loss(torch.cat([v, v]), torch.cat([a, a[perm]]), y, margin=margin)
    n = len(items)
    acc = sync_accuracy(d[:n].detach(), d[n:].detach(), threshold=margin / 2)
    d = d.detach()
    return loss, {"pretext_acc": acc, "d_pos": float(d[:n].mean()), "d_neg": float(d[n:].mean())}


def _step_supervised(model: Encoders, bank: ClipBank, items: np.ndarray, wins: list[tuple[int, int]],
                     cfg: dict[str, Any], norm: tuple[float, float], gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    nf, na = bank.clip_lengths(int(cfg["clip_frames"]))
    vid = video_tensor([take_video(bank, i, k0, nf) for i, (k0, _) in zip(items, wins)])
    aud = audio_tensor([take_audio(bank, i, m0, na) for i, (_, m0) in zip(items, wins)], norm)
    y = torch.from_numpy(bank.labels[items]).to(DEVICE)
    lv = model.head["video"](model.video(vid))
    la = model.head["audio"](model.audio(aud))
    loss = nn.functional.cross_entropy(lv, y) + nn.functional.cross_entropy(la, y)
    return loss, {"pretext_acc": float((lv.argmax(1) == y).float().mean()),
                  "audio_acc": float((la.argmax(1) == y).float().mean())}


STEPS = {"avts": _step_avts, "supervised": _step_supervised}


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
    GPU); a plain run is world 1 on the first GPU if there is one, else the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if world <= 1:
        return Dist(device=device)
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), device=device)


def _average_gradients(model: nn.Module, d: Dist) -> None:
    """Average gradients over the ranks (each rank computed them on its slice of the batch)."""
    if d.world == 1:
        return
    import torch.distributed as dist

    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= d.world


def _average_logs(logs: dict[str, float], d: Dist) -> dict[str, float]:
    if d.world == 1:
        return logs
    import torch.distributed as dist

    keys = sorted(logs)
    t = torch.tensor([logs[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / d.world for k, v in zip(keys, t)}


def pretrain(
    *,
    method: str,
    shard_dir: str | Path,
    out_dir: str | Path,
    cfg: dict[str, Any],
    seed: int = 0,
    provenance: dict[str, Any] | None = None,
    threads: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Pretrain ``method`` on the shards in ``shard_dir``; writes ``out_dir/checkpoint.pt`` and
    ``out_dir/metrics.csv`` (one row per epoch, with held-out pretext metrics). Returns a summary.

    Under ``torchrun`` every rank draws the same global batch and trains on its slice of it
    (``batch[rank::world]``); gradients are averaged over the ranks before each step, and rank 0
    writes the checkpoints. BatchNorm statistics are per rank; rank 0's are saved.
    """
    global DEVICE
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    dist_info = setup_distributed()
    DEVICE = dist_info.device
    torch.set_num_threads(max(1, threads // dist_info.world))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    bank = load_bank(shard_dir)
    usable = np.array([i for i in range(len(bank)) if bank.frames[i] is not None and bank.mels[i] is not None])
    if len(usable) < 4:
        raise ValueError(f"only {len(usable)} usable audio-visual samples in {shard_dir}")
    n_classes = int(bank.labels.max()) + 1 if (bank.labels >= 0).any() else 1
    norm = mel_stats(bank)
    model = Encoders(method=method, cfg=cfg, n_classes=n_classes)
    train_idx, val_idx = _split_heldout(len(usable), rng)
    train_idx, val_idx = usable[train_idx], usable[val_idx]
    model.to(DEVICE)
    meta = {"method": method, "config": cfg, "seed": seed, "n_classes": n_classes, "mel_norm": norm,
            "world_size": dist_info.world,
            "n_train_videos": int(len(train_idx)), "n_val_videos": int(len(val_idx)), **(provenance or {})}
    metrics: list[dict[str, Any]] = []
    last = out_dir / "last.pt"
    start_epoch = 0
    epochs = int(cfg["epochs"]) if method != "scratch" else 0
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    if last.exists() and method != "scratch":
        state = torch.load(last, map_location=DEVICE, weights_only=False)
        if state["meta"]["config"] == cfg and state["meta"]["seed"] == seed:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optim"])
            metrics = state["metrics"]
            start_epoch = int(state["epoch"])
            rng = np.random.default_rng([seed, start_epoch])
            if dist_info.main:
                print(f"resuming {method} from epoch {start_epoch}", flush=True)
    gen = torch.Generator().manual_seed(seed)
    step_fn = STEPS.get(method)
    bs = int(cfg["batch_size"])
    for epoch in range(start_epoch, epochs):
        model.train()
        items = np.repeat(train_idx, int(cfg["clips_per_video"]))
        rng.shuffle(items)
        n_steps = max(1, len(items) // bs)
        sums: dict[str, float] = {}
        with progress_bar(total=n_steps, desc=f"{method} epoch {epoch + 1}/{epochs}",
                          enabled=progress and dist_info.main) as bar:
            for s in range(n_steps):
                batch = items[s * bs:(s + 1) * bs]
                wins = random_windows(bank, batch, int(cfg["clip_frames"]), rng)
                local = slice(dist_info.rank, None, dist_info.world)
                loss, logs = step_fn(model, bank, batch[local], wins[local], cfg, norm, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                _average_gradients(model, dist_info)
                opt.step()
                logs = _average_logs({"loss": loss.item(), **logs}, dist_info)
                loss = torch.tensor(logs.pop("loss"))
                sums["loss"] = sums.get("loss", 0.0) + float(loss)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.3f}")
        row = {"epoch": epoch + 1, **{f"train_{k}": v / n_steps for k, v in sums.items()}}
        row.update({f"val_{k}": v for k, v in evaluate_pretext(model, bank, val_idx, cfg, norm, seed).items()})
        row["wall_s"] = round(time.time() - t0, 1)
        metrics.append(row)
        if dist_info.main:
            print(json.dumps(row), flush=True)
            with atomic_path(last, suffix=".pt") as tmp:
                torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": epoch + 1,
                            "metrics": metrics, "meta": meta}, tmp)
    meta["wall_s"] = round(time.time() - t0, 1)
    summary = {"method": method, "epochs": epochs, "wall_s": meta["wall_s"], "world_size": dist_info.world,
               "final": metrics[-1] if metrics else {}}
    if not dist_info.main:
        return summary
    model.to("cpu")
    with atomic_path(out_dir / "checkpoint.pt", suffix=".pt") as tmp:
        torch.save({"video": model.video.state_dict(), "audio": model.audio.state_dict(), "meta": meta,
                    "metrics": metrics}, tmp)
    cols = ["epoch"] + sorted({k for r in metrics for k in r} - {"epoch"})
    with atomic_path(out_dir / "metrics.csv", suffix=".csv") as tmp:
        pd.DataFrame(metrics, columns=cols).to_csv(tmp, index=False)
    if last.exists():
        last.unlink()
    return summary


@torch.inference_mode()
def evaluate_pretext(model: Encoders, bank: ClipBank, idx: np.ndarray, cfg: dict[str, Any],
                     norm: tuple[float, float], seed: int) -> dict[str, float]:
    """Held-out pretext metrics on fixed windows (the middle clip of each held-out video)."""
    if len(idx) < 2:
        return {}
    model.eval()
    nf, na = bank.clip_lengths(int(cfg["clip_frames"]))
    wins = []
    for i in idx:
        k0 = max(0, (len(bank.frames[i]) - nf) // 2)
        wins.append((k0, int(round(k0 / bank.fps * bank.mel_rate))))
    vid = video_tensor([take_video(bank, i, k0, nf) for i, (k0, _) in zip(idx, wins)])
    aud = audio_tensor([take_audio(bank, i, m0, na) for i, (_, m0) in zip(idx, wins)], norm)
    fv, fa = model.video(vid), model.audio(aud)
    if model.method == "avts":
        v, a = model.head(fv, fa)
        perm = easy_negative_perm(len(idx), torch.Generator().manual_seed(seed + 1)).to(DEVICE)
        d_pos = torch.linalg.vector_norm(v - a, dim=1)
        d_neg = torch.linalg.vector_norm(v - a[perm], dim=1)
        labels = bank.labels[idx]
        same = float(np.mean(labels == labels[perm.cpu().numpy()])) if (labels >= 0).all() else math.nan
        return {"pretext_acc": sync_accuracy(d_pos, d_neg, threshold=float(cfg["avts"]["margin"]) / 2),
                "neg_same_class": same}
    if model.method == "supervised":
        y = torch.from_numpy(bank.labels[idx]).to(DEVICE)
        return {"pretext_acc": float((model.head["video"](fv).argmax(1) == y).float().mean()),
                "audio_acc": float((model.head["audio"](fa).argmax(1) == y).float().mean())}
    return {}
