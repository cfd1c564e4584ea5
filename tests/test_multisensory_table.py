"""Seed 000's Multisensory table and its findings from constructed predictions with known answers; both
exist only when Multisensory runs do, and the overlay that adds them leaves the default runs alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from avbench.findings import Checker
from avbench.stats import Bootstrap, units
from avbench.tables import compute_tables, multisensory_plan, multisensory_variant, plan_tables

RUNS = pd.DataFrame(
    [
        # the fused network at random init, listed before the video random init (its reference must not change)
        {"run": "scratch_ms", "method": "scratch", "video_backbone": "multisensory"},
        {"run": "scratch", "method": "scratch", "video_backbone": "small3d"},
        {"run": "scratch_2d", "method": "scratch", "video_backbone": "small2d"},
        {"run": "ms_rand", "method": "multisensory", "video_backbone": "small3d", "multisensory.negatives": "random"},
        {"run": "ms", "method": "multisensory", "video_backbone": "small3d"},  # the settings' defaults: full
        {
            "run": "ms_spec",
            "method": "multisensory",
            "video_backbone": "small3d",
            "multisensory.audio_input": "spectrogram",
        },
        {"run": "avts", "method": "avts", "video_backbone": "small3d"},
    ]
)
# video accuracy of each (run, protocol) on the action set: every prediction of a video is right with this
# probability (drawn once per video, the same draws for every cell)
ACC = {
    ("ms", "finetune_av"): 0.85,
    ("ms", "finetune"): 0.55,
    ("ms", "linear"): 0.50,
    ("ms_spec", "finetune_av"): 0.80,
    ("ms_spec", "finetune"): 0.52,
    ("ms_rand", "finetune_av"): 0.50,
    ("ms_rand", "finetune"): 0.50,
    ("ms_rand", "linear"): 0.49,
    ("scratch", "finetune"): 0.40,
    ("scratch_ms", "finetune_av"): 0.70,
    ("scratch_ms", "finetune"): 0.40,
    ("scratch", "linear"): 0.30,
    ("avts", "linear"): 0.45,
}
NO_AUDIO = 2  # test videos without audio per finetune_av fold


def _predictions(acc: dict[tuple[str, str], float], *, videos: int = 60, folds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    u = rng.random((folds, videos))  # one draw per video: cells differ only by their accuracies
    rows = []
    for (run, protocol), p in acc.items():
        for f in range(1, folds + 1):
            for v in range(videos):
                label = v % 4
                pred = label if u[f - 1, v] < p else (label + 1) % 4
                for clip in range(2):
                    rows.append(
                        {
                            "method": run,
                            "seed": 0,
                            "encoder": "video",
                            "downstream": "act",
                            "protocol": protocol,
                            "fold": f,
                            "key": f"f{f}v{v}",
                            "clip": clip,
                            "label": label,
                            "pred": pred,
                            "video_pred": pred,
                        }
                    )
    return pd.DataFrame(rows)


def _leaderboard(pred: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard rows (one per run, protocol, fold, metric) from the predictions, as the jobs write them."""
    g = pred.groupby(["method", "encoder", "downstream", "protocol", "fold", "key"], sort=False)
    v = g.apply(lambda d: float((d["video_pred"] == d["label"]).iloc[0]), include_groups=False).rename("value")
    lb = v.reset_index().groupby(["method", "encoder", "downstream", "protocol", "fold"])["value"].agg(["mean", "size"])
    lb = lb.reset_index().rename(columns={"mean": "value", "size": "n_test"})
    lb["metric"], lb["seed"] = "video_acc", 0
    lb["n_test_no_audio"] = np.where(lb["protocol"] == "finetune_av", NO_AUDIO, np.nan)
    flow = lb[lb["method"] == "scratch"].assign(encoder="flow", value=0.9)  # another encoder: not in the table
    return pd.concat([lb, flow], ignore_index=True)


METRICS = {"ms": pd.DataFrame({"epoch": [1, 2], "val_pretext_acc": [0.5, 0.75], "val_sync_auc": [0.5, 0.8]})}


@pytest.fixture(scope="module")
def boot_and_rows():
    pred = _predictions(ACC)
    return Bootstrap(units(pred), n=500), _leaderboard(pred)


def test_variants_and_rows_follow_the_settings_not_the_names():
    assert [multisensory_variant(RUNS, r) for r in ("ms", "ms_spec", "ms_rand")] == [
        "full",
        "spectrogram",
        "random pairing",
    ]
    plan, scratch, fused = multisensory_plan(RUNS)
    assert scratch == "scratch"  # the random init of the same video backbone, not the frame encoder's
    assert fused == "scratch_ms"
    assert plan == [
        ("full", "ms", "finetune_av"),
        ("spectrogram", "ms_spec", "finetune_av"),
        ("random pairing", "ms_rand", "finetune_av"),
        ("vision only", "ms", "finetune"),
        ("spectrogram, vision only", "ms_spec", "finetune"),
        ("random pairing, vision only", "ms_rand", "finetune"),
        ("scratch (fused)", "scratch_ms", "finetune_av"),
        ("scratch (fused), vision only", "scratch_ms", "finetune"),
        ("scratch", "scratch", "finetune"),
    ]


