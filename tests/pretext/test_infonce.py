"""Cross-modal InfoNCE: the loss against a hand computation, and learning on the tiny world."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from avbench.pretext.infonce import info_nce, top1
from avbench.pretrain import pretrain


def test_info_nce_matches_the_formula():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    loss, logits = info_nce(v, a, tau=0.5)
    s = [[2.0, 1.2], [0.0, 1.6]]  # v_i . a_j / tau
    rows = (
        -(
            math.log(math.exp(s[0][0]) / (math.exp(s[0][0]) + math.exp(s[0][1])))
            + math.log(math.exp(s[1][1]) / (math.exp(s[1][0]) + math.exp(s[1][1])))
        )
        / 2
    )
    cols = (
        -(
            math.log(math.exp(s[0][0]) / (math.exp(s[0][0]) + math.exp(s[1][0])))
            + math.log(math.exp(s[1][1]) / (math.exp(s[0][1]) + math.exp(s[1][1])))
        )
        / 2
    )
    assert float(loss) == pytest.approx((rows + cols) / 2, rel=1e-5)
    assert top1(logits) == 1.0 and top1(logits.t()) == 1.0


def test_infonce_learns_instance_discrimination(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    pretrain(
        run="infonce",
        cfg=cfg_for("infonce", infonce={"tau": 0.1, "embed_dim": 32}),
        shard_dir=shards,
        out_dir=tmp_path / "nce",
        seed=0,
        progress=False,
        threads=2,
    )
    m = pd.read_csv(tmp_path / "nce" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.3
    assert m["train_pretext_acc"].iloc[-2:].mean() > 3 / 16  # chance 1/B = 1/16
    assert m["val_retrieval_n"].iloc[-1] >= 4 and m["val_pretext_acc"].between(0, 1).all()
