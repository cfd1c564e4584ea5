"""The opt-in speed settings of the shard schema (``stabilize.fit_*``, ``*_interpolation``,
``skip_loop_filter``): known answers with the cheaper settings, the defaults unchanged (same fit,
no new keys in the sample's JSON), and the options recorded in the sample where they are used."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from avbench.config import deep_merge, load_config, shard_settings
from avbench.preprocess import stabilize as st
from avbench.preprocess.stabilize import fit_camera_motion, warp_flow, warp_frames
from avbench.synthesize import write_lossless_video

REPO = Path(__file__).resolve().parents[2]


def _similarity(zoom: float, deg: float, tx: float, ty: float, size: tuple[int, int]) -> np.ndarray:
    """A similarity about the frame centre (zoom, rotation in degrees) then a shift, 3x3."""
    W, H = size
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    a = np.deg2rad(deg)
    L = zoom * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    A = np.eye(3)
    A[:2, :2], A[:2, 2] = L, c - L @ c + [tx, ty]
    return A


def _flow_of(A: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The flow field of the camera motion ``A`` alone: float32 (H, W, 2)."""
    W, H = size
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    p = np.stack([xs, ys, np.ones_like(xs)], -1)
    return (p @ A[:2].T - p[..., :2]).astype(np.float32)


def test_cheaper_fit_recovers_a_similarity_with_a_moving_object():
    size = (112, 112)
    A = _similarity(1.01, 0.4, 1.5, -0.7, size)
    flow = _flow_of(A, size)
    flow[10:55, 20:75] = (4.0, -3.0)  # ~20% of the picture moving on its own
    est = fit_camera_motion(flow[None], n_points=64, n_candidates=8, iterations=4)[0]
    assert np.abs(est - A).max() < 2e-3
    ys, xs = st._grid(112, 112, 64)  # about the number of points asked for
    assert 36 <= len(ys) <= 64


def test_default_fit_is_the_fit_of_before():
    rng = np.random.default_rng(3)
    flow = rng.normal(0, 0.5, (40, 48, 64, 2)).astype(np.float32)
    flow += _flow_of(_similarity(1.0, 0.0, 0.8, 0.2, (64, 48)), (64, 48))
    a = fit_camera_motion(flow)
    b = fit_camera_motion(flow, n_points=256, n_candidates=32, iterations=6)
    assert np.array_equal(a, b)
    # the cached draw of the point pairs is the draw itself
    ys, xs = st._grid(48, 64)
    x, y = (xs - 31.5).astype(np.float64), (ys - 23.5).astype(np.float64)
    i1, j1 = st._point_pairs(x, y, 32)
    i2, j2 = st._point_pairs_cached.__wrapped__(x.tobytes(), y.tobytes(), 32)
    assert np.array_equal(i1, i2) and np.array_equal(j1, j2) and len(i1) == 32


def test_nearest_warps():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 40, 50, 3)).astype(np.uint8)
    shift = np.tile(np.eye(3), (3, 1, 1))
    shift[:, 0, 2] = 2.0  # a whole-pixel shift: nearest and bilinear agree exactly
    a, b = warp_frames(frames, shift), warp_frames(frames, shift, "nearest")
    assert np.array_equal(a, b) and np.array_equal(b[:, :, 2:], frames[:, :, :-2])
    half = shift.copy()
    half[:, 0, 2] = 0.4  # below half a pixel nearest does not move the picture, bilinear blends
    assert np.array_equal(warp_frames(frames, half, "nearest"), frames)
    assert not np.array_equal(warp_frames(frames, half), frames)
    # a smooth flow field carried over: nearest within a small fraction of a pixel of bilinear
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    flow = np.stack([np.sin(xx / 9) + 0.5, np.cos(yy / 7)], -1)[None].repeat(2, 0)
    warps = np.tile(np.eye(3), (3, 1, 1))
    warps[:, 0, 2] = [0.0, 0.7, 1.3]
    lin, near = warp_flow(flow, warps), warp_flow(flow, warps, "nearest")
    assert np.abs(lin - near)[:, 2:-2, 2:-2].max() < 0.1


def _cfg(**over):
    cfg = load_config(REPO / "config.yaml")
    cfg["shard"] = deep_merge(cfg["shard"], over)
    return shard_settings(cfg)


