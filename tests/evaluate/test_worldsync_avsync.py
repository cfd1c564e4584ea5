"""avsync with the world's own ground truth (issue 13, item 4): offsets read from the world's
ground-truth files by a validated id and scored as stored (summary mode ``world``); the active-object
decision (which of two objects is sounding) with a hand-made sync model; rows with reasons for
videos that cannot be scored; and Multisensory checkpoints as sync models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset as wds

from avbench.evaluate.active_object import (
    ACTIVE_COLUMNS,
    ActiveSettings,
    active_summary,
    crop_size,
    estimate_active,
    object_view,
    place,
    score_active,
)
from avbench.evaluate.avsync import (
    COLUMNS,
    SyncSettings,
    estimate_offsets,
    summarize,
    truth_file,
    world_offset_s,
)
from avbench.shards.codec import decode_sample, npy_bytes
from avbench.shards.loader import shard_urls

FPS, CLIP, MEL_PER_FRAME, H, W = 10.0, 4, 10, 30, 40
SETTINGS = SyncSettings(
    offsets=(-5, 5), windows=3, confidence_threshold=0.1, tolerance=1, inject_share=0.0, inject_offsets=(-3, 3)
)
BOX_LEFT, BOX_RIGHT = [2, 10, 9, 17], [28, 10, 35, 17]  # world boxes (pixel centres at integers)


class Correlator:
    """A hand-made sync model: the video embedding is the clip's mean brightness per frame, the
    audio embedding the window's mean log-mel per video frame, both z-scored over the clip: the
    distance is 0 exactly when the clip's brightness follows the window's loudness (any gain)."""

    @staticmethod
    def _z(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(1, keepdims=True)
        sd = x.std(1, keepdims=True)
        return np.where(sd > 1e-9, x / np.where(sd > 1e-9, sd, 1), 0.0)

    def embed_video(self, clips: np.ndarray) -> np.ndarray:
        return self._z(clips.astype(np.float64).mean(axis=(2, 3, 4)))

    def embed_audio(self, mels: np.ndarray) -> np.ndarray:
        n, _, a = mels.shape
        return self._z(mels.astype(np.float64).mean(1).reshape(n, CLIP, a // CLIP).mean(2))


def _signal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 201, n) / 200.0


def _sample(
    vid: str,
    *,
    delay: int = 0,
    n_frames: int = 60,
    two: bool = False,
    sounding_left: bool = True,
    audio: bool = True,
    silent: bool = False,
    seed: int = 0,
) -> dict:
    """A stored sample: one bright square (left; or two, one each side) whose brightness follows a
    random signal; the audio carries the sounding square's signal ``delay`` frames late."""
    rng = np.random.default_rng(seed)
    m = 20
    b, c = _signal(rng, n_frames + 2 * m), _signal(rng, n_frames + 2 * m)
    frames = np.zeros((n_frames, H, W, 3), np.uint8)
    left, right = (b, c) if sounding_left else (c, b)
    frames[:, 10:18, 2:10] = (40 + 160 * left[m : m + n_frames]).round().astype(np.uint8)[:, None, None, None]
    if two:
        frames[:, 10:18, 28:36] = (40 + 160 * right[m : m + n_frames]).round().astype(np.uint8)[:, None, None, None]
    per_frame = b[m - delay : m - delay + n_frames]
    mel = np.tile(np.repeat(per_frame, MEL_PER_FRAME)[None], (3, 1)).astype(np.float32)
    meta = {
        "id": vid,
        "source": f"{vid}.mp4",
        "label_idx": 0,
        "fps": FPS,
        "hop_ms": 10.0,
        "n_frames": n_frames,
        "t_start": 0.0,
        "t_end": n_frames / FPS,
        "size": [W, H],
        "geometry": {"region": [0, 0, W, H], "size": [W, H]},
        "has_audio": audio,
        "n_mel_frames": mel.shape[1] if audio else 0,
        "audio_flags": {"silent": silent, "rms_dbfs": -95.0 if silent else -20.0},
    }
    out = {"__key__": vid, "frames.npy": npy_bytes(frames), "json": json.dumps(meta).encode()}
    if audio:
        out["mel.npy"] = npy_bytes(mel)
    return out


