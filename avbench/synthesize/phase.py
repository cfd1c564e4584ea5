"""Periodic world videos with their true phase per frame: the data of the phase-alignment score
(:mod:`avbench.evaluate.alignment`), written nowhere (rendered in memory, deterministic by seed).

The world's periodic classes (:mod:`avbench.synthesize.world`) and their phase, from the simulated
trajectory (phase 0 at the class's key moment, increasing with time whatever the direction):

- ``orbit``: uniform circular motion; phase 0 at the top of the circle (the event), from the
  angle about the circle's centre (fitted to the exact path);
- ``spin``: rotation in place; phase 0 when the marker points up (the event), from the trajectory's
  own angle;
- ``pendulum``: a damped swing ``theta = theta_max e^(-gamma t) cos(omega t + phi)``; phase
  ``(omega t + phi) / 2 pi`` (0 at the right-hand extreme), with the pivot fitted to the exact
  path (a circle of the pendulum's length) and ``phi`` by least squares on the undamped angle.

Each video is cut to **one cycle**, from the first frame whose phase wraps to just before the next
wrap, so the phase rises from ~0 to ~1 through it, like the actions TCC aligns; cycles differ in
length (the period is drawn per video), appearance, camera and start.

**Direction.** The world draws the turning direction of ``orbit`` and ``spin`` 50/50, and the phase
above is the *time* fraction of the cycle, so a clockwise and an anticlockwise video pass through
the same visual state (the object at the left of its circle, the marker pointing left) at phases
``p`` and ``1 - p``. Each video therefore records its :func:`direction` (+1: the angle increases in
image coordinates, x right and y down, i.e. clockwise on screen; -1: anticlockwise; ``pendulum``:
always +1, as every cycle starts at the right-hand extreme and swings left first), and the score
pairs only videos of the same class *and* direction (:mod:`avbench.evaluate.alignment`), where time
and state agree. Each video also carries its true visual :func:`state` per frame (direction-free:
the object's angle about its circle, the marker's angle, the pendulum's angle and angular velocity
on its amplitude), which an oracle aligner reads (``avbench alignment oracle``). Frames are rendered at
``render_size`` without bars or black frames and scaled to ``size`` (the shards' 40 x 30 by
default) with area averaging, at ``fps`` (the shards' 16).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from avbench.synthesize.world import Trajectory, VideoSpec, render_frames, sample_spec, simulate

PERIODIC: tuple[str, ...] = ("pendulum", "orbit", "spin")


def _fit_circle(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Centre of the circle through points (x, y) (algebraic least squares; exact on exact points)."""
    a = np.stack([x, y, np.ones_like(x)], 1)
    b = x**2 + y**2
    c, *_ = np.linalg.lstsq(a, b, rcond=None)
    return float(c[0] / 2), float(c[1] / 2)


def true_phase(spec: VideoSpec, traj: Trajectory) -> np.ndarray:
    """Phase in [0, 1) of each frame of a periodic class (module doc): float (T,)."""
    t = np.arange(spec.n_frames) / spec.fps
    info = traj.info
    if spec.cls == "spin":
        sign = math.copysign(1.0, float(info["omega"]))
        return np.mod((traj.angle + np.pi / 2) * sign / (2 * np.pi), 1.0)
    if spec.cls == "orbit":
        cx, cy = _fit_circle(traj.x, traj.y)
        a = np.unwrap(np.arctan2(traj.y - cy, traj.x - cx))
        sign = 1.0 if a[-1] >= a[0] else -1.0
        return np.mod((a + np.pi / 2) * sign / (2 * np.pi), 1.0)
    if spec.cls == "pendulum":
        px, py = _fit_circle(traj.x, traj.y)
        theta = np.arctan2(traj.x - px, traj.y - py)
        omega = 2 * np.pi / float(info["period_s"])
        undamped = theta * np.exp(float(info["damping"]) * t)
        basis = np.stack([np.cos(omega * t), np.sin(omega * t)], 1)
        (ca, cb), *_ = np.linalg.lstsq(basis, undamped, rcond=None)
        phi = math.atan2(-cb, ca)
        return np.mod((omega * t + phi) / (2 * np.pi), 1.0)
    raise ValueError(f"class {spec.cls!r} is not periodic (one of {', '.join(PERIODIC)})")


def direction(spec: VideoSpec, traj: Trajectory) -> int:
    """+1 or -1: the way a periodic video turns (module doc): the sign of the change of the angle
    about the circle's centre (``orbit``) or of the spin rate (``spin``), in image coordinates (+1 is
    clockwise on screen); ``pendulum``: +1 (every cycle swings right -> left -> right)."""
    if spec.cls == "spin":
        return 1 if float(traj.info["omega"]) >= 0 else -1
    if spec.cls == "orbit":
        cx, cy = _fit_circle(traj.x, traj.y)
        a = np.unwrap(np.arctan2(traj.y - cy, traj.x - cx))
        return 1 if a[-1] >= a[0] else -1
    if spec.cls == "pendulum":
        return 1
    raise ValueError(f"class {spec.cls!r} is not periodic (one of {', '.join(PERIODIC)})")


