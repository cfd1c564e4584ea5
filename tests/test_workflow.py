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
    for rule in ("synthesize", "ingest", "probe", "shard", "pretrain", "evaluate", "leaderboard"):
        assert rule in out.stdout


@pytest.mark.slow
def test_smoke_workflow_writes_the_leaderboard(tmp_path):
    shutil.copy(REPO / ".test" / "config_smoke.yaml", tmp_path / "config.yaml")
    out = _run(["-s", str(REPO / "Snakefile"), "--cores", "2", "all"], cwd=tmp_path, timeout=1500)
    assert out.returncode == 0, out.stderr[-5000:]
    lb = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    for col in ("method", "backbone", "pretrain_data", "downstream", "protocol", "fold", "metric", "value",
                "config_hash", "git_rev", "clips_used", "clips_found", "clips_listed", "pretrain_clips_used",
                "pretrain_clips_found", "pretrain_clips_listed"):
        assert col in lb.columns
    assert set(lb["method"]) == {"avts_curriculum", "supervised", "scratch"}
    assert set(lb["pretext"]) == {"avts", "supervised", "scratch"}
    assert set(lb["downstream"]) == {"synth_action", "synth_sound"}
    assert set(lb["protocol"]) == {"linear"}
    assert lb["metric"].str.contains("acc").all()
    assert lb["value"].between(0, 1).all()
    assert set(lb.loc[lb.downstream == "synth_action", "fold"]) == {1, 2, 3}
    assert set(lb.loc[lb.downstream == "synth_sound", "fold"]) == {1, 2, 3, 4, 5}
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
    assert (tmp_path / "results" / "leaderboard.md").read_text().startswith("# avbench leaderboard")
    # The HTML report (what `make run` writes) renders with the plots.
    rep = _run(["-s", str(REPO / "Snakefile"), "--cores", "1", "all", "--report", "results/report.html"], cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000
    for png in ("leaderboard.png", "pretext.png"):
        assert (tmp_path / "results" / "plots" / png).stat().st_size > 5_000
    # A second run has nothing to do.
    again = _run(["-s", str(REPO / "Snakefile"), "--cores", "2", "all", "-n"], cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr
