"""One evaluation job through the library (avbench.evaluate.run), without the command line: the rows
and predictions it returns are those that `avbench evaluate` writes."""

from __future__ import annotations

import pandas as pd
import yaml

from avbench.cli import main
from avbench.config import load_config
from avbench.evaluate.run import EvalResult, evaluate_checkpoint, finetune_checkpoint, frozen_protocols

EVALUATE = {
    "protocols": ["linear", "retrieval", "finetune"],
    "clips_per_video": 2,
    "finetune": {"epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 0.003},
}


def _config(tmp_path) -> str:
    """A config (the schema's defaults around this evaluate section) for the command line's run."""
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "run_name": "unit",
                "datasets": {"squares": {"format": "folder", "source": str(tmp_path), "modality": "audiovisual"}},
                "pretrain_dataset": "squares",
                "downstream": {"squares": "video"},
                "pretrain": {"methods": [], "clip_frames": 8},
                "evaluate": EVALUATE,
            }
        )
    )
    return str(path)


def test_evaluate_checkpoint_returns_the_rows_and_predictions_the_cli_writes(tmp_path, moving_squares, tiny_checkpoint):
    shards = tmp_path / "d"
    moving_squares(shards, n_videos=12)
    ck = tiny_checkpoint(shards, method="avts")
    cfg = _config(tmp_path)
    res = evaluate_checkpoint(
        checkpoint=ck,
        shard_dir=shards,
        index_path=shards / "index.parquet",
        task="video",
        downstream="squares",
        settings=load_config(cfg)["evaluate"],
        run_name="unit",
    )
    assert isinstance(res, EvalResult) and res.protocols == ("linear", "retrieval")
    rows = res.rows
    assert set(rows["protocol"]) == {"linear", "retrieval"} and set(rows["fold"]) == {1, 2, 3}
    assert list(rows.columns[:4]) == ["method", "pretext", "pretrain_data", "downstream"]
    assert set(rows["method"]) == {"avts"} and set(rows["downstream"]) == {"squares"}
    assert (rows["run_name"] == "unit").all() and (rows["clips_used"] == 12).all() and (rows["seed"] == 0).all()
    assert rows["value"].between(0, 1).all()
    p = res.predictions
    assert list(p.columns[:3]) == ["method", "seed", "downstream"] and set(p["protocol"]) == {"linear", "retrieval"}

    out, preds = tmp_path / "rows.csv", tmp_path / "preds.parquet"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ck),
                "--shards",
                str(shards),
                "--index",
                str(shards / "index.parquet"),
                "--kind",
                "video",
                "--downstream",
                "squares",
                "--config",
                cfg,
                "--threads",
                "1",
                "-o",
                str(out),
                "--predictions",
                str(preds),
            ]
        )
        == 0
    )
    cols = ["method", "encoder", "protocol", "fold", "metric", "value", "n_test", "clips_used", "run_name"]
    pd.testing.assert_frame_equal(pd.read_csv(out)[cols], rows[cols].reset_index(drop=True), check_dtype=False)
    cols = ["method", "seed", "downstream", "encoder", "protocol", "fold", "key", "clip"]
    pd.testing.assert_frame_equal(pd.read_parquet(preds)[cols], p[cols])


def test_finetune_checkpoint_and_the_protocols_of_an_external_encoder(tmp_path, moving_squares, tiny_checkpoint):
    shards = tmp_path / "d"
    moving_squares(shards, n_videos=12)
    ck = tiny_checkpoint(shards)
    settings = load_config(_config(tmp_path))["evaluate"]
    res = finetune_checkpoint(
        checkpoint=ck,
        shard_dir=shards,
        index_path=shards / "index.parquet",
        task="audio",
        downstream="squares",
        fold=1,
        protocol="finetune_top",
        settings=settings,
        run_name="unit",
    )
    assert res.protocols == ("finetune_top",) and set(res.rows["protocol"]) == {"finetune_top"}
    assert set(res.rows["fold"]) == {1} and set(res.predictions["fold"]) == {1}
    assert frozen_protocols(settings, {"method": "external"}) == ["linear"]  # no joint embedding to retrieve with
    assert frozen_protocols(settings, {"method": "avts"}, ["retrieval"]) == ["retrieval"]
