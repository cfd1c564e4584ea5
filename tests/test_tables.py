"""The seeds' tables from hand-made leaderboard rows, run settings and metrics."""

from __future__ import annotations

import pandas as pd
import pytest

from avbench.tables import compute_tables, fold_scores, plan_tables, primary, run_table, write_tables

RUNS = pd.DataFrame(
    [
        {"run": "scratch", "method": "scratch", "dataset": "pre", "epochs": 8},
        {
            "run": "a_single",
            "method": "avts",
            "dataset": "pre",
            "epochs": 8,
            "avts.easy_fraction": 1.0,
            "avts.curriculum_switch": 0.0,
        },
        {
            "run": "a_cur",
            "method": "avts",
            "dataset": "pre",
            "epochs": 8,
            "avts.easy_fraction": 0.75,
            "avts.curriculum_switch": 0.5,
        },
        {"run": "x64", "method": "xdc", "dataset": "pre", "epochs": 8, "deep_clustering.k": 64},
        {"run": "x8", "method": "xdc", "dataset": "pre", "epochs": 8, "deep_clustering.k": 8},
        {"run": "s16", "method": "sdc", "dataset": "pre", "epochs": 8, "sdc.k": 16},
        {"run": "aot_raw", "method": "aot", "dataset": "pre", "epochs": 8, "aot.remove_cues": False},
        {"run": "aot_clean", "method": "aot", "dataset": "pre", "epochs": 8, "aot.remove_cues": True},
        {"run": "sl", "method": "shuffle_learn", "dataset": "pre", "epochs": 8},
        {"run": "supervised", "method": "supervised", "dataset": "pre", "epochs": 8},
    ]
)


def _rows(run, pretext, encoder, down, protocol, values, metric="video_acc"):
    return [
        {
            "method": run,
            "pretext": pretext,
            "encoder": encoder,
            "backbone": "b",
            "downstream": down,
            "protocol": protocol,
            "fold": i + 1,
            "metric": metric,
            "value": v,
            "n_test": 10,
        }
        for i, v in enumerate(values)
    ]


def _leaderboard():
    rows = []
    acc = {
        "scratch": 0.2,
        "a_single": 0.5,
        "a_cur": 0.6,
        "x64": 0.55,
        "x8": 0.45,
        "s16": 0.4,
        "aot_raw": 0.5,
        "aot_clean": 0.52,
        "sl": 0.35,
        "supervised": 0.9,
    }
    for run, a in acc.items():
        m = RUNS.set_index("run").loc[run, "method"]
        video_enc = "flow" if m == "aot" else "video"
        rows += _rows(run, m, video_enc, "act", "linear", [a - 0.1, a, a + 0.1])
        rows += _rows(run, m, video_enc, "act", "linear", [0.0, 0.0, 0.0], metric="clip_acc")  # other metric
        if m != "aot":
            rows += _rows(run, m, "audio", "snd", "linear", [a, a, a, a, a])
    for run in ("scratch", "a_cur", "supervised", "aot_clean"):
        rows += _rows(run, "x", "video", "act", "finetune", [0.7, 0.8, 0.9])
    rows += _rows("scratch", "scratch", "flow", "act", "linear", [0.1, 0.1, 0.1])
    rows += _rows("scratch", "scratch", "flow", "act", "finetune_top", [0.3, 0.3, 0.3])
    rows += _rows("scratch", "scratch", "flow", "act", "finetune", [0.6, 0.6, 0.6])
    rows += _rows("aot_clean", "aot", "flow", "act", "finetune_top", [0.65, 0.65, 0.65])
    rows += _rows("aot_clean", "aot", "flow", "act", "finetune", [0.85, 0.85, 0.85])
    for k, v in (("v2a_r1", 0.2), ("v2a_r5", 0.5), ("a2v_r1", 0.25)):
        rows += _rows("a_cur", "avts", "video+audio", "act", "retrieval", [v, v, v], metric=k)
    return pd.DataFrame(rows)


METRICS = {
    "a_single": pd.DataFrame(
        {
            "epoch": [1, 2],
            "val_pretext_acc": [0.6, 0.7],
            "val_pretext_acc_hard": [0.5, 0.55],
            "val_neg_same_class": [0.12, 0.12],
            "easy_fraction": [1.0, 1.0],
        }
    ),
    "a_cur": pd.DataFrame({"epoch": [1, 2], "val_pretext_acc": [0.6, 0.8], "easy_fraction": [1.0, 0.75]}),
    "aot_raw": pd.DataFrame(
        {
            "epoch": [1],
            "val_pretext_acc": [0.98],
            "share_black_border": [0.46],
            "share_camera_motion": [0.73],
            "train_loss": [0.1],
        }
    ),
    "aot_clean": pd.DataFrame(
        {
            "epoch": [1],
            "val_pretext_acc": [0.9],
            "share_black_border": [0.0],
            "share_camera_motion": [0.0],
            "train_loss": [0.2],
        }
    ),
}


