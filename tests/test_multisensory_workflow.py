"""The Multisensory table in the default run's dry run: the video + audio fine-tunes of the three runs on every
fold (the waveform runs reading the action set's waveform shards), their video-only fine-tunes, the table with its
units and picture; the longer-budget overlay plans the same jobs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _dry_run(cwd: Path, *extra: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "-p", *extra, "--", "all"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_the_default_run_plans_the_table_and_the_overlay_the_same_jobs(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    overlay = str(REPO / "workflow" / "configs" / "multisensory.yaml")
    longer = _dry_run(tmp_path, "--configfile", overlay)
    eff = yaml.safe_load((tmp_path / "results" / "config.effective.yaml").read_text())
    assert [eff["pretrain"]["runs"][r]["epochs"] for r in ("multisensory", "multisensory_spec")] == [6, 6]
    out = _dry_run(tmp_path)
    av = [ln for ln in out.splitlines() if ln.startswith("Shell command: avbench finetune") and "finetune_av" in ln]
    assert len(av) == 12  # three runs and the fused random init x three folds
    for run, shards in (
        ("multisensory", "synth_action_wav"),
        ("multisensory_random", "synth_action_wav"),
        ("multisensory_scratch", "synth_action_wav"),
        ("multisensory_spec", "synth_action"),  # the log-mel: the set's own shards
    ):
        mine = [ln for ln in av if f"results/models/{run}/checkpoint.pt" in ln]
        assert len(mine) == 3 and all(f"--shards results/shards/{shards} " in ln for ln in mine), mine
        assert all("--downstream synth_action " in ln for ln in mine)  # the rows keep the set's name
        vision = [
            ln
            for ln in out.splitlines()
            if ln.startswith(f"Shell command: avbench finetune --checkpoint results/models/{run}/checkpoint.pt")
            and "--protocol finetune " in ln
        ]
        assert len(vision) == 3  # "vision only"
    assert "--dataset synth_pretrain_wav" in out and "--dataset synth_action_wav" in out
    tables = next(ln for ln in out.splitlines() if ln.startswith("Shell command: avbench tables"))
    assert " --units results/leaderboard.units.parquet -o results/tables" in tables
    assert "--multisensory results/plots/multisensory.png" in out
    # the overlay changes only the effective config: the same jobs and shell commands, no run dropped
    assert sorted(ln for ln in longer.splitlines() if ln.startswith("Shell command:")) == sorted(
        ln for ln in out.splitlines() if ln.startswith("Shell command:")
    )
    eff = yaml.safe_load((tmp_path / "results" / "config.effective.yaml").read_text())
    assert eff["pretrain"]["runs"]["multisensory_spec"]["epochs"] < 6
