"""The Multisensory overlay's dry run: the video + audio fine-tunes of the three runs on every fold (the
waveform runs reading the action set's waveform shards), their video-only fine-tunes, the table with its
units and picture; the default run plans none of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_the_overlay_plans_the_table_and_the_default_run_does_not(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    overlay = str(REPO / "workflow" / "configs" / "multisensory.yaml")
    out = _dry_run(tmp_path, "--configfile", overlay)
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
    default = _dry_run(tmp_path)
    assert "finetune_av" not in default and "multisensory" not in default
    assert (
        "-o results/tables" in default and " --units results/leaderboard.units.parquet -o results/tables" not in default
    )
