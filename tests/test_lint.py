"""`make lint` in the test suite: ruff (pyproject's rule set), ruff format, snakefmt and `snakemake --lint`
are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str | None:
    """The executable `name` of this interpreter's environment, else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def _require(name: str) -> str:
    exe = _tool(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (pip install -r envs/requirements.lock)")
    return exe


def test_ruff_check_is_clean():
    ruff = _require("ruff")
    out = subprocess.run(
        [ruff, "check", "--no-cache", "avbench", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_clean():
    ruff = _require("ruff")
    out = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "avbench", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:] + "\n(fix: ruff format avbench tests benchmarks)"


def test_snakefmt_is_clean():
    """The Snakefile and every .smk under workflow/, with pyproject's [tool.snakefmt] (cwd: the repo)."""
    snakefmt = _require("snakefmt")
    out = subprocess.run(
        [snakefmt, "--check", "Snakefile", "workflow/"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:] + "\n(fix: snakefmt Snakefile workflow/)"
    assert "would be left unchanged" in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakefmt_reads_the_project_line_length():
    """A line the project allows (<= 120) and black's default (88) would wrap is left as it is: the check
    above runs with [tool.snakefmt], not snakefmt's defaults."""
    snakefmt = _require("snakefmt")
    line = 'x = ["' + "a" * 90 + '"]\n'
    out = subprocess.run([snakefmt, "-"], input=line, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == line, out.stdout


def test_snakemake_lint_is_clean(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--lint",
            "--directory",
            str(tmp_path),
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            str(REPO / "config.yaml"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and "good condition" in out.stdout + out.stderr, out.stdout[-3000:] + out.stderr[-3000:]
