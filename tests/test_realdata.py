"""The real clips and the real ESC-50 audio in ../shared/realdata go through ingest, probe and shard."""

import pandas as pd

from avbench.cli import main


def test_real_clips_and_esc10_audio_run_through_probe_and_shard(realdata, tmp_path):
    # A plain folder of real videos (mp4/webm/avi; H.264, VP8, MPEG-4; AAC 5.1, Vorbis, MP3).
    assert main(["ingest", "folder", str(realdata / "clips"), "-o", str(tmp_path / "clips.parquet")]) == 0
    assert (
        main(["probe", str(tmp_path / "clips.parquet"), "-o", str(tmp_path / "clips.probed.parquet"), "--workers", "2"])
        == 0
    )
    assert (
        main(
            [
                "shard",
                str(tmp_path / "clips.probed.parquet"),
                "-o",
                str(tmp_path / "clips"),
                "--index",
                str(tmp_path / "clips.index.parquet"),
                "--workers",
                "2",
            ]
        )
        == 0
    )
    clips = pd.read_parquet(tmp_path / "clips.index.parquet")
    assert len(clips) == len(list((realdata / "clips").iterdir()))
    assert (clips["status"] == "ok").all(), clips[["id", "status", "reason"]]
    # ESC-50: 2000 listed, the 83 ESC-10 clips held here are sharded, the rest reported missing.
    assert main(["ingest", "esc50", str(realdata / "esc50"), "-o", str(tmp_path / "esc.parquet")]) == 0
    assert (
        main(
            [
                "probe",
                str(tmp_path / "esc.parquet"),
                "-o",
                str(tmp_path / "esc.probed.parquet"),
                "--modality",
                "audio",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "shard",
                str(tmp_path / "esc.probed.parquet"),
                "-o",
                str(tmp_path / "esc"),
                "--index",
                str(tmp_path / "esc.index.parquet"),
                "--modality",
                "audio",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    esc = pd.read_parquet(tmp_path / "esc.index.parquet")
    assert len(esc) == 2000
    assert esc["status"].value_counts().to_dict() == {"missing": 1917, "ok": 83}
