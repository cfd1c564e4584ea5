"""Sharding never loses or corrupts data: own output folders only, a lock per output, shards and
index committed together, checksums that the loaders verify, unique keys (issue 12)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset as wds

from avbench.config import load_config
from avbench.media.probe import probe_manifest
from avbench.paths import OutputLocked, output_lock
from avbench.shards.loader import ShardStream, shard_urls
from avbench.shards.verify import DamagedShards, checked_index
from avbench.shards.write import MARKER, group_rows, merge_indexes, write_shards
from avbench.synthesize import make_tone_clip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg():
    c = load_config(REPO / "config.yaml")["shard"]
    c = json.loads(json.dumps(c))
    c["size"] = [32, 24]
    c["max_shard_mb"] = 0.02  # two samples per tar at most: several shards from three clips
    c["frame_codec"] = "jpeg"
    return c


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    paths = [
        make_tone_clip(d / f"c{i}.mkv", seconds=1.0, size=(64, 48), freq=300.0 + 200 * i)["path"] for i in range(3)
    ]
    df = pd.DataFrame(
        {
            "id": ["x/a", "x_a", "c2"],
            "path": [str(p) for p in paths],
            "label": "",
            "label_idx": -1,
            "split": "train",
            "t_start": np.nan,
            "t_end": np.nan,
            "status": "ok",
            "dataset": "t",
            "format": "folder",
        }
    )
    return probe_manifest(df, modality="audiovisual", workers=1, progress=False)


@pytest.fixture(scope="module")
def sharded(probed, cfg, tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    index = write_shards(probed, d / "tars", d / "index.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert (index["status"] == "ok").all()
    return d


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_shard_refuses_a_folder_it_did_not_write(probed, cfg, tmp_path):
    """Defect 1: `avbench shard -o X` deleted X with the source videos and notes in it."""
    x = tmp_path / "X"
    (x / "videos").mkdir(parents=True)
    shutil.copy(probed["path"][0], x / "videos" / "clip.mkv")
    (x / "notes.txt").write_text("n")
    sibling = tmp_path / "X.partial"
    sibling.mkdir()
    (sibling / "keep").write_text("k")
    with pytest.raises(FileExistsError, match="was not written by avbench shard"):
        write_shards(probed, x, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert (x / "videos" / "clip.mkv").is_file() and (x / "notes.txt").read_text() == "n"
    assert (sibling / "keep").is_file() and not (tmp_path / "i.parquet").exists()
    # its own previous output is replaced; a file someone added to it makes it refuse again
    out = tmp_path / "out"
    write_shards(probed, out, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert (out / MARKER).is_file()
    write_shards(probed, out, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    (out / "mine.txt").write_text("m")
    with pytest.raises(FileExistsError, match="mine.txt"):
        write_shards(probed, out, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert (out / "mine.txt").is_file() and (sibling / "keep").is_file()


def test_concurrent_run_on_the_same_output_is_refused(probed, cfg, tmp_path):
    """Defect 3: two runs on one -o shared `<out>.partial` and mixed their samples."""
    out = tmp_path / "tars"
    with output_lock(out, "other run"):
        with pytest.raises(OutputLocked, match="another run is writing"):
            write_shards(probed, out, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert not out.exists() and not (tmp_path / "i.parquet").exists()
    write_shards(probed, out, tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    # temporary names are unique and gone: only the outputs (and the lock file) remain
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tars.lock", "i.parquet", "tars"]


def test_failed_index_write_keeps_the_previous_shards_and_leaves_no_partial(probed, cfg, tmp_path, monkeypatch):
    """Defects 8 and 15: shards were renamed into place before the index was written, and a
    disk-full failure left `<out>.partial` behind."""
    out, idx = tmp_path / "tars", tmp_path / "i.parquet"
    write_shards(probed.iloc[:1], out, idx, cfg=cfg, modality="audiovisual", progress=False)
    before = {p.name: _sha(p) for p in out.iterdir()}
    idx_before = _sha(idx)
    real = pd.DataFrame.to_parquet

    def full_disk(self, path, *a, **kw):
        if str(path).endswith(".parquet") and "i.parquet" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_shards(probed, out, idx, cfg=cfg, modality="audiovisual", progress=False)
    assert {p.name: _sha(p) for p in out.iterdir()} == before and _sha(idx) == idx_before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tars.lock", "i.parquet", "tars"]


def _damage_copy(src: Path, dst: Path, how: str) -> str:
    """Copy shard folder ``src`` to ``dst`` and damage its first tar; returns that tar's name."""
    shutil.copytree(src, dst)
    tar = sorted(dst.glob("shard-*.tar"))[0]
    data = bytearray(tar.read_bytes())
    with tarfile.open(tar) as t:
        members = t.getmembers()
    if how == "jpeg":  # one byte inside the JPEG scan of the first sample's frames
        m = next(m for m in members if m.name.endswith("frames.mjpeg"))
        data[m.offset_data + m.size // 2] ^= 0xFF
    elif how == "header":
        data[members[0].offset + 3] ^= 0x01  # a byte of the first member's name
    elif how == "zero":
        data = bytearray(len(data))
    elif how == "sample":  # the first sample removed (all its members)
        key = members[0].name.split(".")[0]
        buf = io.BytesIO()
        with tarfile.open(tar) as t, tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as o:
            for m in t.getmembers():
                if m.name.split(".")[0] != key:
                    o.addfile(m, t.extractfile(m))
        data = bytearray(buf.getvalue())
    elif how == "member":  # the mel member of the first sample removed
        buf = io.BytesIO()
        with tarfile.open(tar) as t, tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as o:
            first = members[0].name.split(".")[0]
            for m in t.getmembers():
                if m.name != f"{first}.mel.npy":
                    o.addfile(m, t.extractfile(m))
        data = bytearray(buf.getvalue())
    tar.write_bytes(bytes(data))
    return tar.name


@pytest.mark.parametrize("how", ["jpeg", "header", "zero", "sample", "member"])
def test_damaged_shards_are_detected_named_or_skipped(sharded, tmp_path, how):
    """Defect 4: damaged shards were read silently (garbage frames, samples dropped, exit 0)."""
    from avbench.evaluate.downstream import Downstream

    index = pd.read_parquet(sharded / "index.parquet")
    assert {"sample_sha256", "shard_sha256"} <= set(index.columns) and (index["sample_sha256"].str.len() == 64).all()
    assert checked_index(sharded / "tars", index).skipped == 0
    name = _damage_copy(sharded / "tars", tmp_path / "tars", how)
    with pytest.raises(DamagedShards, match=f"{name} key "):
        checked_index(tmp_path / "tars", index)
    ck = checked_index(tmp_path / "tars", index, on_damage="skip")
    assert ck.skipped >= 1 and (ck.index["status"] == "damaged").sum() == ck.skipped
    assert (ck.index["status"] == "ok").sum() == len(index) - ck.skipped
    with pytest.raises(DamagedShards):
        Downstream.load(name="t", shard_dir=tmp_path / "tars", index_path=sharded / "index.parquet")
    ds = Downstream.load(name="t", shard_dir=tmp_path / "tars", index_path=sharded / "index.parquet", on_damage="skip")
    assert ds.skipped == ck.skipped
    # what is left reads without error, and only the keys still listed ok
    keys = frozenset(ds.ok["key"])
    got = [s["key"] for s in ShardStream(ds.urls, shuffle=False, keys=keys)]
    assert sorted(got) == sorted(keys)


def test_reader_names_shard_and_key_of_a_bad_sample(tmp_path):
    """Defect 15: a corrupt JPEG or bad JSON raised without naming the shard and key."""
    tar = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(tar), mtime=0.0) as sink:
        sink.write({"__key__": "k1", "json": b"{not json"})
    with pytest.raises(ValueError, match=r"shard-000000.tar key k1"):
        list(ShardStream(shard_urls(tmp_path), shuffle=False))
    tar2 = tmp_path / "b" / "shard-000000.tar"
    tar2.parent.mkdir()
    meta = {"frame_jpeg_bytes": [4], "size": [2, 2], "fps": 8.0, "n_frames": 1}
    with wds.TarWriter(str(tar2), mtime=0.0) as sink:
        sink.write({"__key__": "k2", "json": json.dumps(meta).encode(), "frames.mjpeg": b"\xff\xd8zz"})
    with pytest.raises(ValueError, match=r"shard-000000.tar key k2"):
        list(ShardStream([str(tar2)], shuffle=False, view=lambda s, rng: {"v": s["frames"][0]}))