def test_the_table_is_seed_000s_with_paired_differences_to_scratch(boot_and_rows):
    boot, rows = boot_and_rows
    t = compute_tables(rows, RUNS, METRICS, protocols=["linear", "finetune"], boot=boot)["multisensory"]
    t = t.set_index("row")
    assert t.index.tolist()[:4] == ["full", "spectrogram", "random pairing", "vision only"]
    assert t.index[-1] == "scratch" and t.loc["scratch", "fine-tuned on"] == "video alone"
    assert t.loc["full", "fine-tuned on"] == "video + audio" and t.loc["full", "audio input"] == "waveform"
    assert t.loc["spectrogram", "audio input"] == "spectrogram" and t.loc["random pairing", "negatives"] == "random"
    for row, (run, protocol) in {
        "full": ("ms", "finetune_av"),
        "vision only": ("ms", "finetune"),
        "scratch": ("scratch", "finetune"),
    }.items():
        e = boot.estimate(run, "video", "act", protocol, "video_acc")
        assert t.loc[row, "acc"] == pytest.approx(100 * e.mean, abs=0.06)
    # the paired difference to scratch: the cells share their videos' draws, so it is exact here
    full = boot.estimate("ms", "video", "act", "finetune_av", "video_acc")
    scr = boot.estimate("scratch", "video", "act", "finetune", "video_acc")
    assert t.loc["full", "diff to scratch"] == pytest.approx(100 * (full.mean - scr.mean), abs=0.06)
    assert 0 < t.loc["full", "diff lo"] < t.loc["full", "diff to scratch"] < t.loc["full", "diff hi"]
    assert t.loc["scratch", "diff to scratch"] == 0.0 and t.loc["scratch", "diff lo"] == 0.0
    # what the pretraining adds to the same network and inputs: full 85% vs the fused random init's 70%
    fused = boot.estimate("scratch_ms", "video", "act", "finetune_av", "video_acc")
    assert t.loc["full", "diff to fused scratch"] == pytest.approx(100 * (full.mean - fused.mean), abs=0.06)
    assert t.loc["full", "fused diff lo"] > 0 and t.loc["scratch (fused)", "diff to fused scratch"] == 0.0
    assert (
        t.loc["scratch (fused)", "fine-tuned on"] == "video + audio"
        and t.loc["scratch (fused)", "audio input"] == "waveform"
    )
    assert t.loc["random pairing", "diff lo"] > 0 or t.loc["random pairing", "diff to scratch"] > 5
    assert t.loc["full", "linear acc"] == pytest.approx(
        100 * boot.estimate("ms", "video", "act", "linear", "video_acc").mean, abs=0.06
    )
    assert t.loc["full", "pretext acc (%)"] == 75.0 and t.loc["full", "sync AUC (%)"] == 80.0
    assert t.loc["full", "test videos"] == 180 and t.loc["full", "test videos without audio"] == 3 * NO_AUDIO
    assert t.loc["scratch", "test videos"] == 180 and t.loc["scratch", "acc"] < 50  # the video encoder's rows only
    assert np.isnan(t.loc["vision only", "test videos without audio"])
    # without the units: the accuracies, no differences
    t2 = compute_tables(rows, RUNS, METRICS, protocols=["linear"])["multisensory"]
    assert t2["diff to scratch"].isna().all() and t2["acc"].notna().all()


def test_the_table_is_planned_only_with_multisensory_runs():
    none = RUNS[RUNS["method"] != "multisensory"]
    assert "multisensory" in plan_tables(RUNS, ["linear"])
    assert "multisensory" not in plan_tables(none, ["linear", "finetune"])


def test_multisensory_findings_known_answers(boot_and_rows):
    boot, _ = boot_and_rows
    f = Checker(boot, RUNS).all()
    beats = f[f["finding"] == "multisensory_beats_scratch"].set_index("b")
    assert set(beats.index) == {"scratch_ms", "scratch"} and (beats["a"] == "ms").all()
    assert (
        beats.loc["scratch", "protocol"] == "finetune_av vs finetune"
        and beats.loc["scratch", "verdict"] == "reproduced"
    )
    assert beats.loc["scratch_ms", "protocol"] == "finetune_av" and beats.loc["scratch_ms", "verdict"] == "reproduced"
    # the other runs keep the video random init as their reference, whatever the order of the scratch runs
    ssl = f[f["finding"] == "ssl_beats_scratch"]
    assert set(ssl["b"]) == {"scratch"} and "scratch_ms" not in set(ssl["a"])
    audio = f[f["finding"] == "multisensory_audio_helps"].set_index("a")
    assert set(audio.index) == {"ms", "ms_spec", "ms_rand"} and (audio["b"] == audio.index).all()
    u = np.random.default_rng(0).random((3, 60))  # the draws of _predictions: right where u < accuracy
    assert audio.loc["ms", "verdict"] == "reproduced"
    assert audio.loc["ms", "diff"] == pytest.approx(100 * ((u >= 0.55) & (u < 0.85)).mean(), abs=0.01)
    assert audio.loc["ms", "note"] == "the interval is above the seed's 5 points"
    assert audio.loc["ms_rand", "verdict"] == "inconclusive" and audio.loc["ms_rand", "diff"] == 0
    assert audio.loc["ms_rand", "note"] == "the interval is below the seed's 5 points"
    sync = f[f["finding"] == "sync_beats_random_pairing"].set_index("protocol")
    assert set(sync.index) == {"finetune_av", "linear"} and (sync["a"] == "ms").all() and (sync["b"] == "ms_rand").all()
    assert sync.loc["finetune_av", "verdict"] == "reproduced" and sync.loc["linear", "verdict"] == "inconclusive"
    assert (f["seed_doc"][f["finding"].str.contains("multisensory|sync_beats")] == "000").all()


