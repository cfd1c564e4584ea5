"""AVE-Net: retrieval recall with a known answer, and learning (with retrieval metrics) on the tiny world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from avbench.pretext.avenet import AVEHead, retrieval_recall
from avbench.pretrain import pretrain


def test_retrieval_recall_known_answer():
    q = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    g = np.array([[0.1, 0.0], [4.9, 5.0], [1.0, 0.1]])
    # query 0: its own item is the nearest (rank 0); query 1: items 2 and 0 are nearer than its own
    # item 1 (rank 2); query 2: item 1 is nearer than its own item 2 (rank 1)
    r = retrieval_recall(q, g, ks=(1, 2, 3))
    assert r[1] == pytest.approx(1 / 3) and r[2] == pytest.approx(2 / 3) and r[3] == pytest.approx(1.0)


def test_head_decides_by_distance_only():
    head = AVEHead(video_dim=4, audio_dim=4, embed_dim=3)
    v = torch.nn.functional.normalize(torch.randn(6, 3), dim=1)
    near, far = head(v, v), head(v, -v)
    assert torch.allclose(near[0], near[1]) and (near.argmax(1) == 1).all() and (far.argmax(1) == 0).all()


def test_avenet_learns_and_reports_retrieval(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    pretrain(
        run="avenet",
        cfg=cfg_for("avenet", avenet={"embed_dim": 32}),
        shard_dir=shards,
        out_dir=tmp_path / "ave",
        seed=0,
        progress=False,
        threads=2,
    )
    m = pd.read_csv(tmp_path / "ave" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.1
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.68  # chance 0.5
    n = m["val_retrieval_n"].iloc[-1]
    assert n >= 4
    for k in ("recall1_v2a", "recall5_v2a", "recall1_a2v", "recall5_a2v"):
        assert m[f"val_{k}"].between(0, 1).all()
    assert (m["val_recall5_v2a"] >= m["val_recall1_v2a"]).all()
