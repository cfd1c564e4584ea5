"""Objects that Sound's retrieval rows: intra- and cross-modal retrieval by class on known embeddings,
the chance of a random ranking, AVOL-Net's embeddings in the retrieval rows, and the opt-in switch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from avbench.evaluate.downstream import Downstream
from avbench.evaluate.retrieval import (
    CLASS_DIRECTIONS,
    class_chance,
    class_ranks,
    load_pretrain_model,
    retrieval_embedder,
    retrieval_recalls,
    retrieval_rows,
    wants_class_retrieval,
)
from avbench.stats import units


def test_class_ranks_known_answers():
    q = np.array([[0.0], [10.0]])
    g = np.array([[1.0], [2.0], [9.0], [11.0]])
    # the nearest gallery item is of the query's class: rank 0
    assert class_ranks(q, g, np.array([0, 1]), np.array([0, 0, 1, 1])).tolist() == [0, 0]
    # query 0 (at 0): gallery 0, 1 (class 1) nearer than gallery 2 (class 0, at 9); query 1 (at 10):
    # gallery 2 (class 0, d 1) ties with gallery 3 (class 1, d 1): ties count against the query
    assert class_ranks(q, g, np.array([0, 1]), np.array([1, 1, 0, 1])).tolist() == [2, 1]
    # no gallery item of the class: -1
    assert class_ranks(q, g, np.array([0, 5]), np.array([0, 0, 1, 1])).tolist() == [0, -1]


def test_class_ranks_never_count_excluded_pairs():
    x = np.array([[0.0], [1.0], [10.0]])
    lab = np.array([0, 1, 0])
    own = np.eye(3, dtype=bool)  # the same items as query and gallery: its own item is never an answer
    assert class_ranks(x, x, lab, lab, own).tolist() == [1, -1, 1]


def test_class_chance_is_the_hypergeometric_hit_rate_of_a_random_ranking():
    assert class_chance(np.array([0, 1]), np.array([0, 1, 1]), 1) == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert class_chance(np.array([0]), np.array([0, 1, 1]), 3) == 1.0
    ql, gl = np.arange(12) % 3, np.arange(30) % 3  # 10 relevant of 30 gallery items
    assert class_chance(ql, gl, 5) == pytest.approx(1 - math.comb(20, 5) / math.comb(30, 5))
    rng = np.random.default_rng(0)
    draws = [class_ranks(rng.normal(size=(12, 8)), rng.normal(size=(30, 8)), ql, gl) for _ in range(300)]
    hits = np.mean([(r < 5).mean() for r in draws])
    assert hits == pytest.approx(class_chance(ql, gl, 5), abs=0.03)


def _class_world(n: int = 24, n_classes: int = 4, seed: int = 0) -> tuple[dict, dict]:
    """Audio embeddings at their class centre (tiny noise), video embeddings random; two clip
    positions."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    centres = rng.normal(size=(n_classes, 8)) * 10
    a = np.concatenate([centres[labels] + rng.normal(size=(n, 8)) * 0.01 for _ in range(2)])
    v = rng.normal(size=(2 * n, 8))
    keys = [f"k{i:02d}" for i in range(n)] * 2
    clip = np.repeat([0, 1], n)
    return {"video": v, "audio": a, "key": keys, "clip": clip}, {f"k{i:02d}": int(labels[i]) for i in range(n)}


def test_recalls_by_class_on_constructed_embeddings():
    emb, labels = _class_world()
    test, train = sorted(labels)[:8], sorted(labels)[8:]
    ranks: list[dict] = []
    res = retrieval_recalls(emb, test, ranks, labels=labels, train_keys=train)
    assert res["a2a_r1"] == 1.0  # audio clusters by class: the nearest training audio is of the class
    assert res["v2v_r1"] < 0.6  # random video embeddings: about chance (4 of 16 relevant)
    assert res["chance:a2a_r1"] == pytest.approx(4 / 16)
    assert res["v2a_r1"] < 0.5  # own pair: the video is unrelated to the audio (chance 1/8)
    assert {r["direction"] for r in ranks} == {"v2a", "a2v", *CLASS_DIRECTIONS}
    assert all(r["rank"] >= 0 for r in ranks)
    a2a = [r for r in ranks if r["direction"] == "a2a"]
    assert len(a2a) == 16 and {r["key"] for r in a2a} == set(test)  # 8 queries at 2 positions
    assert all(r["gallery"] == 16 for r in a2a)  # the training clips at the same position
    # without labels: the rows of today, unchanged
    plain = retrieval_recalls(emb, test)
    assert set(plain) == {f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)} | {"n_test", "n_test_clips"}
    assert all(plain[k] == res[k] for k in plain)
    # the per-query ranks give the same recall through the interval machinery (avbench.stats.units)
    pred = pd.DataFrame(ranks).assign(
        method="m", seed=0, encoder="video+audio", downstream="d", protocol="retrieval", fold=1
    )
    u = units(pred)
    a2a_u = u[u["metric"] == "a2a_r1"]
    assert np.average(a2a_u["value"], weights=a2a_u["weight"]) == 1.0