def test_shard_keys_are_unique_across_groups(probed, cfg, tmp_path):
    """Defect 11: ids `x/a` and `x_a` in two shard groups both got key `x_a`."""
    paths = []
    for g in range(2):
        rows = group_rows(probed.iloc[:2], g, 2)
        write_shards(
            rows,
            tmp_path / f"group-{g:03d}",
            tmp_path / f"group-{g:03d}.index.parquet",
            cfg=cfg,
            modality="audiovisual",
            progress=False,
        )
        paths.append(tmp_path / f"group-{g:03d}.index.parquet")
    merged = merge_indexes(paths, tmp_path / "index.parquet")
    assert merged["key"].is_unique and merged.loc[1, "key"] == "x_a" and merged.loc[0, "key"].startswith("x_a-")
    bad = pd.read_parquet(paths[1])
    bad["key"] = merged.loc[0, "key"]
    bad["id"] = "other"
    bad.to_parquet(paths[1])
    with pytest.raises(ValueError, match="appears twice"):
        merge_indexes(paths, tmp_path / "index2.parquet")


def test_probe_table_without_ids_is_one_clear_error(probed, cfg, tmp_path):
    """Defect 13: a table without an `id` column failed with KeyError 'id' on every row."""
    with pytest.raises(ValueError, match="no column id"):
        write_shards(
            probed.drop(columns=["id"]),
            tmp_path / "t",
            tmp_path / "i.parquet",
            cfg=cfg,
            modality="audiovisual",
            progress=False,
        )


