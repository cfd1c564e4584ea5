"""One bad row never aborts an ingest; every file of a folder gets a row (issue 12, defects 6,
13, 14 and 15)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from avbench.ingest import prepare_esc50, prepare_folder, prepare_kinetics, prepare_ucf101, prepare_audioset
from avbench.manifest import write_manifest

LONG = "v_" + "x" * 300 + ".avi"


def test_ucf101_nul_byte_and_long_name_are_rows(tmp_path: Path, touch) -> None:
    root = tmp_path / "UCF101"
    s = root / "ucfTrainTestlist"
    s.mkdir(parents=True)
    (s / "classInd.txt").write_text("1 A\n")
    (s / "trainlist01.txt").write_bytes(b"A/v_a_g01_c01.avi 1\nA/v_b\x00c.avi 1\nA/" + LONG.encode() + b" 1\n")
    (s / "testlist01.txt").write_text("A/v_a_g02_c01.avi\n")
    touch(root / "videos" / "A" / "v_a_g01_c01.avi")
    df = prepare_ucf101(root)
    st = dict(zip(df["id"].str[:8], df["status"]))
    assert st["v_a_g01_"] == "ok" and st["v_a_g02_"] == "missing"
    bad = df[df["status"].isin(["unsafe_path", "malformed"])]
    assert len(bad) == 2 and bad["reason"].str.contains("trainlist01.txt:").all()
    write_manifest(df, tmp_path / "m.parquet")


def test_esc50_bad_rows_are_malformed_with_file_and_line(tmp_path: Path, touch) -> None:
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    touch(root / "audio" / "1-1-A-0.wav")
    lines = [
        b"filename,fold,target,category,esc10,src_file,take",
        b"1-1-A-0.wav,1,0,dog,True,1,A",
        LONG.encode() + b",1,0,dog,True,1,A",
        b"1-2-A-0.wav,1,0,caf\xe9,True,1,A",  # one cp1252 byte
        b'1-3-A-0.wav,1,0,"' + b"y" * 140000 + b'",True,1,A',  # a field over the csv limit
        b"1-4-A-0.wav,1,0,dog,True,1,A",
    ]
    (root / "meta" / "esc50.csv").write_bytes(b"\n".join(lines) + b"\n")
    df = prepare_esc50(root)
    assert df["status"].tolist() == ["ok", "malformed", "malformed", "malformed", "missing"]
    assert "esc50.csv:3" in df["reason"][1] and "esc50.csv:4" in df["reason"][2]
    assert "not UTF-8" in df["reason"][2] and "esc50.csv:5" in df["reason"][3]
    write_manifest(df, tmp_path / "m.parquet")


def test_kinetics_bad_rows_and_bad_files(tmp_path: Path) -> None:
    csv_path = tmp_path / "k.csv"
    csv_path.write_bytes(
        b"label,youtube_id,time_start,time_end,split\n"
        b"caf\xe9,aaaaaaaaaaa,0,10,train\n"
        b'x,"' + b"z" * 140000 + b'",0,10,train\n'
        b"x,../../etc/passwd,0,10,train\n"
        b"x,bbbbbbbbbbb,0,10,train\n"
    )
    df = prepare_kinetics(csv_path)
    assert df["status"].tolist() == ["malformed", "malformed", "unsafe_path", "missing"]
    assert "k.csv:2" in df["reason"][0] and "k.csv:3" in df["reason"][1] and "k.csv:4" in df["reason"][2]
    utf16 = tmp_path / "u.csv"
    utf16.write_text("label,youtube_id,time_start,time_end,split\n", encoding="utf-16")
    with pytest.raises(ValueError, match="u.csv: not UTF-8"):
        prepare_kinetics(utf16)


def test_audioset_bad_bytes_and_huge_fields(tmp_path: Path) -> None:
    csv_path = tmp_path / "eval_segments.csv"
    csv_path.write_bytes(
        b"# YTID, start_seconds, end_seconds, positive_labels\n"
        b'aaaaaaaaaaa, 0.000, 10.000, "/m/\xe9"\n'
        b'bbbbbbbbbbb, 0.000, 10.000, "' + b"q" * 140000 + b'"\n'
        b'ccccccccccc, 0.000, 10.000, "/m/0"\n'
    )
    df = prepare_audioset(csv_path)
    assert df["status"].tolist() == ["malformed", "malformed", "missing"]


def test_folder_every_file_gets_a_row(tmp_path: Path, touch) -> None:
    root = tmp_path / "d"
    for rel in ("a.mp4", "b.flv", "c.ts", "d.webm.part", "notes.txt"):
        touch(root / rel)
    bad = os.fsencode(str(root)) + b"/bad\xff.mp4"
    with open(bad, "wb"):
        pass
    df = prepare_folder(root)
    st = dict(zip(df["id"], df["status"]))
    assert st == {
        "a": "ok",
        "b": "ok",
        "c": "ok",
        "d.webm.part": "not_media",
        "notes.txt": "not_media",
        "bad\\xff": "malformed",
    } or st == {
        "a": "ok",
        "b": "ok",
        "c": "ok",
        "d.webm.part": "not_media",
        "notes.txt": "not_media",
        "bad\\xff.mp4": "malformed",
    }
    write_manifest(df, tmp_path / "m.parquet")  # no UnicodeEncodeError


def test_folder_probe_stays_in_the_folder_and_gives_ids(tmp_path: Path, outside: Path) -> None:
    """Defect 13: `avbench probe <folder>` opened a link to a file outside the folder, and its table
    had no id (sharding it failed on every row)."""
    from avbench.cli import main
    from avbench.synthesize import make_tone_clip

    root = tmp_path / "v"
    root.mkdir()
    make_tone_clip(root / "good.mkv", seconds=1.0)
    os.symlink(make_tone_clip(tmp_path / "elsewhere.mkv", seconds=1.0)["path"], root / "link.mkv")
    (root / "x.part").write_bytes(b"partial")
    assert main(["probe", str(root), "-o", str(tmp_path / "p.parquet"), "--workers", "1"]) == 0
    df = pd.read_parquet(tmp_path / "p.parquet")
    assert dict(zip(df["id"], df["status"])) == {"good": "ok", "link": "unsafe_path", "x.part": "not_media"}
    assert not df["path"].astype(str).str.contains("elsewhere").any()


def test_webm_without_duration_is_probed_from_its_packets(tmp_path: Path) -> None:
    """Defect 14: a WebM whose container has no duration (MediaRecorder) was `unreadable`."""
    import av
    import numpy as np

    from avbench.media.probe import probe_file

    class Sink:  # not seekable: the muxer cannot go back to write the duration
        def __init__(self, f):
            self.f = f

        def write(self, b):
            return self.f.write(b)

    path = tmp_path / "rec.webm"
    with open(path, "wb") as f:
        c = av.open(Sink(f), "w", format="webm")
        s = c.add_stream("libvpx", rate=10)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for i in range(20):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((24, 32, 3), i * 10, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        c.close()
    with av.open(str(path)) as c:
        assert c.duration is None
    row = probe_file(str(path), need_audio=False)
    assert row["status"] == "ok" and abs(row["duration"] - 2.0) < 0.15
