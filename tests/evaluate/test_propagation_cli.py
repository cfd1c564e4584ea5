"""The propagation stage through the CLI (set, job, table) and the correspondence config overlay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "avbench.cli", *args], capture_output=True, text=True, timeout=600)


def test_set_job_and_table_through_the_cli(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["propagation"]["set"] = {"n_sequences": 6, "n_frames": 10, "size": [96, 72]}
    cfg["propagation"]["n_boot"] = 300
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = _cli("propagation-set", "-o", str(tmp_path / "set"), "--config", str(tmp_path / "c.yaml"))
    assert out.returncode == 0, out.stderr
    objects = []
    for source in ("pixels", "copy_first"):
        d = tmp_path / source
        out = _cli(
            "propagation",
            source,
            "--davis",
            str(tmp_path / "set"),
            "--dataset",
            "davis_synth",
            "--config",
            str(tmp_path / "c.yaml"),
            "--threads",
            "1",
            "-o",
            str(d / "rows.csv"),
            "--objects",
            str(d / "objects.csv"),
            "--skipped",
            str(d / "skipped.csv"),
            "--picture",
            str(d / "p.png"),
        )
        assert out.returncode == 0, out.stderr
        assert "j_mean" in out.stdout and (d / "p.png").stat().st_size > 0
        assert pd.read_csv(d / "skipped.csv").empty
        objects.append(str(d / "objects.csv"))
    out = _cli("propagation-table", *objects, "--reference", "copy_first", "-o", str(tmp_path / "t.csv"))
    assert out.returncode == 0, out.stderr
    t = pd.read_csv(tmp_path / "t.csv").set_index("run")
    assert t.loc["pixels", "jf_diff"] > 0 and t.loc["pixels", "reference"] == "copy_first"
    # a checkpoint without a video encoder is refused with one line, not a traceback
    bad = _cli(
        "propagation",
        str(tmp_path / "missing.pt"),
        "--davis",
        str(tmp_path / "set"),
        "--dataset",
        "x",
        "--config",
        str(tmp_path / "c.yaml"),
        "-o",
        str(tmp_path / "x.csv"),
    )
    assert bad.returncode != 0 and bad.stderr.strip().startswith("avbench propagation:")
    assert "Traceback" not in bad.stderr


def test_the_correspondence_overlay_keeps_every_default_run_and_adds_colorization():
    base = yaml.safe_load((REPO / "config.yaml").read_text())["pretrain"]["methods"]
    over = yaml.safe_load((REPO / "workflow" / "configs" / "correspondence.yaml").read_text())
    assert set(base) <= set(over["pretrain"]["methods"]) and "colorization" in over["pretrain"]["methods"]
    assert over["propagation"]["enabled"] is True
    # and phase alignment with tcc (config.yaml's section is off, tcc not a default run)
    assert "tcc" in over["pretrain"]["methods"] and over["alignment"]["enabled"] is True
    assert "tcc" not in base and yaml.safe_load((REPO / "config.yaml").read_text())["alignment"]["enabled"] is False
