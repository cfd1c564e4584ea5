"""Mask propagation (the DAVIS protocol) on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.evaluate.propagation import (
    copy_first,
    encoder_features,
    evaluate_sequences,
    f_measure,
    jaccard,
    pixel_features,
    propagate,
    score_sequence,
)
from avbench.models.video import Small3D


def _square(size: int, x: int, y: int, side: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[y : y + side, x : x + side] = True
    return m


def test_jaccard_of_known_overlaps():
    a = _square(40, 0, 0, 10)
    assert jaccard(a, a) == 1.0
    assert jaccard(a, _square(40, 5, 0, 10)) == pytest.approx(50 / 150)  # half the square shifted over
    assert jaccard(a, _square(40, 20, 20, 10)) == 0.0
    assert jaccard(np.zeros((8, 8)), np.zeros((8, 8))) == 1.0  # absent in both: DAVIS counts it right


def test_boundary_f_measure_tolerates_a_pixel_not_a_shift():
    gt = _square(100, 30, 30, 40)
    assert f_measure(gt, gt) == 1.0
    # tolerance ceil(0.008 * diagonal) = 2 px at 100x100: one pixel off is still a perfect boundary
    assert f_measure(_square(100, 31, 30, 40), gt) == 1.0
    far = f_measure(_square(100, 40, 30, 40), gt)  # 10 px off: only the horizontal edges still match
    assert 0.2 < far < 0.7
    assert f_measure(np.zeros((100, 100), bool), gt) == 0.0
    assert f_measure(np.zeros((9, 9), bool), np.zeros((9, 9), bool)) == 1.0


def test_sequence_scores_skip_the_given_first_and_the_last_frame():
    gt = np.stack([_square(32, 4, 4, 8).astype(int)] * 4)
    pred = gt.copy()
    pred[0] = 0  # not scored (given)
    pred[3] = 0  # not scored (DAVIS leaves the last frame out)
    assert score_sequence(pred, gt) == {1: {"j": 1.0, "f": 1.0}}
    pred[1] = 0
    s = score_sequence(pred, gt)[1]
    assert s["j"] == pytest.approx(0.5) and s["f"] == pytest.approx(0.5)


def _moving_square_video(T: int = 10, size: int = 48, side: int = 12, step: int = 2, seed: int = 0):
    """A red textured square gliding right over a grey-green textured background; its mask per frame."""
    rng = np.random.default_rng(seed)
    bg = (rng.integers(60, 110, (size, size + T * step, 3))).astype(np.uint8)
    bg[..., 1] += 40
    tex = rng.integers(0, 40, (side, side)).astype(np.uint8)
    frames, masks = [], []
    for t in range(T):
        img = bg[:, t : t + size].copy()  # a slow background drift as well
        x = 6 + t * step
        img[16 : 16 + side, x : x + side] = np.stack([200 + tex // 2, 30 + tex, 30 + tex], -1)
        frames.append(img)
        masks.append(_square(size, x, 16, side).astype(np.int64))
    return np.stack(frames), np.stack(masks)


def test_identity_propagation_is_exact():
    frames, masks = _moving_square_video(T=1)
    frames, masks = np.repeat(frames, 5, 0), np.repeat(masks, 5, 0)  # a still video
    pred = propagate(pixel_features(frames, stride=1), masks[0])
    assert np.array_equal(pred, masks)
    scores, _ = evaluate_sequences(
        [{"id": "still", "frames": frames, "masks": masks}], lambda f: pixel_features(f, stride=1)
    )
    assert scores["j_mean"] == 1.0 and scores["f_mean"] == 1.0


def test_colour_features_follow_a_moving_square_that_copying_the_first_mask_loses():
    frames, masks = _moving_square_video()
    seq = [{"id": "sq", "frames": frames, "masks": masks}]
    tracked, _ = evaluate_sequences(seq, lambda f: pixel_features(f, stride=2))
    held, _ = evaluate_sequences(seq, None)
    assert tracked["j_mean"] > 0.75 and tracked["f_mean"] > 0.75
    assert held["j_mean"] < 0.45  # the square leaves its first place within a few frames
    assert tracked["j_mean"] > held["j_mean"] + 0.3
    assert np.array_equal(copy_first(masks[0], 3)[2], masks[0])


def test_encoder_features_have_one_map_per_frame_and_propagate():
    torch.manual_seed(0)
    enc = Small3D(channels=(8, 16, 32, 32))
    frames, masks = _moving_square_video(T=6)
    f = encoder_features(enc, clip_frames=4)(frames)
    assert f.shape == (6, 16, 12, 12)  # stride 4 after the second block
    pred = propagate(f, masks[0])
    assert pred.shape == masks.shape and set(np.unique(pred)) <= {0, 1}


def test_rows_and_table_carry_intervals_over_sequences_and_a_paired_verdict():
    from avbench.evaluate.propagation import per_object_frame, propagation_rows, propagation_table

    rng = np.random.default_rng(0)
    seqs = [f"s{i}" for i in range(12)]
    good = per_object_frame({s: {1: {"j": 0.8 + 0.1 * rng.uniform(), "f": 0.7 + 0.1 * rng.uniform()}} for s in seqs})
    bad = per_object_frame({s: {1: {"j": 0.3 + 0.1 * rng.uniform(), "f": 0.2 + 0.1 * rng.uniform()}} for s in seqs})
    same = good.copy()
    rows = propagation_rows(
        good, method="r", pretext="avts", backbone="small3d", pretrain_data="synth", dataset="davis_synth"
    )
    assert list(rows["metric"]) == ["j_mean", "f_mean", "jf_mean"] and (rows["protocol"] == "propagation").all()
    assert ((rows["lo"] <= rows["value"]) & (rows["value"] <= rows["hi"]) & (rows["hi"] - rows["lo"] > 0)).all()
    assert rows["n_test"].iloc[0] == 12
    table = propagation_table({"bad": bad, "good": good, "same": same}, dataset="davis_synth", reference="bad")
    t = table.set_index("run")
    assert t.loc["good", "verdict"] == "reproduced" and t.loc["good", "jf_diff_lo"] > 0.3
    assert t.loc["same", "jf_diff"] == pytest.approx(t.loc["good", "jf_diff"])
    assert "verdict" not in t.columns or not isinstance(t.loc["bad", "verdict"], str)
    # a run against itself: the paired difference is exactly 0 with a zero-width interval
    self_table = propagation_table({"good": good, "same": same}, dataset="davis_synth", reference="good")
    s = self_table.set_index("run").loc["same"]
    assert s["jf_diff"] == 0 and s["jf_diff_lo"] == 0 and s["jf_diff_hi"] == 0 and s["verdict"] == "inconclusive"
