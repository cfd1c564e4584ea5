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

from avbench.evaluate.features import extract_features
from avbench.manifest import fold_columns
from avbench.shards.loader import shard_urls

# Which checkpoint encoders a downstream task of each kind evaluates.
TASK_ENCODERS = {"video": ("video", "flow"), "audio": ("audio",)}


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


def fold_assignments(index_path: str | Path, keys: list[str]) -> dict[int, np.ndarray]:
    """Fold number -> per-key assignment (``train``/``test``/"") for the samples ``keys``, from the
    shard index's ``fold_k`` columns."""
    index = pd.read_parquet(index_path)
    ok = index[index["status"] == "ok"].set_index("key")
    folds = fold_columns(ok)
    if not folds:
        raise ValueError(f"{index_path} has no fold columns: cannot evaluate")
    return {int(c.split("_")[1]): ok[c].reindex(keys).fillna("").to_numpy() for c in folds}


def evaluate_checkpoint(*, checkpoint: str | Path, shard_dir: str | Path, index_path: str | Path, task: str,
                        clips_per_video: int, C: float, seed: int = 0, threads: int = 1) -> pd.DataFrame:
    """Linear-probe the encoders of a checkpoint that fit a ``task`` (``video``: the RGB and flow
    encoders, ``audio``: the audio encoder) on every official fold of a dataset.

    Returns tidy rows: encoder, backbone, fold, metric, value, n_train, n_test, ...
    """
    from avbench.train import load_encoders

    torch.set_num_threads(max(1, threads))
    encoders, meta = load_encoders(checkpoint)
    cfg = meta["config"]
    urls = shard_urls(shard_dir)
    rows = []
    for kind in TASK_ENCODERS[task]:
        if kind not in encoders:
            continue
        spec = cfg["flow"] if kind == "flow" else cfg
        clip_frames = int(spec["segments"]) * int(spec["frames"]) if kind == "flow" else int(cfg["clip_frames"])
        f = extract_features(encoders[kind], urls, kind=kind, clip_frames=clip_frames,
                             clips_per_video=clips_per_video, mel_norm=tuple(meta["mel_norm"]))
        if not len(f["keys"]):
            continue
        labels, video = f["labels"], f["video"]
        for fold, assign in fold_assignments(index_path, f["keys"]).items():
            train_v = np.flatnonzero(assign == "train")
            test_v = np.flatnonzero(assign == "test")
            if len(train_v) == 0 or len(test_v) == 0:
                continue
            res = linear_probe(f["features"], labels, video, train_v, test_v, C=C, seed=seed)
            for metric in ("clip_acc", "video_acc"):
                rows.append({"encoder": kind, "backbone": _backbone(meta, kind), "fold": fold, "metric": metric, "value": res[metric],
                             "n_train": res["n_train"], "n_test": res["n_test"], "n_train_clips": res["n_train_clips"],
                             "n_test_clips": res["n_test_clips"],
                             "chance": 1.0 / max(1, len(np.unique(labels[train_v])))})
    return pd.DataFrame(rows)


def _backbone(meta: dict[str, Any], kind: str) -> str:
    cfg = meta["config"]
    return {"video": cfg["video_backbone"], "audio": cfg["audio_backbone"], "flow": cfg["flow"]["backbone"]}[kind]
