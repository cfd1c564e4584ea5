"""The Snakemake workflow: lint, dry runs, and the whole smoke run with its leaderboard checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_lint_is_clean(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "--lint"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Congratulations" in out.stdout + out.stderr, out.stdout + out.stderr


def test_dry_run_default_config(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "-n", "all"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for rule in (
        "synthesize",
        "ingest",
        "probe",
        "shard",
        "pretrain",
        "evaluate",
        "finetune",
        "leaderboard",
        "tables",
        "plots",
    ):
        assert rule in out.stdout


def _job_stats(stdout: str) -> list[str]:
    """The dry run's job table (`Job stats` up to `total`), one line a rule."""
    lines = stdout[stdout.index("Job stats:") :].splitlines()
    return sorted(lines[: next(i for i, ln in enumerate(lines) if ln.startswith("total")) + 1])


def test_dry_run_correspondence_overlay_plans_the_default_jobs_at_longer_budgets(tmp_path):
    """The default run plans phase alignment (one alignment job: the pretrained runs of alignment.runs and the
    baselines), its table, and the findings read it. workflow/configs/correspondence.yaml plans the same jobs
    and shell commands (no run dropped or added); only the effective config every job reads changes: the
    correspondence runs' and VideoMAE's longer budgets and 24 propagation sequences."""
    import yaml

    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    overlay = str(REPO / "workflow" / "configs" / "correspondence.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "-n", "-p", "--configfile", overlay, "--", "all"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    eff = yaml.safe_load((tmp_path / "results" / "config.effective.yaml").read_text())
    assert eff["propagation"]["set"]["n_sequences"] == 24
    assert [eff["pretrain"]["runs"][r]["epochs"] for r in ("colorization", "crw", "videomae")] == [6, 6, 6]
    default = _run(["-s", str(REPO / "Snakefile"), "-n", "-p", "all"], cwd=tmp_path)
    assert default.returncode == 0, default.stderr[-3000:]
    cmds = [line for line in default.stdout.splitlines() if line.startswith("Shell command: avbench alignment ")]
    assert len(cmds) == 1, default.stdout[-3000:]
    for source in ("tcc", "crw", "scratch", "supervised"):
        assert f"results/models/{source}/checkpoint.pt" in cmds[0]
    assert " pixels noise --n-per-class " in cmds[0]
    assert "avbench alignment-table results/alignment/pairs.csv" in default.stdout
    assert "--alignment results/tables/alignment.csv" in default.stdout  # the findings read the table
    assert _job_stats(out.stdout) == _job_stats(default.stdout)
    shell = sorted(ln for ln in default.stdout.splitlines() if ln.startswith("Shell command:"))
    assert shell == sorted(ln for ln in out.stdout.splitlines() if ln.startswith("Shell command:"))
    eff = yaml.safe_load((tmp_path / "results" / "config.effective.yaml").read_text())
    assert eff["propagation"]["set"]["n_sequences"] < 24  # the default run's reduced set


@pytest.mark.slow
def test_smoke_workflow_writes_the_leaderboard(tmp_path):
    shutil.copy(REPO / ".test" / "config_smoke.yaml", tmp_path / "config.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "--cores", "2", "all"], cwd=tmp_path, timeout=1500)
    assert out.returncode == 0, out.stderr[-5000:]
    lb = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    for col in (
        "method",
        "backbone",
        "pretrain_data",
        "downstream",
        "protocol",
        "fold",
        "metric",
        "value",
        "config_hash",
        "git_rev",
        "clips_used",
        "clips_found",
        "clips_listed",
        "pretrain_clips_used",
        "pretrain_clips_found",
        "pretrain_clips_listed",
    ):
        assert col in lb.columns
    runs = {
        "avts_curriculum",
        "supervised",
        "scratch",
        "l3",
        "avenet",
        "infonce",
        "sdc",
        "mdc",
        "cdc",
        "xdc",
        "xdc_k8",
        "random_targets",
        "aot_cues_kept",
        "aot_cues_removed",
        "shuffle_learn",
        "odd_one_out",
        "colorization",
    }
    assert set(lb["method"]) == runs
    assert set(lb["pretext"]) == {
        "avts",
        "supervised",
        "scratch",
        "l3",
        "avenet",
        "infonce",
        "sdc",
        "mdc",
        "cdc",
        "xdc",
        "random_targets",
        "aot",
        "shuffle_learn",
        "odd_one_out",
        "colorization",
    }
    assert set(lb["downstream"]) == {"synth_action", "synth_sound"}
    assert set(lb["protocol"]) == {"linear", "retrieval", "finetune", "finetune_fc", "finetune_top"}
    # scratch has two pretraining seeds (replicates: 2): two instances, rows told apart by `seed`
    assert set(lb.loc[lb.method == "scratch", "seed"]) == {0, 1} and set(lb.loc[lb.method == "l3", "seed"]) == {0}
    assert (tmp_path / "results" / "models" / "scratch.seed1" / "checkpoint.pt").is_file()
    assert lb["env_hash"].nunique() == 1 and lb["downstream_shards_hash"].str.len().eq(12).all()
    assert "torch==" in lb["packages"].iloc[0] and lb["pretrain_shards_hash"].notna().all()
    acc = lb[lb["protocol"] != "retrieval"]
    assert set(acc["metric"]) == {"clip_acc", "video_acc"}
    assert lb["value"].between(0, 1).all() and (lb["pretrain_overlap"] == 0).all()
    folds = {"synth_action": {1, 2, 3}, "synth_sound": {1, 2, 3, 4, 5}}
    for (proto, down), part in acc.groupby(["protocol", "downstream"]):
        assert set(part["fold"]) == folds[down], (proto, down)
    assert set(lb.loc[lb.protocol == "finetune", "method"]) == {"avts_curriculum"}
    assert set(lb.loc[lb.protocol == "finetune_fc", "method"]) == {"avts_curriculum"}
    assert set(lb.loc[lb.protocol == "finetune_top", "method"]) == {"scratch"}
    assert set(lb.loc[lb.protocol == "finetune_top", "seed"]) == {0}  # evaluate.finetune_replicates: 1
    # Every evaluation wrote its per-clip predictions; the findings and the intervals come from them.
    preds = pd.read_parquet(tmp_path / "results" / "eval" / "scratch.seed1" / "synth_action.predictions.parquet")
    assert set(preds["seed"]) == {1} and {"key", "clip", "label", "pred", "video_pred", "scores"} <= set(preds.columns)
    ranks = pd.read_parquet(tmp_path / "results" / "eval" / "avenet" / "synth_action.predictions.parquet")
    assert (ranks.loc[ranks.protocol == "retrieval", "rank"] >= 0).all()
    ft_preds = pd.read_parquet(
        tmp_path / "results" / "eval" / "avts_curriculum" / "synth_action" / "finetune" / "fold1.predictions.parquet"
    )
    assert set(ft_preds["protocol"]) == {"finetune", "finetune_fc"} and set(ft_preds["fold"]) == {1}
    intervals = pd.read_csv(tmp_path / "results" / "leaderboard.intervals.csv")
    assert (intervals["lo"] <= intervals["mean"] + 1e-9).all() and (intervals["mean"] <= intervals["hi"] + 1e-9).all()
    assert intervals.loc[(intervals.method == "scratch") & (intervals.protocol == "linear"), "seeds"].eq(2).all()
    findings = pd.read_csv(tmp_path / "results" / "findings.csv")
    assert {"ssl_beats_scratch", "supervised_beats_ssl", "xdc_beats_sdc", "finetune_beats_fc"} <= set(
        findings["finding"]
    )
    assert set(findings["verdict"]) <= {"reproduced", "contradicted", "inconclusive"}
    # The paired cue test: the cues-kept arrow of time on its own held-out videos, three ways.
    cue = pd.read_csv(tmp_path / "results" / "aot_cues" / "aot_cues_kept.csv")
    assert cue["variant"].tolist() == ["raw", "cropped", "stabilized"] and (cue["n_videos"] > 0).all()
    assert {"aot_bars_cue", "aot_camera_cue"} <= set(findings["finding"])
    assert set(lb.loc[lb.protocol == "linear", "method"]) == runs
    # video-only methods (flow, RGB order tasks) have no audio encoder: no sound rows
    video_only = {"aot_cues_kept", "aot_cues_removed", "shuffle_learn", "odd_one_out", "colorization"}
    assert set(lb.loc[(lb.protocol == "linear") & (lb.downstream == "synth_sound"), "method"]) == runs - video_only
    retr = lb[lb.protocol == "retrieval"]  # the embedding runs only, on the set with frames and audio
    assert set(retr["method"]) == {"avts_curriculum", "avenet", "infonce"} and set(retr["downstream"]) == {
        "synth_action"
    }
    assert set(retr["metric"]) == {f"{d}_r{k}" for d in ("v2a", "a2v") for k in (1, 5, 10)}
    assert set(retr["fold"]) == {1, 2, 3}
    # A fine-tuned model was scored on its own fold's test videos only.
    ft = acc[acc.protocol == "finetune"]
    assert (ft["n_test"] < ft["clips_used"]).all() and (ft["n_train"] + ft["n_test"] <= ft["clips_used"]).all()
    # The bad files are recorded with their reasons, and fewer clips were used than listed.
    probed = pd.read_parquet(tmp_path / "results" / "manifests" / "synth_pretrain.probed.parquet")
    assert {"empty", "unreadable", "no_audio_stream"} <= set(probed["status"])
    index = pd.read_parquet(tmp_path / "results" / "shards" / "synth_pretrain" / "index.parquet")
    assert len(index) == len(probed) and (index["status"] != "ok").sum() >= 3
    row = lb.iloc[0]
    assert row["pretrain_clips_used"] < row["pretrain_clips_found"] <= row["pretrain_clips_listed"]
    summary = pd.read_csv(tmp_path / "results" / "shards" / "synth_pretrain" / "summary.csv").iloc[0]
    assert summary["listed"] == len(index) and summary["usable"] == row["pretrain_clips_used"]
    assert summary["dropped_empty"] == 1 and summary["dropped_unreadable"] == 1
    md = (tmp_path / "results" / "leaderboard.md").read_text()
    assert md.startswith("# avbench leaderboard")
    for heading in (
        "## synth_action (linear",
        "## synth_action (finetune_top",
        "## synth_action (finetune;",
        "## synth_action (retrieval",
        "## synth_sound (finetune;",
        "## Findings",
    ):
        assert heading in md
    # Mask propagation: every run of propagation.runs and both baselines on the synthetic DAVIS-layout set,
    # with intervals, a picture each, and the table with the paired difference to random init.
    prop = tmp_path / "results" / "propagation"
    assert sorted(p.name for p in prop.iterdir()) == sorted(
        ["scratch", "colorization", "avts_curriculum", "pixels", "copy_first"]
    )
    rows = pd.read_csv(prop / "colorization" / "davis_synth.csv")
    assert rows["metric"].tolist() == ["j_mean", "f_mean", "jf_mean"] and (rows["n_test"] == 4).all()
    assert ((rows["lo"] <= rows["value"]) & (rows["value"] <= rows["hi"])).all()
    assert (prop / "pixels" / "davis_synth.png").stat().st_size > 0
    ptable = pd.read_csv(tmp_path / "results" / "tables" / "propagation.csv").set_index("run")
    assert set(ptable.index) == {"scratch", "colorization", "avts_curriculum", "pixels", "copy_first"}
    assert ptable.loc["colorization", "reference"] == "scratch" and ptable["jf_mean"].between(0, 1).all()
    track = findings[findings["finding"] == "tracking_beats_random_features"]
    assert track["a"].tolist() == ["colorization"] and track["b"].tolist() == ["scratch"]
    # The seeds' tables this config gives, regenerated from the rows.
    tables = tmp_path / "results" / "tables"
    assert sorted(p.stem for p in tables.glob("*.csv")) == sorted(
        [
            "avts_curriculum",
            "supervision",
            "fc_vs_all",
            "aot_finetune",
            "retrieval",
            "clustering",
            "k_sweep",
            "aot_cues",
            "temporal_order",
            "propagation",
        ]
    )
    sup = pd.read_csv(tables / "supervision.csv")  # one block per encoder (RGB, flow, audio)
    assert set(sup["run"]) == runs and sup["run"].iloc[0] == "scratch" and sup["run"].iloc[-1] == "supervised"
    assert sup.loc[sup.encoder != "audio", "synth_action linear"].between(0, 100).all()
    assert sup.loc[sup.encoder == "audio", "synth_sound linear"].notna().all()
    assert set(sup.loc[sup.encoder == "audio", "run"]) == runs - video_only
    assert {"synth_action linear lo", "synth_action linear hi"} <= set(sup.columns)
    av = pd.read_csv(tables / "avts_curriculum.csv")
    assert av["stage"].tolist() == ["curriculum"] and av["pretext acc (%)"].between(0, 100).all()
    assert set(pd.read_csv(tables / "fc_vs_all.csv")["run"]) == {"avts_curriculum"}
    aot = pd.read_csv(tables / "aot_finetune.csv")
    # The shards have flow: the T-CAM flow encoders of scratch (random init: last layer and after
    # fusion), of the arrow-of-time runs and of supervised (last layer).
    assert set(aot["run"]) == {"scratch", "aot_cues_kept", "aot_cues_removed", "supervised"}
    assert set(aot["encoder"]) == {"flow"} and aot.filter(like="last layer").notna().all().all()
    assert aot.loc[aot.run == "scratch"].filter(like="after fusion").notna().all().all()
    # The arrow of time with and without the shortcut cues: what the raw variant kept, and how many
    # videos carry each cue (the cue table's "percent of videos").
    cues = pd.read_csv(tables / "aot_cues.csv").set_index("run")
    assert cues.loc["aot_cues_kept", "dataset"] == "synth_pretrain_raw"
    assert (
        cues.loc["aot_cues_kept", "share_stabilized (%)"] == 0
        and cues.loc["aot_cues_removed", "share_stabilized (%)"] == 100
    )
    assert 0 < cues.loc["aot_cues_removed", "share_black_border (%)"] < 100
    assert cues["share_camera_motion (%)"].between(0, 100).all() and cues["val_pretext_acc (%)"].between(0, 100).all()
    assert set(pd.read_csv(tables / "k_sweep.csv").filter(regex=r"^k=\d+$").columns) == {"k=4", "k=8"}
    order = pd.read_csv(tables / "temporal_order.csv")
    assert {"shuffle_learn", "odd_one_out"} <= set(order["run"])
    for run in runs - {"scratch"}:  # every pretraining run logged a held-out pretext accuracy
        m = pd.read_csv(tmp_path / "results" / "models" / run / "metrics.csv")
        assert m["val_pretext_acc"].between(0, 1).all(), run
    assert {"video", "flow"} <= set(lb.loc[(lb.method == "scratch") & (lb.downstream == "synth_action"), "encoder"])
    # The HTML report (what `make run` writes) renders with the plots and tables.
    rep = _run(["-s", str(REPO / "Snakefile"), "--cores", "1", "all", "--report", "results/report.html"], cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (tmp_path / "results" / "report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "supervision.csv" in html and "leaderboard.png" in html
    for png in ("leaderboard.png", "pretext.png"):
        assert (tmp_path / "results" / "plots" / png).stat().st_size > 5_000
    # A second run has nothing to do.
    again = _run(["-s", str(REPO / "Snakefile"), "--cores", "2", "all", "-n"], cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_dry_run_kinetics_config(tmp_path):
    """The papers' settings for GPU clusters resolve into a DAG (the data paths need not exist:
    ingest reads them when it runs); run from a folder without config.yaml, as documented."""
    import yaml

    from avbench.config import load_config, run_settings

    cfg = REPO / "workflow" / "configs" / "kinetics.yaml"
    c = load_config(cfg)
    # the same config with 4 shard jobs per set instead of 400 (a DAG of 1,600 jobs takes a minute
    # to build; the number of groups changes nothing else)
    small = yaml.safe_load(cfg.read_text())
    for d in small["datasets"].values():
        if "shard_groups" in d:
            d["shard_groups"] = 4
    (tmp_path / "kinetics.yaml").write_text(yaml.safe_dump(small))
    out = _run(
        ["-s", str(REPO / "Snakefile"), "-n", "--configfile", str(tmp_path / "kinetics.yaml"), "--", "all"],
        cwd=tmp_path,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "results/shards/k400/group-003" in out.stdout and "results/shards/k400_raw/group-003" in out.stdout
    for run in c["pretrain"]["methods"]:
        assert f"results/models/{run}/checkpoint.pt" in out.stdout, run
    assert run_settings(c, "avts_curriculum")["video_backbone"] == "mc3_18"  # seed 000's AVTS backbone
    assert run_settings(c, "xdc")["video_backbone"] == "r2plus1d_18"
    assert run_settings(c, "aot_cues_kept")["dataset"] == "k400_raw" and c["shard"]["size"] == [171, 128]
    assert yaml.safe_load(cfg.read_text())["pretrain"]["clip_frames"] == 16
    for d in ("ucf101", "hmdb51", "esc50", "dcase"):
        assert f"results/eval/scratch/{d}.csv" in out.stdout
    # the papers' protocols: full fine-tune of every run on every UCF101/HMDB51 fold (none on the
    # sound sets), the arrow of time also above its fusion, a linear SVM on the audio features
    assert c["evaluate"]["audio_classifier"] == "svm"
    for run in ("scratch", "avts_curriculum", "xdc_k1024", "aot_cues_kept", "odd_one_out"):
        for d in ("ucf101", "hmdb51"):
            for k in (1, 2, 3):
                assert f"results/eval/{run}/{d}/finetune/fold{k}.csv" in out.stdout, (run, d, k)
    assert "results/eval/aot_cues_removed/hmdb51/finetune_top/fold3.csv" in out.stdout
    assert "/esc50/finetune" not in out.stdout and "/dcase/finetune" not in out.stdout
    # issue 14's methods with their papers' settings, the correspondence stages on the real DAVIS folder
    assert run_settings(c, "speed")["speed"]["strides"] == [1, 2, 4, 8]
    assert run_settings(c, "tcc")["tcc"]["embedder"] == "map" and run_settings(c, "tcc")["tcc"]["n_frames"] == 20
    assert run_settings(c, "image_rotation")["video_backbone"] == "small2d"
    for run in ("sorting", "jigsaw", "speed", "colorization", "crw", "tcc", "image_all", "scratch_2d"):
        assert f"results/eval/{run}/ucf101/finetune/fold3.csv" in out.stdout, run
    for pset in ("davis", "davis_synth"):
        assert f"results/propagation/crw/{pset}.objects.csv" in out.stdout, pset
    assert "--davis /data/DAVIS" in out.stdout or "results/propagation/colorization/davis.csv" in out.stdout
    assert "results/tables/propagation.csv" in out.stdout and "results/tables/alignment.csv" in out.stdout
    assert "results/tables/image_pretexts.csv" in out.stdout


def test_default_run_injects_offsets_into_the_pretraining_set_only_and_finetunes_the_3d_random_init(tmp_path):
    """avsync: the pretraining set gets the injected-offset evaluation, the sync set (world truth, active object)
    does not (its own offsets are the truth). The Multisensory table fine-tunes the 3D random init and the fused
    one, never the 2D frame encoder's (scratch_2d)."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "-n", "-p", "--", "all"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for run in ("avts_curriculum", "multisensory_spec"):
        assert f"results/avsync/{run}/synth_pretrain.injected.parquet" in out.stdout
        assert f"results/avsync/{run}/synth_sync.active.parquet" in out.stdout
        assert f"results/avsync/{run}/synth_sync.injected.parquet" not in out.stdout
    assert "results/eval/multisensory_scratch/synth_action/finetune/fold1.csv" in out.stdout
    assert "results/eval/scratch_2d/synth_action/finetune/" not in out.stdout
