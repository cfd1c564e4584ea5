"""Fine-tuning on tiny shard sets with known answers, the top-only mode, and the fold guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.evaluate.downstream import Downstream
from avbench.evaluate.finetune import Classifier, finetune_fold, load_finetuned, score, top_module
from avbench.evaluate.guards import LeakageError
from avbench.models import build_encoder

SETTINGS = {
    "epochs": 8,
    "clips_per_video": 4,
    "batch_size": 16,
    "optimizer": "adam",
    "lr": 0.003,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "cosine",
}


def _acc(rows, metric="video_acc", encoder="video"):
    vals = [r["value"] for r in rows if r["metric"] == metric and r["encoder"] == encoder]
    assert len(vals) == 1
    return vals[0]


def test_finetune_learns_a_learnable_task_and_not_shuffled_labels(tmp_path, moving_squares, tiny_checkpoint):
    moving_squares(tmp_path / "ok", n_videos=48)
    moving_squares(tmp_path / "shuffled", n_videos=48, shuffle_labels=True)
    ck = tiny_checkpoint(tmp_path / "ok")
    ds = Downstream.load(name="squares", shard_dir=tmp_path / "ok", index_path=tmp_path / "ok" / "index.parquet")
    rows = finetune_fold(
        checkpoint=ck,
        downstream=ds,
        task="video",
        fold=1,
        protocol="finetune",
        settings=SETTINGS,
        clips_per_video=2,
        progress=False,
    )
    assert _acc(rows) >= 0.85 and _acc(rows, "clip_acc") >= 0.75  # chance 0.25
    r = next(r for r in rows if r["metric"] == "video_acc")
    assert r["n_train"] == 32 and r["n_test"] == 16 and r["chance"] == 0.25 and r["protocol"] == "finetune"
    bad = Downstream.load(
        name="squares", shard_dir=tmp_path / "shuffled", index_path=tmp_path / "shuffled" / "index.parquet"
    )
    rows = finetune_fold(
        checkpoint=ck,
        downstream=bad,
        task="video",
        fold=1,
        protocol="finetune",
        settings=SETTINGS,
        clips_per_video=2,
        progress=False,
    )
    assert _acc(rows) <= 0.5  # chance is 0.25 on 16 test videos


def test_audio_encoder_finetunes_on_a_sound_task(tmp_path, moving_squares, tiny_checkpoint):
    moving_squares(tmp_path / "s", n_videos=36)
    ck = tiny_checkpoint(tmp_path / "s")
    ds = Downstream.load(name="s", shard_dir=tmp_path / "s", index_path=tmp_path / "s" / "index.parquet")
    rows = finetune_fold(
        checkpoint=ck,
        downstream=ds,
        task="audio",
        fold=2,
        protocol="finetune",
        settings=SETTINGS,
        clips_per_video=2,
        progress=False,
    )
    assert _acc(rows, encoder="audio") >= 0.9


def test_top_only_training_leaves_the_lower_layers_untouched():
    enc = build_encoder({"kind": "video", "name": "small3d", "channels": [4, 8, 8, 8]})
    model = Classifier(enc, 3, mode="top")
    top_ids = {id(p) for p in top_module(enc).parameters()}
    assert top_ids and len(top_ids) < len(list(enc.parameters()))
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    for _ in range(3):
        loss = model(torch.rand(4, 3, 8, 24, 32)).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = enc.state_dict()
    top_names = {n for n, p in enc.named_parameters() if id(p) in top_ids}
    top_prefixes = {n.rsplit(".", 1)[0] for n in top_names}
    for k, v in before.items():
        changed = not torch.equal(v, after[k])
        in_top = k.rsplit(".", 1)[0] in top_prefixes
        if in_top and k.endswith("weight"):
            assert changed, k
        if not in_top:
            assert not changed, k  # frozen weights and frozen BatchNorm statistics


def test_top_of_each_encoder():
    flow = build_encoder({"kind": "flow", "name": "tcam_small", "segments": 2, "frames": 2, "channels": [4, 8, 8, 8]})
    assert top_module(flow) is flow.fusion
    vgg = build_encoder({"kind": "audio", "name": "vgg_small", "channels": [4, 8, 8, 16]})
    convs = [m for m in top_module(vgg) if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 and convs[0].out_channels == 16
    small = build_encoder({"kind": "video", "name": "small3d", "channels": [4, 8, 8, 16]})
    assert [m.out_channels for m in top_module(small) if isinstance(m, torch.nn.Conv3d)] == [16]


def test_the_top_of_a_vit_is_its_last_quarter_of_blocks_and_the_final_norm():
    """VideoMAE's encoder: finetune_top trains the last block(s) and the LayerNorm (1 of 4 blocks, 3 of
    ViT-S's 12); a step changes those and nothing below them (no BatchNorm: train and eval agree)."""
    vit = {"patch": 4, "tubelet": 2, "dim": 12, "heads": 2}
    enc = build_encoder({"kind": "video", "name": "vit_small3d", "vit": {**vit, "depth": 4}})
    top = top_module(enc)
    assert list(top) == [enc.blocks[3], enc.norm]
    deep = build_encoder({"kind": "video", "name": "vit_small3d", "vit": {**vit, "depth": 12}})
    assert list(top_module(deep)) == [*list(deep.blocks)[9:], deep.norm]
    one = build_encoder({"kind": "video", "name": "vit_small3d", "vit": {**vit, "depth": 1}})
    assert list(top_module(one)) == [one.blocks[0], one.norm]
    model = Classifier(enc, 3, mode="top")
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("blocks.3.", "norm.")) for n in trainable)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    for _ in range(2):
        loss = model(torch.rand(4, 3, 4, 16, 16)).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = enc.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("blocks.3.", "norm.")) for k in changed)
    assert any(k.startswith("blocks.3.") for k in changed) and "norm.weight" in changed