def _pan_clip(path, n=24, size=(64, 48)):
    W, H = size
    rng = np.random.default_rng(1)
    big = cv2.GaussianBlur(rng.integers(0, 256, (H + 60, W + 60, 3)).astype(np.uint8), (0, 0), 2.0)
    big = cv2.normalize(big, None, 40, 255, cv2.NORM_MINMAX)
    frames = np.stack(
        [cv2.warpAffine(big, np.float32([[1, 0, -30 + 1.2 * k], [0, 1, -30 + 0.4 * k]]), (W, H)) for k in range(n)]
    )
    write_lossless_video(path, frames, 16)


def test_speed_options_in_the_sample_json_only_when_used(tmp_path):
    from avbench.shards.write import make_sample

    _pan_clip(tmp_path / "pan.mkv")
    row = {"id": "pan", "path": str(tmp_path / "pan.mkv"), "t_start": 0.0, "t_end": 1.5, "duration": 1.5}
    default = _cfg(size=[64, 48])
    # no default filled in for the speed options: the settings (and the config's hash) stay as they were
    assert not {"fit_points", "fit_candidates", "fit_iterations", "frame_interpolation"} & set(default["stabilize"])
    assert "flow_interpolation" not in default["stabilize"] and "refinement_iterations" not in default["flow"]
    assert "skip_loop_filter" not in default
    meta0 = make_sample(row, default, "video")["meta"]
    m0 = meta0["stabilization"]
    assert m0["applied"] and "fit" not in m0 and "interpolation" not in m0
    assert "skip_loop_filter" not in meta0["video_stream"]
    nodeblock = make_sample(row, _cfg(size=[64, 48], skip_loop_filter="noref"), "video")["meta"]
    assert nodeblock["video_stream"]["skip_loop_filter"] == "noref"
    fast = _cfg(
        size=[64, 48],
        stabilize={"fit_points": 64, "fit_candidates": 8, "fit_iterations": 4, "frame_interpolation": "nearest"},
    )
    res = make_sample(row, fast, "video")
    m1 = res["meta"]["stabilization"]
    assert m1["fit"] == {"n_points": 64, "n_candidates": 8, "iterations": 4}
    assert m1["interpolation"] == {"frame": "nearest", "flow": "linear"}
    # the same camera found: a pan of (1.2, 0.4) px per frame
    a0, a1 = np.asarray(m0["inter_frame"]), np.asarray(m1["inter_frame"])
    assert np.abs(a1[:, :, 2].mean(0) - [1.2, 0.4]).max() < 0.3 and np.abs(a1 - a0).max() < 0.2


def test_kinetics_config_speed_settings_validate():
    kin = yaml.safe_load((REPO / "workflow" / "configs" / "kinetics.yaml").read_text())
    cfg = load_config(REPO / "config.yaml")
    cfg["shard"] = deep_merge(cfg["shard"], kin["shard"])
    s = shard_settings(cfg)
    assert s["flow"]["preset"] in ("ultrafast", "fast") and s["stabilize"]["enabled"] and s["flow"]["enabled"]
    assert s["borders"]["enabled"] and s["black_frames"]["enabled"]


def test_dis_refinement_iterations_override_the_preset():
    from avbench.preprocess.flow import extract_flow, flow_settings

    cv2.setNumThreads(1)
    rng = np.random.default_rng(2)
    big = cv2.GaussianBlur(rng.integers(0, 256, (120, 140, 3)).astype(np.uint8), (0, 0), 2.0)
    frames = np.stack([big[10 + k : 10 + k + 96, 12 : 12 + 112] for k in range(3)])  # 1 px per frame down
    base = extract_flow(frames, preset="fast")
    assert np.array_equal(extract_flow(frames, preset="fast", refinement_iterations=5), base)  # fast's own
    two = extract_flow(frames, preset="fast", refinement_iterations=2)
    assert not np.array_equal(two, base)
    inner = two[:, 16:-16, 16:-16]  # the scene moves up by 1 px: flow (0, -1)
    # DIS fast stops at a quarter of the resolution: ~0.1 px off on a sub-sampled shift
    assert np.abs(inner[..., 1].mean() + 1) < 0.2 and np.abs(inner[..., 0].mean()) < 0.1
    assert flow_settings("dis", "fast", 2)["params"]["variational_refinement_iterations"] == 2
    assert flow_settings("dis", "fast") == flow_settings("dis", "fast", None)
