"""A plain folder of media files, the dispatcher and the manifest summary."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

from avbench.ingest import FORMATS, prepare, prepare_folder, summarize
from avbench.manifest import BASE_COLUMNS


def test_folder_labels(tmp_path: Path, touch, outside: Path) -> None:
    root = tmp_path / "data"
    for rel in ("cats/b.mp4", "cats/a.WAV", "dogs/x.webm", "top.mkv", "dogs/notes.txt", "dogs/x.wav"):
        touch(root / rel)
    os.symlink(outside, root / "dogs" / "evil.mp4")
    os.symlink(tmp_path / "outside", root / "linked_dir")  # a directory outside: never walked
    df = prepare_folder(root)
    # every file gets a row: non-media files are not_media (issue 12)
    assert df["id"].tolist() == ["cats/a", "cats/b", "dogs/evil", "dogs/notes.txt", "dogs/x", "dogs/x", "top"]
    assert df["status"].tolist() == ["ok", "ok", "unsafe_path", "not_media", "ok", "duplicate", "ok"]
    assert df["label"].tolist() == ["cats", "cats", "dogs", "", "dogs", "dogs", ""]
    assert df["label_idx"].tolist() == [0, 0, 1, -1, 1, 1, -1]
    assert (df["split"] == "unlabeled").all() and df["t_start"].map(math.isnan).all()
    assert not df["path"].str.contains("outside").any()
    none = prepare_folder(root, labels="none", extensions=("mp4",))
    media = none[none["status"] != "not_media"]
    assert media["id"].tolist() == ["cats/b", "dogs/evil"] and (none["label"] == "").all()
    with pytest.raises(FileNotFoundError):
        prepare_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    assert prepare_folder(tmp_path / "empty").empty


def test_dispatch_and_summary(tmp_path: Path, touch) -> None:
    assert set(FORMATS) == {"kinetics", "audioset", "ucf101", "hmdb51", "esc50", "dcase", "folder"}
    with pytest.raises(ValueError):
        prepare("nope", tmp_path)
    with pytest.raises(ValueError):
        prepare("folder", tmp_path, videos=tmp_path)
    touch(tmp_path / "m" / "c" / "a.mp4")
    a = prepare("folder", tmp_path / "m", dataset="mine")
    csv_path = tmp_path / "k.csv"
    csv_path.write_text(
        "label,youtube_id,time_start,time_end,split\nx,aaaaaaaaaaa,0,10,train\nx,aaaaaaaaaaa,0,10,val\nbad\n"
    )
    b = prepare("kinetics", csv_path, videos=tmp_path / "m")
    for df in (a, b):
        assert list(df.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    s = summarize(pd.concat([a, b], ignore_index=True))
    assert s["dataset"].tolist() == ["kinetics", "mine"]
    k = s.set_index("dataset").loc["kinetics"]
    assert (k["listed"], k["found"], k["missing"], k["duplicate"], k["malformed"]) == (3, 0, 1, 1, 1)
    assert "split 'train'" in b.iloc[1]["reason"]
    assert s.set_index("dataset").loc["mine", "found"] == 1
    assert summarize(a.iloc[:0]).empty


def test_manifest_parquet_roundtrip(tmp_path: Path, touch) -> None:
    from avbench.manifest import read_manifest, write_manifest

    touch(tmp_path / "d" / "c" / "a.mp4")
    (tmp_path / "empty").mkdir()
    for df in (prepare("folder", tmp_path / "d"), prepare("folder", tmp_path / "empty")):
        write_manifest(df, tmp_path / "m.parquet")
        back = read_manifest(tmp_path / "m.parquet")
        pd.testing.assert_frame_equal(back, df, check_dtype=False)
        assert back["label_idx"].dtype.kind == "i" and back["t_start"].dtype.kind == "f"
