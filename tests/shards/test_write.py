"""Shards from real clips: one sample per usable window, every row indexed, byte-identical reruns."""

from __future__ import annotations

from pathlib import Path
import hashlib

import numpy as np
import pandas as pd
import pytest

from avbench.config import load_config
from avbench.media.probe import probe_manifest
from avbench.shards.loader import load_samples
from avbench.shards.write import group_rows, merge_indexes, write_shards

REPO = Path(__file__).resolve().parents[2]


def _manifest(paths, windows=None):
    df = pd.DataFrame(
        {
            "id": [p.name for p in paths],
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
    for i, (a, b) in (windows or {}).items():
        df.loc[i, ["t_start", "t_end"]] = [a, b]
    return df


def test_real_clips_shard_deterministically(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    clips = realdata / "clips"
    bad = tmp_path / "zero.mp4"
    bad.write_bytes(b"")
    paths = [
        clips / "chaplin.mp4",
        clips / "tests_data_test.avi",
        clips / "big_buck_bunny_0_30.webm",
        clips / "nasa_13013.mp4",
        bad,
    ]
    probed = probe_manifest(_manifest(paths, {2: (10.0, 13.0)}), modality="audiovisual", workers=2, progress=False)
    digests = []
    for run in range(2):
        index = write_shards(
            probed,
            tmp_path / "tars",
            tmp_path / "index.parquet",
            cfg=cfg,
            modality="audiovisual",
            workers=2 - run,
            progress=False,
        )
        digests.append(hashlib.sha256((tmp_path / "tars" / "shard-000000.tar").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert index["status"].tolist() == ["ok", "ok", "ok", "ok", "empty"]
    assert not (tmp_path / "tars.partial").exists()
    samples = {s["meta"]["source"]: s for s in load_samples(tmp_path / "tars")}
    assert len(samples) == 4
    chaplin = samples["chaplin.mp4"]
    assert chaplin["frames"].shape == (int(9.64 * 16), 30, 40, 3) and chaplin["frames"].dtype == np.uint8
    assert chaplin["mel"].shape[0] == cfg["n_mels"]
    window = samples["big_buck_bunny_0_30.webm"]
    assert window["frames"].shape[0] == 48 and window["meta"]["t_start"] == 10.0
    assert abs(window["mel"].shape[1] - 301) <= 1
    for key in ("crop_box", "dropped_frames", "stabilization", "flow", "audio_flags", "sample_rate", "fps"):
        assert key in chaplin["meta"]


def test_audio_only_dataset(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    wavs = sorted((realdata / "esc50" / "audio").glob("*.wav"))[:3]
    probed = probe_manifest(_manifest(wavs), modality="audio", workers=1, progress=False)
    assert (probed["status"] == "ok").all()
    index = write_shards(probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=cfg, modality="audio", progress=False)
    assert (index["status"] == "ok").all()
    s = load_samples(tmp_path / "tars")
    assert s[0]["frames"] is None and s[0]["mel"].shape == (cfg["n_mels"], 501)


def test_shard_groups_split_the_manifest_and_merge_back(realdata, tmp_path):
    cfg = load_config(REPO / "config.yaml")["shard"]
    clips = realdata / "clips"
    paths = [clips / "tests_data_test.avi", clips / "big_buck_bunny_432_433.webm", clips / "doc_medias_example3.mp4"]
    probed = probe_manifest(_manifest(paths), modality="audiovisual", progress=False)
    parts = [group_rows(probed, g, 2) for g in range(2)]
    assert [len(p) for p in parts] == [2, 1] or [len(p) for p in parts] == [1, 2]
    assert pd.concat(parts)["id"].tolist() == probed["id"].tolist()
    idx = []
    for g, part in enumerate(parts):
        write_shards(
            part,
            tmp_path / f"group-{g:03d}",
            tmp_path / f"group-{g:03d}.index.parquet",
            cfg=cfg,
            modality="audiovisual",
            progress=False,
        )
        idx.append(tmp_path / f"group-{g:03d}.index.parquet")
    merged = merge_indexes(idx, tmp_path / "index.parquet")
    assert merged["id"].tolist() == probed["id"].tolist()
    assert merged["shard"].str.startswith("group-00").all()
    samples = load_samples(tmp_path)
    assert [s["meta"]["id"] for s in samples] == probed["id"].tolist()


# -- sample format v2: what the JSON says, and the known answers through the whole sample -----------

V2_KEYS = (
    "id",
    "label",
    "label_idx",
    "dataset",
    "source",
    "t_start",
    "t_end",
    "t_start_listed",
    "t_end_listed",
    "fps",
    "size",
    "n_frames",
    "frame_times",
    "hop_ms",
    "sample_rate",
    "n_mels",
    "win_ms",
    "n_mel_frames",
    "has_audio",
    "flow",
    "crop_box",
    "dropped_frames",
    "stabilization",
    "audio_flags",
    "geometry",
    "audio_stream",
    "video_stream",
    "frame_codec",
    "borders",
    "black_frames",
)


def _click_clip(path, *, seconds=2.5, fps=16, sr=16000, click_s=0.5, black=((0, 4), (14, 16), (37, 40)), bars=0):
    """Lossless clip: textured picture with a moving square, black frame ranges, silence with one
    click at ``click_s`` (audio/video sync is checkable)."""
    from avbench.synthesize import write_lossless_video

    rng = np.random.default_rng(0)
    T = int(seconds * fps)
    base = rng.integers(60, 200, size=(48, 64, 3)).astype(np.uint8)
    frames = np.repeat(base[None], T, 0)
    for k in range(T):
        frames[k, 20:28, (2 * k) % 56 : (2 * k) % 56 + 8] = 255
    if bars:
        frames[:, :bars] = rng.integers(0, 26, size=(T, bars, 64, 3))
        frames[:, 48 - bars :] = rng.integers(0, 26, size=(T, bars, 64, 3))
    for a, b in black:
        frames[a:b] = 0
    wave = rng.normal(0, 0.01, int(seconds * sr)).astype(np.float32)
    c = int(click_s * sr)
    wave[c : c + 160] += 0.8 * np.sin(2 * np.pi * 3000 * np.arange(160) / sr)
    write_lossless_video(path, frames, fps, wave[None], sr)
    return frames


def _cfg(**over):
    from avbench.config import deep_merge, shard_settings

    cfg = load_config(REPO / "config.yaml")
    cfg["shard"] = deep_merge(cfg["shard"], over)
    return shard_settings(cfg)


def test_sample_v2_black_frames_trim_the_window_and_keep_sync(tmp_path):
    from avbench.shards.codec import dequantize_flow

    _click_clip(tmp_path / "c.mkv", click_s=1.0)
    cfg = _cfg(size=[64, 48], stabilize={"enabled": False})
    probed = probe_manifest(_manifest([tmp_path / "c.mkv"]), modality="audiovisual", progress=False)
    index = write_shards(
        probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=cfg, modality="audiovisual", progress=False
    )
    assert index["status"].tolist() == ["ok"] and index["n_dropped_frames"].tolist() == [9]
    s = load_samples(tmp_path / "tars")[0]
    m = s["meta"]
    assert m["format_version"] == 2 and all(k in m for k in V2_KEYS)
    assert [(d["start"], d["end"], d["reason"]) for d in m["dropped_frames"]] == [
        (0, 4, "black_lead_in"),
        (14, 16, "black_interior"),
        (37, 40, "black_lead_out"),
    ]
    assert m["dropped_frames"][1]["t_start"] == 14 / 16 and m["dropped_frames"][1]["t_end"] == 1.0
    assert (m["t_start_listed"], m["t_start"]) == (0.0, 0.25) and m["t_end"] == 37 / 16
    assert m["n_frames"] == 31 and s["frames"].shape == (31, 48, 64, 3)
    assert m["frame_times"][:11] == [k / 16 for k in range(10)] + [12 / 16]  # gap where frames 14, 15 were
    # audio trimmed with the video: the click at 1.0 s of the file is 0.75 s into the stored window
    assert m["n_mel_frames"] == s["mel"].shape[1] == round((37 / 16 - 0.25) * 100) + 1
    assert abs(int(s["mel"].sum(axis=0).argmax()) - 75) <= 2
    # flow: one field per pair, the pair across the gap is zero and named
    assert s["flow"].shape == (30, 48, 64, 2) and m["flow"]["invalid_pairs"] == [9]
    assert m["flow"]["algorithm"] == "dis" and m["flow"]["bound"] == cfg["flow"]["bound"]
    assert (s["flow"][9] == 128).all()  # quantized zero (denseflow: zero sits half a step above 127)
    assert np.abs(dequantize_flow(s["flow"][9], m["flow"]["bound"])).max() <= m["flow"]["bound"] / 255 + 1e-6
    assert m["crop_box"] == [0, 0, 64, 48] and m["stabilization"]["camera_motion_score"] is not None
    assert m["stabilization"]["enabled"] is False and m["audio_flags"]["silent"] is False


def test_all_black_window_is_a_reason_and_bars_are_cropped(tmp_path):
    _click_clip(tmp_path / "black.mkv", seconds=1.0, black=((0, 16),))
    _click_clip(tmp_path / "bars.mkv", seconds=1.0, black=(), bars=8)
    probed = probe_manifest(
        _manifest([tmp_path / "black.mkv", tmp_path / "bars.mkv"]), modality="audiovisual", progress=False
    )
    index = write_shards(
        probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=_cfg(), modality="audiovisual", progress=False
    )
    assert index["status"].tolist() == ["all_black", "ok"]
    assert "black" in index["reason"].iloc[0]
    m = load_samples(tmp_path / "tars")[0]["meta"]
    assert m["crop_box"] == [0, 8, 64, 40] and m["borders"]["bars"] == {"top": 8, "bottom": 8, "left": 0, "right": 0}
    assert m["geometry"]["region"][1] == 8 and m["geometry"]["resize"] == "cover"


def test_jpeg_frames_overrides_and_determinism_through_the_cli(tmp_path):
    import yaml

    from avbench.cli import main

    _click_clip(tmp_path / "a.mkv", black=((0, 2),), bars=6)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["datasets"]["raw"] = {
        "format": "folder",
        "source": str(tmp_path),
        "modality": "audiovisual",
        "shard": {
            "frame_codec": "jpeg",
            "borders": {"enabled": False},
            "black_frames": {"enabled": False},
            "stabilize": {"enabled": False},
            "flow": {"algorithm": "farneback"},
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    probed = probe_manifest(_manifest([tmp_path / "a.mkv"]), modality="audiovisual", progress=False)
    probed.to_parquet(tmp_path / "m.parquet")
    digests = []
    for name in ("raw", "raw", ""):
        out = tmp_path / f"out{len(digests)}"
        args = [
            "shard",
            str(tmp_path / "m.parquet"),
            "-o",
            str(out),
            "--index",
            str(tmp_path / "i.parquet"),
            "--config",
            str(tmp_path / "c.yaml"),
            "--workers",
            "1",
        ] + (["--dataset", name] if name else [])
        assert main(args) == 0
        digests.append(hashlib.sha256((out / "shard-000000.tar").read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]
    raw = load_samples(tmp_path / "out0")[0]
    processed = load_samples(tmp_path / "out2")[0]
    m = raw["meta"]
    assert m["frame_codec"] == {"name": "jpeg", "quality": 90} and len(m["frame_jpeg_bytes"]) == m["n_frames"] == 40
    assert m["crop_box"] is None and m["dropped_frames"] == [] and m["flow"]["algorithm"] == "farneback"
    assert raw["frames"].shape == (40, 30, 40, 3) and raw["frames"][0].max() < 30  # the black frame is kept
    assert processed["meta"]["crop_box"] == [0, 6, 64, 42] and processed["meta"]["n_frames"] == 38
    with pytest.raises(SystemExit, match="nope"):
        main(
            [
                "shard",
                str(tmp_path / "m.parquet"),
                "-o",
                str(tmp_path / "x"),
                "--index",
                str(tmp_path / "x.parquet"),
                "--config",
                str(tmp_path / "c.yaml"),
                "--dataset",
                "nope",
            ]
        )


def test_real_clips_v2(realdata, tmp_path):
    clips = realdata / "clips"
    probed = probe_manifest(
        _manifest([clips / "chaplin.mp4", clips / "nasa_13013.mp4"], {0: (0.0, 3.0), 1: (0.0, 3.0)}),
        modality="audiovisual",
        progress=False,
    )
    write_shards(probed, tmp_path / "tars", tmp_path / "i.parquet", cfg=_cfg(), modality="audiovisual", progress=False)
    samples = {s["meta"]["source"]: s["meta"] for s in load_samples(tmp_path / "tars")}
    chaplin, nasa = samples["chaplin.mp4"], samples["nasa_13013.mp4"]
    x0, y0, x1, y1 = chaplin["crop_box"]
    assert 70 <= x0 <= 82 and abs(x0 - (640 - x1)) <= 2 and (y0, y1) == (0, 360)
    assert nasa["crop_box"] == [0, 0, 320, 180]  # a dark scene is not a bar
    assert nasa["audio_stream"]["index"] == 1 and nasa["audio_stream"]["sample_rate"] == 8000
    assert nasa["audio_flags"]["band_limited"] and nasa["audio_flags"]["bandwidth_hz"] < 5000
    assert not chaplin["audio_flags"]["band_limited"]
