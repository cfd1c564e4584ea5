"""The workflow on .test/config_groups.yaml: datasets sharded as several shard groups (independent `shard`
jobs over contiguous slices of the manifest), each writing several tar files, merged by `shard_index`; then
one pretraining run and its evaluation read every group back. Every sample the manifest lists is accounted
for: in exactly one group's tars (read back, checksums verified) or dropped with its status."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".test" / "config_groups.yaml"
GROUPS = {"synth_pretrain": 3, "synth_sound": 2}  # shard_groups of the config


def _snakemake(args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_config_groups_validates_and_shards_in_several_groups():
    from avbench.config import load_config

    cfg = load_config(CONFIG)  # validated against the schema, defaults filled
    assert cfg["shard"]["max_shard_mb"] < 1
    assert {d: cfg["datasets"][d]["shard_groups"] for d in GROUPS} == GROUPS
    assert cfg["pretrain_dataset"] in GROUPS and set(cfg["downstream"]) <= set(GROUPS)


def test_groups_dry_run_plans_one_shard_job_per_group(tmp_path):
    shutil.copy(CONFIG, tmp_path / "config.yaml")
    out = _snakemake(["-n", "all"], cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-5000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout, flags=re.M))
    assert int(counts["shard"]) == sum(GROUPS.values()), out.stdout[-3000:]
    assert int(counts["shard_index"]) == len(GROUPS)
    for dataset, n in GROUPS.items():
        for g in range(n):
            assert f"results/shards/{dataset}/group-{g:03d}.index.parquet" in out.stdout


@pytest.mark.slow
def test_groups_workflow_reads_every_sample_back(tmp_path):
    from avbench.checkpoint import checkpoint_meta
    from avbench.shards.loader import iter_samples
    from avbench.shards.verify import verify_shards
    from avbench.shards.write import MARKER, group_rows

    shutil.copy(CONFIG, tmp_path / "config.yaml")
    target = "results/eval/l3/synth_sound.csv"  # shards both datasets, pretrains l3, evaluates it
    out = _snakemake(["--cores", "2", target], cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-5000:]

    usable = {}
    for dataset, n_groups in GROUPS.items():
        root = tmp_path / "results" / "shards" / dataset
        manifest = pd.read_parquet(tmp_path / "results" / "manifests" / f"{dataset}.probed.parquet")
        index = pd.read_parquet(root / "index.parquet")
        # every listed item is one row of the merged index, in manifest order, with its fate
        assert index["id"].tolist() == manifest["id"].tolist()
        ok = index[index["status"] == "ok"]
        assert (index.loc[index["status"] != "ok", "shard"] == "").all()
        assert ok["key"].is_unique and (ok["shard"] != "").all()
        usable[dataset] = len(ok)
        summary = pd.read_csv(root / "summary.csv").iloc[0]
        assert (summary["listed"], summary["usable"]) == (len(manifest), len(ok))

        tars = []
        for g in range(n_groups):
            group = root / f"group-{g:03d}"
            files = sorted(p.name for p in group.glob("shard-*.tar"))
            assert json.loads((group / MARKER).read_text())["files"] == files
            # a group is a contiguous slice of the manifest, and its samples sit in its own tars
            group_index = pd.read_parquet(root / f"group-{g:03d}.index.parquet")
            assert group_index["id"].tolist() == group_rows(manifest, g, n_groups)["id"].tolist()
            in_group = ok["shard"].str.startswith(f"group-{g:03d}/")
            assert set(ok.loc[in_group, "id"]) == set(group_index.loc[group_index["status"] == "ok", "id"])
            tars += [f"group-{g:03d}/{f}" for f in files]
        # several tar files in every pretraining group (max_shard_mb), several groups in each set;
        # every tar holds a listed sample and every listed sample names a tar that exists
        assert len(tars) > n_groups
        if dataset == "synth_pretrain":
            assert all(sum(t.startswith(f"group-{g:03d}/") for t in tars) >= 2 for g in range(n_groups))
        assert sorted(set(ok["shard"])) == sorted(tars)

        # read back: exactly the indexed samples, once each, in index order; checksums match
        keys = [s["key"] for s in iter_samples(root)]
        assert keys == ok["key"].tolist()
        assert verify_shards(root, index) == []

    # pretraining read every usable pretraining sample (train + held-out), across all groups' tars
    meta = checkpoint_meta(tmp_path / "results" / "models" / "l3" / "checkpoint.pt")
    assert meta["n_train_videos"] + meta["n_val_videos"] == usable["synth_pretrain"]
    assert meta["pretrain_clips_used"] == usable["synth_pretrain"]
    # evaluation: every downstream sample used, each fold splits all of them
    ev = pd.read_csv(tmp_path / target)
    assert set(ev["clips_used"]) == {usable["synth_sound"]}
    assert set(ev["pretrain_clips_used"]) == {usable["synth_pretrain"]}
    assert ((ev["n_train"] + ev["n_test"]) == usable["synth_sound"]).all()
    assert ev["value"].notna().all()
