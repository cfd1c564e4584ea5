"""Dense optical flow between consecutive frames with OpenCV.

Algorithms (``shard.flow.algorithm``):

- ``dis``: Dense Inverse Search (``cv2.DISOpticalFlow``), OpenCV's presets ``ultrafast``,
  ``fast``, ``medium``; the default. ``ultrafast`` and ``fast`` stop at a quarter of the
  resolution (finest scale 2), ``medium`` at half: on frames of 112 px ``fast`` costs ~0.03 s per
  159 pairs and errs by ~0.1 px on a sub-pixel shift, ``medium`` ~0.15 s and ~0.03 px; below
  ~64 px all presets work at full resolution;
- ``farneback``: ``cv2.calcOpticalFlowFarneback`` (pyramid 0.5, 3 levels, window 15, 3 iterations,
  poly_n 5, sigma 1.2), about 10x slower than DIS fast;
- ``tvl1``: ``cv2.optflow.DualTVL1OpticalFlow``, only where opencv-contrib is installed (it is
  not a dependency of avbench: ``opencv-python-headless`` has no ``cv2.optflow``), and about
  1000x slower than DIS on the CPU. :func:`check_algorithm` refuses it early when it is absent.

Flow is in pixels of the frames given, from frame ``k`` to frame ``k + 1``: the pixel at ``p`` in
frame ``k`` is at ``p + flow[k][p]`` in frame ``k + 1`` (x first). Call ``cv2.setNumThreads(1)``
in worker processes: results are then deterministic, and processes scale better than threads.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

ALGORITHMS = ("dis", "farneback", "tvl1")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FARNEBACK_PARAMS: dict[str, Any] = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


def has_tvl1() -> bool:
    """Whether OpenCV's TV-L1 (opencv-contrib's ``cv2.optflow``) is importable."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def check_algorithm(algorithm: str, preset: str = "fast") -> None:
    """Raise ValueError (one line) when ``algorithm``/``preset`` cannot run here."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"flow algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    if algorithm == "dis" and preset not in DIS_PRESETS:
        raise ValueError(f"DIS preset must be one of {tuple(DIS_PRESETS)}, not {preset!r}")
    if algorithm == "tvl1" and not has_tvl1():
        raise ValueError(
            "flow algorithm tvl1 needs opencv-contrib (cv2.optflow), which is not installed: "
            "use dis or farneback, or install opencv-contrib-python-headless"
        )


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def dis_engine(preset: str, refinement_iterations: int | None = None) -> Any:
    """An OpenCV DIS engine of ``preset``, with ``refinement_iterations`` variational refinement
    iterations in place of the preset's when given."""
    engine = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    if refinement_iterations is not None:
        engine.setVariationalRefinementIterations(int(refinement_iterations))
    return engine


def flow_settings(algorithm: str, preset: str, refinement_iterations: int | None = None) -> dict[str, Any]:
    """The settings to record in a sample's metadata."""
    if algorithm == "dis":
        engine = dis_engine(preset, refinement_iterations)
        return {
            "algorithm": "dis",
            "preset": preset,
            "params": {
                "finest_scale": engine.getFinestScale(),
                "patch_size": engine.getPatchSize(),
                "patch_stride": engine.getPatchStride(),
                "gradient_descent_iterations": engine.getGradientDescentIterations(),
                "variational_refinement_iterations": engine.getVariationalRefinementIterations(),
            },
        }
    if algorithm == "farneback":
        return {"algorithm": "farneback", "preset": None, "params": dict(FARNEBACK_PARAMS)}
    return {"algorithm": "tvl1", "preset": None}


def extract_flow(
    frames: np.ndarray,
    *,
    algorithm: str = "dis",
    preset: str = "fast",
    pairs: np.ndarray | None = None,
    refinement_iterations: int | None = None,
) -> np.ndarray:
    """Optical flow between consecutive frames.

    frames: uint8 (T, H, W, 3) RGB. pairs: bool (T-1,) which pairs to compute (None: all); the
    others are zero. refinement_iterations: DIS's variational refinement iterations in place of
    the preset's (None: the preset's; ignored by the other algorithms). Returns float32
    (T-1, H, W, 2) (x, y) displacement in pixels.
    """
    check_algorithm(algorithm, preset)
    T, H, W = frames.shape[:3]
    out = np.zeros((max(T - 1, 0), H, W, 2), np.float32)
    if T < 2:
        return out
    if algorithm == "dis":
        engine = dis_engine(preset, refinement_iterations)

        def calc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return engine.calc(a, b, None)
    elif algorithm == "farneback":

        def calc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK_PARAMS)
    else:  # pragma: no cover - needs opencv-contrib
        engine = cv2.optflow.DualTVL1OpticalFlow_create()

        def calc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return engine.calc(a, b, None)

    prev = _gray(frames[0])
    for k in range(T - 1):
        nxt = _gray(frames[k + 1])
        if pairs is None or pairs[k]:
            out[k] = calc(prev, nxt)
        prev = nxt
    return out


