"""SyncNet-style offset estimation (avbench avsync): known answers with hand-made encoders whose
embeddings are exact functions of time, rows for videos that cannot be scored, the scores of the
injected evaluation, and the command line on a tiny AVTS checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset as wds
import yaml

from avbench.evaluate.avsync import (
    COLUMNS,
    STATUSES,
    SUMMARY_COLUMNS,
    SyncSettings,
    estimate_offsets,
    inject_plan,
    judge,
    score_injected,
    score_video,
    summarize,
)
from avbench.shards.codec import npy_bytes
from avbench.shards.loader import shard_urls

REPO = Path(__file__).resolve().parents[2]
FPS, CLIP, MEL_PER_FRAME = 10.0, 4, 10  # 10 fps, 10 ms hop: 10 log-mel frames per video frame
SETTINGS = SyncSettings(
    offsets=(-5, 5), windows=3, confidence_threshold=0.1, tolerance=1, inject_share=1.0, inject_offsets=(-3, 3)
)


class TimeSignal:
    """A "synchronization model" whose video embedding is the clip's mean brightness per frame and
    whose audio embedding is the window's mean log-mel per video frame: the two agree exactly when
    the audio window is the one of the clip's instant."""

    def __init__(self, frames: int = CLIP) -> None:
        self.frames = frames

    def embed_video(self, clips: np.ndarray) -> np.ndarray:
        return clips.astype(np.float64).mean(axis=(2, 3, 4)) / 200.0

    def embed_audio(self, mels: np.ndarray) -> np.ndarray:
        n, _, a = mels.shape
        return mels.astype(np.float64).mean(1).reshape(n, self.frames, a // self.frames).mean(2)


def _video(
    key: str,
    *,
    delay: int = 0,
    n_frames: int = 40,
    constant: bool = False,
    audio: bool = True,
    silent: bool = False,
    seed: int = 0,
) -> dict:
    """A sample whose frame k has brightness b[k] and whose audio at frame k carries b[k - delay]
    (the audio lags the picture by ``delay`` frames); b in multiples of 1/200 (exact in uint8)."""
    rng = np.random.default_rng(seed)
    margin = 20
    b = np.full(n_frames + 2 * margin, 0.5) if constant else rng.integers(0, 201, n_frames + 2 * margin) / 200.0
    frames = np.tile((b[margin : margin + n_frames] * 200).round().astype(np.uint8)[:, None, None, None], (1, 4, 6, 3))
    per_frame = b[margin - delay : margin - delay + n_frames]
    mel = np.tile(np.repeat(per_frame, MEL_PER_FRAME)[None], (3, 1)).astype(np.float32)
    meta = {
        "id": key,
        "label_idx": 0,
        "fps": FPS,
        "hop_ms": 10.0,
        "n_frames": n_frames,
        "t_start": 0.0,
        "t_end": n_frames / FPS,
        "has_audio": audio,
        "n_mel_frames": mel.shape[1] if audio else 0,
        "audio_flags": {"silent": silent, "rms_dbfs": -95.0 if silent else -20.0},
    }
    out = {"__key__": key, "frames.npy": npy_bytes(frames), "json": json.dumps(meta).encode()}
    if audio:
        out["mel.npy"] = npy_bytes(mel)
    return out


def _write(folder: Path, samples: list[dict]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for s in samples:
            sink.write(s)
    return shard_urls(folder)


def _decoded(sample: dict) -> dict:
    from avbench.shards.codec import decode_sample

    return decode_sample(dict(sample))


@pytest.mark.parametrize("delay", [-4, -2, 3, 5])
def test_shifted_audio_gives_its_offset_and_out_of_sync(delay):
    row = score_video(TimeSignal(), _decoded(_video("v", delay=delay)), SETTINGS, clip_frames=CLIP)[0]
    assert row["offset_frames"] == delay and row["offset_s"] == pytest.approx(delay / FPS)
    assert row["status"] == "out_of_sync" and row["reason"] == ""
    assert row["min_distance"] == pytest.approx(0.0, abs=1e-6)  # float32 log-mel and row["confidence"] > 0.2
    assert row["n_windows"] == 3 and len(row["distances"]) == 11
    assert row["gain_over_zero"] == pytest.approx(row["zero_distance"]) and row["gain_over_zero"] > 0.1


@pytest.mark.parametrize("delay", [0, 1, -1])
def test_aligned_audio_is_in_sync(delay):
    row = score_video(TimeSignal(), _decoded(_video("v", delay=delay, seed=3)), SETTINGS, clip_frames=CLIP)[0]
    assert row["offset_frames"] == delay and row["status"] == "in_sync" and row["confidence"] > 0.2


def test_constant_signals_have_no_sync_signal():
    row = score_video(TimeSignal(), _decoded(_video("v", constant=True)), SETTINGS, clip_frames=CLIP)[0]
    assert row["confidence"] == pytest.approx(0.0, abs=1e-9)
    assert row["status"] == "no_sync_signal" and row["reason"] == "low_confidence"
    assert row["offset_frames"] == 0  # a flat curve: the tie closest to 0


def test_injected_shift_is_found_on_a_synchronized_video():
    rows = score_video(TimeSignal(), _decoded(_video("v")), SETTINGS, clip_frames=CLIP, shifts=(0, 3, -3))
    assert [rows[s]["offset_frames"] for s in (0, 3, -3)] == [0, 3, -3]
    assert [rows[s]["status"] for s in (0, 3, -3)] == ["in_sync", "out_of_sync", "out_of_sync"]


def test_judge_follows_syncnet():
    cand = np.arange(-2, 3)
    got = judge(np.array([1.0, 0.9, 0.2, 0.8, 1.0]), cand, SETTINGS)
    assert got["offset_frames"] == 0 and got["confidence"] == pytest.approx(0.9 - 0.2) and got["status"] == "in_sync"
    got = judge(np.array([1.0, 0.95, 0.9, 0.8, 0.85]), cand, SETTINGS)  # median 0.9, min 0.8: not confident
    assert got["offset_frames"] == 1 and got["confidence"] == pytest.approx(0.1)
    got = judge(np.array([1.0, 0.95, 0.9, 0.85, 0.8]), cand, SETTINGS)
    assert got["status"] == "no_sync_signal" and got["reason"] == "low_confidence"


def test_videos_that_cannot_be_scored_get_a_row_with_the_reason(tmp_path):
    urls = _write(
        tmp_path / "d",
        [
            _video("ok", delay=4),
            _video("noaudio", audio=False),
            _video("short", n_frames=CLIP + 9),
            _video("silent", silent=True),
            _video("fits", n_frames=CLIP + 10),
        ],
    )
    index = pd.DataFrame(
        {
            "key": ["ok", "noaudio", "short", "silent", "fits", ""],
            "id": ["ok", "noaudio", "short", "silent", "fits", "broken.mp4"],
            "status": ["ok"] * 5 + ["no_frames"],
            "reason": [None] * 5 + ["no frame in the window"],
        }
    )
    res = estimate_offsets(TimeSignal(), urls, SETTINGS, clip_frames=CLIP, index=index, run="r", dataset="d")
    df = res.as_is.set_index("id")
    assert list(res.as_is.columns) == COLUMNS and len(df) == 6
    assert set(df["status"]) <= set(STATUSES)
    assert df.loc["ok", "status"] == "out_of_sync" and df.loc["ok", "offset_frames"] == 4
    assert df.loc["fits", "n_windows"] == 1 and df.loc["fits", "status"] == "in_sync"  # exactly clip + max - min
    for ident, reason in (
        ("noaudio", "no_audio"),
        ("short", "too_short"),
        ("silent", "silent_audio"),
        ("broken.mp4", "not_sharded"),
    ):
        assert df.loc[ident, "status"] == "no_sync_signal" and df.loc[ident, "reason"] == reason, ident
        assert np.isnan(df.loc[ident, "offset_frames"]) and df.loc[ident, "n_windows"] == 0 and df.loc[ident, "detail"]
    assert "needs 14 frames" in df.loc["short", "detail"] and df.loc["broken.mp4", "detail"].startswith("shard status")
    assert (res.as_is["run"] == "r").all() and res.injected is None
    res.as_is.to_parquet(tmp_path / "rows.parquet", index=False)  # unscored rows have an empty curve
    back = pd.read_parquet(tmp_path / "rows.parquet").set_index("id")
    assert len(back.loc["noaudio", "distances"]) == 0 and len(back.loc["ok", "distances"]) == 11


def test_inject_plan_is_seeded_and_keeps_to_its_share_and_offsets():
    keys = [f"k{i}" for i in range(400)]
    s = SyncSettings(inject_share=0.25, inject_offsets=(-8, 4, 12), seed=1)
    plan = inject_plan(keys, s)
    assert plan == inject_plan(list(reversed(keys)), s)  # a function of (seed, key) only
    assert plan != inject_plan(keys, SyncSettings(inject_share=0.25, inject_offsets=(-8, 4, 12), seed=2))
    shifted = [v for v in plan.values() if v]
    assert set(shifted) == {-8, 4, 12} and 0.18 < len(shifted) / len(keys) < 0.32
    assert not any(inject_plan(keys, SyncSettings(inject_share=0.0)).values())


def test_injected_evaluation_scores_the_predictions_against_chance(tmp_path):
    urls = _write(tmp_path / "d", [_video(f"v{i:02d}", seed=i) for i in range(12)])
    s = SyncSettings(offsets=(-5, 5), windows=3, inject_share=0.5, inject_offsets=(-3, 3), seed=0)
    res = estimate_offsets(TimeSignal(), urls, s, clip_frames=CLIP, inject=True, heldout_keys=["v00", "v01"])
    inj = res.injected.set_index("key")
    plan = pd.Series(inject_plan(inj.index, s))
    assert (inj["true_offset_frames"] == plan.astype(float)).all()
    assert (inj["injected"] == (plan != 0)).all() and 0 < inj["injected"].sum() < len(inj)
    assert res.as_is["true_offset_frames"].isna().all() and not res.as_is["injected"].any()
    assert (res.as_is["offset_frames"] == 0).all() and (res.as_is["status"] == "in_sync").all()  # as stored
    assert (inj["offset_frames"] == inj["true_offset_frames"]).all()
    assert (inj["status"] == np.where(inj["injected"], "out_of_sync", "in_sync")).all()
    m = {r["metric"]: r for r in score_injected(res.injected, s)}
    assert m["offset_acc"]["value"] == 1.0 and m["offset_acc_shifted"]["chance"] == pytest.approx(3 / 11)
    assert m["detect_acc"]["value"] == 1.0 and m["detect_recall"]["value"] == 1.0 and m["false_alarm"]["value"] == 0.0
    n_shifted = int(inj["injected"].sum())
    assert m["detect_acc"]["chance"] == pytest.approx(max(n_shifted, 12 - n_shifted) / 12)
    assert m["detect_auc"]["value"] == 1.0 and m["detect_auc"]["chance"] == 0.5
    summary = summarize(res, run="r", dataset="d")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert set(summary["mode"]) == {"as_is", "injected"} and set(summary["subset"]) == {"all", "heldout"}
    held = summary[(summary["mode"] == "as_is") & (summary["subset"] == "heldout")].set_index("metric")
    assert held.loc["n_videos", "value"] == 2 and held.loc["share_in_sync", "value"] == 1.0


def test_score_injected_on_hand_written_predictions():
    s = SyncSettings(offsets=(-2, 2), inject_offsets=(2,), tolerance=0)
    df = pd.DataFrame(
        {
            "offset_frames": [2.0, 0.0, 0.0, np.nan],
            "true_offset_frames": [2.0, 2.0, 0.0, 0.0],
            "injected": [True, True, False, False],
            "gain_over_zero": [0.5, 0.0, 0.1, np.nan],
            "status": ["out_of_sync", "in_sync", "in_sync", "no_sync_signal"],
        }
    )
    m = {r["metric"]: r for r in score_injected(df, s)}
    assert m["offset_acc"]["value"] == pytest.approx(2 / 3) and m["offset_acc"]["chance"] == pytest.approx(1 / 5)
    assert m["offset_acc_shifted"]["value"] == 0.5 and m["offset_acc_unshifted"]["value"] == 1.0
    assert m["detect_acc"]["value"] == 0.75 and m["detect_acc"]["chance"] == 0.5
    assert m["detect_recall"]["value"] == 0.5 and m["false_alarm"]["value"] == 0.0
    assert m["detect_auc"]["value"] == pytest.approx(0.5) and m["detect_auc"]["n"] == 3  # 0.5 > 0.1 > 0.0


def test_settings_refuse_offsets_that_cannot_be_scored():
    with pytest.raises(ValueError, match="contain 0"):
        SyncSettings(offsets=(2, 5))
    with pytest.raises(ValueError, match="beyond the tolerance"):
        SyncSettings(offsets=(-5, 5), inject_offsets=(1, 3))


def _config(tmp_path: Path, **avsync) -> Path:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["avsync"] = {**cfg["avsync"], **avsync}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_writes_the_rows_atomically_on_a_tiny_avts_checkpoint(
    tmp_path, moving_squares, tiny_checkpoint, monkeypatch
):
    from avbench.cli import main

    d = tmp_path / "d"
    moving_squares(d, n_videos=24)  # 2 s at 16 fps: 32 frames, clips of 8
    ck = tiny_checkpoint(d, method="avts")
    cfg = _config(tmp_path, offsets=[-6, 6], windows=2, inject={"share": 0.5, "offsets": [-4, 4]})
    out = tmp_path / "res" / "avts" / "d.parquet"
    args = [
        "avsync",
        "--checkpoint",
        str(ck),
        "--shards",
        str(d),
        "--index",
        str(d / "index.parquet"),
        "--dataset",
        "d",
        "--run",
        "avts",
        "--config",
        str(cfg),
        "--threads",
        "1",
        "-o",
        str(out),
        "--injected",
        str(out.with_suffix(".injected.parquet")),
        "--summary",
        str(out.with_suffix(".summary.csv")),
    ]
    assert main(args) == 0
    df = pd.read_parquet(out)
    assert list(df.columns) == COLUMNS and len(df) == 24 and df["key"].is_unique
    assert set(df["status"]) <= set(STATUSES) and (df["run"] == "avts").all() and (df["dataset"] == "d").all()
    scored = df[df["n_windows"] > 0]
    assert len(scored) == 24 and scored["offset_frames"].between(-6, 6).all()
    assert (scored["distances"].map(len) == 13).all() and (scored["confidence"] >= 0).all()
    inj = pd.read_parquet(out.with_suffix(".injected.parquet"))
    assert list(inj.columns) == COLUMNS and set(inj["true_offset_frames"]) <= {-4.0, 0.0, 4.0}
    summary = pd.read_csv(out.with_suffix(".summary.csv"))
    assert {"offset_acc", "detect_auc", "detect_acc"} <= set(summary["metric"])
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary file left

    # a write that fails half-way leaves the previous rows in place, and no temporary file
    before = out.read_bytes()

    def broken(self, path, *a, **k):
        Path(path).write_bytes(b"half a parquet")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        main(args)
    assert out.read_bytes() == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_cli_refuses_a_checkpoint_without_a_sync_distance(tmp_path, moving_squares, tiny_checkpoint):
    from avbench.cli import main

    d = tmp_path / "d"
    moving_squares(d, n_videos=6)
    ck = tiny_checkpoint(d, method="scratch")
    with pytest.raises(SystemExit, match="no audio-visual embedding head"):
        main(
            [
                "avsync",
                "--checkpoint",
                str(ck),
                "--shards",
                str(d),
                "--config",
                str(_config(tmp_path)),
                "-o",
                str(tmp_path / "x.parquet"),
            ]
        )
    assert not (tmp_path / "x.parquet").exists()


def _calib_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Injected-evaluation rows whose offset is right exactly when the confidence is above 0.5."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0, 1, n)
    true = rng.choice([0, 0, -8, 8], n).astype(float)
    right = conf > 0.5
    est = np.where(right, true, true + 5)
    return pd.DataFrame(
        {
            "key": [f"v{i:04d}" for i in range(n)],
            "status": "in_sync",
            "reason": "",
            "offset_frames": est,
            "confidence": conf,
            "true_offset_frames": true,
        }
    )


def test_calibrated_threshold_separates_right_from_wrong_offsets_and_is_scored_on_the_other_half():
    from avbench.evaluate.avsync import SyncSettings, apply_threshold, calibrate_threshold, calibration_half

    df = _calib_rows(400)
    s = SyncSettings(calibrate_precision=0.999, calibrate_min=10)
    tau, rows = calibrate_threshold(df, s)
    assert 0.5 < tau < 0.56  # the lowest calibration confidence above 0.5: everything above it is right
    by = {r["metric"]: r for r in rows}
    assert by["calibrated_precision"]["value"] == 1.0  # held-out half: every confident offset right
    assert 0.4 < by["calibrated_coverage"]["value"] < 0.6
    assert abs(by["calibrated_precision"]["chance"] - 0.5) < 0.1  # no threshold: about half right
    assert by["calibrated_threshold"]["n"] == int(calibration_half(df["key"]).sum())
    loose, rows9 = calibrate_threshold(df, SyncSettings(calibrate_precision=0.9, calibrate_min=10))
    assert 0.4 < loose < 0.5  # 90%: a few wrong ones just below 0.5 are let in, for more coverage
    by9 = {r["metric"]: r for r in rows9}
    assert (
        by9["calibrated_precision"]["value"] > 0.85
        and by9["calibrated_coverage"]["value"] > by["calibrated_coverage"]["value"]
    )
    judged = apply_threshold(df, tau, s)
    low = judged["confidence"] < tau
    assert (judged.loc[low, "status"] == "no_sync_signal").all()
    assert (judged.loc[low, "reason"] == "low_confidence").all()
    high = judged[~low]
    assert set(high["status"]) == {"in_sync", "out_of_sync"}
    assert ((high["status"] == "in_sync") == (high["offset_frames"].abs() <= s.tolerance)).all()


def test_a_model_without_sync_signal_gets_no_confident_status():
    from avbench.evaluate.avsync import SyncSettings, apply_threshold, calibrate_threshold

    df = _calib_rows(400)
    rng = np.random.default_rng(1)
    df["confidence"] = rng.uniform(0, 1, len(df))  # confidence unrelated to being right (half are)
    s = SyncSettings(calibrate_precision=0.9, calibrate_min=10)
    tau, rows = calibrate_threshold(df, s)
    assert tau == float("inf")
    judged = apply_threshold(df, tau, s)
    assert (judged["status"] == "no_sync_signal").all()
    unscored = df.assign(offset_frames=np.nan, status="no_sync_signal", reason="too_short")
    assert (apply_threshold(unscored, 0.0, s)["reason"] == "too_short").all()  # an unscored video keeps its reason
