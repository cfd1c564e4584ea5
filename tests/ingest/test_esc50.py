"""ESC-50: the real meta CSV (2000 rows, 83 clips present) and a malformed fixture."""

from __future__ import annotations

import csv
from pathlib import Path

from avbench.ingest import prepare, prepare_esc50, summarize


def test_real_esc50(esc50_root: Path) -> None:
    df = prepare_esc50(esc50_root)
    with open(esc50_root / "meta" / "esc50.csv", newline="") as f:
        meta = list(csv.DictReader(f))
    n_audio = len(list((esc50_root / "audio").glob("*.wav")))
    assert len(df) == len(meta) == 2000
    assert (df["status"] == "ok").sum() == n_audio == 83
    assert (df["status"] == "missing").sum() == 1917
    assert df["label"].tolist() == [m["category"] for m in meta]
    assert df["label_idx"].tolist() == [int(m["target"]) for m in meta]
    assert sorted(df["label_idx"].unique()) == list(range(50))
    for k in range(1, 6):
        assert df[f"fold_{k}"].tolist() == ["test" if int(m["fold"]) == k else "train" for m in meta]
    ok = df[df["status"] == "ok"]
    assert ok["path"].map(lambda p: Path(p).is_file()).all()
    assert (ok["esc10"] == "True").all()
    s = summarize(df)
    assert s.iloc[0][["dataset", "listed", "found", "missing"]].tolist() == ["esc50", 2000, 83, 1917]


def test_fixture(tmp_path: Path, touch) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text(
        "filename,fold,target,category,esc10,src_file,take\n"
        "1-1-A-0.wav,1,0,dog,True,1,A\n"
        "2-2-A-1.wav,2,1,rooster,False,2,A\n"
        "1-1-A-0.wav,3,0,dog,True,1,A\n"
        "../../x.wav,1,0,dog,True,1,A\n"
        "bad.wav,seven,0,dog,True,1,A\n"
        "short.wav,1\n"
    )
    touch(tmp_path / "audio" / "1-1-A-0.wav")
    df = prepare("esc50", tmp_path, dataset="esc10")
    assert df["status"].tolist() == ["ok", "missing", "duplicate", "unsafe_path", "malformed", "malformed"]
    assert df["id"].tolist()[4:] == ["row6", "row7"]
    assert df.iloc[1][["fold_1", "fold_2", "split", "label", "label_idx"]].tolist() == [
        "train",
        "test",
        "train",
        "rooster",
        1,
    ]
    assert (df["dataset"] == "esc10").all() and (df["format"] == "esc50").all()