def test_a_class_missing_from_the_gallery_is_left_out():
    emb, labels = _class_world()
    labels = dict(labels)
    labels["k00"] = 7  # a test video of a class no training video has
    ranks: list[dict] = []
    retrieval_recalls(emb, sorted(labels)[:8], ranks, labels=labels, train_keys=sorted(labels)[8:])
    assert not any(r["key"] == "k00" and r["direction"] in CLASS_DIRECTIONS for r in ranks)
    assert any(r["key"] == "k00" and r["direction"] == "v2a" for r in ranks)


def test_opt_in_names_runs_or_methods():
    meta = {"run": "avolnet.seed1", "method": "avolnet"}
    assert wants_class_retrieval({"retrieval_intra": ["avolnet"]}, meta)
    assert wants_class_retrieval({"retrieval_intra": ["avolnet"]}, {"run": "mine", "method": "avolnet"})
    assert not wants_class_retrieval({}, meta)
    assert not wants_class_retrieval({"retrieval_intra": ["avenet"]}, meta)


def test_avolnet_checkpoint_gives_pair_and_class_rows(tmp_path, moving_squares, tiny_checkpoint):
    """AVOL-Net has no pooled-feature embedding head: its pretext's embeddings (the frame map
    averaged over positions, the audio) feed the same rows; with by_class, the four class
    directions with their chance."""
    moving_squares(tmp_path / "d", n_videos=24)
    ck = tiny_checkpoint(tmp_path / "d", method="avolnet", avolnet={"embed_dim": 8})
    model, meta = load_pretrain_model(ck)
    assert retrieval_embedder(model, meta) is not None
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    preds: list[dict] = []
    rows = retrieval_rows(model=model, meta=meta, downstream=ds, clips_per_video=2, predictions=preds, by_class=True)
    metrics = {r["metric"] for r in rows}
    assert metrics == {f"{d}_r{k}" for d in ("v2a", "a2v", *CLASS_DIRECTIONS) for k in (1, 5, 10)}
    assert all(0 <= r["value"] <= 1 and 0 < r["chance"] <= 1 for r in rows)
    assert {p["direction"] for p in preds} == {"v2a", "a2v", *CLASS_DIRECTIONS}
    plain = retrieval_rows(model=model, meta=meta, downstream=ds, clips_per_video=2)
    assert {r["metric"] for r in plain} == {f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)}


def _rows(metrics: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "method": "avolnet",
                "encoder": "video+audio",
                "backbone": "small3d+vgg_small",
                "downstream": "d",
                "protocol": "retrieval",
                "metric": m,
                "value": 0.5,
                "fold": 1,
                "seed": 0,
                "n_test": 8,
            }
            for m in metrics
        ]
    )


def test_class_rows_reach_the_leaderboard_and_the_retrieval_table_only_when_present():
    from avbench.leaderboard import CLASS_RETRIEVAL_TEXT, render_markdown
    from avbench.tables import retrieval_table

    pair = [f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)]
    both = pair + [f"{d}_r{k}" for d in CLASS_DIRECTIONS for k in (1, 5, 10)]
    assert CLASS_RETRIEVAL_TEXT not in render_markdown(_rows(pair))
    md = render_markdown(_rows(both))
    assert CLASS_RETRIEVAL_TEXT in md and "a2a_r1" in md and "v2a_class_r10" in md
    t = retrieval_table(_rows(both), pd.DataFrame(), {})
    cols = [c for c in t.columns if "R@" in c and not c.endswith("±")]
    assert cols[:3] == ["a2a R@1", "a2a R@5", "a2a R@10"]  # each direction's k in order
    assert {"v2v R@1", "v2a_class R@10", "a2v R@5"} <= set(cols)
    assert list(retrieval_table(_rows(pair), pd.DataFrame(), {}).columns)[3:6] == ["a2v R@1", "a2v R@1 ±", "a2v R@5"]
