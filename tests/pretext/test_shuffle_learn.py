"""Shuffle & Learn: tuple construction with known properties, motion-based window sampling, and
learning on the tiny world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avbench.pretext.motion import frame_motion, motion_weighted_choice, window_motion
from avbench.pretext.shuffle_learn import is_ordered, order_tuples, shuffle_learn_view
from avbench.pretrain import pretrain


def test_order_tuples_share_the_ends_and_differ_in_the_middle():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pos, neg = order_tuples(9, rng)
        assert is_ordered(pos) and not is_ordered(neg)
        assert {pos[0], pos[2]} == {neg[0], neg[2]}  # same ends: only the middle tells them apart
        assert len(set(pos.tolist())) == 3 and len(set(neg.tolist())) == 3
        assert pos.min() >= 0 and max(pos.max(), neg.max()) < 9
    assert is_ordered(np.array([5, 3, 1])) and not is_ordered(np.array([1, 5, 3]))
    with pytest.raises(ValueError):
        order_tuples(4, rng)


def test_both_reading_directions_and_both_outside_sides_occur():
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(300):
        pos, neg = order_tuples(12, rng)
        lo, hi = sorted((neg[0], neg[2]))
        kinds.add((bool(pos[0] < pos[2]), bool(neg[1] < lo)))
    assert kinds == {(True, True), (True, False), (False, True), (False, False)}


def test_motion_sampling_prefers_moving_windows():
    frames = np.zeros((30, 4, 4, 3), np.uint8)
    frames[20:26] = np.arange(6)[:, None, None, None] * 40  # only frames 20-25 change
    m = frame_motion(frames)
    assert m.shape == (29,) and m[:19].sum() == 0 and m[20] > 0
    starts = list(range(0, 25))
    score = window_motion(m, starts, 6)
    assert score[20] == pytest.approx(m[20:25].sum()) and score[0] == 0
    rng = np.random.default_rng(0)
    picks = [motion_weighted_choice(starts, score, rng) for _ in range(500)]
    assert np.mean([15 <= p <= 25 for p in picks]) > 0.8  # 11 of 25 starts overlap the motion


def test_view_cuts_snippets_of_one_window():
    t = 40
    frames = np.tile(np.arange(t, dtype=np.uint8)[:, None, None, None], (1, 2, 2, 3))
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 1}
    sample = {"frames": frames, "meta": meta}
    item = shuffle_learn_view(
        sample,
        np.random.default_rng(3),
        snippet_frames=4,
        window_frames=12,
        motion_sampling=False,
        pairing="independent",
    )
    assert item["video_pos"].shape == (3, 4, 2, 2, 3) and item["video_neg"].shape == (3, 4, 2, 2, 3)
    first = item["video_pos"][:, 0, 0, 0, 0].astype(int)  # frame k holds value k: the snippets' starts
    assert is_ordered(first) and not is_ordered(item["video_neg"][:, 0, 0, 0, 0].astype(int))
    for tup in (item["video_pos"], item["video_neg"]):
        s = tup[:, :, 0, 0, 0].astype(int)
        assert (np.diff(s, axis=1) == 1).all()  # each snippet is consecutive frames
        assert item["start"] <= s.min() and s.max() < item["start"] + 12
    pairs = shuffle_learn_view(
        sample, np.random.default_rng(3), snippet_frames=4, window_frames=12, motion_sampling=False, pairing="pairs"
    )
    assert pairs["video_pos"].shape == (2, 8, 2, 2, 3)
    for tup, three in ((pairs["video_pos"], item["video_pos"]), (pairs["video_neg"], item["video_neg"])):
        assert np.array_equal(tup[0], np.concatenate([three[0], three[1]]))  # a|b
        assert np.array_equal(tup[1], np.concatenate([three[1], three[2]]))  # b|c


def test_shuffle_learn_learns_order(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    cfg = cfg_for("shuffle_learn", shuffle_learn={"snippet_frames": 4, "window_frames": 16})
    pretrain(run="sl", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "sl", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "sl" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.05
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.65  # chance 0.5
