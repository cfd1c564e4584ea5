"""A tiny audio-visual world written straight into shards, with known content, for the pretext tests.

Classes live in dynamics and sound, never in appearance:

- ``fall``: a blob is held in the air, falls under gravity, hits the floor (a click), bounces
  once or twice with strong damping and rests, then is held up again somewhere else: an arrow of
  time (a reversed clip shows a resting blob leaping up);
- ``spin``: a two-coloured disc spinning in place at constant speed, its direction drawn per
  video (exactly half each way), a softer click of another pitch every half turn: time-symmetric.

``flow.npy`` is the exact motion (the displacement of every pixel of the moving object from frame
k to k + 1, zero elsewhere), quantized like the shards' flow (``avbench.shards.codec``). The
fixture ``tiny_world(folder, **kw)`` writes one shard folder and returns it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import webdataset as wds

from avbench.preprocess.audio import log_mel
from avbench.shards.codec import npy_bytes, quantize_flow

CLASSES = ("fall", "spin")
H, W = 24, 32


def _fall_path(n: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(x (n,), y (n,), impact frames) of a blob dropped again and again."""
    g = 300.0  # px / s^2
    floor = H - 4.0
    x = np.zeros(n)
    y = np.zeros(n)
    impacts: list[int] = []
    k = 0
    while k < n:
        x0, y0 = rng.uniform(5, W - 5), rng.uniform(3, 7)
        hold = int(rng.integers(1, 4))
        x[k : k + hold], y[k : k + hold] = x0, y0
        k += hold
        v, pos, e = 0.0, y0, 0.35
        bounces = 0
        while k < n:
            v += g / fps
            pos += v / fps
            if pos >= floor:
                pos = floor
                impacts.append(k)
                v = -e * v
                bounces += 1
                if bounces >= 2 or abs(v) < 20:
                    break
            x[k], y[k] = x0, pos
            k += 1
        rest = int(rng.integers(2, 5))
        x[k : k + rest], y[k : k + rest] = x0, floor
        k += rest
    return x, y, impacts


def _disc_mask(cx: float, cy: float, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r, xx - cx, yy - cy


def _render(
    cls: str, n: int, fps: float, rng: np.random.Generator, ccw: bool
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """frames uint8 (n, H, W, 3), flow float (n-1, H, W, 2) in pixels, event times (s); a spinning
    disc turns counter-clockwise (in image coordinates) when ``ccw``."""
    bg = rng.integers(30, 90, size=(H, W, 3)).astype(np.uint8)
    col_a = rng.integers(150, 256, size=3)
    col_b = 255 - col_a
    frames = np.repeat(bg[None], n, 0)
    flow = np.zeros((n - 1, H, W, 2))
    events: list[float] = []
    if cls == "fall":
        x, y, impacts = _fall_path(n, fps, rng)
        events = [k / fps for k in impacts]
        for k in range(n):
            m, _, _ = _disc_mask(x[k], y[k], 3.0)
            frames[k][m] = col_a
            if k < n - 1:
                flow[k][m] = (x[k + 1] - x[k], y[k + 1] - y[k])
    else:
        cx, cy = rng.uniform(8, W - 8), rng.uniform(8, H - 8)
        period = rng.uniform(0.8, 1.2)
        w = (1 if ccw else -1) * 2 * math.pi / period  # rad / s
        th0 = rng.uniform(0, 2 * math.pi)
        m, dx, dy = _disc_mask(cx, cy, 6.0)
        ang = np.arctan2(dy, dx)
        for k in range(n):
            th = th0 + w * k / fps
            half = np.mod(ang - th, 2 * math.pi) < math.pi
            frames[k][m & half] = col_a
            frames[k][m & ~half] = col_b
            if k < n - 1:
                a = w / fps  # rotation of one frame about the centre
                flow[k][m, 0] = (math.cos(a) - 1) * dx[m] - math.sin(a) * dy[m]
                flow[k][m, 1] = math.sin(a) * dx[m] + (math.cos(a) - 1) * dy[m]
        t = (math.pi * np.arange(1, 100) - 0.0) / abs(w)
        events = [float(v) for v in t if v < n / fps]
    noise = rng.integers(-6, 7, size=frames.shape)
    frames = np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)
    return frames, flow, events


def _audio(cls: str, events: list[float], seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    wave = rng.normal(0, 0.01, int(seconds * sr)).astype(np.float32)
    freq = 800.0 if cls == "fall" else 2600.0
    n = 1600
    env = np.exp(-np.arange(n) / (250 if cls == "fall" else 600))
    for t in events:
        s = int(t * sr)
        seg = wave[s : s + n]
        seg += (0.5 * np.sin(2 * np.pi * freq * np.arange(len(seg)) / sr) * env[: len(seg)]).astype(np.float32)
    return wave


def write_world(
    folder: Path,
    *,
    n_videos: int = 48,
    classes: tuple[str, ...] = CLASSES,
    seconds: float = 4.0,
    fps: float = 16.0,
    sr: int = 16000,
    seed: int = 0,
    flow: bool = True,
    bound: float = 4.0,
    extra_meta: Any = None,
) -> Path:
    """Write the tiny world (see the module doc) as one tar shard in ``folder``; ``extra_meta(v)``
    returns JSON fields to add to video ``v``'s sample."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * fps))
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in range(n_videos):
            cls = classes[v % len(classes)]
            ccw = (v // len(classes)) % 2 == 0  # spinning discs alternate their direction
            frames, fl, events = _render(cls, n, fps, np.random.default_rng([seed, v]), ccw)
            wave = _audio(cls, events, seconds, sr, rng)
            mel = log_mel(wave, sample_rate=sr, n_mels=24)
            meta = {
                "id": f"v{v:03d}",
                "label": cls,
                "label_idx": CLASSES.index(cls),
                "fps": fps,
                "hop_ms": 10.0,
                "n_frames": n,
                "frame_times": [k / fps for k in range(n)],
                "has_audio": True,
                "t_start": 0.0,
                "t_end": seconds,
                "n_mel_frames": int(mel.shape[1]),
                "size": [W, H],
                "flow": {"algorithm": "exact", "bound": bound} if flow else None,
            }
            if extra_meta is not None:
                meta.update(extra_meta(v))
            sample = {
                "__key__": f"v{v:03d}",
                "frames.npy": npy_bytes(frames),
                "mel.npy": npy_bytes(mel.astype(np.float16)),
                "json": json.dumps(meta).encode(),
            }
            if flow:
                sample["flow.npy"] = npy_bytes(quantize_flow(fl.astype(np.float32), bound))
            sink.write(sample)
    return folder


@pytest.fixture
def tiny_world(tmp_path):
    def make(name: str = "shards", **kw: Any) -> Path:
        return write_world(tmp_path / name, **kw)

    return make


def base_cfg(method: str, **over: Any) -> dict[str, Any]:
    """Run settings for the tiny world (what ``avbench.config.run_settings`` would give)."""
    cfg: dict[str, Any] = {
        "method": method,
        "video_backbone": "small3d",
        "audio_backbone": "vgg_small",
        "channels": [8, 16, 32, 32],
        "flow": {"backbone": "tcam_small", "segments": 2, "frames": 4},
        "clip_frames": 8,
        "clips_per_video": 4,
        "epochs": 6,
        "batch_size": 16,
        "lr": 0.003,
        "weight_decay": 0.0,
        "amp": True,
        "supervised": {"encoders": ["video", "audio"]},
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def cfg_for():
    return base_cfg
