"""Tests of the synthetic audio-visual world (avbench.synthesize)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from avbench.synthesize import (
    CLASSES,
    SHAPES,
    VideoSpec,
    make_tone_clip,
    plan,
    probe,
    render,
    render_audio,
    sample_spec,
    simulate,
    write_dataset,
    write_lossless_video,
    write_video,
    write_wav,
)


def _spec(cls: str, seed: int = 0, **kw: object) -> VideoSpec:
    base = dict(
        duration_s=(2.0, 2.0),
        fps=(25,),
        sizes=((160, 120),),
        p_letterbox=0.0,
        p_pillarbox=0.0,
        p_black_frames=0.0,
        p_camera=0.0,
        p_distractor=0.0,
        p_silent=0.0,
        p_no_audio=0.0,
    )
    base.update(kw)
    return sample_spec(np.random.default_rng(seed), cls, **base)  # type: ignore[arg-type]


def test_classes_are_ucf_folder_names() -> None:
    assert len(CLASSES) == 8 and len(set(CLASSES)) == 8
    assert all(c.isalpha() and c.islower() for c in CLASSES)


def test_render_deterministic_and_seed_dependent() -> None:
    for cls in CLASSES:
        a = render(_spec(cls, 3, p_camera=1.0, p_letterbox=1.0, p_distractor=1.0))
        b = render(_spec(cls, 3, p_camera=1.0, p_letterbox=1.0, p_distractor=1.0))
        c = render(_spec(cls, 4, p_camera=1.0, p_letterbox=1.0, p_distractor=1.0))
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
        assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
        frames, audio, events, gt = a
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3
        assert audio.dtype == np.float32 and audio.shape[0] == 2
        assert np.abs(audio).max() <= 1.0
        assert audio.shape[1] == round(frames.shape[0] / 25 * 44100)
        assert len(events) > 0 and all(0 <= e < 2.0 for e in events), cls
        json.dumps(gt)  # JSON-ready


def test_gravity_classes_fall_down() -> None:
    # y grows downward: under gravity the vertical acceleration is positive while in flight
    traj = simulate(_spec("fall", 5, duration_s=(4.0, 4.0), fps=(100,)))
    acc = np.diff(traj.y, 2) * 100**2
    flying = np.abs(acc) > 1
    assert flying.sum() > 20
    assert np.median(acc[flying]) > 0


@pytest.mark.parametrize("cls", ["bounce", "pendulum", "zigzag", "fall", "launch", "jitter"])
def test_events_fire_sound_at_event_samples(cls: str) -> None:
    spec = dataclasses.replace(_spec(cls, 7, duration_s=(4.0, 4.0)), noise_db=-200.0, distractor=False)
    _, audio, events, gt = render(spec)
    env = np.abs(audio).sum(0)
    sr = spec.sample_rate
    thr = 0.02 * env.max()
    assert len(events) >= 2
    # events heard: quiet just before (except when a previous sound still rings), loud right after
    for e, s in zip(events, gt["event_samples"]):
        assert s == round(e * sr)
        after = env[s : s + int(0.003 * sr)]
        assert after.max() > thr, (cls, e)
    # the first event's onset is exactly at its sample (silence before it)
    s0 = gt["event_samples"][0]
    onset = s0 - int(0.01 * sr) + int(np.argmax(env[s0 - int(0.01 * sr) : s0 + int(0.01 * sr)] > thr))
    assert abs(onset - s0) <= int(0.003 * sr), (cls, onset, s0)


def test_soft_sounds_peak_at_events() -> None:
    for cls in ("orbit", "spin"):
        spec = dataclasses.replace(_spec(cls, 2, duration_s=(6.0, 6.0)), noise_db=-200.0)
        _, audio, events, _ = render(spec)
        sr = spec.sample_rate
        env = np.convolve(audio[0] ** 2 + audio[1] ** 2, np.ones(441) / 441, mode="same")
        for e in events:
            s = round(e * sr)
            lo, hi = max(0, s - int(0.15 * sr)), min(len(env), s + int(0.15 * sr))
            if s - lo < int(0.15 * sr) or hi - s < int(0.15 * sr):
                continue
            peak = lo + int(np.argmax(env[lo:hi]))
            assert abs(peak - s) < int(0.03 * sr), (cls, e, (peak - s) / sr)


def test_bars_are_noisy_dark_grey_with_ground_truth_width() -> None:
    spec = _spec("zigzag", 11, p_letterbox=1.0, p_pillarbox=1.0)
    assert spec.letterbox > 0 and spec.pillarbox > 0
    frames, _, _, gt = render(spec)
    lb, pb = spec.letterbox, spec.pillarbox
    H, W = spec.height, spec.width
    for bar in (frames[:, :lb], frames[:, H - lb :], frames[:, :, :pb], frames[:, :, W - pb :]):
        assert bar.max() <= 25 and bar.mean() > 5  # dark grey noise, not pure black
        assert bar.std() > 3
        assert not np.array_equal(bar[0], bar[1])  # changes every frame
    inner = frames[:, lb : H - lb, pb : W - pb]
    # the picture's first rows/columns are not bar-like
    assert inner[:, 0].mean() > 25 or inner[:, :, 0].mean() > 25
    assert gt["content_box"] == [pb, lb, W - pb, H - lb]


def test_black_frames_and_camera_ground_truth() -> None:
    spec = _spec("bounce", 12, p_black_frames=1.0, p_camera=1.0)
    frames, _, _, gt = render(spec)
    T = spec.n_frames
    assert spec.black_lead_in > 0
    assert frames[: spec.black_lead_in].max() == 0
    assert frames[spec.black_lead_in].max() > 0
    if spec.black_lead_out:
        assert frames[T - spec.black_lead_out :].max() == 0
    assert len(gt["camera_path"]) == T and len(gt["camera_affine"]) == T
    assert spec.camera in ("pan", "zoom", "shake")


def test_silent_spec_is_near_zero() -> None:
    spec = _spec("jitter", 1, p_silent=1.0)
    _, audio, _, _ = render(spec)
    assert spec.silent and np.abs(audio).max() < 1e-2


def test_lossless_round_trip(tmp_path: Path) -> None:
    spec = _spec("orbit", 5, p_letterbox=1.0)
    frames, audio, _, _ = render(spec)
    frames = frames[:12]
    n = round(12 / spec.fps * 16000)
    a = np.clip(audio[:, :n], -1, 1)
    out = tmp_path / "x.mkv"
    write_lossless_video(out, frames, spec.fps, a, 16000)
    with av.open(str(out)) as c:
        dec = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert np.array_equal(dec, frames)
    with av.open(str(out)) as c:
        pcm = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1).reshape(-1, 2).T
    assert pcm.shape == a.shape
    assert np.abs(pcm / 32767.0 - a).max() < 1e-4


@pytest.mark.parametrize("container", ["mp4", "webm", "mkv", "avi"])
def test_write_video_containers(tmp_path: Path, container: str) -> None:
    spec = _spec("bounce", 9, fps=(24,), duration_s=(1.5, 1.5))
    frames, audio, _, _ = render(spec)
    out = tmp_path / f"v.{container}"
    write_video(out, frames, spec.fps, audio, spec.sample_rate, container=container)
    info = probe(out)
    assert info["width"] == spec.width and info["height"] == spec.height
    assert abs(info["fps"] - 24) < 1e-6
    assert abs(info["n_frames"] - spec.n_frames) <= 1
    assert abs(info["duration_s"] - spec.n_frames / 24) <= 2 / 24 + 0.06
    assert info["channels"] == 2
    assert info["sample_rate"] == (48000 if container == "webm" else 44100)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    out2 = tmp_path / f"na.{container}"
    write_video(out2, frames, spec.fps, None, container=container)
    with av.open(str(out2)) as c:
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1


def test_write_wav(tmp_path: Path) -> None:
    a = (0.5 * np.sin(np.arange(4410) / 10)).astype(np.float32)
    write_wav(tmp_path / "a.wav", a, 44100)
    info = probe(tmp_path / "a.wav")
    assert info["channels"] == 1 and info["sample_rate"] == 44100
    assert abs(info["duration_s"] - 0.1) < 1e-6


def test_make_tone_clip(tmp_path: Path) -> None:
    out = make_tone_clip(tmp_path / "t.mkv", bars=(4, 0), black_frames=(2, 1), shift=0.1)
    frames, audio = out["frames"], out["audio"]
    assert frames.shape == (16, 48, 64, 3) and audio.shape == (1, 16000)
    assert frames[:2].max() == 0 and frames[-1].max() == 0
    assert np.abs(audio[0, :1600]).max() == 0 and np.abs(audio[0, 1700:]).max() > 0.4
    with av.open(str(tmp_path / "t.mkv")) as c:
        dec = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert np.array_equal(dec, frames)
    spec = np.abs(np.fft.rfft(audio[0, 1600:]))
    peak_hz = np.argmax(spec) * 16000 / (16000 - 1600)
    assert abs(peak_hz - 440) < 3


def test_appearance_independent_of_class() -> None:
    n = 150
    shapes: dict[str, Counter[str]] = {}
    sizes: dict[str, list[float]] = {}
    for cls in CLASSES:
        specs = [_spec(cls, 1000 + i) for i in range(n)]
        shapes[cls] = Counter(s.shape for s in specs)
        sizes[cls] = [s.obj_size for s in specs]
        colors = np.array([s.color for s in specs], float)
        assert all(shapes[cls][sh] > n / len(SHAPES) / 2 for sh in SHAPES), (cls, shapes[cls])
        assert abs(colors.mean() - 127.5) < 20
    # the same rng state gives the same appearance whatever the class
    a = [_spec(c, 77) for c in CLASSES]
    assert len({(s.shape, s.color, s.bg_color, s.obj_size, s.pitch_hz, s.camera) for s in a}) == 1
    means = [np.mean(v) for v in sizes.values()]
    assert max(means) - min(means) < 3


TINY = {
    "n_classes": 2,
    "pretrain_videos": 6,
    "action_groups_per_class": 3,
    "action_clips_per_group": 1,
    "sound_clips_per_class": 5,
    "duration_s": [1, 2],
    "sizes": [[96, 72]],
    "containers": {"mp4": 1, "webm": 1, "mkv": 1, "avi": 1},
    "p_letterbox": 0.5,
    "p_pillarbox": 0.5,
    "p_black_frames": 0.5,
    "p_camera": 0.5,
    "p_distractor": 0.5,
    "n_bad": 3,
    "sound_duration_s": 1.0,
}


def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_write_dataset_formats(tmp_path: Path) -> None:
    summary = write_dataset(tmp_path, TINY, seed=3, progress=False, workers=1)
    assert summary["counts"] == {"pretrain": 9, "action": 6, "sound": 10}

    # Kinetics
    rows = list(csv.DictReader(open(tmp_path / "pretrain" / "kinetics.csv", newline="")))
    assert list(rows[0]) == ["label", "youtube_id", "time_start", "time_end", "split"]
    assert len(rows) == 9
    files = sorted((tmp_path / "pretrain" / "videos").iterdir())
    assert len(files) == 9 and not [f for f in files if f.name.startswith(".")]
    for r in rows:
        assert len(r["youtube_id"]) == 11 and r["split"] == "train" and r["time_start"] == "0"
        assert r["label"] in CLASSES[:2]
        stem = f"{r['youtube_id']}_000000_{int(r['time_end']):06d}"
        match = [f for f in files if f.stem == stem]
        assert len(match) == 1 and match[0].suffix in (".mp4", ".webm", ".mkv", ".avi")
    gt = list(csv.DictReader(open(tmp_path / "pretrain" / "ground_truth.csv", newline="")))
    bad = {r["bad"]: r for r in gt if r["bad"]}
    assert set(bad) == {"zero_bytes", "truncated", "no_audio"}
    vid = tmp_path / "pretrain"
    assert (vid / bad["zero_bytes"]["file"]).stat().st_size == 0
    with pytest.raises(av.error.FFmpegError):
        with av.open(str(vid / bad["truncated"]["file"])) as c:
            for _ in c.decode(video=0):
                pass
    with av.open(str(vid / bad["no_audio"]["file"])) as c:
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1
    for r in gt:
        assert (tmp_path / "pretrain" / "ground_truth" / f"{r['id']}.json").is_file()

    # UCF101
    lists = tmp_path / "action" / "ucfTrainTestlist"
    assert _read_bytes(lists / "classInd.txt") == b"1 bounce\r\n2 pendulum\r\n"
    all_clips = set()
    for k in (1, 2, 3):
        train = _read_bytes(lists / f"trainlist0{k}.txt").decode()
        test = _read_bytes(lists / f"testlist0{k}.txt").decode()
        assert "\n" not in train.replace("\r\n", "") and "\n" not in test.replace("\r\n", "")
        tr = [ln.split(" ") for ln in train.splitlines()]
        te = test.splitlines()
        assert all(len(x) == 2 and x[1] in ("1", "2") for x in tr)
        assert all(x[0].split("/")[0] == CLASSES[int(x[1]) - 1] for x in tr)
        assert {x[0] for x in tr}.isdisjoint(te)
        assert len(tr) + len(te) == 6
        groups = {ln.split("_g")[1][:2] for ln in te}
        assert groups == {f"{k:02d}"}
        all_clips |= set(te)
        for rel in [x[0] for x in tr] + te:
            assert (tmp_path / "action" / "videos" / rel).is_file()
            assert rel.endswith(".avi")
            cls, name = rel.split("/")
            assert re.fullmatch(rf"v_{cls}_g0[1-3]_c01\.avi", name), name
    assert len(all_clips) == 6

    # ESC-50
    meta = list(csv.DictReader(open(tmp_path / "sound" / "meta" / "esc50.csv", newline="")))
    assert list(meta[0]) == ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
    assert len(meta) == 10
    assert Counter((r["fold"], r["target"]) for r in meta) == {(str(f), str(t)): 1 for f in range(1, 6) for t in (0, 1)}
    for r in meta:
        f, src, take, target = r["filename"][:-4].split("-")
        assert (f, src, take, target) == (r["fold"], r["src_file"], "A", r["target"])
        assert r["category"] == CLASSES[int(r["target"])] and r["esc10"] == "False"
        info = probe(tmp_path / "sound" / "audio" / r["filename"])
        assert info["channels"] == 1 and info["sample_rate"] == 44100
        assert info["audio_codec"] == "pcm_s16le" and abs(info["duration_s"] - 1.0) < 1e-6


def test_dataset_plan_is_deterministic() -> None:
    a = plan(TINY, seed=5)
    b = plan(TINY, seed=5)
    c = plan(TINY, seed=6)
    assert [(j["rel"], j["spec"]) for j in a] == [(j["rel"], j["spec"]) for j in b]
    assert [j["rel"] for j in a] != [j["rel"] for j in c]


def test_write_dataset_same_for_any_workers(tmp_path: Path) -> None:
    cfg = {**TINY, "pretrain_videos": 3, "action_groups_per_class": 1, "sound_clips_per_class": 1, "n_bad": 1}
    write_dataset(tmp_path / "a", cfg, seed=9, progress=False, workers=1)
    write_dataset(tmp_path / "b", cfg, seed=9, progress=False, workers=2)
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    fb = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert fa == fb
    for rel in fa:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_render_audio_matches_render() -> None:
    spec = _spec("launch", 8, p_distractor=1.0)
    _, audio, _, _ = render(spec)
    audio2, _ = render_audio(spec)
    assert np.array_equal(audio, audio2)


def test_zoom_direction_knob() -> None:
    """``p_zoom_in``: the share of zooming cameras that zoom in; it changes nothing else, and its
    draw does not depend on the class."""

    def zooms(p: float, cls: str = "bounce") -> list[VideoSpec]:
        return [_spec(cls, 500 + i, p_camera=1.0, p_zoom_in=p) for i in range(300)]

    base = zooms(0.8)
    share = np.mean([s.zoom_in for s in base])
    assert 0.7 < share < 0.9
    assert all(s.zoom_in for s in zooms(1.0)) and not any(s.zoom_in for s in zooms(0.0))
    other = zooms(0.2)
    assert [dataclasses.replace(s, zoom_in=True) for s in base] == [dataclasses.replace(s, zoom_in=True) for s in other]
    assert [s.zoom_in for s in base] == [s.zoom_in for s in zooms(0.8, "spin")]
    spec = next(s for s in base if s.camera == "zoom")
    _, _, _, gt = render(dataclasses.replace(spec, zoom_in=True))
    scale = np.array(gt["camera_path"])[:, 2]
    assert scale[-1] > scale[0]  # zooming in magnifies over time
    _, _, _, gt = render(dataclasses.replace(spec, zoom_in=False))
    assert np.array(gt["camera_path"])[-1, 2] < np.array(gt["camera_path"])[0, 2]


def test_synth_is_a_deprecated_alias_of_synthesize() -> None:
    from avbench.cli import build_parser, cmd_synthesize

    for name in ("synthesize", "synth"):
        a = build_parser().parse_args([name, "-o", "out", "--config", "c.yaml", "--workers", "2"])
        assert a.func is cmd_synthesize and (a.out, a.config, a.workers) == ("out", "c.yaml", 2)
