"""Linear evaluation of frozen features (a linear classifier), per official fold, at clip and video level.

Each video (or sound file) gives ``clips_per_video`` evenly spaced clip windows. A linear
classifier on standardised pooled features is fitted on the clips of the fold's train videos:
multinomial logistic regression (``logreg``), or a linear SVM (``svm``, one-vs-rest, the
L3-Net/SoundNet protocol for sound). Clip accuracy scores each test clip; video accuracy averages
the classifier's scores (probabilities, or SVM decision values) over the clips of each test video.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avbench.config import MODALITY_ENCODERS
from avbench.evaluate.downstream import Downstream
from avbench.evaluate.features import FeatureCache, extract_features
from avbench.evaluate.guards import check_disjoint, check_index_covers

# Which checkpoint encoders a downstream task of each kind evaluates.
TASK_ENCODERS = MODALITY_ENCODERS  # the encoders that evaluate a video / an audio downstream set
CLASSIFIERS = ("logreg", "svm")


def video_scores(scores: np.ndarray, video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average per-clip scores over the clips of each video.

    scores: float (N_clips, C); video: int (N_clips,). Returns (videos (V,) sorted, mean scores (V, C)).
    """
    uniq, inv = np.unique(video, return_inverse=True)
    sums = np.zeros((len(uniq), scores.shape[1]), np.float64)
    np.add.at(sums, inv, scores)
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    return uniq, sums / counts[:, None]


def clip_and_video_accuracy(
    scores: np.ndarray, classes: np.ndarray, clip_labels: np.ndarray, video: np.ndarray
) -> tuple[float, float]:
    """(clip accuracy, video accuracy) of per-clip class scores (N_clips, C) whose columns are
    ``classes``; video accuracy takes the argmax of the clip scores averaged per video."""
    clip_acc = float(np.mean(classes[scores.argmax(1)] == clip_labels))
    vids, mean = video_scores(scores, video)
    first = {v: i for i, v in reversed(list(enumerate(video.tolist())))}
    vid_labels = np.array([clip_labels[first[v]] for v in vids.tolist()])
    video_acc = float(np.mean(classes[mean.argmax(1)] == vid_labels))
    return clip_acc, video_acc


