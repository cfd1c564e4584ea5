"""AVOL-Net (Objects that Sound): the similarity map, the max-pooled decision, a tiny run."""

from __future__ import annotations

import pandas as pd
import torch

from avbench.models.video import Small3D
from avbench.pretext.avol import AVOLHead, AVOLNet, frame_map, map_channels
from avbench.pretrain import pretrain


def test_frame_map_keeps_positions_of_one_frame():
    enc = Small3D(channels=(8, 16, 32, 32)).eval()
    x = torch.rand(2, 3, 30, 40)
    m = frame_map(enc, x, blocks=2)
    assert m.shape == (2, 16, 8, 10)  # stride 4
    assert m.abs().sum() > 0  # one frame is not erased by the mean-frame subtraction
    assert map_channels(enc, blocks=2) == 16


def test_head_max_pools_the_similarity_over_positions():
    head = AVOLHead(map_dim=4, audio_dim=3, embed_dim=4)
    v = torch.zeros(1, 4, 2, 3)
    v[0, :, 1, 2] = torch.tensor([1.0, 0, 0, 0])
    v[0, :, 0, 0] = torch.tensor([0, 1.0, 0, 0])
    a = torch.tensor([[1.0, 0, 0, 0]])
    sim = head.similarity(v, a)
    assert sim[0, 1, 2] == 1 and sim[0, 0, 0] == 0
    logit = head(v, a)
    assert torch.allclose(logit, head.scale * 1.0 + head.bias)


def _heldout_accuracy(checkpoint, shards) -> float:
    """Correspondence accuracy of a trained AVOL-Net on every video of another world: each video's
    middle clip with its own audio (positive) and with the next video's (negative)."""
    import numpy as np

    from avbench.checkpoint import load_checkpoint
    from avbench.pretext import PRETEXTS, PretrainModel
    from avbench.pretext.base import to_tensors
    from avbench.shards.loader import clip_starts, clip_view, load_samples

    ck = load_checkpoint(checkpoint)
    meta = ck["meta"]
    pretext = PRETEXTS["avolnet"](meta["config"], n_classes=2, seed=0)
    model = PretrainModel(specs=ck["specs"], head=pretext)
    for k, st in ck["encoders"].items():
        model.encoders[k].load_state_dict(st)
    model.head.load_state_dict(ck["head"])
    model.eval()
    L = int(meta["config"]["clip_frames"])
    items = []
    for s in load_samples(shards):
        starts = clip_starts(s["meta"], L)
        items.append(clip_view(s, np.random.default_rng(0), clip_frames=L, start=starts[len(starts) // 2]))
    batch = {"video": np.stack([i["video"] for i in items]), "audio": np.stack([i["audio"] for i in items])}
    t = to_tensors(batch, device=torch.device("cpu"), mel_norm=tuple(meta["mel_norm"]))
    with torch.no_grad():
        v, a = pretext.embed(model, t)
        pos = model.head(v, a)
        neg = model.head(v, a.roll(1, 0))
    return float(((pos > 0).float().mean() + (neg <= 0).float().mean()) / 2)


def test_avolnet_learns_correspondence(tiny_world, cfg_for, tmp_path):
    """Loss falls and a held-out world's correspondence is above chance (0.5). The tiny world's
    24x32 frames need the whole encoder's receptive field (blocks 4) to tell its classes apart."""
    assert AVOLNet.name == "avolnet"
    shards = tiny_world()
    pretrain(
        run="avolnet",
        cfg=cfg_for("avolnet", avolnet={"embed_dim": 32, "blocks": 4}, epochs=8),
        shard_dir=shards,
        out_dir=tmp_path / "avol",
        seed=0,
        progress=False,
        threads=2,
    )
    m = pd.read_csv(tmp_path / "avol" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.1
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.62
    assert m["val_retrieval_n"].iloc[-1] >= 4
    acc = _heldout_accuracy(tmp_path / "avol" / "checkpoint.pt", tiny_world("other", n_videos=32, seed=1))
    assert acc > 0.6, acc
