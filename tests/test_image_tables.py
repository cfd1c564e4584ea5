"""Seed 002's image-pretext table and findings from synthetic leaderboard rows and predictions with
known answers; the table and the findings rows exist only when image runs do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avbench.findings import Checker
from avbench.stats import Bootstrap, units
from avbench.tables import compute_tables, image_tasks, plan_tables

RUNS = pd.DataFrame(
    [
        {"run": "scratch", "method": "scratch", "video_backbone": "small3d"},
        {"run": "supervised", "method": "supervised", "video_backbone": "small3d"},
        {"run": "avts", "method": "avts", "video_backbone": "small3d"},
        {"run": "scratch_2d", "method": "scratch", "video_backbone": "small2d"},
        {
            "run": "both",
            "method": "image_multitask",
            "video_backbone": "small2d",
            "image.tasks": '["colour", "context"]',
        },
        {"run": "rot", "method": "image_rotation", "video_backbone": "small2d"},
        {"run": "ctx", "method": "image_context", "video_backbone": "small2d"},
        {"run": "col", "method": "image_colour", "video_backbone": "small2d"},
        {"run": "trio", "method": "image_multitask", "video_backbone": "small2d"},  # image.tasks' default
        {"run": "ex", "method": "image_exemplar", "video_backbone": "small2d"},
        {"run": "supervised_2d", "method": "supervised", "video_backbone": "small2d"},
    ]
)
# video-level linear accuracy of each run on the action set (exact in the leaderboard rows)
ACC = {
    "scratch": 0.30,
    "supervised": 0.90,
    "avts": 0.60,
    "scratch_2d": 0.25,
    "rot": 0.50,
    "ctx": 0.45,
    "col": 0.40,
    "ex": 0.20,
    "both": 0.70,
    "trio": 0.44,
    "supervised_2d": 0.80,
}


def _leaderboard() -> pd.DataFrame:
    rows = []
    for run, acc in ACC.items():
        for fold, d in zip((1, 2, 3), (-0.05, 0.0, 0.05)):
            rows.append(
                {
                    "method": run,
                    "seed": 0,
                    "encoder": "video",
                    "downstream": "act",
                    "protocol": "linear",
                    "fold": fold,
                    "metric": "video_acc",
                    "value": acc + d,
                }
            )
            if run in ("scratch_2d", "ctx"):
                rows.append({**rows[-1], "protocol": "finetune", "value": acc + 0.1 + d})
            if run == "scratch_2d":
                rows.append({**rows[-1], "encoder": "audio", "downstream": "snd", "protocol": "linear", "value": 0.5})
    return pd.DataFrame(rows)


METRICS = {
    "rot": pd.DataFrame({"epoch": [1, 2], "val_rotation_acc": [0.5, 0.9], "val_pretext_acc": [0.5, 0.9]}),
    "both": pd.DataFrame({"epoch": [1], "val_context_acc": [0.6], "val_colour_acc": [0.3], "val_pretext_acc": [0.45]}),
}


def test_image_tasks_of_each_run():
    assert image_tasks(RUNS, "both") == ("context", "colour")  # the seed's order, not the config's
    assert image_tasks(RUNS, "trio") == ("context", "colour", "exemplar")
    assert image_tasks(RUNS, "rot") == ("rotation",) and image_tasks(RUNS, "avts") == ()


def test_the_image_table_is_seed_002s_combination_table():
    t = compute_tables(_leaderboard(), RUNS, METRICS, protocols=["linear", "finetune"])["image_pretexts"]
    assert t["run"].tolist() == ["scratch_2d", "ctx", "col", "ex", "rot", "both", "trio", "supervised_2d"]
    assert t["self-supervision task"].tolist() == [
        "Random",
        "Rel. Pos",
        "Colour",
        "Exemplar",
        "Rotation",
        "Rel. Pos + Colour",
        "Rel. Pos + Colour + Exemplar",
        "labels (supervised)",
    ]
    t = t.set_index("run")
    assert t.loc["rot", "act linear"] == 50.0 and t.loc["rot", "act linear ±"] == 5.0
    assert t.loc["both", "act linear"] == 70.0 and t.loc["supervised_2d", "act linear"] == 80.0
    assert t.loc["ctx", "act finetune"] == 55.0 and np.isnan(t.loc["rot", "act finetune"])
    assert t.loc["rot", "pretext acc (%)"] == 90.0 and t.loc["rot", "Rotation acc (%)"] == 90.0
    assert t.loc["both", "Rel. Pos acc (%)"] == 60.0 and t.loc["both", "Colour acc (%)"] == 30.0
    assert np.isnan(t.loc["both", "Rotation acc (%)"]) and np.isnan(t.loc["scratch_2d", "pretext acc (%)"])
    assert "snd linear" not in t.columns  # the frame encoder's table: the action set only
    assert "scratch" not in t.index and "supervised" not in t.index  # other encoders' references stay out


def test_the_image_table_is_planned_only_with_image_runs():
    no_image = RUNS[~RUNS["method"].str.startswith("image_")]
    assert "image_pretexts" in plan_tables(RUNS, ["linear"])
    assert "image_pretexts" not in plan_tables(no_image, ["linear", "finetune"])


def _predictions(accuracy: dict[str, float], *, videos: int = 80, folds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for run, acc in accuracy.items():
        for f in range(1, folds + 1):
            for v in range(videos):
                label = v % 4
                pred = label if rng.random() < acc else (label + 1) % 4
                for protocol in ("linear", "finetune") if run in ("trio", "ctx", "col") else ("linear",):
                    rows.append(
                        {
                            "method": run,
                            "seed": 0,
                            "downstream": "act",
                            "encoder": "video",
                            "protocol": protocol,
                            "fold": f,
                            "key": f"f{f}v{v}",
                            "clip": 0,
                            "label": label,
                            "pred": pred,
                            "video_pred": pred,
                        }
                    )
    return pd.DataFrame(rows)


def test_image_findings_known_answers():
    f = Checker(Bootstrap(units(_predictions(ACC)), n=500), RUNS).all()
    beats = f[f["finding"] == "image_pretext_beats_scratch"].set_index("a")
    assert set(beats.index) == {"ctx", "col", "ex", "rot", "both", "trio"}
    assert set(beats["b"]) == {"scratch_2d"} and set(beats["seed_doc"]) == {"002"}  # the same frame encoder
    assert beats.loc["rot", "verdict"] == "reproduced" and beats.loc["both", "verdict"] == "reproduced"
    assert beats.loc["ex", "verdict"] == "inconclusive"  # 20% vs 25%: within the interval
    assert beats.loc["both", "claim"] == "both (Rel. Pos + Colour) > random init"
    # image runs are not compared with the 3D encoder's random init
    ssl = f[f["finding"] == "ssl_beats_scratch"]
    assert set(ssl["a"]) == {"avts"}
    multi = f[f["finding"] == "multitask_beats_best_single"]
    lin = multi[multi["protocol"] == "linear"].set_index("a")
    # both (context + colour): the best of ctx / col is ctx (45%); rotation is not one of its tasks
    assert lin.loc["both", "b"] == "ctx" and lin.loc["both", "verdict"] == "reproduced"
    assert lin.loc["trio", "b"] == "ctx" and lin.loc["trio", "verdict"] == "inconclusive"
    ft = multi[multi["protocol"] == "finetune"]
    assert ft["a"].tolist() == ["trio"] and ft["b"].tolist() == ["ctx"]  # fine-tuned: compared where both were
    assert lin.loc["both", "diff"] == pytest.approx(lin.loc["both", "a_mean"] - lin.loc["both", "b_mean"], abs=0.02)


def test_no_image_findings_without_image_runs():
    no_image = RUNS[~RUNS["method"].str.startswith("image_")]
    f = Checker(
        Bootstrap(units(_predictions({k: v for k, v in ACC.items() if k in set(no_image["run"])})), n=200), no_image
    ).all()
    assert not f["finding"].isin(["image_pretext_beats_scratch", "multitask_beats_best_single"]).any()


def test_image_runs_are_default_runs_and_the_overlay_lengthens_them():
    """The default run trains the ten image runs (reduced budgets) and plans their table;
    workflow/configs/image_pretexts.yaml sets no `pretrain.methods` (a list: it would replace the default's and drop
    runs) and gives every run it configures, all default runs, the measured budgets (6 epochs; 12 frames a video)."""
    from pathlib import Path

    import yaml

    from avbench.config import deep_merge, run_names, run_settings, validate
    from avbench.pretext import PRETEXTS
    from avbench.tables import run_table

    repo = Path(__file__).resolve().parents[1]
    raw = yaml.safe_load((repo / "config.yaml").read_text())
    cfg = validate(raw)
    image_runs = [r for r, e in cfg["pretrain"]["runs"].items() if str(e["method"]).startswith("image_")]
    assert len(image_runs) == 8 and set(image_runs) | {"scratch_2d", "supervised_2d"} <= set(run_names(cfg))
    for r in run_names(cfg):  # the frame encoder is the image runs' alone; image settings only on image runs
        s = run_settings(cfg, r)
        assert ("image" in s) == (s["method"] == "image_multitask"), r
        assert (s["video_backbone"] == "small2d") == (r in image_runs or r in ("scratch_2d", "supervised_2d")), r
    assert "image_pretexts" in plan_tables(run_table(cfg), cfg["evaluate"]["protocols"])
    over = yaml.safe_load((repo / "workflow" / "configs" / "image_pretexts.yaml").read_text())
    assert "methods" not in over["pretrain"]
    assert set(over["pretrain"]["runs"]) == set(image_runs) | {"supervised_2d"}
    assert set(over["pretrain"]["runs"]) <= set(raw["pretrain"]["methods"])
    c2 = validate(deep_merge(raw, over))
    assert run_names(c2) == run_names(cfg)
    for r in image_runs:  # the measured budget; the rest of each run's settings is the default run's
        s, b = run_settings(c2, r), run_settings(cfg, r)
        assert (s["epochs"], s["clips_per_video"]) == (6, 12) and s["epochs"] * s["clips_per_video"] > b["epochs"] * b[
            "clips_per_video"
        ], r
        assert {k: v for k, v in s.items() if k not in ("epochs", "clips_per_video")} == {
            k: v for k, v in b.items() if k not in ("epochs", "clips_per_video")
        }, r
        PRETEXTS[s["method"]](s, n_classes=8, seed=0)  # every image run builds its pretext from its settings
    assert run_settings(c2, "supervised_2d") == {**run_settings(cfg, "supervised_2d"), "epochs": 6}
    assert run_settings(c2, "scratch_2d") == run_settings(cfg, "scratch_2d")
