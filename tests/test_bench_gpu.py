"""benchmarks/gpu.py in its CPU dry mode (no figure is checked, only that every section ran)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from avbench.config import validate
from avbench.pretrain import Dist, convert_sync_batchnorm

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "gpu.py"),
            "--dry",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "dry mode" in proc.stdout
    return json.loads(out.read_text())


def test_gpu_benchmark_dry_mode_runs_every_section(tmp_path):
    res = _run(tmp_path, "--budget-s", "600")
    assert res["mode"] == "cpu_dry"
    assert "missing" in res["imports"]
    sec = res["sections"]
    for name in ("train", "data", "loader", "wait"):
        assert "error" not in sec[name], sec[name]
    assert "e2e" not in sec  # needs --e2e in dry mode
    assert {r["model"] for r in sec["train"]["rows"]} == {"r2plus1d_18", "r3d_18"}
    assert all(r["clips_per_s"] > 0 for r in sec["train"]["rows"])
    assert sec["data"]["method"].startswith("generated")
    rows = sec["loader"]["rows"]
    assert [r["workers"] for r in rows] == [1, 2, 2]
    assert rows[0]["path"].startswith("batches (collate in the workers") and "previous path" in rows[-1]["path"]
    assert all(r["clips"] > 0 and r["video_batch_shape"][1:] == [4, 32, 32, 3] for r in rows)
    wait = sec["wait"]["rows"][0]
    assert 0.0 <= wait["data_wait_share"] <= 1.0 and wait["steps"] > 0


def test_gpu_benchmark_budget_skips_sections(tmp_path):
    res = _run(tmp_path, "--budget-s", "0.5", "--sections", "train,loader")
    assert res["sections"]["train"]["skipped"] == "time budget"


@pytest.mark.slow
def test_gpu_benchmark_dry_end_to_end(tmp_path):
    """The pipeline's shards, pretrain under torchrun (gloo here, NCCL on GPUs) and evaluate."""
    res = _run(tmp_path, "--budget-s", "600", "--e2e", "--sections", "data,e2e")
    e2e = res["sections"]["e2e"]
    assert "error" not in e2e, e2e
    assert e2e["pretrain"]["rc"] == 0 and e2e["pretrain"]["world_size"] == 1
    assert e2e["evaluate_synth_action"]["rc"] == 0 and e2e["evaluate_synth_sound"]["rc"] == 0


def test_sync_batchnorm_is_a_config_key_and_needs_a_gpu_process_group():
    cfg = validate(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert cfg["pretrain"]["sync_batchnorm"] is False
    model = torch.nn.ModuleDict({"video": torch.nn.Sequential(torch.nn.Conv3d(3, 4, 1), torch.nn.BatchNorm3d(4))})
    assert convert_sync_batchnorm(model, Dist()) is False
    assert isinstance(model["video"][1], torch.nn.BatchNorm3d)