def test_no_multisensory_findings_without_the_runs_or_the_av_fine_tune():
    none = RUNS[RUNS["method"] != "multisensory"]
    keep = {k: v for k, v in ACC.items() if k[0] in set(none["run"])}
    f = Checker(Bootstrap(units(_predictions(keep)), n=200), none).all()
    assert (
        not f["finding"]
        .isin(["multisensory_beats_scratch", "multisensory_audio_helps", "sync_beats_random_pairing"])
        .any()
    )
    linear_only = {k: v for k, v in ACC.items() if k[1] != "finetune_av"}
    f = Checker(Bootstrap(units(_predictions(linear_only)), n=200), RUNS).all()
    assert not f["finding"].isin(["multisensory_beats_scratch", "multisensory_audio_helps"]).any()
    assert f.loc[f["finding"] == "sync_beats_random_pairing", "protocol"].tolist() == ["linear"]


def test_the_table_is_in_the_default_run_and_the_overlay_only_lengthens_its_runs():
    """config.yaml plans the Multisensory table; workflow/configs/multisensory.yaml sets no `pretrain.methods` (a
    list: it would replace the default's and drop runs) and trains the three runs, all default runs, 6 epochs."""
    from avbench.config import deep_merge, run_names, run_settings, validate
    from avbench.pretext import PRETEXTS
    from avbench.tables import run_table

    root = Path(__file__).resolve().parents[1]
    base = yaml.safe_load((root / "config.yaml").read_text())
    over = yaml.safe_load((root / "workflow" / "configs" / "multisensory.yaml").read_text())
    assert "methods" not in over["pretrain"] and set(over) == {"pretrain"}
    assert set(over["pretrain"]["runs"]) == {"multisensory", "multisensory_spec", "multisensory_random"}
    assert set(over["pretrain"]["runs"]) <= set(base["pretrain"]["methods"])
    cfg = validate(deep_merge(base, over))
    assert run_names(cfg) == run_names(validate(base))
    for r in over["pretrain"]["runs"]:
        assert run_settings(cfg, r) == {**run_settings(validate(base), r), "epochs": 6}, r
        assert run_settings(validate(base), r)["epochs"] < 6, r
    assert "multisensory" in plan_tables(run_table(validate(base)), ["linear"])
    assert "multisensory" in plan_tables(run_table(cfg), cfg["evaluate"]["protocols"])
    assert cfg["evaluate"] == validate(base)["evaluate"]  # the evaluation jobs' settings are untouched
    assert cfg["multisensory"] == validate(base)["multisensory"]
    ms = [r for r in run_names(cfg) if run_settings(cfg, r)["method"] == "multisensory"]
    assert sorted(multisensory_variant(run_table(cfg), r) for r in ms) == ["full", "random pairing", "spectrogram"]
    fused = [r for r in run_names(cfg) if run_settings(cfg, r)["video_backbone"] == "multisensory"]
    assert fused == ["multisensory_scratch"] and run_settings(cfg, fused[0])["method"] == "scratch"
    assert set(cfg["multisensory"]["runs"]) == set(ms) | set(fused)
    assert multisensory_plan(run_table(cfg))[1:] == ("scratch", "multisensory_scratch")
    for r in ms:  # each builds its pretext from its settings
        PRETEXTS["multisensory"](run_settings(cfg, r), n_classes=8, seed=0)
    wav = cfg["multisensory"]["waveform_sets"]["synth_action"]
    assert cfg["datasets"][wav]["shard"] == {"waveform": True}
    assert cfg["datasets"][wav]["source"] == cfg["datasets"]["synth_action"]["source"]


def test_the_table_picture_is_written(boot_and_rows, tmp_path):
    from avbench.plots import plot_multisensory

    boot, rows = boot_and_rows
    t = compute_tables(rows, RUNS, METRICS, protocols=["linear"], boot=boot)["multisensory"]
    plot_multisensory(t, tmp_path / "ms.png")
    assert (tmp_path / "ms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_multisensory(t.iloc[0:0], tmp_path / "empty.png")  # no rows yet: an empty frame, not a crash
    assert (tmp_path / "empty.png").exists()