def fit_linear(
    features: np.ndarray,
    labels: np.ndarray,
    video: np.ndarray,
    train_videos: np.ndarray,
    test_videos: np.ndarray,
    *,
    C: float = 1.0,
    seed: int = 0,
    classifier: str = "logreg",
    threads: int = 1,
) -> dict[str, float]:
    """Fit on the clips of ``train_videos``, score the clips and videos of ``test_videos``.

    features: (N_clips, D); labels: per video (N_videos,); video: video index of each clip.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    check_disjoint(train_videos, test_videos)
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, not {classifier!r}")
    tr = np.isin(video, train_videos)
    te = np.isin(video, test_videos)
    if classifier == "logreg":
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))
    else:
        clf = make_pipeline(StandardScaler(), LinearSVC(C=C, max_iter=20000, random_state=seed))
    with threadpool_limits(limits=threads):  # BLAS threads on these small matrices cost more than they give
        clf.fit(features[tr], labels[video[tr]])
        classes = clf.classes_
        scores = clf.predict_proba(features[te]) if classifier == "logreg" else clf.decision_function(features[te])
    if scores.ndim == 1:  # an SVM on two classes: one signed margin
        scores = np.stack([-scores, scores], axis=1)
    clip_acc, video_acc = clip_and_video_accuracy(scores, classes, labels[video[te]], video[te])
    return {
        "clip_acc": clip_acc,
        "video_acc": video_acc,
        "n_train": int(len(train_videos)),
        "n_test": int(len(test_videos)),
        "n_train_clips": int(tr.sum()),
        "n_test_clips": int(te.sum()),
        "test_clips": np.flatnonzero(te),
        "scores": scores,
        "classes": classes,
        "model": clf,
    }


def clip_predictions(
    *, keys: list[str], video: np.ndarray, clip: np.ndarray, labels: np.ndarray, scores: np.ndarray, classes: np.ndarray
) -> list[dict[str, Any]]:
    """One prediction row per test clip: ``key`` (its video), ``clip`` (its position among the
    video's evaluation clips), ``label`` (true), ``pred`` (the clip's argmax), ``video_pred`` (the
    argmax of the scores averaged over the video's clips, what video accuracy scores), ``scores``
    (one per class of ``classes``) and ``classes``.

    video: index into ``keys`` per clip; labels: true label per clip; scores: (N_clips, C).
    """
    vids, mean = video_scores(scores, video)
    vpred = dict(zip(vids.tolist(), classes[mean.argmax(1)].tolist()))
    pred = classes[scores.argmax(1)]
    cls = [int(c) for c in classes]
    return [
        {
            "key": keys[int(v)],
            "clip": int(c),
            "label": int(y),
            "pred": int(p),
            "video_pred": int(vpred[int(v)]),
            "scores": [float(x) for x in s],
            "classes": cls,
        }
        for v, c, y, p, s in zip(video.tolist(), clip.tolist(), labels.tolist(), pred.tolist(), scores)
    ]


def clip_ordinals(video: np.ndarray) -> np.ndarray:
    """Each clip's position among the clips of its video (clips of a video in extraction order)."""
    out = np.zeros(len(video), np.int64)
    seen: dict[int, int] = {}
    for i, v in enumerate(video.tolist()):
        out[i] = seen.get(v, 0)
        seen[v] = out[i] + 1
    return out


def encoder_clip_frames(meta: dict[str, Any], kind: str) -> int:
    """Frames per evaluation clip of encoder ``kind`` (flow: segments x frames flow fields)."""
    cfg = meta["config"]
    if kind == "flow":
        return int(cfg["flow"]["segments"]) * int(cfg["flow"]["frames"])
    return int(cfg["clip_frames"])


def backbone(meta: dict[str, Any], kind: str) -> str:
    cfg = meta["config"]
    return {"video": cfg["video_backbone"], "audio": cfg["audio_backbone"], "flow": cfg["flow"]["backbone"]}[kind]


def linear_eval(
    *,
    encoders: dict[str, torch.nn.Module],
    meta: dict[str, Any],
    downstream: Downstream,
    task: str,
    clips_per_video: int,
    C: float,
    classifier: str = "logreg",
    seed: int = 0,
    folds: list[int] | None = None,
    threads: int = 1,
    predictions: list[dict[str, Any]] | None = None,
    cache: FeatureCache | None = None,
) -> list[dict[str, Any]]:
    """Fit and score the linear classifier of every encoder that fits ``task`` (``video``: the RGB and flow encoders,
    ``audio``: the audio encoder) on every official fold of ``downstream``; features are computed
    on the GPU when there is one. Tidy rows; when ``predictions`` is a list, one row per (encoder,
    fold, test clip) is appended to it (:func:`clip_predictions`). With a ``cache``, frozen features
    are read from it or written to it."""
    if not downstream.folds:
        raise ValueError(f"{downstream.name} has no fold columns: cannot evaluate")
    rows: list[dict[str, Any]] = []
    for kind in TASK_ENCODERS[task]:
        if kind not in encoders:
            continue
        f = extract_features(
            encoders[kind],
            downstream.urls,
            kind=kind,
            clip_frames=encoder_clip_frames(meta, kind),
            clips_per_video=clips_per_video,
            mel_norm=tuple(meta["mel_norm"]),
            device=torch.device("cuda") if torch.cuda.is_available() else None,
            cache=cache,
        )
        if not len(f["keys"]):
            print(f"{kind} encoder: no sample of {downstream.name} has the inputs it needs; skipped", flush=True)
            continue
        check_index_covers(f["keys"], downstream.index)
        labels = downstream.labels()
        y = np.array([labels[k] for k in f["keys"]])
        pos = {k: i for i, k in enumerate(f["keys"])}
        for fold in folds or downstream.folds:
            sp = downstream.split(fold, f["keys"])
            if not sp.train or not sp.test:
                continue
            train_v = np.array([pos[k] for k in sp.train])
            test_v = np.array([pos[k] for k in sp.test])
            res = fit_linear(
                f["features"], y, f["video"], train_v, test_v, C=C, seed=seed, classifier=classifier, threads=threads
            )
            if predictions is not None:
                te = res["test_clips"]
                for p in clip_predictions(
                    keys=f["keys"],
                    video=f["video"][te],
                    clip=clip_ordinals(f["video"])[te],
                    labels=y[f["video"][te]],
                    scores=res["scores"],
                    classes=res["classes"],
                ):
                    predictions.append({"encoder": kind, "protocol": "linear", "fold": fold, **p})
            for metric in ("clip_acc", "video_acc"):
                rows.append(
                    {
                        "encoder": kind,
                        "backbone": backbone(meta, kind),
                        "protocol": "linear",
                        "classifier": classifier,
                        "fold": fold,
                        "metric": metric,
                        "value": res[metric],
                        "n_train": res["n_train"],
                        "n_test": res["n_test"],
                        "n_train_clips": res["n_train_clips"],
                        "n_test_clips": res["n_test_clips"],
                        "pretrain_overlap": sp.overlap,
                        "chance": 1.0 / max(1, len(np.unique(y[train_v]))),
                    }
                )
    return rows
