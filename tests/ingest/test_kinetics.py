"""Kinetics CSV ingestion: real CSVs (row counts, quoted labels) and tmp_path fixtures."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest

from avbench.ingest import prepare, prepare_kinetics
from avbench.manifest import BASE_COLUMNS


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", ["kinetics-400_val.csv", "kinetics-400_test.csv", "kinetics-600_val.csv"])
def test_real_csv_all_missing(annotations: Path, tmp_path: Path, name: str) -> None:
    path = annotations / "kinetics" / name
    rows = _csv_rows(path)
    df = prepare_kinetics(path, tmp_path / "no_videos")
    assert list(df.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert len(df) == len(rows)
    ids = [f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}" for r in rows]
    n_dup = sum(c - 1 for c in Counter(ids).values())
    assert (df["status"] == "missing").sum() == len(rows) - n_dup
    assert (df["status"] == "duplicate").sum() == n_dup
    assert (df["path"] == "").all()
    assert df["id"].tolist() == ids
    assert df["split"].tolist() == [r["split"] for r in rows]
    assert df["t_start"].tolist() == [float(r["time_start"]) for r in rows]
    if "label" in rows[0]:
        labels = sorted({r["label"] for r in rows})
        assert df["label"].tolist() == [r["label"] for r in rows]
        assert df["label_idx"].tolist() == [labels.index(r["label"]) for r in rows]
        assert df["label_idx"].max() == len(labels) - 1
    else:
        assert (df["label"] == "").all() and (df["label_idx"] == -1).all()


def test_real_400_val_quoted_labels(annotations: Path, tmp_path: Path) -> None:
    path = annotations / "kinetics" / "kinetics-400_val.csv"
    df = prepare_kinetics(path, tmp_path)
    assert len(df) == 19906
    assert df["label"].nunique() == 400
    raw = path.read_text()
    quoted = {line.split('",')[0][1:] for line in raw.splitlines() if line.startswith('"')}
    assert quoted and quoted <= set(df["label"])  # quoted labels kept whole, without their quotes
    assert "massaging person's head" in set(df["label"])
    assert not df["label"].str.startswith('"').any()
    assert not df["id"].str.contains('"').any()


CSV_TEXT = '''label,youtube_id,time_start,time_end,split,is_cc
"air drumming",aaaaaaaaaaa,10,20,train,0
"passing American football (in game)",bbbbbbbbbbb,0,10,train,0
"tying knot (not on tie), ""fancy""",ccccccccccc,5,15,val,1
abseiling,ddddddddddd,30,40,val,0
abseiling,-eeeeeeeeee,1,11,val,0
abseiling,fffffffffff,2,12,val,0
abseiling,aaaaaaaaaaa,10,20,val,0
abseiling,ggggggggggg,notanumber,12,val,0
abseiling,hhhhhhhhhhh,1
abseiling,iiiiiiiiiii,7,17,val,0
'''


def test_fixture_namings(tmp_path: Path, touch, outside: Path) -> None:
    csv_path = tmp_path / "k400.csv"
    csv_path.write_text(CSV_TEXT)
    vids = tmp_path / "videos"
    touch(vids / "air_drumming" / "aaaaaaaaaaa_000010_000020.mp4")  # class folder, underscored
    touch(vids / "passing American football (in game)" / "bbbbbbbbbbb_000000_000010.webm")  # class folder
    touch(vids / "ccccccccccc_000005_000015.mkv")  # flat
    touch(vids / "ddddddddddd.mp4")  # untrimmed: keeps the CSV window
    touch(vids / "-eeeeeeeeee_000001_000011.avi")  # id starting with '-'
    touch(vids / "notes.txt")
    (vids / "iiiiiiiiiii_000007_000017.mp4").symlink_to(outside)  # escapes the folder
    df = prepare_kinetics(csv_path, vids).set_index("id", drop=False)
    assert len(df) == 10

    a = df.iloc[0]
    assert a["status"] == "ok" and a["path"] == str((vids / "air_drumming" / "aaaaaaaaaaa_000010_000020.mp4").resolve())
    assert a["t_start"] == 0.0 and math.isnan(a["t_end"])
    assert df.loc["bbbbbbbbbbb_000000_000010", "status"] == "ok"
    c = df.loc["ccccccccccc_000005_000015"]
    assert c["status"] == "ok" and c["label"] == 'tying knot (not on tie), "fancy"'
    d = df.loc["ddddddddddd_000030_000040"]
    assert d["status"] == "ok" and (d["t_start"], d["t_end"]) == (30.0, 40.0)
    assert df.loc["-eeeeeeeeee_000001_000011", "status"] == "ok"
    f = df.loc["fffffffffff_000002_000012"]
    assert f["status"] == "missing" and f["path"] == "" and (f["t_start"], f["t_end"]) == (2.0, 12.0)
    assert df.iloc[6]["id"] == "aaaaaaaaaaa_000010_000020" and df.iloc[6]["status"] == "duplicate"
    assert df.iloc[6]["path"] == "" and "train" in df.iloc[6]["reason"]
    assert df.iloc[7]["status"] == "malformed" and df.iloc[7]["id"] == "row9"
    assert df.iloc[8]["status"] == "malformed" and df.iloc[8]["id"] == "row10"
    assert df.iloc[9]["status"] == "unsafe_path" and df.iloc[9]["path"] == ""
    assert str(outside) not in set(df["path"])
    labels = sorted(
        {"air drumming", "passing American football (in game)", 'tying knot (not on tie), "fancy"', "abseiling"}
    )
    assert a["label_idx"] == labels.index("air drumming")
    assert df["label_idx"].dtype.kind == "i" and df["t_end"].dtype.kind == "f"


def test_test_csv_without_label(tmp_path: Path, touch) -> None:
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("youtube_id,time_start,time_end,split\nxxxxxxxxxxx,1,11,test\nyyyyyyyyyyy,2,12,test\n")
    touch(tmp_path / "xxxxxxxxxxx_000001_000011.mp4")
    df = prepare("kinetics", csv_path)  # videos default: the CSV's folder
    assert df["status"].tolist() == ["ok", "missing"]
    assert df["label"].tolist() == ["", ""] and df["label_idx"].tolist() == [-1, -1]
    assert df["split"].tolist() == ["test", "test"]


def test_not_a_kinetics_csv(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        prepare_kinetics(p, tmp_path)
