"""L3-Net correspondence: the pair construction, and learning on the tiny world."""

from __future__ import annotations

import pandas as pd
import torch

from avbench.pretext.l3 import correspondence_pairs
from avbench.pretrain import pretrain


def test_pairs_are_positives_then_negatives_from_other_videos():
    g = torch.Generator().manual_seed(0)
    vi, ai, y = correspondence_pairs(5, g)
    assert vi.tolist() == [0, 1, 2, 3, 4] * 2
    assert ai[:5].tolist() == [0, 1, 2, 3, 4] and y.tolist() == [1] * 5 + [0] * 5
    assert sorted(ai[5:].tolist()) == [0, 1, 2, 3, 4] and (ai[5:] != torch.arange(5)).all()


def test_l3_learns_correspondence(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    pretrain(run="l3", cfg=cfg_for("l3"), shard_dir=shards, out_dir=tmp_path / "l3", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "l3" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.1
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.68  # chance 0.5
    assert "val_neg_same_class" in m.columns
