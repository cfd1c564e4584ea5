"""The random-targets control: fixed, seeded, balanced random pseudo-classes; a tiny run learns them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from avbench.config import METHOD_ENCODERS
from avbench.pretext import PRETEXTS
from avbench.pretext.random_targets import RandomTargets, random_assignment
from avbench.pretrain import pretrain


def test_random_assignment_is_balanced_seeded_and_order_free():
    keys = [f"v{i:03d}" for i in range(50)]
    k1, a = random_assignment(keys, 8, seed=0)
    k2, b = random_assignment(list(reversed(keys)), 8, seed=0)
    assert k1 == k2 == sorted(keys) and a.tolist() == b.tolist()
    assert np.bincount(a, minlength=8).tolist() == [7, 7, 6, 6, 6, 6, 6, 6]
    assert random_assignment(keys, 8, seed=1)[1].tolist() != a.tolist()


def test_targets_are_drawn_once_and_both_encoders_predict_them(cfg_for):
    assert PRETEXTS["random_targets"] is RandomTargets and METHOD_ENCODERS["random_targets"] == ("video", "audio")
    p = RandomTargets(cfg_for("random_targets", deep_clustering={"k": 4}), n_classes=2, seed=0)
    assert p.pairs == (("video", "random"), ("audio", "random")) and p.k == 4
    keys = [f"v{i:02d}" for i in range(20)]
    trainer = SimpleNamespace(
        train_keys=keys[:16],
        heldout_keys=keys[16:],
        rows=pd.DataFrame({"key": keys, "label_idx": [i % 2 for i in range(20)]}),
    )
    logs = p.before_epoch(trainer, 0)  # type: ignore[arg-type]
    first = p.labels["random"].copy()
    assert "nmi_random" in logs and sorted(p.heldout_labels) == ["random"]
    p.before_epoch(trainer, 1)  # type: ignore[arg-type]
    assert p.labels["random"].tolist() == first.tolist()  # fixed for the whole run
    assert p.repeats(keys[:16]) is None


def test_random_targets_tiny_run_fits_its_labels(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    torch.manual_seed(0)
    pretrain(
        run="random_targets",
        cfg=cfg_for("random_targets", epochs=6, deep_clustering={"k": 4}),
        shard_dir=shards,
        out_dir=tmp_path / "rt",
        seed=0,
        progress=False,
        threads=2,
    )
    m = pd.read_csv(tmp_path / "rt" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_pretext_acc"].iloc[-1] > m["train_pretext_acc"].iloc[0]
    # held-out accuracy against the held-out videos' own random labels is reported (chance 1/k)
    assert {"val_pretext_acc", "val_acc_video_random", "val_acc_audio_random"} <= set(m.columns)
    assert m["val_pretext_acc"].between(0, 1).all() and (m["k"] == 4).all()
    ck = torch.load(tmp_path / "rt" / "checkpoint.pt", weights_only=False)
    assert ck["meta"]["random_targets"]["k"] == 4
