"""The arrow of time's paired cue test (``avbench aot-cues``): one checkpoint scored forward vs
backward on its own held-out videos under several shard variants of the same videos."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import torch

from avbench.cli import _variant, main
from avbench.evaluate.aot_cues import PREDICTION_COLUMNS, cue_test, heldout_keys
from avbench.shards.write import select_keys
from avbench.pretrain import pretrain, sample_rows, split_heldout


def test_select_keys_and_variant_parsing():
    m = pd.DataFrame({"id": ["a/b", "c", "a_b", "d"], "x": [1, 2, 3, 4]})
    assert select_keys(m, ["c", "d"])["x"].tolist() == [2, 4]
    assert len(select_keys(m, [])) == 0
    assert _variant("raw=results/shards/x:results/shards/x/index.parquet") == (
        "raw",
        ("results/shards/x", "results/shards/x/index.parquet"),
    )
    assert _variant("cropped=some/dir") == ("cropped", ("some/dir", None))
    with pytest.raises(argparse.ArgumentTypeError):
        _variant("no-name")


def test_cue_test_scores_the_same_heldout_videos_in_every_variant(tiny_world, cfg_for, tmp_path):
    """Trained on falling blobs, the model tells their direction on its held-out videos; the same
    keys with spinning discs instead (a variant whose arrow of time is gone) fall to chance. Every
    (video, clip) is scored in both directions in both variants."""
    fall = tiny_world("fall", classes=("fall",), n_videos=48)
    spin = tiny_world("spin", classes=("spin",), n_videos=48)  # same keys v000..v047, no arrow of time
    cfg = cfg_for("aot", epochs=4)
    pretrain(run="aot", cfg=cfg, shard_dir=fall, out_dir=tmp_path / "aot", seed=0, progress=False, threads=2)
    ck = torch.load(tmp_path / "aot" / "checkpoint.pt", weights_only=False)

    keys, source = heldout_keys(ck)
    expected = split_heldout(sample_rows(fall)["key"].tolist(), 0)[1]
    assert source == "checkpoint" and keys == expected and len(keys) == 5
    del ck["meta"]["heldout_keys"]  # an older checkpoint: recomputed the way pretrain drew them
    assert heldout_keys(ck, shards=fall) == (expected, "recomputed")

    summary, pred = cue_test(ck, {"raw": (str(fall), None), "spin": (str(spin), None)}, clips_per_video=2)
    assert list(pred.columns) == PREDICTION_COLUMNS
    assert set(pred["key"]) == set(keys)
    by = {v: set(zip(d["key"], d["clip"], d["start"], d["direction"])) for v, d in pred.groupby("variant")}
    assert by["raw"] == by["spin"] and len(by["raw"]) == len(keys) * 2 * 2  # paired, both directions
    assert (pred["true"] == (pred["direction"] == "forward").astype(int)).all()
    assert ((pred["score"] > 0.5).astype(int) == pred["predicted"]).all()
    s = summary.set_index("variant")
    assert s.loc["raw", "accuracy"] > 0.85 and s.loc["spin", "accuracy"] < 0.75  # chance 0.5
    assert s.loc["spin", "accuracy_minus_first"] < -0.15 and s.loc["raw", "accuracy_minus_first"] == 0
    assert s.loc["raw", "n_videos"] == 5 and s.loc["raw", "n_clips"] == 10
    assert s.loc["raw", "heldout_keys_from"] == "recomputed"

    out, preds = tmp_path / "cues.csv", tmp_path / "cues.parquet"
    assert (
        main(
            [
                "aot-cues",
                "--checkpoint",
                str(tmp_path / "aot" / "checkpoint.pt"),
                "--variant",
                f"raw={fall}",
                "--variant",
                f"spin={spin}",
                "--clips-per-video",
                "2",
                "-o",
                str(out),
                "--predictions",
                str(preds),
            ]
        )
        == 0
    )
    cli = pd.read_csv(out).set_index("variant")
    assert cli.loc["raw", "heldout_keys_from"] == "checkpoint"
    assert np.allclose(cli["accuracy"].to_numpy(), s["accuracy"].to_numpy())
    written = pd.read_parquet(preds)  # with the run and its seed, for the findings
    assert written.shape == (len(pred), len(pred.columns) + 2) and set(written["method"]) == {"aot"}
    assert set(written["seed"]) == {0}
    kfile = tmp_path / "keys.txt"
    assert main(["aot-cues-keys", str(tmp_path / "aot" / "checkpoint.pt"), "-o", str(kfile)]) == 0
    assert kfile.read_text().split() == keys
