"""Values from the config reach the shell quoted (issue 12, defect 2): a source path with a space,
a quote and a `;` is one argument, never a command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_ingest_rule_quotes_config_paths(tmp_path):
    src = tmp_path / "my data; touch PWNED; echo 'x"
    (src / "cls").mkdir(parents=True)
    (src / "cls" / "a.mp4").write_bytes(b"not really a video")
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    cfg = yaml.safe_load((REPO / ".test" / "config_smoke.yaml").read_text())
    cfg["datasets"]["evil"] = {"format": "folder", "source": str(src), "modality": "video"}
    (tmp_path / "over.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "over.yaml",
            "--cores",
            "1",
            "results/manifests/evil.parquet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert not list(tmp_path.rglob("PWNED"))
    df = pd.read_parquet(tmp_path / "results" / "manifests" / "evil.parquet")
    assert df["id"].tolist() == ["cls/a"] and df["path"][0] == str(src / "cls" / "a.mp4")
