"""The temporal visual pretexts of issue 14: sequence sorting (OPN), video jigsaw and playback speed.

For each: the view's label is recoverable from the view itself (frames that carry their own frame
index, and for the jigsaw their row and column), a few optimisation steps on a tiny fixed batch
lower the loss, the views are a function of (seed, epoch, key) only, and one epoch of
:func:`avbench.pretrain.pretrain` on the tiny world reports a held-out pretext accuracy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from avbench.checkpoint import load_encoders
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.jigsaw import cut_tiles, jigsaw_view, permutation_set, tile_shape
from avbench.pretext.sorting import (
    PAIRS,
    SORT_CLASSES,
    pairwise_differences,
    sort_class,
    sorting_positions,
    sorting_view,
)
from avbench.pretext.speed import speed_view
from avbench.shards.loader import collate, item_rng
from avbench.pretrain import pretrain


def indexed(t: int, h: int = 2, w: int = 2) -> dict:
    """A sample whose frame k holds value k in channel 0, its row in channel 1 and its column in channel 2."""
    f = np.zeros((t, h, w, 3), np.uint8)
    f[..., 0] = np.arange(t)[:, None, None]
    f[..., 1] = np.arange(h)[None, :, None]
    f[..., 2] = np.arange(w)[None, None, :]
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 1}
    return {"frames": f, "meta": meta, "mel": None, "flow": None, "key": "v"}


def moving_square(t: int, rng: np.random.Generator, h: int = 24, w: int = 32) -> dict:
    """A bright square moving at a random constant velocity over a noisy background."""
    f = rng.integers(20, 60, size=(t, h, w, 3)).astype(np.uint8)
    y, x = rng.uniform(4, h - 8), rng.uniform(4, w - 8)
    vy, vx = rng.uniform(-0.4, 0.4), rng.uniform(-0.6, 0.6)
    for k in range(t):
        yy, xx = int(y + vy * k) % (h - 4), int(x + vx * k) % (w - 4)
        f[k, yy : yy + 4, xx : xx + 4] = 230
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0}
    return {"frames": f, "meta": meta, "mel": None, "flow": None, "key": "v"}


def fit_steps(cfg: dict, items: list[dict], *, steps: int = 12) -> tuple[list[float], float]:
    """Losses of ``steps`` Adam steps on one fixed batch, and the accuracy after them."""
    torch.manual_seed(0)
    pretext = PRETEXTS[cfg["method"]](cfg, n_classes=2, seed=0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss, logs = pretext.loss(model, batch, epoch=0, generator=gen)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, pretext.heldout_metrics(model, batch, generator=gen)["pretext_acc"]


# -- sequence sorting ------------------------------------------------------------------------------


def test_sort_classes_are_the_twelve_orders_up_to_reversal():
    assert len(SORT_CLASSES) == 12 and len(set(SORT_CLASSES)) == 12
    members: dict[int, set] = {}
    for p in itertools.permutations(range(4)):
        assert sort_class(p) == sort_class(p[::-1])
        members.setdefault(sort_class(p), set()).add(p)
    assert sorted(len(m) for m in members.values()) == [2] * 12
    assert sort_class((0, 1, 2, 3)) == sort_class((3, 2, 1, 0)) == 0


def test_sorting_positions_do_not_overlap():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        p = sorting_positions(20, 4, rng)
        assert (np.diff(p) >= 4).all() and p[0] >= 0 and p[-1] + 4 <= 20
        seen.add(tuple(p.tolist()))
    assert len(seen) > 30  # C(8, 4) = 70 placements
    assert sorting_positions(16, 4, rng).tolist() == [0, 4, 8, 12]  # the only one
    with pytest.raises(ValueError):
        sorting_positions(15, 4, rng)


def test_sorting_label_is_the_order_shown():
    sample = indexed(60)
    classes, reversed_too = set(), set()
    for i in range(300):
        item = sorting_view(sample, np.random.default_rng(i), snippet_frames=4, window_frames=24, motion_sampling=False)
        v = item["video_snippets"][..., 0, 0, 0].astype(int)  # (4 slots, 4 frames): frame indices
        assert v.shape == (4, 4) and (np.diff(v, axis=1) == 1).all()  # each snippet is consecutive frames
        assert item["start"] <= v.min() and v.max() < item["start"] + 24
        shown = np.argsort(np.argsort(v[:, 0]))  # slot j holds the sorted sequence's element shown[j]
        assert shown.tolist() == item["perm"].tolist()
        assert item["order"] == sort_class(shown)
        classes.add(item["order"])
        reversed_too.add((item["order"], bool(shown[0] < shown[-1])))
    assert classes == set(range(12)) and len(reversed_too) == 24  # every order, read both ways
    pairs = sorting_view(
        sample, np.random.default_rng(7), snippet_frames=4, window_frames=24, motion_sampling=False, fusion="pairs"
    )
    one = sorting_view(sample, np.random.default_rng(7), snippet_frames=4, window_frames=24, motion_sampling=False)
    assert pairs["video_snippets"].shape == (6, 8, 2, 2, 3) and pairs["order"] == one["order"]
    for k, (i, j) in enumerate(PAIRS):
        s = one["video_snippets"]
        assert np.array_equal(pairs["video_snippets"][k], np.concatenate([s[i], s[j]]))


def test_pairwise_differences_known_answer():
    f = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]])  # (B=1, N=3, D=2)
    # (f0 - f1, f0 - f2, f1 - f2)
    assert pairwise_differences(f).tolist() == [[1.0, -2.0, -2.0, -1.0, -3.0, 1.0]]


# -- video jigsaw ----------------------------------------------------------------------------------


def test_permutation_set_is_fixed_distinct_and_far_apart():
    p = permutation_set(8, 32)
    assert p.shape == (32, 8) and len({tuple(r) for r in p.tolist()}) == 32
    assert all(sorted(r) == list(range(8)) for r in p.tolist())
    assert p[0].tolist() == list(range(8))
    d = (p[:, None] != p[None]).sum(-1)
    assert d[~np.eye(32, dtype=bool)].min() >= 6  # greedy max-min: 7 here
    permutation_set.cache_clear()
    assert np.array_equal(permutation_set(8, 32), p)  # recomputed: the same set
    assert len({tuple(r) for r in permutation_set(4, 24).tolist()}) == 24  # all of them
    with pytest.raises(ValueError):
        permutation_set(3, 7)


def test_tiles_cover_their_cells():
    clip = indexed(16, 30, 40)["frames"]
    tiles = cut_tiles(clip, (2, 2, 2), 2, np.random.default_rng(0))
    assert tiles.shape == (8, 8, 13, 18, 3) and tile_shape((16, 30, 40), (2, 2, 2), 2) == (8, 13, 18)
    for i, (t, r, c) in enumerate(itertools.product(range(2), range(2), range(2))):
        assert tiles[i, 0, 0, 0, 0] == 8 * t
        assert 15 * r <= tiles[i, 0, 0, 0, 1] <= 15 * r + 2 and 20 * c <= tiles[i, 0, 0, 0, 2] <= 20 * c + 2
    with pytest.raises(ValueError):
        tile_shape((16, 4, 40), (2, 2, 2), 2)


def test_jigsaw_label_is_the_permutation_applied():
    sample = indexed(40, 30, 40)
    perms = permutation_set(8, 32)
    seen = set()
    for i in range(200):
        item = jigsaw_view(
            sample,
            np.random.default_rng(i),
            clip_frames=16,
            grid=(2, 2, 2),
            gap=2,
            permutations=perms,
            motion_sampling=False,
        )
        tiles = item["video_tiles"].astype(int)
        assert tiles.shape == (8, 8, 13, 18, 3)
        t0 = tiles[:, 0, 0, 0, 0] - item["start"]
        cell = (t0 // 8) * 4 + (tiles[:, 0, 0, 0, 1] // 15) * 2 + tiles[:, 0, 0, 0, 2] // 20
        assert cell.tolist() == perms[item["perm"]].tolist()  # slot j holds tile perm[j]
        seen.add(item["perm"])
    assert len(seen) == 32


# -- playback speed --------------------------------------------------------------------------------


def test_speed_label_is_the_stride():
    sample = indexed(40)
    seen = set()
    for i in range(100):
        item = speed_view(sample, np.random.default_rng(i), clip_frames=8, strides=(1, 2, 4), motion_sampling=True)
        v = item["video_speed"][:, 0, 0, 0].astype(int)
        assert len(v) == 8 and v[0] == item["start"]
        assert (np.diff(v) == (1, 2, 4)[item["speed"]]).all()
        seen.add(item["speed"])
    assert seen == {0, 1, 2}


def test_speed_needs_the_window_of_the_largest_stride(cfg_for):
    pretext = PRETEXTS["speed"](cfg_for("speed", clip_frames=8, speed={"strides": [1, 2, 4]}), n_classes=2, seed=0)
    assert pretext.span() == 29
    assert pretext.usable({"n_frames": 29}) and not pretext.usable({"n_frames": 28})
    with pytest.raises(ValueError):
        PRETEXTS["speed"](cfg_for("speed", speed={"strides": [2, 2]}), n_classes=2, seed=0)


# -- all three ---------------------------------------------------------------------------------------

SETTINGS = {
    "sorting": {"sorting": {"snippet_frames": 4, "window_frames": 20}},
    "jigsaw": {"jigsaw": {"grid": [2, 2, 2], "gap": 2, "n_permutations": 24}},
    "speed": {"speed": {"strides": [1, 2, 4]}},
}


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_views_depend_on_seed_epoch_and_key_only(method, cfg_for):
    pretext = PRETEXTS[method](cfg_for(method, **SETTINGS[method]), n_classes=2, seed=0)
    sample = moving_square(64, np.random.default_rng(1))
    a = pretext.view(2)(sample, item_rng(5, 2, "v001"))
    b = pretext.view(2)(sample, item_rng(5, 2, "v001"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    others = [pretext.view(e)(sample, item_rng(5, e, k)) for e, k in ((3, "v001"), (2, "v002"), (2, "v003"))]
    assert any(not all(np.array_equal(a[k], o[k]) for k in a) for o in others)
    h1, h2 = (
        pretext.heldout_view()(sample, item_rng(5, 0, "v001")),
        pretext.heldout_view()(sample, item_rng(5, 0, "v001")),
    )
    assert all(np.array_equal(h1[k], h2[k]) for k in h1)


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_a_few_steps_fit_a_tiny_batch(method, cfg_for):
    cfg = cfg_for(method, channels=[8, 16, 16, 16], **SETTINGS[method])
    pretext = PRETEXTS[method](cfg, n_classes=2, seed=0)
    rng = np.random.default_rng(0)
    items = [pretext.view(0)(moving_square(64, rng), item_rng(0, 0, f"v{i}")) for i in range(8)]
    losses, acc = fit_steps(cfg, items)
    n_classes = {"sorting": 12, "jigsaw": 24, "speed": 3}[method]
    assert losses[0] == pytest.approx(math.log(n_classes), rel=0.35)  # about chance at the start
    assert np.mean(losses[-3:]) < losses[0] - 0.3
    assert acc > 0.5


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_one_epoch_reports_the_heldout_pretext_accuracy(method, tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=10, flow=False)
    cfg = cfg_for(method, channels=[4, 4, 8, 8], epochs=1, batch_size=4, clips_per_video=1, **SETTINGS[method])
    pretrain(run=method, cfg=cfg, shard_dir=shards, out_dir=tmp_path / method, seed=0, progress=False, threads=1)
    m = pd.read_csv(tmp_path / method / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all() and 0.0 <= m["val_pretext_acc"].iloc[-1] <= 1.0
    encoders, meta = load_encoders(tmp_path / method / "checkpoint.pt")  # what evaluation reads
    assert set(encoders) == {"video"} and meta["method"] == method
    assert encoders["video"](torch.rand(2, 3, 8, 24, 32)).shape == (2, 8)
