"""Cross-modal retrieval: recall@k on known embeddings, and the rows of an embedding checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.evaluate.downstream import Downstream
from avbench.evaluate.retrieval import embeds_both, load_pretrain_model, recall_at_k, retrieval_recalls, retrieval_rows


def test_identity_pairing_gives_recall_one():
    x = np.random.default_rng(0).normal(size=(50, 8))
    assert recall_at_k(x, x) == {1: 1.0, 5: 1.0, 10: 1.0}


def test_random_pairing_gives_k_over_n():
    rng = np.random.default_rng(0)
    n, reps = 100, 20
    got = {1: 0.0, 5: 0.0, 10: 0.0}
    for _ in range(reps):
        r = recall_at_k(rng.normal(size=(n, 16)), rng.normal(size=(n, 16)))
        for k in got:
            got[k] += r[k] / reps
    for k, v in got.items():
        assert v == pytest.approx(k / n, abs=0.03)


def test_recall_counts_ranks_and_ties_against_the_query():
    q = np.array([[0.0], [10.0], [20.0]])
    g = np.array([[1.0], [10.0], [21.0]])  # query 0's match is at distance 1, nothing else closer
    assert recall_at_k(q, g, ks=(1,))[1] == 1.0
    g2 = np.array([[5.0], [5.0], [5.0]])  # everything ties: no query is uniquely first
    assert recall_at_k(q, g2, ks=(1, 3)) == {1: 0.0, 3: 1.0}


def test_recalls_average_over_clip_positions_and_keep_to_the_test_keys():
    rng = np.random.default_rng(1)
    keys = [f"k{i}" for i in range(6)] * 2
    clip = np.array([0] * 6 + [1] * 6)
    v = rng.normal(size=(12, 4))
    a = v.copy()
    a[6:] = rng.normal(size=(6, 4)) * 100  # position 1: audio unrelated to video
    emb = {"video": v, "audio": a, "key": keys, "clip": clip}
    res = retrieval_recalls(emb, ["k0", "k1", "k2", "k3"])
    assert res["n_test"] == 4 and res["n_test_clips"] == 8
    assert 0.5 <= res["v2a_r1"] < 1.0  # perfect at position 0, at chance at position 1
    assert res["v2a_r5"] == 1.0  # k >= N


def test_embedding_checkpoint_gives_retrieval_rows(tmp_path, moving_squares, tiny_checkpoint):
    moving_squares(tmp_path / "d", n_videos=24)
    ck = tiny_checkpoint(tmp_path / "d", method="avts")
    model, meta = load_pretrain_model(ck)
    assert embeds_both(model)
    state = torch.load(ck, weights_only=False)["head"]
    assert all(torch.equal(v, model.head.state_dict()[k]) for k, v in state.items())
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    rows = retrieval_rows(model=model, meta=meta, downstream=ds, clips_per_video=2)
    assert {r["fold"] for r in rows} == {1, 2, 3}
    assert {r["metric"] for r in rows} == {f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)}
    assert all(r["n_test"] == 8 and 0 <= r["value"] <= 1 and r["protocol"] == "retrieval" for r in rows)
    assert all(r["value"] == 1.0 for r in rows if r["metric"].endswith("r10"))  # 8 test videos


def test_checkpoint_without_embedding_head_gives_no_rows(tmp_path, moving_squares, tiny_checkpoint):
    moving_squares(tmp_path / "d", n_videos=12)
    model, meta = load_pretrain_model(tiny_checkpoint(tmp_path / "d", method="supervised"))
    assert not embeds_both(model)
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    assert retrieval_rows(model=model, meta=meta, downstream=ds, clips_per_video=1) == []


def test_retrieval_embeddings_are_cached_per_pretext_model_and_shard_set(
    tmp_path, moving_squares, tiny_checkpoint, capsys
):
    """A second evaluation reads the embeddings back (no forward pass) and gives the same recalls and
    ranks as computing them; another head (same encoders) gets its own entry."""
    from avbench.checkpoint import load_checkpoint
    from avbench.evaluate.run import feature_cache

    moving_squares(tmp_path / "d", n_videos=12)
    ck = load_checkpoint(tiny_checkpoint(tmp_path / "d", method="avts"))
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    cache = feature_cache(tmp_path / "cache", ck, ds)
    assert cache.model and cache.data == ds.manifest_hash

    def rows(use_cache):
        model, meta = load_pretrain_model(ck)
        calls = []
        forward = model.head.embed_video
        model.head.embed_video = lambda x: calls.append(len(x)) or forward(x)
        preds = []
        out = retrieval_rows(
            model=model,
            meta=meta,
            downstream=ds,
            clips_per_video=2,
            predictions=preds,
            cache=cache if use_cache else None,
        )
        return out, preds, len(calls)

    plain, plain_preds, n_plain = rows(False)
    first, first_preds, n_first = rows(True)
    assert n_plain > 0 and n_first == n_plain and "computed, cached" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        p.name for p in (tmp_path / "cache").glob("retrieval-*")
    ]
    again, again_preds, n_again = rows(True)
    assert n_again == 0 and "from the cache" in capsys.readouterr().out
    assert plain and first == plain and again == plain  # identical recalls (floats compared exactly)
    assert first_preds == plain_preds and again_preds == plain_preds

    other = {**ck, "head": {k: v + 1 if v.is_floating_point() else v for k, v in ck["head"].items()}}
    assert feature_cache(tmp_path / "cache", other, ds).model != cache.model
