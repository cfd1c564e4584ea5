"""A VideoMAE checkpoint's ViT goes through the downstream protocols like the CNN video encoders:
the linear probe's feature extraction (every official fold, the feature cache) and full
fine-tuning (augmented clips, the fc started from the probe)."""

from __future__ import annotations


from avbench.checkpoint import encoder_hash
from avbench.evaluate.downstream import Downstream
from avbench.evaluate.features import FeatureCache
from avbench.evaluate.finetune import finetune_fold
from avbench.evaluate.linear import evaluate_checkpoint, probe_encoders

VIDEOMAE = {"video_backbone": "vit_small3d", "vit": {"patch": 4, "tubelet": 2, "dim": 16, "depth": 1, "heads": 2},
            "videomae": {"mask_ratio": 0.9, "norm_pix": True, "decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2}}


def test_the_vit_of_a_videomae_checkpoint_is_probed_and_finetuned(tmp_path, moving_squares, tiny_checkpoint):
    d = tmp_path / "sq"
    moving_squares(d, n_videos=24, audio=False)
    ck = tiny_checkpoint(d, method="videomae", batch_size=8, **VIDEOMAE)
    rows = evaluate_checkpoint(checkpoint=ck, shard_dir=d, index_path=d / "index.parquet", task="video",
                               clips_per_video=2, C=1.0)
    assert set(rows["fold"]) == {1, 2, 3} and set(rows["encoder"]) == {"video"}
    assert set(rows["backbone"]) == {"vit_small3d"} and set(rows["metric"]) == {"clip_acc", "video_acc"}
    assert rows["value"].between(0, 1).all() and (rows["n_test"] == 8).all()
    # the feature cache keys the ViT by its spec and weights, like any encoder
    from avbench.checkpoint import load_encoders

    encoders, meta = load_encoders(ck)
    ds = Downstream.load(name="sq", shard_dir=d, index_path=d / "index.parquet")
    cache = FeatureCache(root=tmp_path / "cache", encoders={"video": encoder_hash(ck, "video")}, data="x")
    cached = probe_encoders(encoders=encoders, meta=meta, downstream=ds, task="video", clips_per_video=2, C=1.0,
                            cache=cache, folds=[1])
    assert [r["value"] for r in cached] == [r["value"] for r in rows[rows["fold"] == 1].to_dict("records")]
    assert any((tmp_path / "cache").iterdir())
    settings = {"epochs": 1, "clips_per_video": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.001,
                "weight_decay": 0.0, "schedule": "cosine", "augment": True, "encoder_lr_scale": 0.1}
    ft = finetune_fold(checkpoint=ck, downstream=ds, task="video", fold=1, protocol="finetune", settings=settings,
                       clips_per_video=2, progress=False)
    acc = [r for r in ft if r["metric"] == "video_acc" and r["encoder"] == "video"]
    assert len(acc) >= 1 and all(0 <= r["value"] <= 1 and r["n_test"] == 8 for r in acc)
