"""Cluster profiles: the SLURM profile resolves the whole DAG; the generic cluster executor runs real
jobs as separate processes through a submit script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "workflow" / "profiles"


def _snakemake(
    args: list[str], cwd: Path, env_extra: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **(env_extra or {}))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_slurm_profile_dry_run_resolves_the_dag(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    # The profile deploys conda environments; conda is not installed here, so the dry run swaps the
    # deployment method (the DAG, resources and executor plugin are what is checked).
    out = _snakemake(["-n", "--profile", str(PROFILES / "slurm"), "--sdm", "env-modules", "--", "all"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for rule in ("synthesize", "ingest", "probe", "shard", "shard_index", "pretrain", "evaluate", "leaderboard"):
        assert rule in out.stdout


@pytest.mark.slow
def test_generic_cluster_profile_runs_real_jobs(tmp_path):
    shutil.copy(REPO / ".test" / "config_smoke.yaml", tmp_path / "config.yaml")
    log = tmp_path / "submitted.txt"
    out = _snakemake(
        ["--profile", str(PROFILES / "generic"), "results/manifests/synth_sound.probed.parquet"],
        tmp_path,
        env_extra={"AVBENCH_SUBMIT_LOG": str(log)},
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "results" / "manifests" / "synth_sound.probed.parquet").exists()
    submitted = log.read_text().split("\n")
    pids = [int(line.split()[0]) for line in submitted if line.strip()]
    assert len(pids) == 3  # synthesize, ingest, probe: each its own submitted process
    assert len(set(pids)) == 3 and os.getpid() not in pids