def _truth(folder: Path, vid: str, *, offset_frames: int | None = 0, two: bool = False, sounding_left=True, n=60):
    """The world's ground truth of a sample: its offset (seconds) and the objects' boxes."""
    folder.mkdir(parents=True, exist_ok=True)
    snd, sil = (BOX_LEFT, BOX_RIGHT) if sounding_left else (BOX_RIGHT, BOX_LEFT)
    gt = {"spec": {"fps": FPS}, "n_frames": n, "object_box_frame": [snd] * n, "object_visible": [True] * n}
    if offset_frames is not None:
        gt["av_offset_s"] = offset_frames / FPS
    gt["silent_object"] = two
    if two:
        gt["silent_object_box_frame"] = [sil] * n
        gt["silent_object_visible"] = [True] * n
    (folder / f"{vid}.json").write_text(json.dumps(gt))


def _write(folder: Path, samples: list[dict]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for s in samples:
            sink.write(s)
    return shard_urls(folder)


# -- the world's ground truth -----------------------------------------------------------------


def test_truth_file_reads_only_plain_ids_inside_the_folder(tmp_path):
    gt = tmp_path / "gt"
    _truth(gt, "abc_000000_000004", offset_frames=4)
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"av_offset_s": 9.0}))
    os.symlink(outside, gt / "link.json")
    (gt / "bad.json").write_text(json.dumps({"av_offset_s": "soon"}))
    assert truth_file(gt, "abc_000000_000004") == (gt / "abc_000000_000004.json").resolve()
    assert world_offset_s(gt, "abc_000000_000004") == pytest.approx(0.4)
    for bad in ("../secret", "gt/../../secret", ".hidden", "", "a/b", "link", "missing"):
        assert truth_file(gt, bad) is None and world_offset_s(gt, bad) is None, bad
    assert world_offset_s(gt, "bad") is None and world_offset_s(None, "abc_000000_000004") is None


def test_world_offsets_are_recovered_and_scored_as_stored(tmp_path):
    """The estimator on the hand-made encoders finds each video's recorded offset (audio lagging or
    leading); the summary's world mode scores them against it, without read-time injection."""
    gt = tmp_path / "gt"
    delays = [-4, 0, 3, 0, 5, -3, 0, 4]
    samples = []
    for i, d in enumerate(delays):
        vid = f"v{i}"
        samples.append(_sample(vid, delay=d, seed=i))
        _truth(gt, vid, offset_frames=d)
    samples.append(_sample("mute", audio=False, seed=20))  # no audio: a row, never a crash
    _truth(gt, "mute", offset_frames=4)
    samples.append(_sample("short", n_frames=12, seed=21))  # fewer than 4 + 10 frames
    _truth(gt, "short", offset_frames=0)
    samples.append(_sample("nogt", seed=22))  # no ground truth: not in the world mode
    res = estimate_offsets(Correlator(), _write(tmp_path / "s", samples), SETTINGS, clip_frames=CLIP, truth=gt)
    df = res.as_is.set_index("key")
    assert list(res.as_is.columns) == COLUMNS and res.injected is None
    for i, d in enumerate(delays):
        r = df.loc[f"v{i}"]
        assert r["truth"] == "world" and r["true_offset_frames"] == d and r["offset_frames"] == d
        assert r["status"] == ("in_sync" if d == 0 else "out_of_sync")
    assert df.loc["mute", "reason"] == "no_audio" and df.loc["mute", "true_offset_frames"] == 4
    assert df.loc["short", "reason"] == "too_short" and df.loc["nogt", "truth"] == ""
    assert np.isnan(df.loc["nogt", "true_offset_frames"])
    summary = summarize(res, dataset="d")
    world = summary[summary["mode"] == "world"].set_index("metric")
    assert world.loc["n_videos", "value"] == 10  # 8 scored + mute + short
    assert world.loc["offset_acc", "value"] == 1.0 and world.loc["offset_acc", "n"] == 8
    assert world.loc["offset_acc", "chance"] < 0.35 and world.loc["offset_acc", "lo"] == 1.0
    assert world.loc["detect_auc", "value"] == 1.0 and world.loc["detect_auc", "chance"] == 0.5
    # 6 shifted (mute included), 5 flagged: the unscored one counts as not flagged
    assert world.loc["detect_recall", "value"] == pytest.approx(5 / 6)
    assert world.loc["detect_acc", "value"] == pytest.approx(9 / 10)
    assert world.loc["detect_acc", "lo"] <= 0.9 <= world.loc["detect_acc", "hi"]
    assert "injected" not in set(summary["mode"])