def test_fold_scores_and_primary_encoder():
    s = fold_scores(_leaderboard())
    row = s[(s.method == "a_cur") & (s.protocol == "linear") & (s.downstream == "act")].iloc[0]
    assert row["mean"] == 60.0 and row["std"] == 10.0 and row["folds"] == 3
    p = primary(s)
    scratch_act = p[(p.method == "scratch") & (p.downstream == "act") & (p.protocol == "linear")]
    assert scratch_act["encoder"].tolist() == ["video"]  # the RGB encoder before the flow encoder
    aot = p[(p.method == "aot_clean") & (p.protocol == "linear")]
    assert aot["encoder"].tolist() == ["flow"]


def test_every_table_from_hand_made_rows(tmp_path):
    t = compute_tables(_leaderboard(), RUNS, METRICS, protocols=["linear", "finetune", "finetune_top", "retrieval"])
    assert set(t) == {
        "avts_curriculum",
        "supervision",
        "clustering",
        "k_sweep",
        "fc_vs_all",
        "aot_cues",
        "aot_finetune",
        "temporal_order",
        "retrieval",
    }

    av = t["avts_curriculum"].set_index("run")
    assert av.loc["a_single", "stage"] == "single stage" and av.loc["a_single", "negatives"] == "easy"
    assert av.loc["a_cur", "stage"] == "curriculum" and av.loc["a_cur", "negatives"] == "easy, then 75% easy, 25% hard"
    assert av.loc["a_cur", "epochs"] == "1-4, 5-8"
    assert av.loc["a_cur", "pretext acc (%)"] == 80.0 and av.loc["a_single", "pretext acc, hard negatives (%)"] == 55.0
    assert av.loc["a_cur", "act linear"] == 60.0 and av.loc["a_cur", "act linear ±"] == 10.0
    assert av.loc["a_cur", "snd linear"] == 60.0 and av.loc["a_cur", "act finetune"] == 80.0
    assert pd.isna(av.loc["a_single", "act finetune"])

    sup = t["supervision"]
    assert sup["run"].iloc[0] == "scratch" and sup["run"].iloc[-1] == "supervised"
    assert dict(zip(sup["run"], sup["supervision"]))["a_cur"] == "self-supervised"
    assert dict(zip(sup["run"], sup["pretrain data"]))["scratch"] == "none"

    cl = t["clustering"]
    assert cl["run"].tolist() == ["scratch", "s16", "x8", "x64", "supervised"]
    assert cl.set_index("run").loc["x64", "k"] == 64

    ks = t["k_sweep"]
    assert len(ks) == 2 and set(ks["method"]) == {"xdc"}  # sdc has one k only: no sweep
    act = ks[(ks.downstream == "act") & (ks.protocol == "linear")].iloc[0]
    assert act["k=8"] == 45.0 and act["k=64"] == 55.0
    assert [c for c in ks.columns if c.startswith("k=") and "±" not in c] == ["k=8", "k=64"]

    fc = t["fc_vs_all"]  # one block per encoder: a flow encoder is never compared with an RGB one
    video = fc[fc.encoder == "video"].set_index("run")
    assert list(video.index) == ["scratch", "a_cur", "aot_clean", "supervised"]
    assert video.loc["supervised", "act fc (linear probe)"] == 90.0 and video.loc["supervised", "act all"] == 80.0
    flow = fc[fc.encoder == "flow"].set_index("run")
    assert list(flow.index) == ["scratch", "aot_clean"]
    assert flow.loc["aot_clean", "act fc (linear probe)"] == 52.0 and flow.loc["aot_clean", "act all"] == 85.0
    sup = t["supervision"]
    assert "flow" in list(sup.loc[sup.run == "aot_clean", "encoder"])  # in the flow block, beside scratch's flow
    assert sup.loc[(sup.run == "scratch") & (sup.encoder == "flow"), "act linear"].iloc[0] == 10.0

    cues = t["aot_cues"].set_index("run")
    assert cues.loc["aot_raw", "aot.remove_cues"] == False  # noqa: E712
    assert (
        cues.loc["aot_raw", "share_black_border (%)"] == 46.0 and cues.loc["aot_clean", "val_pretext_acc (%)"] == 90.0
    )
    assert "train_loss (%)" not in cues.columns

    ft = t["aot_finetune"].set_index("run")
    assert list(ft.index) == ["scratch", "aot_raw", "aot_clean"] and set(ft["encoder"]) == {"flow"}
    assert ft.loc["scratch", "act last layer (linear)"] == 10.0
    assert ft.loc["scratch", "act after fusion / top stage"] == 30.0 and ft.loc["aot_clean", "act all layers"] == 85.0
    assert pd.isna(ft.loc["aot_raw", "act all layers"])

    assert t["temporal_order"]["run"].tolist() == ["scratch", "sl", "supervised"]

    rt = t["retrieval"].iloc[0]
    assert rt["run"] == "a_cur" and rt["v2a R@1"] == 20.0 and rt["v2a R@5"] == 50.0 and rt["test videos"] == 10

    paths = write_tables(t, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n}.csv" for n in t)
    assert pd.read_csv(tmp_path / "k_sweep.csv").shape == ks.shape


