"""Cycle-consistent tracking (the contrastive random walk): exact round trips on features that track
a known shift, edge dropout, a few steps of training and one epoch of the real training loop whose
encoder mask propagation reads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from avbench.checkpoint import load_encoders
from avbench.evaluate.propagation import encoder_features
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.cycle import cycle_accuracy, cycle_loss, frame_maps, round_trips, transition
from avbench.pretrain import pretrain
from avbench.shards.loader import clip_view, collate, item_rng


def _tracked_points(n: int, frames: int, shift: int) -> torch.Tensor:
    """(1, frames, C=n, n): position j of frame t shows scene point (j - shift * t) mod n (one-hot),
    i.e. every point moves ``shift`` positions per frame."""
    f = torch.zeros(1, frames, n, n)
    for t in range(frames):
        for j in range(n):
            f[0, t, (j - shift * t) % n, j] = 1.0
    return f


def test_round_trips_on_tracked_points_are_exact():
    """One-hot features: each step puts p = e^(1/tau) / (e^(1/tau) + n - 1) on the moved point and
    q = 1 / (e^(1/tau) + n - 1) elsewhere, so a 2k-step palindrome returns with probability
    (p - q)^(2k) + (1 - (p - q)^(2k)) / n, whatever the shift."""
    n, frames, tau = 7, 4, 0.5
    feats = _tracked_points(n, frames, shift=2)
    trips = round_trips(feats, tau)
    assert len(trips) == frames - 1
    e = math.exp(1 / tau)
    p, q = e / (e + n - 1), 1 / (e + n - 1)
    for k, pk in enumerate(trips, start=1):
        d = (p - q) ** (2 * k)
        expect = torch.full((n, n), (1 - d) / n) + d * torch.eye(n)
        assert torch.allclose(pk[0], expect, atol=1e-6), k
        assert torch.allclose(pk.sum(-1), torch.ones(1, n), atol=1e-6)
    # the forward step follows the shift: node j of frame 0 goes to node j + 2 of frame 1
    a = transition(feats[:, 0], feats[:, 1], tau)
    assert a[0].argmax(-1).tolist() == [(j + 2) % n for j in range(n)]
    # at a low temperature every walk comes back: accuracy 1, loss near 0
    cold = round_trips(feats, 0.01)
    assert cycle_accuracy(cold[-1]) == 1.0 and float(cycle_loss(cold)) < 1e-4


def test_features_that_do_not_track_lose_the_walker():
    """Every position of every frame alike: the walk is uniform, the round trip 1/n, the loss log n."""
    n = 9
    feats = torch.ones(2, 3, 4, n)
    trips = round_trips(feats, 0.07)
    assert torch.allclose(trips[-1], torch.full((2, n, n), 1 / n), atol=1e-6)
    assert math.isclose(float(cycle_loss(trips)), math.log(n), rel_tol=1e-5)


def test_edge_dropout_keeps_rows_stochastic():
    feats = torch.randn(2, 4, 8, 30)
    g = torch.Generator().manual_seed(0)
    trips = round_trips(feats, 0.07, edge_dropout=0.5, generator=g)
    for p in trips:
        assert torch.isfinite(p).all() and torch.allclose(p.sum(-1), torch.ones(2, 30), atol=1e-5)
    a = transition(torch.randn(1, 8, 30), torch.randn(1, 8, 30), 0.1, edge_dropout=0.5, generator=g)
    assert 0.3 < float((a[0] == 0).float().mean()) < 0.7  # about half the edges cut


def test_frame_maps_are_the_maps_of_each_frames_clip():
    stage = lambda x: x[:, :2, :, ::2, ::2]  # noqa: E731  (a stand-in stage: channels 0-1, stride 2)
    video = torch.arange(2 * 3 * 7 * 4 * 4, dtype=torch.float32).reshape(2, 3, 7, 4, 4)
    maps = frame_maps(stage, video, 3)
    assert maps.shape == (2, 5, 2, 2, 2)
    assert torch.allclose(maps[1, 4], video[1, :2, 4:7, ::2, ::2].mean(1))


def _moving_blobs(rng: np.random.Generator, t: int = 12, h: int = 24, w: int = 32) -> dict:
    """Two coloured squares moving over a grey textured background that pans by a pixel a frame
    (a static background would be blank to the encoder, which subtracts each clip's mean frame)."""
    tex = np.repeat(rng.integers(60, 180, size=(h, w, 1)).astype(np.uint8), 3, -1)
    f = np.stack([np.roll(tex, k, axis=1) for k in range(t)])
    for col in ((230, 40, 40), (40, 60, 230)):
        y, x = rng.uniform(2, h - 8), rng.uniform(2, w - 8)
        vy, vx = rng.uniform(-0.6, 0.6), rng.uniform(-0.9, 0.9)
        for k in range(t):
            yy, xx = int(y + vy * k) % (h - 6), int(x + vx * k) % (w - 6)
            f[k, yy : yy + 6, xx : xx + 6] = col
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0}
    return {"frames": f, "meta": meta, "mel": None, "flow": None, "key": "v"}


def test_a_few_steps_lower_the_loss(cfg_for):
    cfg = cfg_for("crw", channels=[8, 16, 16, 16], crw={"walk_frames": 4, "map_frames": 3})
    torch.manual_seed(0)
    pretext = PRETEXTS["crw"](cfg, n_classes=1, seed=0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    rng = np.random.default_rng(0)
    items = [clip_view(_moving_blobs(rng), item_rng(0, i, "v"), clip_frames=6, audio=False) for i in range(8)]
    batch = to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(0.0, 1.0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(15):
        loss, logs = pretext.loss(model, batch, epoch=0, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])
    m = pretext.heldout_metrics(model, batch, generator=gen)
    assert {"pretext_acc", "step_acc", "chance", "cycle_loss"} <= set(m)
    assert m["pretext_acc"] > 5 * m["chance"]  # 48 nodes of a 6 x 8 map: chance 1/48


def test_one_epoch_trains_an_encoder_that_propagation_reads(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=10, flow=False)
    cfg = cfg_for("crw", channels=[4, 4, 8, 8], epochs=1, batch_size=4, clips_per_video=1)
    pretrain(run="crw", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "c", seed=0, progress=False, threads=1)
    m = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all()
    assert {"val_pretext_acc", "val_step_acc", "val_cycle_loss"} <= set(m.columns)
    encoders, meta = load_encoders(tmp_path / "c" / "checkpoint.pt")
    assert set(encoders) == {"video"} and meta["method"] == "crw"
    frames = np.zeros((6, 24, 32, 3), np.uint8)
    assert encoder_features(encoders["video"])(frames).shape[0] == 6
