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
    methods = sec["methods"]
    assert "error" not in methods, methods
    assert [r["run"] for r in methods["rows"]] == ["l3", "infonce", "image_rotation"]
    assert methods["passed"] == 3 and methods["failed"] == [] and methods["skipped"] == []
    for r in methods["rows"]:
        assert r["rc"] == 0 and r["train_steps"] == 3 and r["clips_per_s"] > 0, r  # 6 videos x 2 clips / 4
    assert {r["video_backbone"] for r in methods["rows"]} == {"small3d", "small2d"}
    assert not (tmp_path / "work" / "methods").exists() or not any((tmp_path / "work" / "methods").iterdir())


def test_gpu_benchmark_budget_skips_sections(tmp_path):
    res = _run(tmp_path, "--budget-s", "0.5", "--sections", "train,loader")
    assert res["sections"]["train"]["skipped"] == "time budget"


def test_gpu_benchmark_methods_skip_runs_past_their_budget(tmp_path):
    """A run that would not fit the methods section's budget is skipped with the reason; a run
    that fails records its error line."""
    res = _run(tmp_path, "--sections", "data,methods", "--methods", "l3,no_such_run", "--methods-budget-s", "2")
    assert "no_such_run" in res["sections"]["methods"]["error"]  # the config names the run before any process
    res = _run(tmp_path, "--sections", "data,methods", "--methods", "l3,infonce", "--methods-budget-s", "2")
    rows = res["sections"]["methods"]["rows"]
    assert all(r["skipped"].startswith("time budget") for r in rows) and res["sections"]["methods"]["passed"] == 0
    # batches of 64 from 6 training videos: the run fails, its error line is recorded, the section goes on
    res = _run(tmp_path, "--sections", "data,methods", "--methods", "l3", "--method-batch", "64")
    (row,) = res["sections"]["methods"]["rows"]
    assert row["rc"] == 1 and "produced no training batch" in row["error"], row
    assert res["sections"]["methods"]["failed"] == ["l3"]


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


def _gpu_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "benchmarks" / "gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_configs_are_valid_with_the_default_config(tmp_path):
    """config.yaml's sections that name its other sets are off in the benchmark's config, and the
    methods section's config (kinetics.yaml's runs at 112x112) validates."""
    gpu = _gpu_module()
    for dry in (True, False):
        cfg = validate(gpu.e2e_config(tmp_path, dry=dry, waveform=not dry))
        assert set(cfg["datasets"]) == {"synth_pretrain", "synth_action", "synth_sound"}
        for name in gpu.OFF_SECTIONS:
            assert cfg[name]["enabled"] is False
    assert cfg["datasets"]["synth_pretrain"]["shard"] == {"waveform": True}
    runs = list(gpu.METHOD_RUNS)
    mcfg, notes = gpu.methods_config(cfg, runs, dry=False, batch=16, clips_per_video=1, waveform=False)
    v = validate(mcfg)
    p = v["pretrain"]
    assert p["methods"] == runs and p["epochs"] == 1 and p["batch_size"] == 16 and p["nproc_per_node"] == 1
    assert p["video_backbone"] == "r2plus1d_18" and p["audio_backbone"] == "vgg" and p["clip_frames"] == 16
    assert all("dataset" not in e and "epochs" not in e for e in p["runs"].values())
    assert p["runs"]["multisensory"]["clip_frames"] == 64
    assert (
        p["runs"]["multisensory"]["multisensory"]["audio_input"] == "spectrogram"
        and "waveform" in notes["multisensory"]
    )
    ctx = p["runs"]["image_all"]["image"]["context"]
    assert (ctx["patch"], ctx["gap"]) == (26, 13) and "scaled" in notes["image_all"]  # 30 / 15 px at 128 px
    assert "not in kinetics.yaml" in notes["avolnet"] and p["runs"]["videomae"]["video_backbone"] == "vit_small3d"
    mcfg, notes = gpu.methods_config(cfg, runs, dry=False, batch=16, clips_per_video=1, waveform=True)
    assert "audio_input" not in mcfg["pretrain"]["runs"]["multisensory"]["multisensory"] or (
        mcfg["pretrain"]["runs"]["multisensory"]["multisensory"]["audio_input"] == "waveform"
    )
    assert "multisensory" not in notes
    with pytest.raises(KeyError, match="no_such_run"):
        gpu.methods_config(cfg, ["no_such_run"], dry=False, batch=16, clips_per_video=1, waveform=True)
