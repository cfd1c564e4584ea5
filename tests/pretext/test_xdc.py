"""Deep clustering (SDC/MDC/CDC/XDC): the trivial-solution guards with known answers, pseudo-labels
across a resume, and learning on the tiny world."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import avbench.pretext.xdc as xdc
from avbench.pretext.base import PretrainModel
from avbench.pretrain import pretrain


def test_empty_cluster_takes_half_of_a_donor():
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    labels, cen, fixed = xdc.reassign_empty_clusters(
        x, np.zeros(4, int), np.array([[0.0], [100.0]]), np.random.default_rng(0)
    )
    assert fixed == 1
    assert sorted(map(sorted, [np.flatnonzero(labels == c).tolist() for c in (0, 1)])) == [[0, 1], [2, 3]]
    assert sorted(cen[:, 0].tolist()) == pytest.approx([-1.5, 1.5])
    assert (xdc.assign(x.astype(np.float32), cen) == labels).all()  # each point is nearest its new centroid


def test_empty_clusters_identical_points_and_untouched_clusters():
    x = np.zeros((6, 2))
    labels, _, fixed = xdc.reassign_empty_clusters(x, np.zeros(6, int), np.zeros((3, 2)), np.random.default_rng(1))
    assert fixed == 2 and sorted(np.bincount(labels, minlength=3).tolist()) == [1, 2, 3]
    x = np.array([[0.0], [0.1], [0.2], [0.3], [9.0], [9.1], [5.0]])
    lab0 = np.array([0, 0, 0, 0, 2, 2, 3])
    labels, _, fixed = xdc.reassign_empty_clusters(
        x, lab0, np.array([[0.15], [50.0], [9.05], [5.0]]), np.random.default_rng(2)
    )
    assert fixed == 1 and (np.bincount(labels, minlength=4) > 0).all()
    assert labels[6] == 3  # a singleton cluster is never a donor
    moved = labels != lab0
    assert (labels[moved] == 1).all() and len(set(lab0[moved])) == 1  # one donor gave to the empty cluster


def test_uniform_weights_balance_the_pseudo_classes():
    w = xdc.uniform_weights([np.array([0, 0, 0, 1])], k=3)
    assert w.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])  # N / (k' n_c): both clusters get 2
    w2 = xdc.uniform_weights([np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1])], k=2)
    assert w2.tolist() == pytest.approx([(2 / 3 + 2) / 2, (2 / 3 + 2 / 3) / 2, (2 / 3 + 2 / 3) / 2, (2 + 2 / 3) / 2])
    assert w2.sum() == pytest.approx(4.0)


def test_whitening_and_assignment():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * [10, 5, 1, 1, 1, 0.1]
    z = xdc.apply_whitening(x, xdc.fit_whitening(x, 3))
    assert z.shape == (200, 3) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    assert xdc.apply_whitening(x, xdc.fit_whitening(x, 0)).shape == (200, 6)
    cen = np.array([[0.0, 0.0], [10.0, 0.0]], np.float32)
    assert xdc.assign(np.array([[1.0, 1.0], [9.0, -1.0]], np.float32), cen).tolist() == [0, 1]


@pytest.mark.parametrize(
    "variant,pairs",
    [
        ("sdc", {"video_video", "audio_audio"}),
        ("mdc", {"video_video", "video_audio", "audio_video", "audio_audio"}),
        ("cdc", {"video_concat", "audio_concat"}),
        ("xdc", {"video_audio", "audio_video"}),
    ],
)
def test_variants_predict_the_right_clusters(variant, pairs, cfg_for):
    p = xdc.TARGETS[variant]
    assert {f"{e}_{s}" for e, s in p} == pairs
    head = xdc.DeepClustering.__subclasses__()
    cls = {c.name: c for c in head}[variant]
    model = PretrainModel(
        specs=cls(cfg_for(variant), n_classes=2, seed=0).encoder_specs(),
        head=cls(cfg_for(variant, deep_clustering={"k": 5}), n_classes=2, seed=0),
    )
    assert set(model.head.heads) == pairs and all(h[-1].out_features == 5 for h in model.head.heads.values())


def test_heads_are_reinitialised_and_their_optimizer_state_cleared(cfg_for):
    p = xdc.XDC(cfg_for("xdc", deep_clustering={"k": 3}), n_classes=2, seed=4)
    model = PretrainModel(specs=p.encoder_specs(), head=p)
    opt = torch.optim.Adam(model.parameters())
    model.head.heads["video_audio"][-1].weight.sum().backward()
    opt.step()
    w0 = model.head.heads["video_audio"][-1].weight.detach().clone()
    cleared = []
    trainer = SimpleNamespace(model=model, reset_optimizer_state=lambda ps: cleared.extend(ps))
    p._reset_heads(trainer, epoch=2)
    w1 = model.head.heads["video_audio"][-1].weight.detach().clone()
    p._reset_heads(trainer, epoch=2)
    assert not torch.equal(w0, w1) and torch.equal(w1, model.head.heads["video_audio"][-1].weight)  # seeded
    assert {id(t) for t in cleared} == {id(t) for t in model.head.parameters()}


@pytest.mark.parametrize("variant", ["sdc", "mdc", "cdc", "xdc"])
def test_deep_clustering_learns_pseudo_labels(variant, tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=40)
    cfg = cfg_for(variant, epochs=5, clips_per_video=8, deep_clustering={"k": 4, "pca_dim": 0, "n_init": 2})
    pretrain(run=variant, cfg=cfg, shard_dir=shards, out_dir=tmp_path / variant, seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / variant / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.4  # chance 1/k = 0.25
    assert {"nmi_video", "nmi_audio"} & set(m.columns) or "nmi_concat" in m.columns
    assert (m["k"] == 4).all() and "val_pretext_acc" in m.columns


def test_pseudo_labels_survive_a_resume(tiny_world, cfg_for, tmp_path, monkeypatch):
    import avbench.pretrain as pretrain_module

    shards = tiny_world(n_videos=24)
    cfg = cfg_for("xdc", epochs=3, clips_per_video=2, deep_clustering={"k": 3, "recluster_every": 2, "pca_dim": 0})
    calls = {"kmeans": 0, "eval": 0}
    real_kmeans, real_eval = xdc.kmeans, pretrain_module.evaluate_pretext

    def counting_kmeans(*a, **kw):
        calls["kmeans"] += 1
        return real_kmeans(*a, **kw)

    def interrupted(*a, **kw):
        calls["eval"] += 1
        if calls["eval"] == 2:
            raise KeyboardInterrupt  # killed at the end of epoch 2 (after epoch 1's checkpoint)
        return real_eval(*a, **kw)

    monkeypatch.setattr(xdc, "kmeans", counting_kmeans)
    monkeypatch.setattr(pretrain_module, "evaluate_pretext", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(run="xdc", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "r", seed=0, progress=False)
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["pretext"]
    assert calls["kmeans"] == 2 and saved["clustered_epoch"] == 0 and len(saved["labels"]["video"]) > 0

    seen = []
    real_loss = xdc.DeepClustering.loss

    def spy(self, *a, **kw):
        seen.append((kw["epoch"], {s: v.copy() for s, v in self.labels.items()}))
        return real_loss(self, *a, **kw)

    monkeypatch.setattr(xdc.DeepClustering, "loss", spy)
    monkeypatch.setattr(pretrain_module, "evaluate_pretext", real_eval)
    calls["kmeans"] = 0
    pretrain(run="xdc", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "r", seed=0, progress=False)
    epoch2 = [lab for e, lab in seen if e == 1][0]
    assert all(epoch2[s].tolist() == saved["labels"][s] for s in ("video", "audio"))  # epoch 2 used the saved labels
    assert calls["kmeans"] == 2  # and epoch 3 re-clustered (two label sets)


def test_match_labels_undoes_a_renaming_of_the_clusters():
    rng = np.random.default_rng(0)
    old = rng.integers(0, 5, size=200)
    rename = np.array([3, 0, 4, 1, 2])
    new = rename[old]
    new[:10] = rng.integers(0, 5, size=10)  # a few items change cluster
    perm = xdc.match_labels(new, old, 5)
    assert sorted(perm.tolist()) == list(range(5))
    assert (perm[rename] == np.arange(5)).all()
    assert (perm[new] == old)[10:].all()


def test_matched_reclustering_keeps_the_heads_and_the_label_meaning(cfg_for):
    """With match_labels a re-clustering renames its clusters to agree with the previous ones and
    the heads keep learning (without it they are re-initialised: k-means numbers clusters anew)."""
    p = xdc.XDC(cfg_for("xdc", deep_clustering={"k": 3, "pca_dim": 0, "match_labels": True}), n_classes=2, seed=0)
    model = PretrainModel(specs=p.encoder_specs(), head=p)
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(3, 6)) * 10
    keys = train = [f"v{i:02d}" for i in range(30)]
    feats = {kind: centers[np.arange(30) % 3] + rng.normal(size=(30, 6)) for kind in ("video", "audio")}
    hkeys = ["h0", "h1", "h2"]
    hfeats = {kind: centers + 0.1 for kind in ("video", "audio")}
    resets = []
    trainer = SimpleNamespace(
        model=model,
        rows=pd.DataFrame({"key": keys}),
        heldout_keys=hkeys,
        reset_optimizer_state=lambda ps: resets.append(list(ps)),
        features=lambda kinds, view, keys=None, desc="": (hkeys, hfeats) if keys else (train, feats),
    )
    p.before_epoch(trainer, 0)
    first, first_held = {s: v.copy() for s, v in p.labels.items()}, {s: v.copy() for s, v in p.heldout_labels.items()}
    w = model.head.heads["video_audio"][-1].weight.detach().clone()
    logs = p.before_epoch(trainer, 1)  # another k-means seed: other cluster numbers, matched back
    assert all((p.labels[s] == first[s]).all() and (p.heldout_labels[s] == first_held[s]).all() for s in first)
    assert logs["label_agreement_audio"] == 1.0 and len(resets) == 1  # reset once, at the first clustering
    assert logs["heldout_largest_audio"] == pytest.approx(1 / 3)
    assert torch.equal(w, model.head.heads["video_audio"][-1].weight)
