"""The arrow of time's cues in the synthetic world (seed 002): their prevalences, a camera motion
that is visible at the stored 40x30 / 16 fps, the tilt-down and zoom-in conventions, and bars that
are not pure black and roll one way (a time-asymmetric signal)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from avbench.preprocess.flow import extract_flow
from avbench.synthesize import DEFAULTS, VideoSpec, camera_matrices, plan, render, sample_spec
from avbench.synthesize.world import _camera_path


def _specs(n: int, **kw: object) -> list[VideoSpec]:
    return [sample_spec(np.random.default_rng(1000 + i), "bounce", **kw) for i in range(n)]  # type: ignore[arg-type]


def _stored_motion(spec: VideoSpec, size: tuple[int, int] = (40, 30), fps: float = 16.0) -> float:
    """Median over stored frame pairs of the mean displacement of the background (px per frame)
    after a cover resize to ``size`` and resampling to ``fps``, from the ground-truth camera path."""
    cw, ch = spec.content_size
    M = np.tile(np.eye(3), (spec.n_frames, 1, 1))
    M[:, :2] = camera_matrices(_camera_path(spec, cw, ch), cw, ch)
    scale = max(size[0] / spec.width, size[1] / spec.height)
    n_out = int(spec.n_frames / spec.fps * fps)
    idx = np.minimum(np.floor(np.arange(n_out) * spec.fps / fps + 1e-9).astype(int), spec.n_frames - 1)
    yy, xx = np.mgrid[0:ch:8, 0:cw:8]
    P = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
    d = [
        np.linalg.norm((M[idx[k + 1]] @ np.linalg.inv(M[idx[k]]) @ P - P)[:2], axis=0).mean() * scale
        for k in range(n_out - 1)
    ]
    return float(np.median(d))


def test_default_prevalences_follow_seed_002() -> None:
    """46% of videos with black framing, 73% with camera motion (the seed's cue table)."""
    specs = _specs(600)
    bars = np.mean([bool(s.letterbox or s.pillarbox) for s in specs])
    camera = np.mean([s.camera != "none" for s in specs])
    assert bars == pytest.approx(0.46, abs=0.06) and camera == pytest.approx(0.73, abs=0.06)
    assert DEFAULTS["p_camera"] == 0.73 and 1 - (1 - DEFAULTS["p_letterbox"]) * (
        1 - DEFAULTS["p_pillarbox"]
    ) == pytest.approx(0.46, abs=0.005)
    pre = [
        j["spec"]
        for j in plan(
            {
                "pretrain_videos": 300,
                "n_bad": 0,
                "action_groups_per_class": 3,
                "action_clips_per_group": 1,
                "sound_clips_per_class": 5,
            },
            seed=0,
        )
        if j["set"] == "pretrain"
    ]
    assert np.mean([bool(s.letterbox or s.pillarbox) for s in pre]) == pytest.approx(0.46, abs=0.08)
    assert np.mean([s.camera != "none" for s in pre]) == pytest.approx(0.73, abs=0.08)


def test_pans_and_zooms_are_visible_at_the_stored_size() -> None:
    """Well above the flow quantization (8/255 px) and the arrow-of-time input's 0.5 px: the old
    world moved 0.03 px per stored frame (median)."""
    for cam in ("pan", "zoom"):
        moving = [s for s in _specs(200, p_camera=1.0) if s.camera == cam]
        motion = [_stored_motion(s) for s in moving]
        assert np.median(motion) > 0.45 and np.min(motion) > 0.2, (cam, np.median(motion))
    still = next(s for s in _specs(20, p_camera=0.0))
    assert _stored_motion(still) == 0.0


def test_pan_is_seen_by_flow_at_40x30_and_16fps() -> None:
    """Render a pan, shrink it to the stored size and rate, and measure it with the shards' flow."""
    spec = VideoSpec(
        cls="spin", seed=4, width=320, height=240, fps=24.0, duration=2.0, camera="pan", camera_speed=0.3, texture=25
    )
    frames, _, _, gt = render(spec)
    idx = np.floor(np.arange(int(2.0 * 16)) * 24 / 16).astype(int)
    small = np.stack([cv2.resize(frames[i], (40, 30), interpolation=cv2.INTER_AREA) for i in idx])
    flow = extract_flow(small, preset="fast")
    speed = np.median(np.linalg.norm(flow, axis=-1))
    expected = 0.3 * 30 / 16  # scene heights per second -> stored px per frame
    assert speed == pytest.approx(expected, rel=0.35) and speed > 0.4
    assert gt["camera_speed_px_s"] == pytest.approx(0.3 * 240) and gt["camera_moves_object"] is False


def test_tilt_down_and_zoom_in_conventions() -> None:
    """``p_tilt_down`` of pans look further down over time (the picture moves up) and ``p_zoom_in``
    of zooms magnify; the draws are their own (changing them changes nothing else)."""
    base = _specs(400, p_camera=1.0)
    pans = [s for s in base if s.camera == "pan"]
    assert np.mean([s.tilt_down for s in pans]) == pytest.approx(0.8, abs=0.1)
    other = _specs(400, p_camera=1.0, p_tilt_down=0.2)
    assert [dataclasses.replace(s, tilt_down=True) for s in base] == [
        dataclasses.replace(s, tilt_down=True) for s in other
    ]
    pan = dataclasses.replace(pans[0], duration=2.0)
    for down in (True, False):
        s = dataclasses.replace(pan, tilt_down=down)
        dy = np.diff(_camera_path(s, *s.content_size)[:, 1])
        assert np.all(dy < 0) if down else np.all(dy > 0)  # tilting down moves the picture up
    zoom = next(s for s in base if s.camera == "zoom")
    for zin in (True, False):
        scale = _camera_path(dataclasses.replace(zoom, zoom_in=zin), *zoom.content_size)[:, 2]
        assert np.all(np.diff(scale) > 0) if zin else np.all(np.diff(scale) < 0)


def _best_shift(a: np.ndarray, b: np.ndarray, axis: int, max_shift: int = 12) -> int:
    """The integer shift s (wrapping along ``axis``) minimising |roll(a, s) - b|."""
    errs = {
        s: float(np.abs(np.roll(a.astype(float), s, axis=axis) - b).mean()) for s in range(-max_shift, max_shift + 1)
    }
    return min(errs, key=errs.__getitem__)


def test_bars_are_not_black_and_roll_one_way() -> None:
    """Letterbox residual rolls right, pillarbox residual rolls down, by bar_drift * H / fps px per
    frame: the reversed video rolls the other way. With bar_drift 0 the residual does not move."""
    spec = VideoSpec(
        cls="bounce", seed=9, width=320, height=240, fps=25.0, duration=1.0, letterbox=32, pillarbox=32, bar_drift=0.5
    )
    frames, _, _, gt = render(spec)
    step = 0.5 * 240 / 25  # 4.8 px per frame
    top = frames[:, :32, :, 0].astype(float)  # (T, 32, W): along x
    left = frames[:, 32:208, :32, 0].astype(float)  # (T, 176, 32): along y
    assert 5 < top.mean() < 20 and top.max() <= 25 and top.std() > 3  # dim, not pure black, dark enough
    shifts_top = [_best_shift(top[t], top[t + 5], axis=1, max_shift=40) for t in range(0, 15, 5)]
    shifts_left = [_best_shift(left[t], left[t + 5], axis=0, max_shift=40) for t in range(0, 15, 5)]
    assert all(abs(s - 5 * step) <= 1.5 for s in shifts_top), shifts_top  # rightwards
    assert all(abs(s - 5 * step) <= 1.5 for s in shifts_left), shifts_left  # downwards
    assert gt["bar_drift_px_s"] == pytest.approx(120.0) and gt["bar_drift_direction"] == {
        "letterbox": "right",
        "pillarbox": "down",
    }
    still, *_ = render(dataclasses.replace(spec, bar_drift=0.0))
    assert _best_shift(still[0, :32, :, 0], still[5, :32, :, 0].astype(float), axis=1) == 0
    assert not np.array_equal(still[0, :32], still[1, :32])  # fresh grain every frame


def test_seeded_and_recorded_in_ground_truth(tmp_path) -> None:
    """The cues are a function of the seed and are written beside each video."""
    from avbench.synthesize import write_dataset
    import csv

    cfg = {
        "pretrain_videos": 6,
        "action_groups_per_class": 3,
        "action_clips_per_group": 1,
        "sound_clips_per_class": 5,
        "n_classes": 2,
        "n_bad": 0,
        "duration_s": [1, 1],
        "sizes": [[64, 48]],
        "p_camera": 1.0,
        "p_letterbox": 1.0,
    }
    write_dataset(tmp_path, cfg, seed=3, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "pretrain" / "ground_truth.csv")))
    assert all(float(r["bar_drift"]) > 0 for r in rows)
    pans = [r for r in rows if r["camera"] == "pan"]
    assert all(r["camera_tilt"] in ("down", "up") and float(r["camera_speed"]) > 0 for r in pans)
    assert [j["spec"] for j in plan(cfg, seed=3)] == [j["spec"] for j in plan(cfg, seed=3)]