def test_world_and_injected_offsets_add_up(tmp_path):
    gt = tmp_path / "gt"
    samples = []
    for i, d in enumerate([-2, 0, 2, 0]):
        samples.append(_sample(f"v{i}", delay=d, seed=i))
        _truth(gt, f"v{i}", offset_frames=d)
    s = SyncSettings(offsets=(-6, 6), windows=2, inject_share=1.0, inject_offsets=(-3, 3))
    res = estimate_offsets(Correlator(), _write(tmp_path / "s", samples), s, clip_frames=CLIP, truth=gt, inject=True)
    inj = res.injected
    assert (inj["offset_frames"] == inj["true_offset_frames"]).all()  # world offset + injected shift
    assert set(inj["true_offset_frames"] - res.as_is["true_offset_frames"]) <= {-3.0, 3.0}


# -- the active object ------------------------------------------------------------------------


def test_views_follow_the_object_and_stay_inside():
    a = ActiveSettings(margin=0.5, min_size=0.3)
    for box in ([2.5, 10.5, 9.5, 17.5], [30.0, 0.0, 40.0, 4.0], [0.0, 0.0, 40.0, 30.0]):
        cw, ch = crop_size(np.array([box]), (W, H), a)
        x0, y0, x1, y1 = place(np.array(box), cw, ch, (W, H))
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H and (x1 - x0, y1 - y0) == (cw, ch)
        assert abs(cw / ch - W / H) < 0.15
        assert x0 <= box[0] + 1e-9 and x1 >= box[2] - 1e-9
    assert crop_size(np.array([[2.5, 10.5, 9.5, 17.5]]), (W, H), a) == (19, 14)
    # a square moving right: the crop follows it (its pixels stay in the middle), the mask keeps only it
    frames = np.zeros((4, H, W, 3), np.uint8)
    boxes = []
    for t in range(4):
        frames[t, 12:18, 10 + 6 * t : 16 + 6 * t] = 200
        frames[t, 2:6, 30:34] = 100 + 30 * t  # another object, changing
        boxes.append([10 + 6 * t - 0.5, 11.5, 15.5 + 6 * t, 17.5])
    boxes = np.array(boxes) + 0.5
    crop = object_view(frames, boxes, ActiveSettings(region="crop"))
    assert crop.shape == frames.shape and np.array_equal(crop[0], crop[3])  # the object does not move in its crop
    assert crop[:, H // 2, W // 2].min() == 200
    mask = object_view(frames, boxes, ActiveSettings(region="mask"))
    assert np.array_equal(mask[0, 12:18, 10:16], frames[0, 12:18, 10:16])  # the object, where it is
    assert len({int(v) for v in mask[:, 3, 31, 0]}) == 1  # the other object, held still


@pytest.mark.parametrize("region", ["crop", "mask"])
@pytest.mark.parametrize("sounding_left", [True, False])
@pytest.mark.parametrize("delay", [0, 3])
def test_active_object_picks_the_box_whose_motion_follows_the_audio(tmp_path, sounding_left, delay, region):
    gt = tmp_path / "gt"
    _truth(gt, "v", offset_frames=delay, two=True, sounding_left=sounding_left)
    sample = decode_sample(_sample("v", delay=delay, two=True, sounding_left=sounding_left, seed=7))
    truth = json.loads((gt / "v.json").read_text())
    a = ActiveSettings(region=region)
    row = score_active(Correlator(), sample, truth, SETTINGS, a, clip_frames=CLIP)
    assert row["status"] == "scored" and row["pick"] == "sounding" and row["correct"] == 1.0
    assert row["offset_sounding"] == delay and row["confidence_sounding"] > row["confidence_silent"] + 0.2
    # a wrong ground truth (the boxes swapped) is caught: the decision follows the pixels
    swapped = {
        **truth,
        "object_box_frame": truth["silent_object_box_frame"],
        "silent_object_box_frame": truth["object_box_frame"],
    }
    assert score_active(Correlator(), sample, swapped, SETTINGS, a, clip_frames=CLIP)["pick"] == "silent"


def test_active_rows_and_reasons(tmp_path):
    gt = tmp_path / "gt"
    samples = []
    for i in range(6):
        samples.append(_sample(f"v{i}", two=True, sounding_left=i % 2 == 0, seed=30 + i))
        _truth(gt, f"v{i}", two=True, sounding_left=i % 2 == 0)
    samples.append(_sample("one", seed=40))
    _truth(gt, "one", two=False)
    samples.append(_sample("mute", two=True, audio=False, seed=41))
    _truth(gt, "mute", two=True)
    samples.append(_sample("quiet", two=True, silent=True, seed=42))
    _truth(gt, "quiet", two=True)
    samples.append(_sample("short", two=True, n_frames=12, seed=43))
    _truth(gt, "short", two=True, n=12)
    samples.append(_sample("hidden", two=True, seed=44))
    _truth(gt, "hidden", two=True)
    hidden = json.loads((gt / "hidden.json").read_text())
    hidden["silent_object_visible"] = [False] * 60
    (gt / "hidden.json").write_text(json.dumps(hidden))
    samples.append(_sample("nogt", two=True, seed=45))
    index = pd.DataFrame([{"id": "dropped", "key": "dropped", "status": "decode_error", "reason": "truncated"}])
    df = estimate_active(
        Correlator(),
        _write(tmp_path / "s", samples),
        SETTINGS,
        ActiveSettings(),
        clip_frames=CLIP,
        truth=gt,
        index=index,
    )
    assert list(df.columns) == ACTIVE_COLUMNS and df["key"].is_unique and len(df) == 13
    by = df.set_index("key")
    assert (by.loc[[f"v{i}" for i in range(6)], "correct"] == 1.0).all()
    assert by.loc["one", "reason"] == "one_object" and by.loc["mute", "reason"] == "no_audio"
    assert by.loc["quiet", "reason"] == "silent_audio" and by.loc["short", "reason"] == "too_short"
    assert by.loc["hidden", "reason"] == "not_visible" and by.loc["nogt", "reason"] == "no_truth"
    assert by.loc["dropped", "reason"] == "not_sharded"
    rows = pd.DataFrame(active_summary(df, dataset="d")).set_index("metric")
    assert rows.loc["active_acc", "value"] == 1.0 and rows.loc["active_acc", "chance"] == 0.5
    assert rows.loc["active_acc", "n"] == 6 and rows.loc["active_acc", "lo"] == 1.0
    assert rows.loc["n_not_sharded", "value"] == 1 and rows.loc["n_videos", "value"] == 13


# -- Multisensory as a sync model ---------------------------------------------------------------


def test_multisensory_checkpoint_scores_pairs_with_its_logit(tmp_path, moving_squares, tiny_checkpoint):
    import torch

    from avbench.cli import main
    from avbench.evaluate.avsync import MultisensorySync, load_sync_model
    from avbench.evaluate.retrieval import load_pretrain_model
    from avbench.pretext import PRETEXTS, to_tensors

    d = tmp_path / "d"
    moving_squares(d, n_videos=12)
    ck = tiny_checkpoint(
        d, method="multisensory", batch_size=4, multisensory={"audio_input": "spectrogram", "negatives": "random"}
    )
    model, meta = load_sync_model(ck)
    assert isinstance(model, MultisensorySync)
    # the distance is minus the pretext's own logit of the same pair
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 255, (2, 8, 48, 64, 3), dtype=np.uint8)
    mels = rng.normal(-8, 1, (2, 3, 16, 50)).astype(np.float32)
    dist = model.pair_distances(clips, mels)
    net, _ = load_pretrain_model(ck)
    pretext = PRETEXTS["multisensory"](meta["config"], n_classes=1, seed=0)
    for i in range(2):
        t = to_tensors(
            {"video": clips[i : i + 1].repeat(3, 0), "audio": mels[i]},
            device=torch.device("cpu"),
            mel_norm=tuple(meta["mel_norm"]),
        )
        with torch.no_grad():
            logit = pretext.logits(net, t["video"], [t["audio"]])[0]
        assert np.allclose(dist[i], -logit.numpy(), atol=1e-4)
    cfg = tmp_path / "c.yaml"
    import yaml

    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())
    base["avsync"].update(offsets=[-3, 3], windows=2, inject={"share": 0.5, "offsets": [-2, 2]})
    cfg.write_text(yaml.safe_dump(base))
    out = tmp_path / "r.parquet"
    assert (
        main(
            [
                "avsync",
                "--checkpoint",
                str(ck),
                "--shards",
                str(d),
                "--config",
                str(cfg),
                "-o",
                str(out),
                "--summary",
                str(tmp_path / "s.csv"),
                "--injected",
                str(tmp_path / "i.parquet"),
            ]
        )
        == 0
    )
    df = pd.read_parquet(out)
    assert len(df) == 12 and (df["n_windows"] > 0).all() and (df["distances"].map(len) == 7).all()
    with pytest.raises(SystemExit, match="--active needs --truth"):
        main(
            [
                "avsync",
                "--checkpoint",
                str(ck),
                "--shards",
                str(d),
                "--config",
                str(cfg),
                "-o",
                str(out),
                "--active",
                str(tmp_path / "a.parquet"),
            ]
        )


