"""Linear probe on frozen features, per official fold, at clip and video level.

Each video (or sound file) gives ``clips_per_video`` evenly spaced clip windows. A multinomial
logistic regression on standardised pooled features is fitted on the clips of the fold's train
videos; clip accuracy scores each test clip, video accuracy averages the predicted probabilities
over the clips of each test video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from avbench.manifest import fold_columns
from avbench.train import ClipBank, audio_tensor, load_bank, take_audio, take_video, video_tensor


def clip_starts(n_frames: int, clip_frames: int, k: int) -> list[int]:
    """``k`` evenly spaced start frames of ``clip_frames``-long clips in ``n_frames`` frames."""
    last = max(0, n_frames - clip_frames)
    return sorted({int(round(x)) for x in np.linspace(0, last, k)}) if k > 1 else [last // 2]


@torch.inference_mode()
def extract_features(encoder: torch.nn.Module, bank: ClipBank, *, kind: str, clip_frames: int, clips_per_video: int,
                     mel_norm: tuple[float, float], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of every clip window: (features float32 (N_clips, D), video index (N_clips,))."""
    encoder.eval()
    nf, na = bank.clip_lengths(clip_frames)
    jobs: list[tuple[int, int, int]] = []
    for i in range(len(bank)):
        if kind == "video":
            if bank.frames[i] is None:
                continue
            n = len(bank.frames[i])
        else:
            if bank.mels[i] is None:
                continue
            n = int(bank.mels[i].shape[1] / bank.mel_rate * bank.fps)
        for k0 in clip_starts(n, nf, clips_per_video):
            jobs.append((i, k0, int(round(k0 / bank.fps * bank.mel_rate))))
    feats = []
    for s in range(0, len(jobs), batch_size):
        chunk = jobs[s:s + batch_size]
        if kind == "video":
            x = video_tensor([take_video(bank, i, k0, nf) for i, k0, _ in chunk])
        else:
            x = audio_tensor([take_audio(bank, i, m0, na) for i, _, m0 in chunk], mel_norm)
        feats.append(encoder(x).float().numpy())
    dim = getattr(encoder, "out_dim", 0)
    f = np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)
    return f, np.array([j[0] for j in jobs], dtype=np.int64)


def linear_probe(features: np.ndarray, labels: np.ndarray, video: np.ndarray, train_videos: np.ndarray,
                 test_videos: np.ndarray, *, C: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Fit on the clips of ``train_videos``, score the clips and videos of ``test_videos``.

    features: (N_clips, D); labels: per video (N_videos,); video: video index of each clip.
    """
    overlap = np.intersect1d(train_videos, test_videos)
    if len(overlap):
        raise ValueError(f"fold leakage: {len(overlap)} videos are in both train and test")
    tr = np.isin(video, train_videos)
    te = np.isin(video, test_videos)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))
    clf.fit(features[tr], labels[video[tr]])
    proba = clf.predict_proba(features[te])
    classes = clf.classes_
    clip_pred = classes[proba.argmax(1)]
    clip_acc = float(np.mean(clip_pred == labels[video[te]]))
    vids = video[te]
    uniq = np.unique(vids)
    vid_pred = np.array([classes[proba[vids == v].mean(0).argmax()] for v in uniq])
    video_acc = float(np.mean(vid_pred == labels[uniq]))
    return {"clip_acc": clip_acc, "video_acc": video_acc, "n_train": int(len(train_videos)),
            "n_test": int(len(test_videos)), "n_train_clips": int(tr.sum()), "n_test_clips": int(te.sum())}


def evaluate_checkpoint(*, checkpoint: str | Path, shard_dir: str | Path, index_path: str | Path, kind: str,
                        clips_per_video: int, C: float, seed: int = 0, threads: int = 1) -> pd.DataFrame:
    """Linear-probe the ``kind`` (video/audio) encoder of a checkpoint on every fold of a dataset.

    Returns tidy rows: fold, metric, value, n_train, n_test, ...
    """
    from avbench.models import build_audio_encoder, build_video_encoder

    torch.set_num_threads(max(1, threads))
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    meta = ckpt["meta"]
    cfg = meta["config"]
    ch = tuple(cfg["channels"])
    if kind == "video":
        enc = build_video_encoder(name=cfg["video_backbone"], channels=ch)
    else:
        enc = build_audio_encoder(name=cfg["audio_backbone"], channels=ch)
    enc.load_state_dict(ckpt[kind])
    bank = load_bank(shard_dir)
    index = pd.read_parquet(index_path)
    ok = index[index["status"] == "ok"].set_index("id")
    folds = fold_columns(ok)
    if not folds:
        raise ValueError(f"{index_path} has no fold columns: cannot evaluate")
    feats, video = extract_features(enc, bank, kind=kind, clip_frames=int(cfg["clip_frames"]),
                                    clips_per_video=clips_per_video, mel_norm=tuple(meta["mel_norm"]))
    labels = bank.labels
    rows = []
    for col in folds:
        assign = ok[col].reindex(bank.ids).fillna("").to_numpy()
        train_v = np.flatnonzero(assign == "train")
        test_v = np.flatnonzero(assign == "test")
        train_v = train_v[np.isin(train_v, video)]
        test_v = test_v[np.isin(test_v, video)]
        if len(train_v) == 0 or len(test_v) == 0:
            continue
        res = linear_probe(feats, labels, video, train_v, test_v, C=C, seed=seed)
        fold = int(col.split("_")[1])
        for metric in ("clip_acc", "video_acc"):
            rows.append({"fold": fold, "metric": metric, "value": res[metric], "n_train": res["n_train"],
                         "n_test": res["n_test"], "n_train_clips": res["n_train_clips"],
                         "n_test_clips": res["n_test_clips"], "chance": 1.0 / max(1, len(np.unique(labels[train_v])))})
    return pd.DataFrame(rows)
