import numpy as np
import pytest

from avbench.evaluate.features import spaced
from avbench.evaluate.linear import linear_probe


def _data(separable: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_videos, clips, n_classes = 120, 3, 4
    labels = np.arange(n_videos) % n_classes
    video = np.repeat(np.arange(n_videos), clips)
    centers = rng.normal(size=(n_classes, 16)) * 10
    feats = rng.normal(size=(len(video), 16))
    if separable:
        feats += centers[labels[video]]
    return feats, labels, video


def test_separable_features_give_100_percent():
    feats, labels, video = _data(True)
    res = linear_probe(feats, labels, video, np.arange(0, 80), np.arange(80, 120))
    assert res["clip_acc"] == 1.0 and res["video_acc"] == 1.0
    assert res["n_train"] == 80 and res["n_test"] == 40 and res["n_test_clips"] == 120


def test_shuffled_labels_give_chance():
    feats, labels, video = _data(True)
    shuffled = np.random.default_rng(1).permutation(labels)
    accs = [linear_probe(feats, shuffled, video, np.arange(0, 80), np.arange(80, 120))["clip_acc"]]
    assert abs(np.mean(accs) - 0.25) < 0.15


def test_video_level_averages_clip_probabilities():
    # Two clips of each test video point to the right class, one to the wrong one: video acc 100%.
    n_classes, d = 3, 3
    train_feats = np.repeat(np.eye(d) * 5, 10, axis=0)
    train_labels = np.repeat(np.arange(n_classes), 10)
    test_labels = np.arange(n_classes)
    test_feats = []
    for c in test_labels:
        wrong = (c + 1) % n_classes
        test_feats += [np.eye(d)[c] * 5, np.eye(d)[c] * 5, np.eye(d)[wrong] * 5]
    feats = np.vstack([train_feats, np.array(test_feats)])
    labels = np.concatenate([train_labels, test_labels])
    video = np.concatenate([np.arange(30), np.repeat(np.arange(30, 33), 3)])
    res = linear_probe(feats, labels, video, np.arange(30), np.arange(30, 33))
    assert res["clip_acc"] == pytest.approx(2 / 3)
    assert res["video_acc"] == 1.0


def test_fold_leakage_is_refused():
    feats, labels, video = _data(True)
    with pytest.raises(ValueError, match="leakage"):
        linear_probe(feats, labels, video, np.arange(0, 80), np.arange(70, 120))


def test_evaluation_clips_are_evenly_spaced():
    assert spaced(list(range(85)), 4) == [0, 28, 56, 84]
    assert spaced([0], 4) == [0]
    assert spaced(list(range(10)), 1) == [5]
    assert spaced([], 3) == []
