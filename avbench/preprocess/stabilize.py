"""Camera motion from dense flow, and RGB stabilization (camera-motion compensation).

1. :func:`fit_camera_motion`: for each frame pair, a similarity (or affine) transform fitted to a
   grid subsample of the flow by iteratively reweighted least squares with Tukey's biweight (a
   robust M-estimator started from the median flow), so that moving objects are outliers. All
   pairs are solved at once in numpy: ~0.02 s per clip, against ~0.7 s for LK tracks + RANSAC.
2. :func:`camera_motion_score`: how much the camera moves, as the median displacement of the
   picture per second in fractions of the frame diagonal (0 for a tripod shot).
3. :func:`stabilizing_warps`: the camera trajectory (the transforms accumulated from frame 0) is
   either smoothed (``mode="smooth"``: a Gaussian of ``smoothing_s``; removes shake, keeps slow
   pans and zooms) or held at the middle frame (``mode="lock"``: removes all camera motion);
   each frame is warped onto the new path. A small zoom about the centre (at most ``max_zoom``)
   keeps the warped picture covering the frame, and what is still uncovered is filled by
   replicating the edge pixels: stabilization never draws new black borders (which would be a
   new shortcut cue).
4. :func:`warp_frames` / :func:`warp_flow`: apply the warps to the RGB and carry the flow over
   to the stabilized frames (or recompute it on them, see ``avbench.preprocess.flow``).

Transforms are 3x3 (or their top 2x3) matrices acting on pixel coordinates ``(x, y, 1)`` of
frames of size (W, H); ``A_k`` maps frame-``k`` pixels to frame-``k+1`` pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

MODES = ("smooth", "lock")
MODELS = ("similarity", "affine")


#: grid points per flow field that :func:`fit_camera_motion` fits (``shard.stabilize.fit_points``)
FIT_POINTS = 256


def _grid(H: int, W: int, n_target: int = FIT_POINTS, margin: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel coordinates (ys, xs) of a regular grid inside a margin (flow is poor at edges):
    ``n_target`` points or somewhat fewer (the spacing is rounded up to whole pixels)."""
    my, mx = int(round(margin * H)), int(round(margin * W))
    h, w = max(1, H - 2 * my), max(1, W - 2 * mx)
    step = max(1, int(np.ceil(np.sqrt(h * w / n_target))))
    ys, xs = np.mgrid[my : my + h : step, mx : mx + w : step]
    return ys.ravel(), xs.ravel()


def _point_pairs(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fixed pairs of grid points at least a third of the frame apart (deterministic)."""
    return _point_pairs_cached(x.tobytes(), y.tobytes(), n)


@functools.lru_cache(maxsize=16)
def _point_pairs_cached(xb: bytes, yb: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_point_pairs` for one grid, drawn once per process (the fit calls it per chunk of
    fields with the same grid; the draw is deterministic, so caching it changes no result)."""
    x, y = np.frombuffer(xb, np.float64), np.frombuffer(yb, np.float64)
    rng = np.random.default_rng(0)
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1.0)
    i_out, j_out = [], []
    for _ in range(50 * n):
        i, j = rng.integers(len(x), size=2)
        if np.hypot(x[i] - x[j], y[i] - y[j]) >= span / 3:
            i_out.append(i)
            j_out.append(j)
            if len(i_out) == n:
                break
    i_arr, j_arr = np.asarray(i_out, int), np.asarray(j_out, int)
    i_arr.flags.writeable = j_arr.flags.writeable = False  # shared by every later call
    return i_arr, j_arr


#: flow fields fitted at once by :func:`fit_camera_motion` (bounds its memory whatever the duration)
FIT_CHUNK = 32


def fit_camera_motion(
    flow: np.ndarray,
    *,
    model: str = "similarity",
    iterations: int = 6,
    min_scale: float = 0.02,
    inlier_px: float = 0.5,
    n_candidates: int = 32,
    n_points: int = FIT_POINTS,
) -> np.ndarray:
    """Robust global motion of each flow field (see :func:`_fit_camera_motion`), fitted
    :data:`FIT_CHUNK` fields at a time: the work arrays (complex128, pairs x candidates x points)
    do not grow with the video's duration. Fields are independent, so the result does not depend on
    the chunking. The cost grows with ``n_points`` x (``n_candidates`` + ``iterations``) (the
    shard options ``stabilize.fit_points``, ``fit_candidates``, ``fit_iterations``; measured in
    benchmarks/README.md). Returns float64 (P, 3, 3)."""
    kw = {
        "model": model,
        "iterations": iterations,
        "min_scale": min_scale,
        "inlier_px": inlier_px,
        "n_candidates": n_candidates,
        "n_points": n_points,
    }
    out = np.empty((int(flow.shape[0]), 3, 3))
    for s in range(0, len(out), FIT_CHUNK):
        out[s : s + FIT_CHUNK] = _fit_camera_motion(flow[s : s + FIT_CHUNK], **kw)
    return out


