"""The findings: per-video units from predictions, bootstrap intervals, paired differences and the
verdicts on known inputs (a true difference, none, a reversed one)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avbench.findings import Checker, cue_units, render_markdown
from avbench.stats import Bootstrap, difference, seed_estimate, units, verdict

RUNS = pd.DataFrame(
    [
        {"run": "scratch", "method": "scratch"},
        {"run": "good", "method": "avts", "avts.easy_fraction": 1.0, "avts.curriculum_switch": 0.0},
        {"run": "same", "method": "l3"},
        {"run": "worse", "method": "infonce"},
        {"run": "supervised", "method": "supervised"},
    ]
)


def _predictions(
    accuracy: dict[str, float],
    *,
    seeds: tuple[int, ...] = (0, 1, 2),
    folds: int = 3,
    videos: int = 60,
    clips: int = 2,
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Per-clip predictions of a 4-class set: each run calls each test video right with its
    probability (the same draw for every clip of a video)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for run, acc in accuracy.items():
        for s in seeds:
            for f in range(1, folds + 1):
                for v in range(videos):
                    label = v % 4
                    right = rng.random() < acc
                    pred = label if right else (label + 1) % 4
                    for c in range(clips):
                        rows.append(
                            {
                                "method": run,
                                "seed": s,
                                "downstream": "act",
                                "encoder": "video",
                                "protocol": "linear",
                                "fold": f,
                                "key": f"f{f}v{v}",
                                "clip": c,
                                "label": label,
                                "pred": pred,
                                "video_pred": pred,
                            }
                        )
    return pd.DataFrame(rows)


def test_units_and_intervals_cover_the_truth():
    u = units(_predictions({"good": 0.7}))
    assert set(u["metric"]) == {"clip_acc", "video_acc"} and len(u) == 2 * 3 * 3 * 60
    e = Bootstrap(u, n=500).estimate("good", "video", "act", "linear", "video_acc")
    assert e is not None and e.seeds == 3 and e.folds == 3 and e.videos == 180
    assert e.lo < e.mean < e.hi and e.lo < 0.7 < e.hi and e.hi - e.lo < 0.15


def test_retrieval_units_from_ranks():
    p = pd.DataFrame(
        [
            {
                "method": "a",
                "seed": 0,
                "downstream": "act",
                "encoder": "video+audio",
                "protocol": "retrieval",
                "fold": 1,
                "key": f"v{i}",
                "clip": 0,
                "direction": "v2a",
                "rank": r,
            }
            for i, r in enumerate([0, 0, 3, 7])
        ]
    )
    u = units(p).set_index("metric")
    assert u.loc["v2a_r1", "value"].tolist() == [1, 1, 0, 0] and u.loc["v2a_r5", "value"].tolist() == [1, 1, 1, 0]


def test_verdicts_on_a_true_difference_no_difference_and_a_reversed_one():
    u = units(_predictions({"scratch": 0.4, "good": 0.75, "same": 0.4, "worse": 0.1, "supervised": 0.95}))
    f = Checker(Bootstrap(u, n=1000), RUNS).all()
    ssl = f[f["finding"] == "ssl_beats_scratch"].set_index("a")
    assert ssl.loc["good", "verdict"] == "reproduced" and ssl.loc["good", "lo"] > 0
    assert ssl.loc["same", "verdict"] == "inconclusive" and ssl.loc["same", "lo"] < 0 < ssl.loc["same", "hi"]
    assert ssl.loc["worse", "verdict"] == "contradicted" and ssl.loc["worse", "hi"] < 0
    assert ssl.loc["good", "diff"] == pytest.approx(ssl.loc["good", "a_mean"] - ssl.loc["good", "b_mean"], abs=0.02)
    sup = f[f["finding"] == "supervised_beats_ssl"].iloc[0]
    assert sup["b"] == "good" and sup["verdict"] == "reproduced"
    md = render_markdown(f)
    assert md.startswith("## Findings") and "**contradicted**" in md and "**reproduced**" in md


def test_sorting_and_jigsaw_are_compared_with_shuffle_and_learn_only_when_they_ran():
    runs = pd.DataFrame(
        [
            {"run": "scratch", "method": "scratch"},
            {"run": "sl", "method": "shuffle_learn"},
            {"run": "opn", "method": "sorting"},
            {"run": "jig", "method": "jigsaw"},
        ]
    )
    u = units(_predictions({"scratch": 0.3, "sl": 0.5, "opn": 0.8, "jig": 0.2}))
    f = Checker(Bootstrap(u, n=500), runs).all()
    rows = f[f["finding"] == "sorting_jigsaw_beat_shuffle_learn"].set_index("a")
    assert set(rows.index) == {"opn", "jig"} and set(rows["b"]) == {"sl"} and set(rows["seed_doc"]) == {"001"}
    assert rows.loc["opn", "verdict"] == "reproduced" and rows.loc["jig", "verdict"] == "contradicted"
    assert f[f["a"] == "opn"]["finding"].eq("ssl_beats_scratch").any()
    f2 = Checker(Bootstrap(units(_predictions({"scratch": 0.3, "opn": 0.8})), n=200), runs[runs["run"] != "sl"]).all()
    assert not (f2["finding"] == "sorting_jigsaw_beat_shuffle_learn").any()


def test_paired_difference_is_tighter_than_independent():
    """Two runs that get the same videos right: the paired interval of their difference is 0 wide."""
    p = _predictions({"good": 0.6})
    twin = p.assign(method="same")
    b = Bootstrap(units(pd.concat([p, twin])), n=500)
    d = difference(
        b.estimate("good", "video", "act", "linear", "video_acc"),
        b.estimate("same", "video", "act", "linear", "video_acc"),
    )
    assert d.diff == 0 and d.lo == 0 and d.hi == 0


def test_single_seed_pretext_values_have_no_interval():
    assert verdict(float("nan"), float("nan")) == "inconclusive"
    e = seed_estimate([0.8])
    assert e is not None and np.isnan(e.lo)
    e3 = seed_estimate([0.8, 0.82, 0.81])
    assert e3 is not None and 0.8 <= e3.lo <= e3.hi <= 0.82


def test_cue_units_pair_variants_of_the_same_videos():
    rows = []
    for v in range(80):
        for variant, acc in (("raw", 0.95), ("cropped", 0.6), ("stabilized", 0.95)):
            right = (v * 7919 % 100) / 100 < acc
            rows.append(
                {
                    "method": "aot_kept",
                    "seed": 0,
                    "variant": variant,
                    "key": f"v{v}",
                    "clip": 0,
                    "label": 1,
                    "pred": 1 if right else 0,
                }
            )
    cues = cue_units(pd.DataFrame(rows))
    runs = pd.DataFrame([{"run": "aot_kept", "method": "aot"}])
    f = Checker(Bootstrap(units(pd.DataFrame()), n=500), runs, cue_units=cues).all().set_index("finding")
    assert f.loc["aot_bars_cue", "verdict"] == "reproduced"
    assert f.loc["aot_camera_cue", "verdict"] == "inconclusive" and f.loc["aot_camera_cue", "diff"] == 0


def test_external_encoders_are_listed_but_never_counted_as_self_supervised():
    """Handcrafted externals (no pretrained_on) are the bar every self-supervised run must clear; a
    pretrained external (kinetics400) is neither a self-supervised run nor a handcrafted bar."""
    runs = pd.concat(
        [
            RUNS,
            pd.DataFrame(
                [
                    {"run": "mfcc", "method": "external", "external.pretrained_on": ""},
                    {"run": "k400", "method": "external", "external.pretrained_on": "kinetics400"},
                ]
            ),
        ],
        ignore_index=True,
    )
    u = units(
        _predictions(
            {"scratch": 0.4, "good": 0.75, "same": 0.4, "worse": 0.1, "supervised": 0.95, "mfcc": 0.4, "k400": 0.99},
            seeds=(0,),
        )
    )
    f = Checker(Bootstrap(u, n=500), runs).all()
    assert not set(f.loc[f["finding"] == "ssl_beats_scratch", "a"]) & {"mfcc", "k400"}
    assert f.loc[f["finding"] == "supervised_beats_ssl", "b"].iloc[0] == "good"  # not k400
    hand = f[f["finding"] == "ssl_beats_handcrafted"].set_index("a")
    assert set(hand["b"]) == {"mfcc"} and set(hand.index) == {"good", "same", "worse"}
    assert hand.loc["good", "verdict"] == "reproduced" and hand.loc["worse", "verdict"] == "contradicted"


def test_the_runs_table_lists_the_external_encoders():
    from pathlib import Path

    from avbench.config import load_config
    from avbench.tables import _ordered, run_table, supervision_table

    cfg = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
    runs = run_table(cfg)
    ext = runs[runs["method"] == "external"].set_index("run")
    assert {"mfcc_stats", "motion_histogram"} <= set(ext.index)
    assert ext.loc["mfcc_stats", "dataset"] == "none" and ext.loc["mfcc_stats", "audio_backbone"] == "mfcc_stats"
    assert _ordered(runs, runs["run"].tolist())[-2:] == ["mfcc_stats", "motion_histogram"]
    rows = units(_predictions({"scratch": 0.4, "motion_histogram": 0.5}, seeds=(0,)))
    rows = rows.assign(value=rows["value"].astype(float))
    table = supervision_table(
        rows.groupby(["method", "seed", "encoder", "downstream", "protocol", "fold", "metric"], as_index=False)[
            "value"
        ].mean(),
        runs,
        {},
    )
    assert "motion_histogram" in set(table["run"])
    assert table.set_index("run").loc["motion_histogram", "supervision"] == "external (not trained here)"


def test_encoder_hash_of_encoders_with_batchnorm_counters():
    """The feature cache's key hashes every state entry, 0-d ones (BatchNorm's int64
    num_batches_tracked) included; other weights give another hash."""
    import torch

    from avbench.checkpoint import encoder_hash
    from avbench.models import build_encoder

    spec = {"kind": "video", "name": "small3d", "channels": [4, 8, 8, 8]}
    enc = build_encoder(spec)
    assert any(t.ndim == 0 for t in enc.state_dict().values())
    ck = {
        "specs": {"video": spec},
        "encoders": {"video": enc.state_dict()},
        "meta": {"mel_norm": [0.0, 1.0], "run": "r", "method": "scratch", "seed": 0},
        "head": {},
        "metrics": [],
    }
    h = encoder_hash(ck, "video")
    assert h == encoder_hash(ck, "video") and len(h) == 16
    with torch.no_grad():
        next(enc.parameters()).add_(1.0)
    assert encoder_hash({**ck, "encoders": {"video": enc.state_dict()}}, "video") != h


def test_tracking_methods_are_scored_from_the_propagation_table_against_random_init():
    from avbench.evaluate.propagation import per_object_frame, propagation_table

    runs = pd.DataFrame(
        [
            {"run": "scratch", "method": "scratch"},
            {"run": "col", "method": "colorization"},
            {"run": "av", "method": "avts"},
        ]
    )
    rng = np.random.default_rng(0)
    seqs = [f"s{i}" for i in range(16)]

    def objs(mean: float) -> pd.DataFrame:
        return per_object_frame({s: {1: {"j": mean + 0.05 * rng.uniform(), "f": mean}} for s in seqs})

    table = propagation_table(
        {"scratch": objs(0.2), "col": objs(0.6), "av": objs(0.7), "pixels": objs(0.9)},
        dataset="davis_synth",
        reference="scratch",
    )
    f = Checker(Bootstrap(units(pd.DataFrame()), n=200), runs, propagation=table).all()
    rows = f[f["finding"] == "tracking_beats_random_features"]
    # the correspondence method only (not avts, not a baseline), against the random-init reference
    assert rows["a"].tolist() == ["col"] and rows["b"].tolist() == ["scratch"]
    r = rows.iloc[0]
    assert r["verdict"] == "reproduced" and r["lo"] > 0 and r["seed_doc"] == "001" and r["videos"] == 16
    assert r["a_mean"] - r["b_mean"] == pytest.approx(r["diff"], abs=0.02)
    assert not (
        Checker(Bootstrap(units(pd.DataFrame()), n=200), runs).all()["finding"] == "tracking_beats_random_features"
    ).any()


def test_localizing_runs_are_scored_from_the_localization_table_against_the_centre_prior():
    from avbench.evaluate.localize import localize_table

    runs = pd.DataFrame([{"run": "scratch", "method": "scratch"}, {"run": "av", "method": "avolnet"}])
    videos = [f"v{i:02d}" for i in range(20)]
    silent = np.array([i % 2 == 0 for i in range(20)])  # half the videos with a visible silent object

    def clips(pointing: np.ndarray, ciou: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"video": videos, "clip": 0, "pointing": pointing, "ciou": ciou, "silent_visible": silent})

    # the centre prior misses every sounding object; the run finds it where no silent object moves and is
    # drawn to the silent one where it does (pointing 0 there, IoU 0 against the prior's 0.05)
    table = localize_table(
        {
            "centre": clips(np.zeros(20), np.full(20, 0.05)),
            "av": clips((~silent).astype(float), np.where(silent, 0.0, 0.5)),
            "motion": clips(np.ones(20), np.full(20, 0.5)),  # a prior, never a finding's side
        },
        dataset="synth_localize",
        reference="centre",
        n_boot=300,
    )
    f = Checker(Bootstrap(units(pd.DataFrame()), n=200), runs, localization=table).all()
    rows = f[f["finding"] == "localization_beats_centre_prior"].set_index(["protocol", "metric"])
    assert set(rows["a"]) == {"av"} and set(rows["b"]) == {"centre"} and set(rows["seed_doc"]) == {"002"}
    assert sorted(rows.index) == sorted(
        (p, m) for p in ("localization", "localization (silent_object)") for m in ("pointing", "ciou")
    )
    r = rows.loc[("localization", "pointing")]
    assert (r["a_mean"], r["b_mean"], r["diff"], r["videos"]) == (50.0, 0.0, 50.0, 20)
    assert r["verdict"] == "reproduced" and 0 < r["lo"] < 50 < r["hi"]
    assert rows.loc[("localization", "ciou"), "diff"] == pytest.approx(20.0)
    s = rows.loc[("localization (silent_object)", "pointing")]
    assert s["diff"] == 0 and s["verdict"] == "inconclusive" and s["videos"] == 10 and "silent" in s["note"]
    assert rows.loc[("localization (silent_object)", "ciou"), "verdict"] == "contradicted"
    assert not (Checker(Bootstrap(units(pd.DataFrame()), n=200), runs).all()["finding"].str.startswith("local")).any()


def test_multisensory_cam_runs_are_localizing_runs_of_the_finding():
    """A multisensory run's CAM rows in the localization table give the finding's rows like AVOL-Net's;
    a run of another method scored there (none should be) does not."""
    from avbench.evaluate.localize import localize_table

    runs = pd.DataFrame([{"run": "ms", "method": "multisensory"}, {"run": "l3", "method": "l3"}])
    videos = [f"v{i:02d}" for i in range(12)]

    def clips(p: float) -> pd.DataFrame:
        return pd.DataFrame({"video": videos, "clip": 0, "pointing": p, "ciou": p / 2, "silent_visible": False})

    table = localize_table({"centre": clips(0.0), "ms": clips(1.0), "l3": clips(1.0)}, dataset="s", n_boot=200)
    f = Checker(Bootstrap(units(pd.DataFrame()), n=200), runs, localization=table).all()
    rows = f[f["finding"] == "localization_beats_centre_prior"]
    assert set(rows["a"]) == {"ms"} and set(rows["verdict"]) == {"reproduced"}


def test_tcc_is_scored_from_the_alignment_table_against_random_init():
    runs = pd.DataFrame(
        [
            {"run": "scratch", "method": "scratch"},
            {"run": "tcc", "method": "tcc"},
            {"run": "crw", "method": "crw"},
        ]
    )
    table = pd.DataFrame(
        [
            {"run": "scratch", "method": "scratch", "pairs": 168, "videos": 24, "kendall_tau": 0.05},
            {"run": "tcc", "method": "tcc", "pairs": 168, "videos": 24, "kendall_tau": 0.35, "reference": "scratch"}
            | {"tau_diff": 0.30, "tau_diff_lo": 0.22, "tau_diff_hi": 0.38, "tau_verdict": "reproduced"},
            {"run": "crw", "method": "crw", "pairs": 168, "videos": 24, "kendall_tau": 0.5, "reference": "scratch"}
            | {"tau_diff": 0.45, "tau_diff_lo": 0.4, "tau_diff_hi": 0.5, "tau_verdict": "reproduced"},
            {"run": "noise", "method": "noise", "pairs": 168, "videos": 24, "kendall_tau": 0.0, "reference": "scratch"}
            | {"tau_diff": -0.05, "tau_diff_lo": -0.1, "tau_diff_hi": 0.0, "tau_verdict": "inconclusive"},
        ]
    )
    f = Checker(Bootstrap(units(pd.DataFrame()), n=200), runs, alignment=table).all()
    rows = f[f["finding"] == "tcc_aligns_phase"]
    assert rows["a"].tolist() == ["tcc"] and rows["b"].tolist() == ["scratch"]  # tcc only, not crw or a baseline
    r = rows.iloc[0]
    assert (r["a_mean"], r["b_mean"], r["diff"], r["lo"], r["hi"]) == (35.0, 5.0, 30.0, 22.0, 38.0)
    assert r["verdict"] == "reproduced" and r["seed_doc"] == "001" and r["videos"] == 24 and "168" in r["note"]
    worse = table.assign(tau_diff=-0.2, tau_diff_lo=-0.3, tau_diff_hi=-0.1)
    assert Checker(Bootstrap(units(pd.DataFrame()), n=200), runs, alignment=worse).all().query(
        "finding == 'tcc_aligns_phase'"
    )["verdict"].tolist() == ["contradicted"]
    assert not (Checker(Bootstrap(units(pd.DataFrame()), n=200), runs).all()["finding"] == "tcc_aligns_phase").any()


def test_a_run_without_a_same_backbone_random_init_is_compared_with_the_default_scratch_run():
    """VideoMAE's ViT has no random init of its own: its reference is the run named `scratch` (the default video
    backbone), not whichever other scratch run (the 2D frame encoder's, listed first here) comes first."""
    runs = pd.DataFrame(
        [
            {"run": "scratch_2d", "method": "scratch", "video_backbone": "small2d"},
            {"run": "scratch", "method": "scratch", "video_backbone": "small3d"},
            {"run": "mae", "method": "videomae", "video_backbone": "vit_small3d"},
            {"run": "sl", "method": "shuffle_learn", "video_backbone": "small3d"},
        ]
    )
    u = units(_predictions({"scratch_2d": 0.2, "scratch": 0.3, "mae": 0.5, "sl": 0.6}))
    f = Checker(Bootstrap(u, n=200), runs).all()
    ssl = f[f["finding"].isin(["ssl_beats_scratch", "temporal_order_beats_scratch"])].set_index("a")
    assert ssl.loc["mae", "b"] == "scratch" and ssl.loc["sl", "b"] == "scratch"
