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
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    # classes where the points cluster: every query's nearest other item is of its class
    assert class_ranks(x, x, np.array([0, 0, 1, 1])).tolist() == [0, 0, 0, 0]
    # interleaved classes: query 0 (at 0) has item 1 (class 1) nearer than item 2 (class 0, at 10);
    # query 1 (at 1) has items 0 and 2 nearer than item 3, its class
    assert class_ranks(x, x, np.array([0, 1, 0, 1])).tolist() == [1, 2, 2, 1]
    # the query itself (distance 0) is never its own answer, and a class alone gets -1
    assert class_ranks(x, x, np.array([0, 1, 1, 2])).tolist() == [-1, 1, 1, -1]


def test_class_ranks_never_count_the_own_video_and_tie_against_the_query():
    q = np.array([[0.0], [5.0], [9.0]])
    g = np.array([[0.0], [2.0], [-2.0]])  # gallery 0 is query 0's own video: at distance 0, skipped
    lab = np.array([0, 1, 0])
    # query 0: relevant is gallery 2 (d 2); gallery 1 (other class) at d 2 ties -> counts against it
    assert class_ranks(q, g, lab)[0] == 1
    # query 2 (class 0): relevant is gallery 0 (d 9), other-class gallery 1 at d 7 is ahead
    assert class_ranks(q, g, lab)[2] == 1


def test_class_chance_is_the_hypergeometric_hit_rate_of_a_random_ranking():
    lab = np.array([0, 0, 1, 1])
    assert class_chance(lab, 1) == pytest.approx(1 / 3)  # 1 relevant among 3 candidates
    assert class_chance(lab, 3) == 1.0
    lab = np.arange(30) % 3  # 9 relevant of 29 candidates
    assert class_chance(lab, 5) == pytest.approx(1 - math.comb(20, 5) / math.comb(29, 5))
    rng = np.random.default_rng(0)
    draws = [class_ranks(rng.normal(size=(30, 8)), rng.normal(size=(30, 8)), lab) for _ in range(300)]
    hits = np.mean([(r < 5).mean() for r in draws])
    assert hits == pytest.approx(class_chance(lab, 5), abs=0.03)


def _class_world(n: int = 24, n_classes: int = 4, seed: int = 0) -> dict:
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
    ranks: list[dict] = []
    res = retrieval_recalls(emb, sorted(labels), ranks, labels=labels)
    assert res["a2a_r1"] == 1.0  # audio clusters by class: the nearest other audio is of the class
    assert res["v2v_r1"] < 0.6  # random video embeddings: about chance (5 of 23 relevant)
    assert res["chance:a2a_r1"] == pytest.approx(5 / 23)
    # own pair: video is unrelated to audio, so v2a by pair is about 1/24 at k=1
    assert res["v2a_r1"] < 0.3
    directions = {r["direction"] for r in ranks}
    assert directions == {"v2a", "a2v", *CLASS_DIRECTIONS}
    assert all(r["rank"] >= 0 for r in ranks)
    assert sum(r["direction"] == "a2a" for r in ranks) == 48  # 24 queries at each of 2 positions
    # without labels: the rows of today, unchanged
    plain = retrieval_recalls(emb, sorted(labels))
    assert set(plain) == {f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)} | {"n_test", "n_test_clips"}
    assert all(plain[k] == res[k] for k in plain)
    # the per-query ranks give the same recall through the interval machinery (avbench.stats.units)
    pred = pd.DataFrame(ranks).assign(
        method="m", seed=0, encoder="video+audio", downstream="d", protocol="retrieval", fold=1
    )
    u = units(pred)
    a2a = u[u["metric"] == "a2a_r1"]
    assert np.average(a2a["value"], weights=a2a["weight"]) == 1.0


def test_a_class_without_another_video_is_left_out():
    emb, labels = _class_world(n=9, n_classes=4)  # class 0 has 3 videos, classes 1-3 two each
    labels = dict(labels)
    labels["k08"] = 7  # alone in its class
    ranks: list[dict] = []
    retrieval_recalls(emb, sorted(labels), ranks, labels=labels)
    assert not any(r["key"] == "k08" and r["direction"] in CLASS_DIRECTIONS for r in ranks)


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