def state(spec: VideoSpec, traj: Trajectory) -> np.ndarray:
    """The true visual state of each frame, whatever the direction and speed: float (T, 2), a point
    on the unit circle. ``orbit``: (cos, sin) of the object's angle about its circle's centre;
    ``spin``: of the marker's angle; ``pendulum``: the swing's angle and angular velocity / omega,
    each divided by the damped amplitude ``e^(-gamma t)`` (right extreme (1, 0), bottom moving left
    (0, -1)). Two frames of two videos of a class look alike (up to appearance and camera) exactly
    when their states are close: what an aligner by state matches."""
    if spec.cls == "spin":
        a = np.asarray(traj.angle, float)
    elif spec.cls == "orbit":
        cx, cy = _fit_circle(traj.x, traj.y)
        a = np.arctan2(traj.y - cy, traj.x - cx)
    elif spec.cls == "pendulum":
        t = np.arange(spec.n_frames) / spec.fps
        px, py = _fit_circle(traj.x, traj.y)
        theta = np.arctan2(traj.x - px, traj.y - py) * np.exp(float(traj.info["damping"]) * t)
        omega = 2 * np.pi / float(traj.info["period_s"])
        vel = np.gradient(theta, t) / omega
        amp = np.sqrt(theta**2 + vel**2)
        return np.stack([theta, vel], 1) / amp[:, None]
    else:
        raise ValueError(f"class {spec.cls!r} is not periodic (one of {', '.join(PERIODIC)})")
    return np.stack([np.cos(a), np.sin(a)], 1)


def one_cycle(phase: np.ndarray) -> tuple[int, int] | None:
    """(start, stop) of the first whole cycle: from the first frame after a wrap of the phase (a
    drop) to the frame before the next wrap; None without two wraps."""
    wraps = np.nonzero(np.diff(phase) < -0.5)[0] + 1
    if len(wraps) < 2:
        return None
    return int(wraps[0]), int(wraps[1])


def phase_spec(seed: int, cls: str, k: int, *, duration: float, fps: float, render_size: tuple[int, int]) -> VideoSpec:
    """Video ``k`` of class ``cls``: a world video without bars or black frames."""
    rng = np.random.default_rng([seed, 8808, PERIODIC.index(cls), k])
    return sample_spec(
        rng,
        cls,
        duration_s=(duration, duration),
        fps=(fps,),
        sizes=(render_size,),
        p_letterbox=0.0,
        p_pillarbox=0.0,
        p_black_frames=0.0,
    )


def phase_videos(
    *,
    n_per_class: int = 8,
    classes: tuple[str, ...] = PERIODIC,
    seed: int = 0,
    size: tuple[int, int] = (40, 30),
    render_size: tuple[int, int] = (160, 120),
    fps: float = 16.0,
    duration: float = 7.0,
    tail: int = 8,
) -> list[dict[str, Any]]:
    """One cycle of ``n_per_class`` videos of each class: ``{"id", "cls", "frames" uint8 (T + tail,
    h, w, 3), "phase" float (T,), "period_s", "direction" (+1/-1), "state" float (T + tail, 2)}``:
    the cycle's T frames and the ``tail`` frames after them (so that a frame's clip of the next few frames is real video up to the cycle's end, never a
    padding every video would share). 7 s holds two whole cycles of the slowest (pendulum, up to
    ~3.2 s) and a tail; a video without them is skipped (none at the defaults)."""
    out: list[dict[str, Any]] = []
    for cls in classes:
        for k in range(n_per_class):
            spec = phase_spec(seed, cls, k, duration=duration, fps=fps, render_size=render_size)
            traj = simulate(spec)
            phase = true_phase(spec, traj)
            cut = one_cycle(phase)
            if cut is None:
                continue
            a, b = cut
            if b + tail > len(phase):
                continue
            frames, _ = render_frames(spec, traj)
            small = np.stack([cv2.resize(f, tuple(size), interpolation=cv2.INTER_AREA) for f in frames[a : b + tail]])
            period = float(traj.info.get("period_s", 0.0))
            out.append(
                {"id": f"{cls}_{k:03d}", "cls": cls, "frames": small, "phase": phase[a:b], "period_s": period}
                | {"direction": direction(spec, traj), "state": state(spec, traj)[a : b + tail]}
            )
    return out
