"""Shards from real clips: one sample per usable window, every row indexed, byte-identical reruns."""

from __future__ import annotations

from pathlib import Path
import hashlib

import numpy as np
import pandas as pd

from avbench.config import load_config
from avbench.media.probe import probe_manifest
from avbench.shards.load import load_samples
from avbench.shards.write import group_rows, merge_indexes, write_shards

REPO = Path(__file__).resolve().parents[2]


def _manifest(paths, windows=None):
    df = pd.DataFrame({"id": [p.name for p in paths], "path": [str(p) for p in paths], "label": "", "label_idx": -1,
                       "split": "train", "t_start": np.nan, "t_end": np.nan, "status": "ok", "dataset": "t",
                       "format": "folder"})
    for i, (a, b) in (windows or {}).items():
        df.loc[i, ["t_start", "t_end"]] = [a, b]
    return df


def test_real_clips_shard_deterministically(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    clips = realdata / "clips"
    bad = tmp_path / "zero.mp4"
    bad.write_bytes(b"")
    paths = [clips / "chaplin.mp4", clips / "tests_data_test.avi", clips / "big_buck_bunny_0_30.webm",
             clips / "nasa_13013.mp4", bad]
    probed = probe_manifest(_manifest(paths, {2: (10.0, 13.0)}), modality="audiovisual", workers=2, progress=False)
    digests = []
    for run in range(2):
        index = write_shards(probed, tmp_path / "tars", tmp_path / "index.parquet", cfg=cfg, modality="audiovisual",
                             workers=2 - run, progress=False)
        digests.append(hashlib.sha256((tmp_path / "tars" / "shard-000000.tar").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert index["status"].tolist() == ["ok", "ok", "ok", "ok", "empty"]
    assert not (tmp_path / "tars.partial").exists()
    samples = {s["meta"]["source"]: s for s in load_samples(tmp_path / "tars")}
    assert len(samples) == 4
    chaplin = samples["chaplin.mp4"]
    assert chaplin["frames"].shape == (int(9.64 * 16), 30, 40, 3) and chaplin["frames"].dtype == np.uint8
    assert chaplin["mel"].shape[0] == cfg["n_mels"]
    window = samples["big_buck_bunny_0_30.webm"]
    assert window["frames"].shape[0] == 48 and window["meta"]["t_start"] == 10.0
    assert abs(window["mel"].shape[1] - 301) <= 1
    for key in ("crop_box", "dropped_frames", "stabilization", "flow", "audio_flags", "sample_rate", "fps"):
        assert key in chaplin["meta"]


def test_audio_only_dataset(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    wavs = sorted((realdata / "esc50" / "audio").glob("*.wav"))[:3]
    probed = probe_manifest(_manifest(wavs), modality="audio", workers=1, progress=False)
    assert (probed["status"] == "ok").all()
    index = write_shards(probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=cfg, modality="audio", progress=False)
    assert (index["status"] == "ok").all()
    s = load_samples(tmp_path / "tars")
    assert s[0]["frames"] is None and s[0]["mel"].shape == (cfg["n_mels"], 501)


def test_shard_groups_split_the_manifest_and_merge_back(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    clips = realdata / "clips"
    paths = [clips / "tests_data_test.avi", clips / "big_buck_bunny_432_433.webm", clips / "doc_medias_example3.mp4"]
    probed = probe_manifest(_manifest(paths), modality="audiovisual", progress=False)
    parts = [group_rows(probed, g, 2) for g in range(2)]
    assert [len(p) for p in parts] == [2, 1] or [len(p) for p in parts] == [1, 2]
    assert pd.concat(parts)["id"].tolist() == probed["id"].tolist()
    idx = []
    for g, part in enumerate(parts):
        write_shards(part, tmp_path / f"group-{g:03d}", tmp_path / f"group-{g:03d}.index.parquet", cfg=cfg,
                     modality="audiovisual", progress=False)
        idx.append(tmp_path / f"group-{g:03d}.index.parquet")
    merged = merge_indexes(idx, tmp_path / "index.parquet")
    assert merged["id"].tolist() == probed["id"].tolist()
    assert merged["shard"].str.startswith("group-00").all()
    samples = load_samples(tmp_path)
    assert [s["meta"]["id"] for s in samples] == probed["id"].tolist()