def _fit_camera_motion(
    flow: np.ndarray,
    *,
    model: str = "similarity",
    iterations: int = 6,
    min_scale: float = 0.02,
    inlier_px: float = 0.5,
    n_candidates: int = 32,
    n_points: int = FIT_POINTS,
) -> np.ndarray:
    """Robust global motion of each flow field.

    flow: float32 (P, H, W, 2). Returns float64 (P, 3, 3): ``A_k`` with ``p + flow[k](p) ~ A_k p``
    for the pixels of the static scene. ``model``: ``similarity`` (zoom, rotation, shift) or
    ``affine``. The start is the motion (among no motion, the median shift and the similarities
    through ``n_candidates`` fixed pairs of distant points) that the most points agree with within
    ``inlier_px``; Tukey IRLS refines it, with the residual scale taken from the current inliers.
    ``n_points``: about this many grid points of each field are fitted (:func:`_grid`).
    """
    if model not in MODELS:
        raise ValueError(f"motion model must be one of {MODELS}, not {model!r}")
    P, H, W = flow.shape[:3]
    out = np.tile(np.eye(3), (P, 1, 1))
    if P == 0:
        return out
    ys, xs = _grid(H, W, n_points)
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    x = (xs - cx).astype(np.float64)
    y = (ys - cy).astype(np.float64)
    f = flow[:, ys, xs, :].astype(np.float64)  # (P, N, 2)
    N = len(xs)
    one, zero = np.ones(N), np.zeros(N)
    # design matrices for the displacement d = A p - p (params of A - I), rows for dx then dy
    if model == "similarity":  # A - I = [[a, -b, tx], [b, a, ty]]
        Mx = np.stack([x, -y, one, zero], 1)
        My = np.stack([y, x, zero, one], 1)
    else:  # A - I = [[a11, a12, tx], [a21, a22, ty]]
        Mx = np.stack([x, y, one, zero, zero, zero], 1)
        My = np.stack([zero, zero, zero, x, y, one], 1)
    M = np.concatenate([Mx, My], 0)  # (2N, k)
    d = np.concatenate([f[..., 0], f[..., 1]], 1)  # (P, 2N)
    k = M.shape[1]
    # start (deterministic RANSAC): among "no motion", the median shift and the similarities
    # through fixed pairs of distant grid points, the one most points agree with within inlier_px,
    # so that a large moving object does not win unless it covers more than the static scene
    z = x + 1j * y  # (N,) centred positions as complex numbers
    dz = (f[..., 0] + 1j * f[..., 1]).astype(np.complex128)  # (P, N) displacements
    i_idx, j_idx = _point_pairs(x, y, n_candidates)
    a = ((z[i_idx] + dz[:, i_idx]) - (z[j_idx] + dz[:, j_idx])) / (z[i_idx] - z[j_idx])  # (P, S) zoom*rotation
    t = z[i_idx] + dz[:, i_idx] - a * z[i_idx]  # (P, S) shift
    med = np.median(f, axis=1)
    a = np.concatenate([np.ones((P, 2)), a], 1)  # (P, C)
    t = np.concatenate([np.zeros((P, 1)), (med[:, 0] + 1j * med[:, 1])[:, None], t], 1)
    pred = (a[..., None] - 1) * z[None, None, :] + t[..., None]  # (P, C, N) predicted displacements
    err2 = np.abs(dz[:, None, :] - pred) ** 2
    support = (err2 < inlier_px * inlier_px).sum(axis=2)  # (P, C)
    choice = np.argmax(support, axis=1)  # the first best: "no motion" wins ties
    rows = np.arange(P)
    inlier = err2[rows, choice] < inlier_px * inlier_px  # (P, N)
    best_a, best_t = a[rows, choice], t[rows, choice]
    theta = np.zeros((P, k))
    if model == "similarity":
        theta[:, 0], theta[:, 1] = best_a.real - 1, best_a.imag
        theta[:, 2], theta[:, 3] = best_t.real, best_t.imag
    else:
        theta[:, 0], theta[:, 1], theta[:, 2] = best_a.real - 1, -best_a.imag, best_t.real
        theta[:, 3], theta[:, 4], theta[:, 5] = best_a.imag, best_a.real - 1, best_t.imag
    MM = (M[:, :, None] * M[:, None, :]).reshape(2 * N, k * k)  # products of design columns
    ridge = 1e-9 * np.eye(k)
    for _ in range(iterations):
        r = d - theta @ M.T  # (P, 2N)
        rn = np.hypot(r[:, :N], r[:, N:])  # (P, N) residual length per point
        # robust scale from the current inliers only (the outliers may be almost half the points)
        count = inlier.sum(axis=1)
        srt = np.sort(np.where(inlier, rn, np.inf), axis=1)
        med = srt[rows, np.maximum(count - 1, 0) // 2]
        scale = np.maximum(1.4826 * np.where(count > 0, med, min_scale), min_scale)[:, None]
        u = rn / (4.685 * scale)
        w = np.where(u < 1.0, (1.0 - u * u) ** 2, 0.0)
        inlier = w > 0
        w2 = np.concatenate([w, w], 1)  # (P, 2N)
        lhs = (w2 @ MM).reshape(P, k, k) + ridge
        rhs = (w2 * d) @ M
        theta = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    if model == "similarity":
        a, b, tx, ty = theta.T
        L = np.stack([np.stack([1 + a, -b], -1), np.stack([b, 1 + a], -1)], 1)  # (P, 2, 2)
        t = np.stack([tx, ty], -1)
    else:
        L = np.stack([np.stack([1 + theta[:, 0], theta[:, 1]], -1), np.stack([theta[:, 3], 1 + theta[:, 4]], -1)], 1)
        t = np.stack([theta[:, 2], theta[:, 5]], -1)
    # centred coordinates -> pixel coordinates: A p = L (p - c) + c + t
    c = np.array([cx, cy])
    out[:, :2, :2] = L
    out[:, :2, 2] = t + c - np.einsum("pij,j->pi", L, c)
    return out


def displacement_rms(transforms: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RMS over the frame's pixels of ``|A p - p|`` for each transform. transforms: (P, 3, 3)."""
    W, H = size
    ys, xs = np.mgrid[0 : H : max(1, H // 16), 0 : W : max(1, W // 16)]
    p = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], 0).astype(np.float64)  # (3, N)
    d = np.einsum("pij,jn->pin", transforms[:, :2, :], p) - p[None, :2]
    return np.sqrt(np.mean(np.sum(d * d, axis=1), axis=1))


def camera_motion_score(transforms: np.ndarray, size: tuple[int, int], dt_frames: np.ndarray, fps: float) -> float:
    """Typical picture displacement per second caused by the camera, in frame diagonals per second:
    the median over frame pairs (robust to the few pairs where a large fast object fools the fit).

    transforms: (P, 3, 3) from :func:`fit_camera_motion`; dt_frames: (P,) frame intervals each pair
    spans (1, or more across dropped frames). 0 for a still camera; a pan across the whole width in
    10 s scores about 0.1 / 1.25 = 0.08 on a 4:3 frame.
    """
    if len(transforms) == 0:
        return 0.0
    W, H = size
    per_s = displacement_rms(transforms, size) / np.asarray(dt_frames, np.float64) * float(fps)
    return float(np.median(per_s) / np.hypot(W, H))


def trajectory(transforms: np.ndarray) -> np.ndarray:
    """Cumulative camera path: (P, 3, 3) pair transforms -> (P + 1, 3, 3), ``C_0 = I``,
    ``C_{k+1} = A_k C_k`` (maps frame-0 pixels to frame-k pixels)."""
    C = np.tile(np.eye(3), (len(transforms) + 1, 1, 1))
    for k, A in enumerate(transforms):
        C[k + 1] = A @ C[k]
    return C


def _smooth(series: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with odd-reflection ends (keeps linear trends exactly).

    series: (T, ...) float.
    """
    T = len(series)
    if sigma <= 0 or T < 3:
        return series.copy()
    r = int(min(np.ceil(3 * sigma), T - 1))
    ker = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    ker /= ker.sum()
    head = 2 * series[:1] - series[r:0:-1]
    tail = 2 * series[-1:] - series[-2 : -r - 2 : -1]
    padded = np.concatenate([head, series, tail], 0)
    flat = padded.reshape(len(padded), -1)
    out = np.stack([np.convolve(flat[:, j], ker, mode="valid") for j in range(flat.shape[1])], 1)
    return out.reshape(series.shape)


def _zoom_matrix(z: float, size: tuple[int, int]) -> np.ndarray:
    W, H = size
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    return np.array([[z, 0, (1 - z) * cx], [0, z, (1 - z) * cy], [0, 0, 1.0]])


def _covers(warps: np.ndarray, size: tuple[int, int], z: float, tol: float = 0.5) -> bool:
    W, H = size
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], np.float64).T
    inv = np.linalg.inv(_zoom_matrix(z, size)[None] @ warps)  # output pixel -> source pixel
    src = np.einsum("kij,jn->kin", inv, corners)[:, :2]
    return bool(
        (src[:, 0] >= -tol).all()
        and (src[:, 0] <= W - 1 + tol).all()
        and (src[:, 1] >= -tol).all()
        and (src[:, 1] <= H - 1 + tol).all()
    )


@dataclass
class Stabilization:
    """Per-frame warps (T, 3, 3) mapping each input frame to the stabilized frame (zoom included),
    the zoom used, and whether the warped pictures cover the whole frame (else edges replicate)."""

    warps: np.ndarray
    zoom: float
    covered: bool

    def moves(self, size: tuple[int, int], tolerance_px: float = 0.05) -> bool:
        """Whether any warp moves the picture by more than ``tolerance_px`` (RMS): when none does,
        warping would only blur the frames, and it is skipped."""
        return bool(len(self.warps) and displacement_rms(self.warps, size).max() > tolerance_px)


def stabilizing_warps(
    transforms: np.ndarray,
    size: tuple[int, int],
    *,
    mode: str = "smooth",
    sigma_frames: float = 16.0,
    max_zoom: float = 1.2,
) -> Stabilization:
    """Warps that move every frame onto a smoothed (``smooth``) or fixed (``lock``) camera path.

    transforms: (T-1, 3, 3) camera motion between consecutive frames. Returns
    :class:`Stabilization` with warps (T, 3, 3).
    """
    if mode not in MODES:
        raise ValueError(f"stabilization mode must be one of {MODES}, not {mode!r}")
    C = trajectory(transforms)
    T = len(C)
    if mode == "lock":
        target = np.repeat(C[T // 2][None], T, 0)
    else:
        target = C.copy()
        target[:, :2, :] = _smooth(C[:, :2, :], sigma_frames)
    warps = target @ np.linalg.inv(C)
    lo, hi = 1.0, float(max_zoom)
    covered = _covers(warps, size, 1.0)
    if not covered:
        covered = _covers(warps, size, hi)
        if covered:
            for _ in range(30):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if _covers(warps, size, mid) else (mid, hi)
        zoom = hi
    else:
        zoom = 1.0
    return Stabilization(warps=_zoom_matrix(zoom, size)[None] @ warps, zoom=float(zoom), covered=covered)


#: how the warps resample (``shard.stabilize.frame_interpolation`` / ``flow_interpolation``)
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def warp_frames(frames: np.ndarray, warps: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """Warp each frame. frames: uint8 (T, H, W, C); warps: (T, 3, 3) input -> output pixels.
    Bilinear (``interpolation="nearest"``: nearest pixel, about half the CPU, up to half a pixel
    of misplacement), edges replicated. Returns uint8 (T, H, W, C)."""
    T, H, W = frames.shape[:3]
    out = np.empty_like(frames)
    flags = INTERPOLATIONS[interpolation]
    for k in range(T):
        out[k] = cv2.warpAffine(
            frames[k], warps[k, :2].astype(np.float64), (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
    return out


def warp_flow(flow: np.ndarray, warps: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """Carry flow between input frames over to the warped frames.

    flow: float32 (T-1, H, W, 2) on the input frames; warps: (T, 3, 3). Returns float32
    (T-1, H, W, 2): for output pixel q of frame k, ``W_{k+1}(p + flow_k(p)) - q`` with
    ``p = W_k^{-1} q``, i.e. ``L_{k+1} f'(q) + (R_k - I) q`` where ``f'`` is the flow warped like
    frame k, ``L_{k+1}`` the linear part of ``W_{k+1}`` and ``R_k = W_{k+1} W_k^{-1}`` (each
    term one OpenCV call per pair). ``interpolation``: how ``f'`` is resampled (``linear``, or
    ``nearest``: about half the CPU of that call; flow fields are smooth).
    """
    P, H, W = flow.shape[:3]
    out = np.empty_like(flow)
    if P == 0:
        return out
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    grid = np.ascontiguousarray(np.stack([xs, ys], axis=-1))
    inv = np.linalg.inv(warps[:P])
    rel = warps[1 : P + 1] @ inv  # frame-k output -> frame-(k+1) output
    flags = INTERPOLATIONS[interpolation]
    for k in range(P):
        moved = cv2.warpAffine(
            flow[k], warps[k, :2].astype(np.float64), (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        lin = np.zeros((2, 3), np.float64)
        lin[:, :2] = warps[k + 1, :2, :2]
        pos = rel[k, :2] - np.eye(3)[:2]
        cv2.add(cv2.transform(moved, lin), cv2.transform(grid, pos), dst=out[k])
    return out