def test_cli_refusal_is_one_line(probed, tmp_path):
    from avbench.cli import main

    probed.to_parquet(tmp_path / "p.parquet")
    x = tmp_path / "X"
    (x / "videos").mkdir(parents=True)
    (x / "notes.txt").write_text("n")
    with pytest.raises(SystemExit, match=r"^avbench shard: .*X is not empty and was not written by avbench shard"):
        main(
            [
                "shard",
                str(tmp_path / "p.parquet"),
                "-o",
                str(x),
                "--index",
                str(tmp_path / "i.parquet"),
                "--config",
                str(REPO / "config.yaml"),
                "--workers",
                "1",
            ]
        )
    assert (x / "notes.txt").is_file()


def test_leftovers_of_a_killed_run_are_never_read_and_are_cleaned(probed, cfg, tmp_path):
    """A run killed mid-shard leaves its hidden temporary folder: readers skip it, the rerun removes it."""
    stale = tmp_path / ".tars.partial-dead"
    stale.mkdir()
    (stale / "shard-000000.tar").write_bytes(b"x" * 1024)
    (tmp_path / ".i.parquet.dead.parquet").write_bytes(b"junk")
    assert shard_urls(tmp_path) == []
    write_shards(probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tars.lock", "i.parquet", "tars"]


def test_failed_index_rename_rolls_the_shards_back(probed, cfg, tmp_path, monkeypatch):
    """Defect 8: new shards must never sit beside the old index."""
    import os as _os

    out, idx = tmp_path / "tars", tmp_path / "i.parquet"
    write_shards(probed.iloc[:1], out, idx, cfg=cfg, modality="audiovisual", progress=False)
    before = {p.name: _sha(p) for p in out.iterdir()}
    real = _os.replace

    def failing(src, dst, *a, **kw):
        if str(dst) == str(idx):
            raise OSError(errno.EIO, "I/O error")
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(_os, "replace", failing)
    with pytest.raises(OSError, match="I/O error"):
        write_shards(probed, out, idx, cfg=cfg, modality="audiovisual", progress=False)
    assert {p.name: _sha(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tars.lock", "i.parquet", "tars"]