def test_absent_runs_skip_their_tables():
    runs = RUNS[RUNS["method"].isin(["scratch", "supervised"])]
    assert plan_tables(runs, ["linear"]) == ["supervision"]
    assert plan_tables(runs, ["linear", "finetune", "finetune_top"]) == ["supervision", "fc_vs_all", "aot_finetune"]
    t = compute_tables(_leaderboard(), runs, {}, protocols=["linear"])
    sup = t["supervision"]  # per encoder: video, flow (scratch only), audio
    assert list(t) == ["supervision"] and sup["run"].tolist() == [
        "scratch",
        "supervised",
        "scratch",
        "scratch",
        "supervised",
    ]
    assert sup["encoder"].tolist() == ["video", "video", "flow", "audio", "audio"]


def test_tables_with_no_rows_yet_have_their_header():
    t = compute_tables(pd.DataFrame(), RUNS, {}, protocols=["linear", "finetune", "finetune_top", "retrieval"])
    assert t["aot_finetune"].empty and list(t["aot_finetune"].columns[:3]) == ["run", "initialisation", "encoder"]
    assert t["avts_curriculum"]["run"].tolist() == ["a_single", "a_cur"]


def test_run_table_from_a_config():
    from avbench.config import validate

    cfg = validate(
        {
            "datasets": {"p": {"format": "kinetics", "source": "x.csv", "modality": "audiovisual"}},
            "pretrain_dataset": "p",
            "downstream": {},
            "pretrain": {
                "methods": ["a", "b"],
                "runs": {"a": {"method": "avts", "avts": {"easy_fraction": 0.5}}, "b": {"method": "supervised"}},
            },
        }
    )
    runs = run_table(cfg).set_index("run")
    assert list(runs.index) == ["a", "b", "scratch"]
    assert runs.loc["a", "avts.easy_fraction"] == 0.5 and runs.loc["b", "avts.easy_fraction"] == 1.0
    assert runs.loc["scratch", "method"] == "scratch" and runs.loc["a", "dataset"] == "p"


@pytest.mark.parametrize("metric", ["clip_acc"])
def test_tables_can_use_another_metric(metric):
    t = compute_tables(_leaderboard(), RUNS, {}, protocols=["linear"], metric=metric)
    assert (t["supervision"]["act linear"] == 0.0).all()


def test_tables_cli_writes_the_planned_tables(tmp_path):
    import yaml

    from avbench.cli import main

    cfg = {
        "datasets": {"pre": {"format": "kinetics", "source": "x.csv", "modality": "audiovisual"}},
        "pretrain_dataset": "pre",
        "downstream": {},
        "pretrain": {
            "methods": ["a_single", "a_cur", "supervised"],
            "runs": {
                "a_single": {"method": "avts"},
                "a_cur": {"method": "avts", "avts": {"easy_fraction": 0.75, "curriculum_switch": 0.5}},
                "supervised": {"method": "supervised"},
            },
        },
        "evaluate": {"protocols": ["linear", "finetune"]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    _leaderboard().to_csv(tmp_path / "lb.csv", index=False)
    for run, m in METRICS.items():
        (tmp_path / "models" / run).mkdir(parents=True)
        m.to_csv(tmp_path / "models" / run / "metrics.csv", index=False)
    metrics = [str(p) for p in sorted((tmp_path / "models").glob("*/metrics.csv"))]
    assert (
        main(
            [
                "tables",
                str(tmp_path / "lb.csv"),
                "--config",
                str(tmp_path / "config.yaml"),
                "--metrics",
                *metrics,
                "-o",
                str(tmp_path / "tables"),
            ]
        )
        == 0
    )
    assert sorted(p.stem for p in (tmp_path / "tables").glob("*.csv")) == [
        "avts_curriculum",
        "fc_vs_all",
        "supervision",
    ]
    av = pd.read_csv(tmp_path / "tables" / "avts_curriculum.csv").set_index("run")
    assert av.loc["a_cur", "pretext acc (%)"] == 80.0 and av.loc["a_cur", "stage"] == "curriculum"


def test_every_table_has_a_report_caption():
    """`snakemake --report` reads workflow/report/tables/<name>.rst for every table `all` writes: a table without
    its caption fails the report at the very end of `make run` (it did once, for image_pretexts)."""
    from pathlib import Path

    from avbench.tables import TABLES

    captions = Path(__file__).resolve().parents[1] / "workflow" / "report" / "tables"
    missing = [name for name in TABLES if not (captions / f"{name}.rst").is_file()]
    assert not missing, f"tables without a report caption: {missing}"
