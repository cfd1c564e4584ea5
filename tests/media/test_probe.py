import shutil
import subprocess

import pandas as pd

from avbench.cli import main
from avbench.media.probe import probe_file


def test_real_clips_probe_ok(realdata):
    for clip in sorted((realdata / "clips").iterdir()):
        row = probe_file(str(clip))
        assert row["status"] == "ok", (clip.name, row["reason"])
        assert row["duration"] > 0.5 and row["width"] > 0 and row["sample_rate"] > 0
    nasa = probe_file(str(realdata / "clips" / "nasa_13013.mp4"))
    assert nasa["n_video_streams"] == 2 and nasa["n_audio_streams"] == 2
    bunny = probe_file(str(realdata / "clips" / "big_buck_bunny_small.mp4"))
    assert bunny["channels"] == 6 and bunny["sample_rate"] == 48000


def test_probe_folder_cli_reports_each_bad_file(realdata, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    src = realdata / "clips" / "chaplin.mp4"
    shutil.copy(src, folder / "good.mp4")
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(src.read_bytes()[:60000])
    (folder / "notmedia.mkv").write_text("hello")
    # A real file with its audio stream removed, made by the bundled ffmpeg binary (known options, whatever is on PATH).
    from avbench.media.ffmpeg import bundled_ffmpeg_binary

    subprocess.run(
        [bundled_ffmpeg_binary(), "-v", "error", "-i", str(src), "-an", "-c:v", "copy", str(folder / "mute.mp4")],
        check=True,
    )
    out = tmp_path / "m.parquet"
    assert main(["probe", str(folder), "-o", str(out), "--workers", "2"]) == 0
    df = pd.read_parquet(out)
    status = {p.split("/")[-1]: s for p, s in zip(df["path"], df["status"])}
    assert status == {
        "good.mp4": "ok",
        "zero.mp4": "empty",
        "truncated.mp4": "unreadable",
        "notmedia.mkv": "unreadable",
        "mute.mp4": "no_audio_stream",
    }
    printed = capsys.readouterr().out
    assert "ok=1" in printed and "no_audio_stream=1" in printed
    assert all(r for r, s in zip(df["reason"], df["status"]) if s != "ok")


def test_too_short(realdata):
    row = probe_file(str(realdata / "clips" / "big_buck_bunny_432_433.webm"), min_duration=2.0)
    assert row["status"] == "too_short"
