"""Temporal cycle-consistency: the cycle-back regression against a direct computation, embeddings with
a known alignment, the same-class pairing, a few steps of training and one epoch of the real loop; the
map embedder (the paper's, on the encoder's intermediate map) learning to cycle back on constructed
orbits, and what `avbench alignment --embedding pretext` reads from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from avbench.checkpoint import load_encoders
from avbench.evaluate.alignment import source_embeddings
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.tcc import (
    MapEmbedder,
    cycle_back,
    cycle_back_regression,
    cycle_consistency,
    partner_pairs,
    tcc_view,
)
from avbench.pretrain import pretrain
from avbench.shards.loader import collate, item_rng, load_samples


def _curve(s: np.ndarray) -> torch.Tensor:
    """Points of a curve that never comes back near itself (a helix), at progress s in [0, 1]."""
    a = 1.5 * np.pi * s
    return torch.tensor(np.stack([np.cos(a), np.sin(a), 2 * s], 1), dtype=torch.float32)


def test_the_loss_is_the_papers_formula():
    """Direct loops over the frames: soft nearest neighbour, cycle back, Gaussian regression."""
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(1, 5, 3, generator=g), torch.randn(1, 7, 3, generator=g)
    tau, lam, n, d = 0.1, 0.001, 5, 3
    t = np.arange(n) / n
    total = 0.0
    for i in range(n):
        dist = np.array([float(((u[0, i] - v[0, j]) ** 2).sum()) for j in range(7)])
        alpha = np.exp(-dist / d / tau - (-dist / d / tau).max())
        alpha /= alpha.sum()
        vs = (torch.tensor(alpha, dtype=torch.float32)[:, None] * v[0]).sum(0)
        back = np.array([float(((vs - u[0, k]) ** 2).sum()) for k in range(n)])
        beta = np.exp(-back / d / tau - (-back / d / tau).max())
        beta /= beta.sum()
        mu = (beta * t).sum()
        var = (beta * (t - mu) ** 2).sum()
        total += (t[i] - mu) ** 2 / var + lam * math.log(var)
    got = float(cycle_back_regression(u, v, temperature=tau, variance_lambda=lam))
    assert math.isclose(got, total / n, rel_tol=1e-4)


def test_videos_of_one_process_at_different_speeds_cycle_back_exactly():
    """V runs the same process as U at another speed (twice as many frames): every frame of U finds
    its moment in V and comes back to itself; shuffled embeddings do not."""
    u = _curve(np.linspace(0, 1, 10))[None]
    v = _curve(np.linspace(0, 1, 20))[None]
    assert cycle_consistency(u, v) == 1.0
    beta = cycle_back(u, v, temperature=0.001)
    assert torch.equal(beta[0].argmax(-1), torch.arange(10))
    aligned = float(cycle_back_regression(u, v, temperature=0.01))
    g = torch.Generator().manual_seed(0)
    w = v[:, torch.randperm(20, generator=g)] + 0.8 * torch.randn(1, 20, 3, generator=g)
    noise = torch.randn(1, 10, 3, generator=g)
    assert cycle_consistency(noise, w) < 1.0
    assert aligned < float(cycle_back_regression(noise, w, temperature=0.01))
    # the order of V does not matter to a cycle, only where its frames are
    assert cycle_consistency(u, v.flip(1)) == 1.0


def test_pairs_join_videos_of_a_class_and_never_a_video_with_itself():
    labels = torch.tensor([0, 0, 1, 1, 2, -1, 0])
    keys = ["a", "b", "c", "d", "e", "f", "a"]  # items 0 and 6: two clips of one video
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a, b = partner_pairs(labels, keys, g)
        assert a.tolist() == [0, 1, 2, 3, 6]  # 4: alone in its class, 5: no label
        for i, j in zip(a.tolist(), b.tolist()):
            assert labels[i] == labels[j] and keys[i] != keys[j]
    a, b = partner_pairs(None, keys, g)  # pairs: any
    assert a.tolist() == list(range(7)) and all(keys[i] != keys[j] for i, j in zip(a.tolist(), b.tolist()))


def test_the_view_takes_frames_stride_apart_each_with_its_context():
    t = 30
    f = np.zeros((t, 2, 2, 3), np.uint8)
    f[..., 0] = np.arange(t)[:, None, None]
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 1}
    v = tcc_view({"frames": f, "meta": meta}, np.random.default_rng(0), n_frames=5, stride=3, context=2)
    k0 = v["start"]
    assert v["video"].shape == (5, 2, 2, 2, 3) and v["label"] == 1
    assert v["video"][:, :, 0, 0, 0].tolist() == [[k0 + 3 * i, k0 + 3 * i + 1] for i in range(5)]


def test_one_epoch_on_the_tiny_world_and_a_few_steps_lower_the_loss(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=32, flow=False)  # 3 held out: two of them share a class
    cfg = cfg_for("tcc", channels=[4, 4, 8, 8], epochs=1, batch_size=6, clips_per_video=1, tcc={"n_frames": 6})
    pretrain(run="tcc", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "t", seed=0, progress=False, threads=1)
    m = pd.read_csv(tmp_path / "t" / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all() and {"val_pretext_acc", "val_tcc_loss"} <= set(m.columns)
    encoders, meta = load_encoders(tmp_path / "t" / "checkpoint.pt")
    assert set(encoders) == {"video"} and meta["method"] == "tcc"
    emb, _ = source_embeddings(str(tmp_path / "t" / "checkpoint.pt"))  # what `avbench alignment` reads
    assert emb(np.zeros((7, 24, 32, 3), np.uint8)).shape == (7, 8)

    # a few steps on one batch of the tiny world's spinning discs and falling blobs
    samples = load_samples(shards)
    torch.manual_seed(0)
    pretext = PRETEXTS["tcc"](cfg, n_classes=2, seed=0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    items = [pretext.view(0)(s, item_rng(0, i, s["key"])) | {"key": s["key"]} for i, s in enumerate(samples[:8])]
    batch = to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(0.0, 1.0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, logs = pretext.loss(model, batch, epoch=0, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert logs["pairs"] == 8
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3


def _orbits(rng: np.random.Generator, *, n_videos=6, n_frames=6, context=2, stride=2, h=16, w=20) -> dict:
    """A batch of TCC views of constructed videos: a yellow square on an orbit (one turn per
    n_frames * stride frames) from a random phase on a random grey background, one class; the phase
    is where the square is."""
    span = (n_frames - 1) * stride + context
    vids = np.zeros((n_videos, span, h, w, 3), np.float32)
    for b in range(n_videos):
        phase = rng.uniform()
        vids[b] = rng.uniform(0.1, 0.4, 3)
        for t in range(span):
            a = 2 * math.pi * (phase + t / (n_frames * stride))
            y, x = int(round(h / 2 + 4 * math.sin(a))) - 2, int(round(w / 2 + 5 * math.cos(a))) - 2
            vids[b, t, y : y + 4, x : x + 4] = (1.0, 0.9, 0.2)
    clips = np.stack([vids[:, p : p + context] for p in stride * np.arange(n_frames)], 1)  # (B, n, ctx, H, W, 3)
    video = torch.from_numpy(clips).permute(0, 1, 5, 2, 3, 4).contiguous()
    return {"video": video, "label": torch.zeros(n_videos, dtype=torch.long), "key": [f"v{b}" for b in range(n_videos)]}


def _train(pretext, model, steps: int) -> tuple[list[float], list[float]]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
    losses, accs = [], []
    for _ in range(steps):
        loss, logs = pretext.loss(model, _orbits(rng), epoch=0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        accs.append(logs["pretext_acc"])
    return losses, accs


def test_the_map_embedder_learns_to_cycle_back_below_the_uniform_loss():
    """The reference run's tcc sat at the loss of a uniform cycle-back (1 + lambda log var of the
    indices: 0.9975 for 6 frames). On orbits whose phase is the square's place, the map embedder
    (intermediate map, 3D convolutions, max over time, a 4x3 grid of max-pooled cells, FC) leaves it
    within 20 Adam steps and its hard cycle consistency is far above chance (1/6)."""
    cfg = {
        "clip_frames": 16,
        "epochs": 1,
        "video_backbone": "small3d",
        "channels": [4, 8, 8, 8],
        "tcc": {"n_frames": 6, "stride": 2, "context": 2, "embed_dim": 16, "embedder": "map", "map_channels": 8},
    }
    torch.manual_seed(0)
    pretext = PRETEXTS["tcc"](cfg, n_classes=1, seed=0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    assert isinstance(model.head, MapEmbedder) and model.head.grid == (3, 4)
    uniform = 1 + 0.001 * math.log(float(np.var(np.arange(6) / 6)))
    losses, accs = _train(pretext, model, 20)
    assert abs(losses[0] - uniform) < 0.1  # it starts near the uniform cycle-back
    assert np.mean(losses[-4:]) < uniform - 0.2 and np.mean(accs[-4:]) > 0.5


def test_alignment_reads_the_map_embedders_output_with_embedding_pretext(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=16, flow=False)
    tcc = {"n_frames": 4, "embedder": "map", "map_channels": 4, "map_hidden": 8, "embed_dim": 5, "map_grid": [2, 1]}
    cfg = cfg_for("tcc", channels=[4, 4, 8, 8], epochs=1, batch_size=6, clips_per_video=1, tcc=tcc)
    pretrain(run="tcc", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "t", seed=0, progress=False, threads=1)
    ck = str(tmp_path / "t" / "checkpoint.pt")
    frames = np.random.default_rng(0).integers(0, 255, (7, 24, 32, 3), dtype=np.uint8)
    emb, meta = source_embeddings(ck, embedding="pretext")
    assert meta["embedding"] == "pretext" and emb(frames).shape == (7, 5)
    enc, meta = source_embeddings(ck)  # the encoder's pooled features (its last channels)
    assert meta["embedding"] == "encoder" and enc(frames).shape == (7, 8)
    assert np.allclose(emb(frames), emb(frames))  # frozen: eval mode, no randomness


def test_pair_gradients_are_the_same_at_every_repeat_with_two_threads():
    """The pairs repeat items (several partners pick one video); their gradient must not depend on
    thread timing (emb[b]'s backward, index_put_ with accumulate, differed in ~1 of 5 repeats at
    this size on 2 threads, and two reference runs gave different tcc weights)."""
    from avbench.pretext.tcc import paired

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        emb0 = torch.randn(192, 8, 128, generator=g)
        a = torch.arange(192)
        b = torch.randint(0, 192, (192,), generator=g)
        w = torch.randn(2, 192, 8, 128, generator=g)

        def grad() -> torch.Tensor:
            emb = emb0.clone().requires_grad_()
            u, v = paired(emb, a, b)
            (u * w[0] + v * w[1]).sum().backward()
            return emb.grad

        ref = grad()
        assert all(torch.equal(ref, grad()) for _ in range(200))
        assert torch.equal(paired(emb0, a, b)[1], emb0[b])
    finally:
        torch.set_num_threads(threads)
