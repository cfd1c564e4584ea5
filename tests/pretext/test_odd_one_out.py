"""Odd-One-Out: question construction and sum-of-differences fusion with known answers, and
learning on the tiny world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from avbench.pretext.odd_one_out import (
    OddOneOutHead,
    odd_one_out_view,
    odd_question,
    shuffled_order,
    sum_of_differences,
)
from avbench.pretrain import pretrain


def test_shuffled_order_is_neither_forward_nor_backward():
    rng = np.random.default_rng(0)
    for n in (3, 4, 8):
        for _ in range(100):
            p = shuffled_order(n, rng)
            assert sorted(p.tolist()) == list(range(n))
            assert p.tolist() not in (list(range(n)), list(range(n))[::-1])


def test_question_has_exactly_one_shuffled_clip():
    rng = np.random.default_rng(1)
    odds = []
    for _ in range(200):
        idx, odd = odd_question(list(range(20)), n_clips=4, clip_frames=5, stride=2, rng=rng)
        d = np.diff(idx, axis=1)
        ordered = (d == 2).all(1)
        assert ordered.sum() == 3 and not ordered[odd]
        assert sorted((idx[odd] - idx[odd].min()).tolist()) == [0, 2, 4, 6, 8]  # same frames, other order
        odds.append(odd)
    assert set(odds) == {0, 1, 2, 3}


def test_sum_of_differences_known_answer():
    f = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]])  # (B=1, N=3, D=2)
    # sum_{i<j} (f_j - f_i) = (f1 - f0) + (f2 - f0) + (f2 - f1) = 2 f2 - 2 f0
    assert sum_of_differences(f).tolist() == [[4.0, 2.0]]
    head = OddOneOutHead(dim=2, n_clips=3, fusion="concat")
    assert head(f).shape == (1, 3)
    with pytest.raises(ValueError):
        OddOneOutHead(dim=2, n_clips=3, fusion="max")


def test_view_stacks_the_clips():
    t = 30
    frames = np.tile(np.arange(t, dtype=np.uint8)[:, None, None, None], (1, 2, 2, 3))
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0}
    item = odd_one_out_view(
        {"frames": frames, "meta": meta},
        np.random.default_rng(0),
        n_clips=4,
        clip_frames=4,
        stride=2,
        motion_sampling=True,
    )
    v = item["video_clips"][:, :, 0, 0, 0].astype(int)
    assert v.shape == (4, 4)
    ordered = (np.diff(v, axis=1) == 2).all(1)
    assert ordered.sum() == 3 and not ordered[item["odd"]]


def test_odd_one_out_learns(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    cfg = cfg_for("odd_one_out", odd_one_out={"n_clips": 3, "clip_frames": 6, "stride": 2, "fusion": "sod"})
    pretrain(run="o3n", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "o3n", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "o3n" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.1
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.55  # chance 1/3
