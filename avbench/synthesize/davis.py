"""A synthetic mask-propagation set in the DAVIS layout, with the world's exact object masks.

Each sequence is a world video (:mod:`avbench.synthesize.world`: its classes' dynamics, camera motion,
textures) whose per-frame object mask is drawn from the same trajectory as its pixels, warped by
the same camera; frames go to ``JPEGImages/<res>/<seq>/%05d.jpg`` and masks to palette PNGs in
``Annotations/<res>/<seq>/%05d.png`` (object id 1), with ``ImageSets/2017/val.txt``, so that the
propagation protocol reads it exactly as it reads the real DAVIS (:mod:`avbench.ingest.davis`).
No letterbox and no black frames: the task is correspondence, not those nuisances.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avbench.paths import atomic_path
from avbench.synthesize.world import (
    CLASSES,
    Trajectory,
    VideoSpec,
    _camera_path,
    _draw,
    camera_matrices,
    render_frames,
    sample_spec,
    simulate,
)

RESOLUTION = "480p"  # the folder name the DAVIS layout uses; the frames are the world's size


def object_masks(spec: VideoSpec, traj: Trajectory) -> np.ndarray:
    """uint8 (T, H, W): 1 where the object covers at least half a pixel in each frame, placed and
    warped as :func:`avbench.synthesize.world.render_frames` places and warps it (still and shaking
    cameras move the whole scene; panning and zooming ones follow the object)."""
    T, H, W = spec.n_frames, spec.height, spec.width
    cw, ch = spec.content_size
    lb, pb = spec.letterbox, spec.pillarbox
    r = spec.obj_size * ch / 240.0
    mats = camera_matrices(_camera_path(spec, cw, ch), cw, ch)
    out = np.zeros((T, H, W), np.uint8)
    scene = np.zeros((ch, cw, 3), np.uint8)
    for i in range(T):
        scene[...] = 0
        _draw(scene, spec.shape, traj.x[i], traj.y[i], r, traj.angle[i], (255, 255, 255), (255, 255, 255))
        m = scene[..., 0]
        if spec.camera in ("none", "pan", "zoom"):
            cov = m
        else:
            cov = cv2.warpAffine(
                m, mats[i], (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
        out[i, lb : lb + ch, pb : pb + cw] = cov >= 128
    if spec.black_lead_in:
        out[: spec.black_lead_in] = 0
    if spec.black_lead_out:
        out[T - spec.black_lead_out :] = 0
    return out


def _write_png_mask(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [0] * (256 * 3 - 6))
    with atomic_path(path, suffix=".png") as tmp:
        im.save(tmp, format="PNG")


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for {path}")
    with atomic_path(path, suffix=".jpg") as tmp:
        Path(tmp).write_bytes(buf.tobytes())


def propagation_spec(seed: int, k: int, *, n_frames: int, size: tuple[int, int]) -> VideoSpec:
    """The spec of sequence ``k``: a world video of class ``CLASSES[k % 8]`` without bars or black
    frames, ``n_frames`` frames at 25 fps, cameras as the world draws them."""
    rng = np.random.default_rng([seed, 7707, k])
    return sample_spec(
        rng,
        CLASSES[k % len(CLASSES)],
        duration_s=(n_frames / 25.0, n_frames / 25.0),
        fps=(25,),
        sizes=(size,),
        p_letterbox=0.0,
        p_pillarbox=0.0,
        p_black_frames=0.0,
    )


def write_davis_set(
    out: str | os.PathLike[str],
    *,
    n_sequences: int = 16,
    n_frames: int = 24,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    quality: int = 95,
) -> dict[str, Any]:
    """Write the set under ``out`` (module doc); returns a summary (also in ``out/summary.json``).
    Sequences are named ``<class>_<k>``; an existing complete sequence is kept (its files are
    rewritten atomically otherwise)."""
    root = Path(out)
    names: list[str] = []
    coverage: list[float] = []
    for k in range(n_sequences):
        spec = propagation_spec(seed, k, n_frames=n_frames, size=size)
        name = f"{spec.cls}_{k:03d}"
        traj = simulate(spec)
        frames, _ = render_frames(spec, traj)
        masks = object_masks(spec, traj)
        fdir = root / "JPEGImages" / RESOLUTION / name
        adir = root / "Annotations" / RESOLUTION / name
        fdir.mkdir(parents=True, exist_ok=True)
        adir.mkdir(parents=True, exist_ok=True)
        for t in range(len(frames)):
            _write_jpeg(fdir / f"{t:05d}.jpg", frames[t], quality)
            _write_png_mask(adir / f"{t:05d}.png", masks[t])
        names.append(name)
        coverage.append(float(masks.mean()))
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    with atomic_path(sets / "val.txt", suffix=".txt") as tmp:
        Path(tmp).write_text("".join(f"{n}\n" for n in names))
    summary = {
        "sequences": names,
        "n_frames": n_frames,
        "size": list(size),
        "seed": seed,
        "mean_object_coverage": float(np.mean(coverage)) if coverage else 0.0,
    }
    with atomic_path(root / "summary.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1) + "\n")
    return summary
