"""Supervised reference with a flow encoder (the arrow-of-time table's supervised row)."""

from __future__ import annotations

import pandas as pd
import torch

from avbench.train import pretrain


def test_supervised_trains_video_audio_and_flow(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    cfg = cfg_for("supervised", epochs=4, supervised={"encoders": ["video", "audio", "flow"]})
    pretrain(run="sup", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "sup", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "sup" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_flow_acc"].iloc[-1] > 0.9 and m["train_pretext_acc"].iloc[-1] > 0.8  # two classes
    ck = torch.load(tmp_path / "sup" / "checkpoint.pt", weights_only=False)
    assert set(ck["encoders"]) == {"video", "audio", "flow"} and ck["specs"]["flow"]["segments"] == 2
