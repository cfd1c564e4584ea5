"""HMDB51 split files: the real 153 files and tmp_path fixtures."""

from __future__ import annotations

import os
from pathlib import Path

from avbench.ingest import prepare, prepare_hmdb51

SIDE = {"0": "", "1": "train", "2": "test"}


def test_real_splits(annotations: Path, tmp_path: Path) -> None:
    sdir = annotations / "hmdb51"
    df = prepare_hmdb51(tmp_path, splits_dir=sdir).set_index("id", drop=False)
    files = sorted(sdir.glob("*_test_split*.txt"))
    classes = sorted({f.name.rsplit("_test_split", 1)[0] for f in files})
    assert len(classes) == 51
    expected: dict[int, dict[str, tuple[str, str]]] = {1: {}, 2: {}, 3: {}}
    for f in files:
        cls, k = f.name.rsplit("_test_split", 1)[0], int(f.name[-5])
        for ln in f.read_text().splitlines():
            if ln.strip():
                name, code = ln.split()
                expected[k][name[:-4]] = (cls, SIDE[code])
    assert len(df) == len(expected[1]) and df["id"].is_unique
    assert (df["status"] == "missing").all()
    assert sorted(df["label_idx"].unique()) == list(range(51))
    for k in (1, 2, 3):
        assert set(expected[k]) == set(df["id"])
        got = dict(zip(df["id"], zip(df["label"], df[f"fold_{k}"])))
        assert got == expected[k]
        assert not set(df.loc[df[f"fold_{k}"] == "train", "id"]) & set(df.loc[df[f"fold_{k}"] == "test", "id"])
    assert set(df["fold_1"]) == {"train", "test", ""} and (df["split"] == df["fold_1"]).all()


def test_fixture(tmp_path: Path, touch, outside: Path) -> None:
    root = tmp_path / "hmdb"
    s = root / "testTrainMulti_7030_splits"
    s.mkdir(parents=True)
    (s / "brush_hair_test_split1.txt").write_text(
        "a_brush_hair_0.avi 1 \nb_brush_hair_1.avi 2 \nc_brush_hair_2.avi 0 \n"
        "../../etc/passwd 1\nd.avi\nlink_brush.avi 1\na_brush_hair_0.avi 2\n"
    )
    (s / "brush_hair_test_split2.txt").write_text("a_brush_hair_0.avi 2 \nb_brush_hair_1.avi 1 \n")
    (s / "wave_test_split1.txt").write_text("w_wave_0.avi 1\na_brush_hair_0.avi 1\n")
    (s / "README").write_text("not a split file\n")
    v = root / "videos"
    touch(v / "brush_hair" / "a_brush_hair_0.avi")
    touch(v / "wave" / "W_Wave_0.avi")  # case differs
    os.symlink(outside, touch(v / "brush_hair" / "x").parent / "link_brush.avi")
    df = prepare("hmdb51", root)
    by = {i: g for i, g in df.groupby("id")}
    a = by["a_brush_hair_0"]
    assert a["status"].tolist() == ["ok", "duplicate", "duplicate"]  # twice in split1, also in class wave
    assert (a.iloc[0]["fold_1"], a.iloc[0]["fold_2"], a.iloc[0]["fold_3"]) == ("train", "test", "")
    assert a.iloc[0]["label"] == "brush_hair" and a.iloc[0]["label_idx"] == 0
    assert by["b_brush_hair_1"].iloc[0]["status"] == "missing"
    assert by["c_brush_hair_2"].iloc[0]["split"] == ""
    assert by["../../etc/passwd"].iloc[0]["status"] == "unsafe_path"
    assert by["link_brush.avi"].iloc[0]["status"] == "unsafe_path"
    w = by["w_wave_0"].iloc[0]
    assert w["status"] == "ok" and w["label_idx"] == 1 and w["path"].endswith("W_Wave_0.avi")
    assert (df["status"] == "malformed").sum() == 1
    assert df.loc[df["status"] == "malformed", "id"].iloc[0].startswith("row5")