# ----------------------------------------------------------------------------------------------
# the flow representation the encoders read


def unit_flow(q: np.ndarray) -> np.ndarray:
    """Quantized flow uint8 -> float32 in units of the bound, with the levels next to zero read as
    0 (the numpy twin of :func:`avbench.pretext.base.flow_unit`)."""
    c = q.astype(np.float32) - 127.5
    return (np.sign(c) * (np.abs(c) - 0.5) / 127.0).astype(np.float32)


def quantized_flow(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unit_flow`: float flow in units of the bound -> uint8 (0 -> 128)."""
    u = np.clip(np.asarray(u, np.float32), -1.0, 1.0)
    q = np.where(u > 0, 128.0 + u * 127.0, np.where(u < 0, 127.0 + u * 127.0, 128.0))
    return np.clip(np.rint(q), 0, 255).astype(np.uint8)


def midpoint_field(f: np.ndarray, *, moving_px: float = 0.5, min_cover: float = 0.25) -> np.ndarray:
    """A flow field moved to the midpoints of its vectors: each vector ``f(x)`` is splatted
    bilinearly to ``x + f(x) / 2`` and each pixel keeps the weighted mean of what landed on it.
    Sources weigh ``min(1, |f| / moving_px)``: still pixels do not splat, so only what moves is
    drawn, and pixels that receive less than ``min_cover`` of weight are 0.

    The field from frame k + 1 back to frame k maps ``x + f(x)`` to ``x`` with ``-f(x)``: its
    midpoints are the same, and so are its moving sources (which side of a moving object the still
    background occludes is what would tell the two apart), so in this representation the flow of
    the reversed video is the negated field. f: float (H, W, 2) or (T, H, W, 2) in pixels (x, y),
    each field on its own. Returns float32 of the same shape.
    """
    f = np.asarray(f, np.float32)
    single = f.ndim == 3
    if single:
        f = f[None]
    t, h, w = f.shape[:3]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tx, ty = xx + f[..., 0] / 2, yy + f[..., 1] / 2
    x0, y0 = np.floor(tx), np.floor(ty)
    ax, ay = tx - x0, ty - y0
    src = np.minimum(1.0, np.sqrt(np.square(f).sum(-1)) / moving_px)
    base = (np.arange(t) * (h * w))[:, None, None]
    idx_parts, w_parts = [], []
    for dx, dy, wt in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)), (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):
        px, py = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        idx_parts.append(np.where(ok, base + py * w + px, -1).ravel())
        w_parts.append(np.where(ok, wt * src, 0.0).ravel())
    idx, wts = np.concatenate(idx_parts), np.concatenate(w_parts)
    keep = idx >= 0
    idx, wts = idx[keep], wts[keep]
    n = t * h * w
    cover = np.bincount(idx, weights=wts, minlength=n)
    out = np.zeros((n, 2), np.float32)
    ok = cover >= min_cover
    for c in range(2):
        v = np.bincount(idx, weights=wts * np.tile(f[..., c].ravel(), 4)[keep], minlength=n)
        out[ok, c] = v[ok] / cover[ok]
    out = out.reshape(t, h, w, 2)
    return out[0] if single else out


def flow_input(q: np.ndarray, bound: float) -> np.ndarray:
    """The flow that every flow encoder reads, in pretraining and downstream: quantized stored
    fields (uint8 (T, H, W, 2), bound in pixels) moved to the midpoints of their vectors
    (:func:`midpoint_field`) and quantized again. The arrow of time needs this grid, where the
    flow of the reversed video is exactly the fields reversed and negated
    (``avbench.pretext.aot.aot_directions``); reading it everywhere keeps one input representation
    for the pretext, the linear classifiers and the fine-tunes. Returns uint8 (T, H, W, 2)."""
    return quantized_flow(midpoint_field(unit_flow(q) * float(bound)) / float(bound))