def test_avsync_overlay_only_lengthens_the_sync_set_and_multisensory_spec():
    """workflow/configs/avsync.yaml sets no `pretrain.methods` (a list: it would replace the default's and drop
    runs): it trains multisensory_spec (a default run) longer and makes the sync set 96 videos, the rest of the
    default run's world study (datasets, truth, active object, the set's other settings) unchanged."""
    import yaml

    from avbench.config import deep_merge, run_settings, validate

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "config.yaml").read_text())
    over = yaml.safe_load((root / "workflow" / "configs" / "avsync.yaml").read_text())
    assert "methods" not in over["pretrain"] and set(over["pretrain"]["runs"]) == {"multisensory_spec"}
    assert set(over["pretrain"]["runs"]) | set(raw["avsync"]["runs"]) <= set(raw["pretrain"]["methods"])
    base, merged = validate(raw), validate(deep_merge(raw, over))
    assert merged["pretrain"]["methods"] == base["pretrain"]["methods"]
    assert run_settings(merged, "multisensory_spec") == {**run_settings(base, "multisensory_spec"), "epochs": 6}
    assert run_settings(base, "multisensory_spec")["epochs"] < 6
    assert merged["avsync"] == {**base["avsync"], "set": {**base["avsync"]["set"], "n_videos": 96}}
    assert base["avsync"]["set"]["n_videos"] < 96 and set(base["avsync"]["truth"]) == {"synth_sync"}
    assert {"synth_pretrain", "synth_sync"} <= set(merged["avsync"]["datasets"])
