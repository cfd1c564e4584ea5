import numpy as np
import pytest

from avbench.evaluate.features import spaced
from avbench.evaluate.linear import fit_linear


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
    res = fit_linear(feats, labels, video, np.arange(0, 80), np.arange(80, 120))
    assert res["clip_acc"] == 1.0 and res["video_acc"] == 1.0
    assert res["n_train"] == 80 and res["n_test"] == 40 and res["n_test_clips"] == 120


def test_shuffled_labels_give_chance():
    feats, labels, video = _data(True)
    shuffled = np.random.default_rng(1).permutation(labels)
    accs = [fit_linear(feats, shuffled, video, np.arange(0, 80), np.arange(80, 120))["clip_acc"]]
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
    res = fit_linear(feats, labels, video, np.arange(30), np.arange(30, 33))
    assert res["clip_acc"] == pytest.approx(2 / 3)
    assert res["video_acc"] == 1.0


def test_fold_leakage_is_refused():
    feats, labels, video = _data(True)
    with pytest.raises(ValueError, match="leakage"):
        fit_linear(feats, labels, video, np.arange(0, 80), np.arange(70, 120))


def test_evaluation_clips_are_evenly_spaced():
    assert spaced(list(range(85)), 4) == [0, 28, 56, 84]
    assert spaced([0], 4) == [0]
    assert spaced(list(range(10)), 1) == [5]
    assert spaced([], 3) == []


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_both_classifiers_separate_and_stay_at_chance_on_shuffled_labels(classifier):
    feats, labels, video = _data(True)
    res = fit_linear(feats, labels, video, np.arange(0, 80), np.arange(80, 120), classifier=classifier)
    assert res["clip_acc"] == 1.0 and res["video_acc"] == 1.0
    shuffled = np.random.default_rng(2).permutation(labels)
    res = fit_linear(feats, shuffled, video, np.arange(0, 80), np.arange(80, 120), classifier=classifier)
    assert res["video_acc"] < 0.5  # chance 0.25 on 40 videos


def test_svm_on_two_classes_aggregates_signed_margins():
    feats, labels, video = _data(True)
    two = labels % 2
    res = fit_linear(feats, two, video, np.arange(0, 80), np.arange(80, 120), classifier="svm")
    assert res["video_acc"] > 0.9


def test_linear_eval_on_every_fold_of_a_tiny_shard_set(tmp_path, moving_squares, tiny_checkpoint):
    from avbench.evaluate.downstream import Downstream
    from avbench.evaluate.linear import linear_eval
    from avbench.pretrain import load_encoders

    index = moving_squares(tmp_path / "d", n_videos=36)
    encoders, meta = load_encoders(tiny_checkpoint(tmp_path / "d"))
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    preds: list = []
    rows = linear_eval(
        encoders=encoders,
        meta=meta,
        downstream=ds,
        task="audio",
        clips_per_video=2,
        C=1.0,
        classifier="svm",
        predictions=preds,
    )
    assert {(r["fold"], r["metric"]) for r in rows} == {(f, m) for f in (1, 2, 3) for m in ("clip_acc", "video_acc")}
    # One prediction per test clip of every fold; the accuracies recomputed from them are the rows'.
    import pandas as pd

    p = pd.DataFrame(preds)
    assert len(p) == 3 * 24 and set(p["clip"]) == {0, 1} and p.groupby("fold")["key"].nunique().eq(12).all()
    for r in rows:
        f = p[p.fold == r["fold"]]
        got = (
            (f["pred"] == f["label"]).mean()
            if r["metric"] == "clip_acc"
            else (f.groupby("key").first().eval("video_pred == label")).mean()
        )
        assert got == pytest.approx(r["value"])
    assert p["scores"].map(len).eq(p["classes"].map(len)).all()
    assert all(r["n_train"] == 24 and r["n_test"] == 12 and r["n_test_clips"] == 24 for r in rows)
    assert all(r["classifier"] == "svm" and r["encoder"] == "audio" for r in rows)
    # Shards with a sample the index does not list are refused.
    index[index.key != "v005"].to_parquet(tmp_path / "d" / "index.parquet", index=False)
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    with pytest.raises(ValueError, match="do not match"):
        linear_eval(encoders=encoders, meta=meta, downstream=ds, task="audio", clips_per_video=1, C=1.0)
