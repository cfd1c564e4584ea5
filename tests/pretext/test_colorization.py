"""Colorization as tracking: colour classes, the copy through attention, its views, a few steps
of training and one epoch of the real training loop whose encoder mask propagation can read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from avbench.checkpoint import load_encoders
from avbench.evaluate.propagation import encoder_features
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.colorization import colorization_view, copy_colors, quantize_colors
from avbench.shards.loader import collate, item_rng
from avbench.pretrain import pretrain


def test_colour_classes_separate_hues_and_put_greys_in_the_middle():
    rgb = torch.tensor(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 1.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.1, 0.1, 0.1],
            [0.9, 0.9, 0.9],
        ]
    ).T.reshape(1, 3, 1, 7)
    q = quantize_colors(rgb, 4)[0, 0].tolist()
    assert len(set(q[:4])) == 4  # red, green, blue, yellow: four classes
    assert q[4] == q[5] == q[6]  # greys of any luminance: one class (luminance is the input)
    assert all(0 <= v < 16 for v in q)


def test_perfect_correspondence_copies_the_moved_colours_exactly():
    """Features that name the scene point at each position (a known shift between the two frames):
    the attention copies each target position's colour from where that point was."""
    n = 12
    ref_colors = torch.arange(n) % 5
    shift = torch.roll(torch.arange(n), 3)  # target position i shows scene point shift[i]
    f_ref = torch.eye(n)[None].reshape(1, n, 1, n)  # (B, C=n, h=1, w=n): position j is point j
    f_tgt = torch.eye(n)[shift].T[None].reshape(1, n, 1, n)  # position i is point shift[i]
    probs = copy_colors(f_tgt, f_ref, ref_colors.reshape(1, 1, n), 5, temperature=0.01)
    assert torch.equal(probs.argmax(-1)[0], ref_colors[shift])
    assert torch.allclose(probs.sum(-1), torch.ones(1, n))


def test_the_view_cuts_two_clips_gap_frames_apart():
    t = 30
    f = np.zeros((t, 2, 2, 3), np.uint8)
    f[..., 0] = np.arange(t)[:, None, None]
    sample = {
        "frames": f,
        "meta": {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0},
        "mel": None,
        "flow": None,
        "key": "v",
    }
    gaps = set()
    for i in range(40):
        v = colorization_view(sample, item_rng(0, i, "v"), map_frames=4, max_gap=6, motion_sampling=False)
        k0 = int(v["video_ref"][0, 0, 0, 0])
        assert list(v["video_ref"][:, 0, 0, 0]) == list(range(k0, k0 + 4))
        assert list(v["video_tgt"][:, 0, 0, 0]) == list(range(k0 + v["gap"], k0 + v["gap"] + 4))
        gaps.add(v["gap"])
    assert gaps == set(range(1, 7))
    # 8 frames hold a reference and a target 4 frames apart at most: longer gaps give no item
    short = {
        **sample,
        "frames": f[:8],
        "meta": {**sample["meta"], "n_frames": 8, "frame_times": sample["meta"]["frame_times"][:8]},
    }
    views = [
        colorization_view(short, item_rng(0, i, "v"), map_frames=4, max_gap=6, motion_sampling=False) for i in range(30)
    ]
    assert {v["gap"] for v in views if v is not None} <= set(range(1, 5)) and None in views


def _moving_blobs(rng: np.random.Generator, t: int = 14, h: int = 24, w: int = 32) -> dict:
    """Two coloured squares moving over a grey textured background."""
    f = np.repeat(rng.integers(90, 140, size=(1, h, w, 1)).astype(np.uint8), 3, -1).repeat(t, 0)
    for col in ((230, 40, 40), (40, 60, 230)):
        y, x = rng.uniform(2, h - 8), rng.uniform(2, w - 8)
        vy, vx = rng.uniform(-0.5, 0.5), rng.uniform(-0.8, 0.8)
        for k in range(t):
            yy, xx = int(y + vy * k) % (h - 6), int(x + vx * k) % (w - 6)
            f[k, yy : yy + 6, xx : xx + 6] = col
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0}
    return {"frames": f, "meta": meta, "mel": None, "flow": None, "key": "v"}


def test_a_few_steps_lower_the_loss(cfg_for):
    cfg = cfg_for("colorization", channels=[8, 16, 16, 16], colorization={"max_gap": 4})
    torch.manual_seed(0)
    pretext = PRETEXTS["colorization"](cfg, n_classes=2, seed=0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    rng = np.random.default_rng(0)
    items = [
        colorization_view(_moving_blobs(rng), item_rng(0, i, "v"), map_frames=4, max_gap=4, motion_sampling=False)
        for i in range(8)
    ]
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
    assert set(m) == {"pretext_acc", "copy_acc", "moved_acc"} and 0 <= m["pretext_acc"] <= 1


def test_one_epoch_trains_an_encoder_that_propagation_reads(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=10, flow=False)
    cfg = cfg_for("colorization", channels=[4, 4, 8, 8], epochs=1, batch_size=4, clips_per_video=1)
    pretrain(run="colorization", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "c", seed=0, progress=False, threads=1)
    m = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all()
    assert {"val_pretext_acc", "val_copy_acc", "val_moved_acc"} <= set(m.columns)
    encoders, meta = load_encoders(tmp_path / "c" / "checkpoint.pt")
    assert set(encoders) == {"video"} and meta["method"] == "colorization"
    frames = np.zeros((6, 24, 32, 3), np.uint8)
    assert encoder_features(encoders["video"])(frames).shape[0] == 6