def test_a_finetuned_model_is_refused_on_another_folds_test_set(tmp_path, moving_squares, tiny_checkpoint):
    moving_squares(tmp_path / "d", n_videos=24)
    ck = tiny_checkpoint(tmp_path / "d")
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    settings = {**SETTINGS, "epochs": 1}
    finetune_fold(
        checkpoint=ck,
        downstream=ds,
        task="video",
        fold=1,
        protocol="finetune_top",
        settings=settings,
        clips_per_video=1,
        model_dir=tmp_path / "m",
        progress=False,
    )
    model, meta = load_finetuned(tmp_path / "m" / "video.pt")
    assert meta["fold"] == 1 and meta["protocol"] == "finetune_top" and len(meta["train_keys"]) == 16
    kw = dict(
        kind="video",
        urls=ds.urls,
        downstream="d",
        downstream_hash=ds.manifest_hash,
        labels=ds.labels(),
        clip_frames=8,
        clips_per_video=1,
        mel_norm=(0.0, 1.0),
    )
    res = score(model, meta, split=ds.split(1), **kw)
    assert res["n_test"] == 8
    # Fold 2's test set holds fold-1 training videos: the "fake 100%" of testing a split-1 model on split 2.
    with pytest.raises(LeakageError, match="fold 1 cannot be scored on fold 2"):
        score(model, meta, split=ds.split(2), **kw)
    forged = {**meta, "fold": 2}
    with pytest.raises(LeakageError, match="leakage"):
        score(model, forged, split=ds.split(2), **kw)
    with pytest.raises(LeakageError, match="cannot be scored on 'other'"):
        score(model, meta, split=ds.split(1), **{**kw, "downstream": "other"})
    with pytest.raises(LeakageError, match="split files changed"):
        score(model, meta, split=ds.split(1), **{**kw, "downstream_hash": "0" * 12})


