"""`make lint` in the test suite: ruff (pyproject's rule set) and `snakemake --lint` are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> str | None:
    local = Path(sys.executable).parent / "ruff"
    return str(local) if local.exists() else shutil.which("ruff")


def test_ruff_check_is_clean():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -r envs/requirements.lock)")
    out = subprocess.run([ruff, "check", "--no-cache", "avbench", "tests", "benchmarks"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_snakemake_lint_is_clean(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--directory", str(tmp_path), "-s",
                          str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml")], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "good condition" in out.stdout + out.stderr, out.stdout[-3000:] + out.stderr[-3000:]
