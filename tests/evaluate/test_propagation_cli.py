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


def test_the_correspondence_overlay_only_lengthens_default_runs_and_the_propagation_set():
    """workflow/configs/correspondence.yaml sets no `pretrain.methods` (a list: it would replace the default's and
    drop runs); the runs it configures are default runs, at longer budgets; the propagation set keeps its other
    settings (dicts merge) with 24 sequences."""
    from avbench.config import deep_merge, run_settings, validate

    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    over = yaml.safe_load((REPO / "workflow" / "configs" / "correspondence.yaml").read_text())
    assert "methods" not in over["pretrain"]
    assert set(over["pretrain"]["runs"]) == {"colorization", "crw", "videomae"}
    assert set(over["pretrain"]["runs"]) <= set(raw["pretrain"]["methods"])
    base, merged = validate(raw), validate(deep_merge(raw, over))
    assert merged["pretrain"]["methods"] == base["pretrain"]["methods"]
    for run, (epochs, clips) in {"colorization": (6, 3), "crw": (6, 3), "videomae": (6, 3)}.items():
        s, b = run_settings(merged, run), run_settings(base, run)
        assert (s["epochs"], s["clips_per_video"]) == (epochs, clips) and s["epochs"] > b["epochs"], run
        assert s["method"] == b["method"] and s["video_backbone"] == b["video_backbone"], run
    assert merged["propagation"]["set"] == {**base["propagation"]["set"], "n_sequences": 24}
    assert base["propagation"]["set"]["n_sequences"] < 24
    # the stages are the default run's: propagation and phase alignment (with tcc) are on there already
    assert base["propagation"]["enabled"] and base["alignment"]["enabled"] and "tcc" in base["pretrain"]["methods"]
    assert {k: v for k, v in merged.items() if k not in ("pretrain", "propagation")} == {
        k: v for k, v in base.items() if k not in ("pretrain", "propagation")
    }
