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
FARNEBACK_PARAMS: dict[str, Any] = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
                                    "poly_sigma": 1.2, "flags": 0}


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
        raise ValueError("flow algorithm tvl1 needs opencv-contrib (cv2.optflow), which is not installed: "
                         "use dis or farneback, or install opencv-contrib-python-headless")


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def flow_settings(algorithm: str, preset: str) -> dict[str, Any]:
    """The settings to record in a sample's metadata."""
    if algorithm == "dis":
        engine = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        return {"algorithm": "dis", "preset": preset, "params": {
            "finest_scale": engine.getFinestScale(), "patch_size": engine.getPatchSize(),
            "patch_stride": engine.getPatchStride(), "gradient_descent_iterations": engine.getGradientDescentIterations(),
            "variational_refinement_iterations": engine.getVariationalRefinementIterations()}}
    if algorithm == "farneback":
        return {"algorithm": "farneback", "preset": None, "params": dict(FARNEBACK_PARAMS)}
    return {"algorithm": "tvl1", "preset": None}


def extract_flow(frames: np.ndarray, *, algorithm: str = "dis", preset: str = "fast",
                 pairs: np.ndarray | None = None) -> np.ndarray:
    """Optical flow between consecutive frames.

    frames: uint8 (T, H, W, 3) RGB. pairs: bool (T-1,) which pairs to compute (None: all); the
    others are zero. Returns float32 (T-1, H, W, 2) (x, y) displacement in pixels.
    """
    check_algorithm(algorithm, preset)
    T, H, W = frames.shape[:3]
    out = np.zeros((max(T - 1, 0), H, W, 2), np.float32)
    if T < 2:
        return out
    if algorithm == "dis":
        engine = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

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
