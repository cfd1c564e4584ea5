"""UCF101 split lists: the real lists (folds, labels, counts) and tmp_path fixtures (unsafe paths...)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from avbench.ingest import prepare, prepare_ucf101


def _list(path: Path) -> list[str]:
    return [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip()]


def test_real_lists(annotations: Path, tmp_path: Path) -> None:
    sdir = annotations / "ucf101"
    df = prepare_ucf101(tmp_path, splits_dir=sdir)
    every = {PurePosixPath(p).stem for f in sorted(sdir.glob("*list0*.txt")) for p in _list(f)}
    assert len(df) == len(every) == len(set(df["id"]))
    assert (df["status"] == "missing").all()
    assert df["label"].nunique() == 101
    assert sorted(df["label_idx"].unique()) == list(range(101))  # 1-based classInd stored 0-based
    first = df.set_index("id").loc["v_ApplyEyeMakeup_g08_c01"]
    assert first["label"] == "ApplyEyeMakeup" and first["label_idx"] == 0
    assert (first["fold_1"], first["split"]) == ("train", "train")
    for k in (1, 2, 3):
        train = {PurePosixPath(p).stem for p in _list(sdir / f"trainlist0{k}.txt")}
        test = {PurePosixPath(p).stem for p in _list(sdir / f"testlist0{k}.txt")}
        got_train = set(df.loc[df[f"fold_{k}"] == "train", "id"])
        got_test = set(df.loc[df[f"fold_{k}"] == "test", "id"])
        assert got_train == train and got_test == test
        assert not got_train & got_test
    assert (df["split"] == df["fold_1"]).all()
    hs = df[df["id"].str.startswith("v_HandStandPushups")]
    assert len(hs) > 0 and (hs["label"] == "HandstandPushups").all()


CLASSIND = "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n"
TRAIN1 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
    "HandstandPushups/v_HandStandPushups_g08_c01.avi 2 \r\n"
    "HandstandPushups/v_HandStandPushups_g09_c01.avi 2\r\n"
    "../../etc/passwd 1\r\n"
    "/etc/passwd 1\r\n"
    "YoYo/v_YoYo_g08_c01.avi 3\r\n"
    "YoYo/v_YoYo_g08_c02.avi 3\r\n"
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
    "YoYo/v_YoYo_g08_c03.avi three extra\r\n"
    "\r\n"
)
TEST1 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"
    "YoYo/v_YoYo_g08_c01.avi\r\n"  # also in train of fold 1
)
TRAIN2 = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n"
TEST2 = "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\r\n"


def _make(root: Path) -> None:
    s = root / "ucfTrainTestlist"
    s.mkdir(parents=True)
    for name, text in [
        ("classInd.txt", CLASSIND),
        ("trainlist01.txt", TRAIN1),
        ("testlist01.txt", TEST1),
        ("trainlist02.txt", TRAIN2),
        ("testlist02.txt", TEST2),
    ]:
        (s / name).write_bytes(text.encode())


def test_fixture(tmp_path: Path, touch, outside: Path) -> None:
    root = tmp_path / "UCF101"
    _make(root)
    v = root / "videos"
    touch(v / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    touch(v / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi")  # the real on-disk naming
    touch(v / "handstandpushups" / "v_HandstandPushups_g09_c01.avi")  # differs only in case
    (v / "YoYo").mkdir()
    os.symlink(outside, v / "YoYo" / "v_YoYo_g08_c01.avi")  # symlink escaping the root
    df = prepare_ucf101(root)
    by = {i: g for i, g in df.groupby("id")}

    a = by["v_ApplyEyeMakeup_g08_c01"]
    assert a["status"].tolist() == ["ok", "duplicate"]  # listed twice in trainlist01
    assert a.iloc[0]["path"] == str((v / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi").resolve())
    assert (a.iloc[0]["fold_1"], a.iloc[0]["fold_2"], a.iloc[0]["split"]) == ("train", "test", "train")
    assert a.iloc[1]["path"] == ""

    h8, h9 = by["v_HandStandPushups_g08_c01"].iloc[0], by["v_HandStandPushups_g09_c01"].iloc[0]
    assert h8["status"] == "ok" and h8["label"] == "HandstandPushups" and h8["label_idx"] == 1
    assert h9["status"] == "ok" and h9["path"].endswith("handstandpushups/v_HandstandPushups_g09_c01.avi")

    assert by["../../etc/passwd"].iloc[0]["status"] == "unsafe_path"
    assert by["/etc/passwd"].iloc[0]["status"] == "unsafe_path"
    assert by["YoYo/v_YoYo_g08_c01.avi"]["status"].tolist() == ["unsafe_path"] * 2  # both lists
    assert str(outside) not in set(df["path"]) and not df["path"].str.contains("passwd").any()

    assert by["v_YoYo_g08_c02"].iloc[0]["status"] == "missing"
    assert by["v_YoYo_g08_c02"].iloc[0]["label_idx"] == 2
    mal = df[df["status"] == "malformed"]
    assert len(mal) == 1 and mal.iloc[0]["id"].startswith("row9")
    t = by["v_ApplyEyeMakeup_g01_c01"].iloc[0]
    assert (t["fold_1"], t["fold_2"], t["fold_3"], t["split"]) == ("test", "train", "", "test")
    assert df.loc[df["status"] == "ok", "path"].map(lambda p: Path(p).is_file()).all()


def test_missing_lists_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prepare_ucf101(tmp_path)


def test_train_and_test_of_one_fold_is_duplicate(tmp_path: Path, touch) -> None:
    root = tmp_path / "u"
    _make(root)
    touch(root / "YoYo" / "v_YoYo_g08_c01.avi")  # no videos/ folder: files directly under root
    df = prepare("ucf101", root)
    y = df[df["id"] == "v_YoYo_g08_c01"]
    assert y["status"].tolist() == ["ok", "duplicate"]
    assert "also in train of fold 1" in y.iloc[1]["reason"]
    assert y.iloc[0]["fold_1"] == "train"