def test_same_source_under_two_ids_in_train_and_test_is_refused(tmp_path, moving_squares):
    index = moving_squares(tmp_path / "d", n_videos=12)
    index.loc[index.key == "v001", "path"] = index.loc[index.key == "v000", "path"].iloc[0]  # v000 tests in fold 1
    index.to_parquet(tmp_path / "d" / "index.parquet", index=False)
    ds = Downstream.load(name="d", shard_dir=tmp_path / "d", index_path=tmp_path / "d" / "index.parquet")
    with pytest.raises(LeakageError, match="source files"):
        ds.split(1)
    assert np.isin(ds.split(3).test, ["v000", "v001"]).sum() == 0


def test_fc_from_a_linear_classifier_predicts_what_the_classifier_predicts():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from avbench.evaluate.finetune import fc_from_linear

    enc = build_encoder({"kind": "video", "name": "small3d", "channels": [4, 8, 8, 8]}).eval()
    x = torch.rand(40, 3, 8, 24, 32)
    with torch.no_grad():
        feats = enc(x).numpy()
    y = np.arange(40) % 3  # classes 0..2 of 5: the two unseen ones must never win
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(feats, y)
    model = Classifier(enc, 5, mode="all").eval()
    fc_from_linear(model, linear, 5)
    with torch.no_grad():
        logits = model(x).numpy()
    assert (logits.argmax(1) == linear.predict(feats)).all()
    np.testing.assert_allclose(logits[:, :3], linear.decision_function(feats), rtol=1e-4, atol=1e-4)


def test_augmentation_crops_flips_and_negates_flipped_flow():
    from avbench.evaluate.finetune import augment_clips

    g = torch.Generator().manual_seed(0)
    flow = torch.zeros(8, 4, 2, 12, 16)
    flow[:, :, 0] = 1.0  # everything moves right by 1 px
    out = augment_clips(flow, "flow", g)
    assert out.shape == flow.shape
    dx = out[:, :, 0].mean(dim=(1, 2, 3))
    assert (dx < 0).any() and (dx > 0).any()  # some clips flipped: they move left
    assert torch.all(dx.abs() >= 1.0 - 1e-5) and torch.all(dx.abs() <= 1.25 + 1e-5)  # crop rescales the pixels
    video = torch.rand(2, 3, 4, 12, 16)
    assert augment_clips(video, "video", torch.Generator().manual_seed(1)).shape == video.shape
    audio = torch.rand(2, 1, 40, 50)
    assert augment_clips(audio, "audio", g) is audio


def test_the_recipe_starts_from_the_linear_classifier_and_trains_an_fc_alone_in_the_same_loop(
    tmp_path, moving_squares, tiny_checkpoint
):
    moving_squares(tmp_path / "r", n_videos=36)
    ck = tiny_checkpoint(tmp_path / "r")
    ds = Downstream.load(name="r", shard_dir=tmp_path / "r", index_path=tmp_path / "r" / "index.parquet")
    settings = {
        **SETTINGS,
        "epochs": 2,
        "init_fc": "linear_probe",
        "fc_only": True,
        "augment": False,
        "encoder_lr_scale": 0.1,
        "freeze_bn": True,
    }
    preds: list = []
    rows = finetune_fold(
        checkpoint=ck,
        downstream=ds,
        task="audio",
        fold=1,
        protocol="finetune",
        settings=settings,
        clips_per_video=2,
        progress=False,
        predictions=preds,
    )
    assert {r["protocol"] for r in rows} == {"finetune", "finetune_fc"}
    by = {(r["protocol"], r["metric"]): r["value"] for r in rows}
    assert by[("finetune", "video_acc")] >= 0.8 and by[("finetune_fc", "video_acc")] >= 0.8  # chance 0.25
    assert len(preds) == 2 * 12 * 2 and {p["protocol"] for p in preds} == {"finetune", "finetune_fc"}
