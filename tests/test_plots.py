"""Plots from hand-made rows, metrics and tables."""

from __future__ import annotations

import pandas as pd

from avbench.plots import curriculum_switch, plot_k_sweep, plot_leaderboard, plot_pretext_curves


def _rows():
    rows = []
    for run, a in (("scratch", 0.2), ("avts", 0.6), ("supervised", 0.9)):
        for proto in ("linear", "finetune"):
            for f in (1, 2, 3):
                rows.append(
                    {
                        "method": run,
                        "encoder": "video",
                        "downstream": "act",
                        "protocol": proto,
                        "fold": f,
                        "metric": "video_acc",
                        "value": a + 0.05 * f,
                        "chance": 0.125,
                    }
                )
    for m, v in (("v2a_r1", 0.1), ("v2a_r5", 0.4), ("a2v_r1", 0.12)):
        for f in (1, 2, 3):
            rows.append(
                {
                    "method": "avts",
                    "encoder": "video+audio",
                    "downstream": "act",
                    "protocol": "retrieval",
                    "fold": f,
                    "metric": m,
                    "value": v,
                    "chance": 0.05,
                }
            )
    return pd.DataFrame(rows)


def test_pictures_are_written(tmp_path):
    plot_leaderboard(_rows(), tmp_path / "bars.png")
    metrics = {
        "avts_cur": pd.DataFrame(
            {"epoch": [1, 2, 3, 4], "val_pretext_acc": [0.5, 0.6, 0.7, 0.8], "easy_fraction": [1.0, 1.0, 0.75, 0.75]}
        ),
        "scratch": pd.DataFrame(),
    }
    plot_pretext_curves(metrics, tmp_path / "curves.png")
    table = pd.DataFrame(
        {
            "method": ["xdc"],
            "downstream": ["act"],
            "protocol": ["linear"],
            "k=8": [40.0],
            "k=8 ±": [2.0],
            "k=64": [50.0],
            "k=64 ±": [3.0],
        }
    )
    plot_k_sweep(table, tmp_path / "k.png")
    for name in ("bars.png", "curves.png", "k.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_curriculum_switch_is_the_last_easy_only_epoch():
    assert curriculum_switch(pd.DataFrame({"epoch": [1, 2, 3], "easy_fraction": [1.0, 1.0, 0.75]})) == 2.0
    assert curriculum_switch(pd.DataFrame({"epoch": [1, 2], "easy_fraction": [0.75, 0.75]})) is None
    assert curriculum_switch(pd.DataFrame({"epoch": [1, 2], "val_pretext_acc": [0.5, 0.6]})) is None
