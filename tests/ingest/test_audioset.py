"""AudioSet segments CSV ingestion: the real eval_segments.csv and tmp_path fixtures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from avbench.ingest import prepare, prepare_audioset
from avbench.ingest.audioset import read_class_labels


def _segments(path: Path) -> list[list[str]]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [next(csv.reader([ln], skipinitialspace=True)) for ln in lines]


def test_real_eval_segments(annotations: Path, tmp_path: Path) -> None:
    path = annotations / "audioset" / "eval_segments.csv"
    segs = _segments(path)
    header = [ln for ln in path.read_text().splitlines() if ln.startswith("# num_ytids")]
    df = prepare_audioset(path, tmp_path / "none", labels_csv=annotations / "audioset" / "class_labels_indices.csv")
    assert len(df) == len(segs)
    if header:  # "# num_ytids=20371, num_segs=20371, ..."
        assert len(df) == int(header[0].split("num_segs=")[1].split(",")[0])
    assert (df["status"] == "missing").all() and (df["path"] == "").all()
    assert df["split"].eq("test").all()
    ytids = [s[0] for s in segs]
    assert df["id"].tolist() == [f"{s[0]}_{int(float(s[1]))}_{int(float(s[2]))}" for s in segs]
    assert any(y.startswith("-") for y in ytids)
    assert df["id"].str.startswith("-").sum() == sum(y.startswith("-") for y in ytids)
    classes = read_class_labels(annotations / "audioset" / "class_labels_indices.csv")
    assert len(classes) == 527
    mids = [[m.strip() for m in s[3].split(",")] for s in segs]
    assert df["label_mids"].tolist() == [";".join(m) for m in mids]
    assert df["labels"].str.split(";").map(len).tolist() == [len(m) for m in mids]
    assert df["label"].tolist() == [classes[m[0]][1] for m in mids]
    assert df["label_idx"].tolist() == [classes[m[0]][0] for m in mids]
    # display names with commas stay whole ("Male speech, man speaking")
    assert df["labels"].str.contains("Male speech, man speaking", regex=False).any()


SEGMENTS = """# Segments csv created Sun Mar  5 10:54:25 2017
# num_ytids=6, num_segs=6, num_unique_labels=2, num_positive_labels=7
# YTID, start_seconds, end_seconds, positive_labels
--4gqARaEJE, 0.000, 10.000, "/m/09x0r,/m/05zppz"
-AbCdEfGhIj, 30.000, 40.000, "/m/05zppz"
untrimmedId, 20.000, 30.000, "/m/09x0r"
notPresent1, 5.000, 15.000, "/m/09x0r"
--4gqARaEJE, 0.000, 10.000, "/m/09x0r"
brokenLine1, abc, 10.000, "/m/09x0r"
short, 1.0
"""

LABELS = """index,mid,display_name
0,/m/09x0r,"Speech"
1,/m/05zppz,"Male speech, man speaking"
"""


def test_fixture(tmp_path: Path, touch) -> None:
    csv_path = tmp_path / "balanced_train_segments.csv"
    csv_path.write_text(SEGMENTS)
    (tmp_path / "class_labels_indices.csv").write_text(LABELS)
    media = tmp_path / "media"
    touch(media / "--4gqARaEJE_0_10.flac")
    touch(media / "sub" / "-AbCdEfGhIj_30.wav")
    touch(media / "untrimmedId.mp4")
    df = prepare("audioset", csv_path, videos=media)  # labels_csv found beside the CSV
    assert len(df) == 7
    assert df["status"].tolist() == ["ok", "ok", "ok", "missing", "duplicate", "malformed", "malformed"]
    assert df["id"].tolist()[:5] == [
        "--4gqARaEJE_0_10",
        "-AbCdEfGhIj_30_40",
        "untrimmedId_20_30",
        "notPresent1_5_15",
        "--4gqARaEJE_0_10",
    ]
    assert df["id"].tolist()[5:] == ["row9", "row10"]
    assert df["split"].iloc[0] == "train"
    first = df.iloc[0]
    assert first["labels"] == "Speech;Male speech, man speaking" and first["label"] == "Speech"
    assert first["label_idx"] == 0 and first["label_mids"] == "/m/09x0r;/m/05zppz"
    assert first["t_start"] == 0.0 and math.isnan(first["t_end"])
    assert df.iloc[1]["label_idx"] == 1
    un = df.iloc[2]
    assert un["path"] == str((media / "untrimmedId.mp4").resolve()) and (un["t_start"], un["t_end"]) == (20.0, 30.0)


def test_without_labels_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "sub" / "segs.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(SEGMENTS)
    df = prepare_audioset(csv_path, tmp_path / "nothing")
    assert df["label"].iloc[0] == "/m/09x0r"
    assert df["label_idx"].iloc[0] == 1 and df["label_idx"].iloc[1] == 0  # sorted mids
    assert df["split"].iloc[0] == "" and set(df["status"]) == {"missing", "duplicate", "malformed"}
