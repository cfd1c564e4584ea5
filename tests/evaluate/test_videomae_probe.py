"""A VideoMAE checkpoint's ViT goes through the downstream protocols like the CNN video encoders:
the frozen protocols (the linear classifier on every official fold, through the feature cache)
and full fine-tuning (augmented clips, the fc started from the linear probe)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from avbench.config import validate
from avbench.evaluate.run import evaluate_checkpoint, finetune_checkpoint

REPO = Path(__file__).resolve().parents[2]
VIDEOMAE = {
    "video_backbone": "vit_small3d",
    "vit": {"patch": 4, "tubelet": 2, "dim": 16, "depth": 1, "heads": 2},
    "videomae": {"mask_ratio": 0.9, "norm_pix": True, "decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2},
}


def _settings() -> dict:
    s = copy.deepcopy(validate(yaml.safe_load((REPO / "config.yaml").read_text()))["evaluate"])
    s["clips_per_video"] = 2
    s["finetune"].update(epochs=1, batch_size=8, lr=0.001)
    return s


def test_the_vit_of_a_videomae_checkpoint_is_probed_and_finetuned(tmp_path, moving_squares, tiny_checkpoint):
    d = tmp_path / "sq"
    moving_squares(d, n_videos=24, audio=False)
    ck = tiny_checkpoint(d, method="videomae", batch_size=8, **VIDEOMAE)
    settings = _settings()
    kw = {
        "checkpoint": ck,
        "shard_dir": d,
        "index_path": d / "index.parquet",
        "task": "video",
        "downstream": "sq",
        "settings": settings,
        "run_name": "unit",
    }
    res = evaluate_checkpoint(**kw, feature_cache_dir=tmp_path / "cache")
    rows = res.rows
    assert set(rows["protocol"]) == {"linear"}  # no joint video-audio embedding: retrieval is skipped
    assert set(rows["fold"]) == {1, 2, 3} and set(rows["encoder"]) == {"video"} and set(rows["method"]) == {"videomae"}
    assert set(rows["backbone"]) == {"vit_small3d"} and set(rows["metric"]) == {"clip_acc", "video_acc"}
    assert rows["value"].between(0, 1).all() and (rows["n_test"] == 8).all()
    assert any((tmp_path / "cache").iterdir())  # the frozen ViT features were kept
    again = evaluate_checkpoint(**kw, feature_cache_dir=tmp_path / "cache").rows  # read back from the cache
    assert again["value"].tolist() == rows["value"].tolist()
    ft = finetune_checkpoint(**kw, fold=1, protocol="finetune", feature_cache_dir=tmp_path / "cache").rows
    acc = ft[(ft["metric"] == "video_acc") & (ft["encoder"] == "video")]
    assert len(acc) >= 1 and acc["value"].between(0, 1).all() and (acc["n_test"] == 8).all()
    # the top stage (the last block and the final LayerNorm) and a new fc, the rest frozen
    top = finetune_checkpoint(**kw, fold=1, protocol="finetune_top", feature_cache_dir=tmp_path / "cache").rows
    acc = top[(top["metric"] == "video_acc") & (top["encoder"] == "video")]
    assert set(top["protocol"]) == {"finetune_top"} and len(acc) >= 1
    assert acc["value"].between(0, 1).all() and (acc["n_test"] == 8).all()
