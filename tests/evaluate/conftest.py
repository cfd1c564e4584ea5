"""Tiny labelled shard sets with official-style folds, written straight as WebDataset tars."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Direction of motion of a bright square: the class lives in the dynamics, not in the appearance.
DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1)]


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def write_moving_squares(
    folder: Path,
    *,
    n_videos: int = 48,
    n_classes: int = 4,
    seconds: float = 2.0,
    fps: int = 16,
    seed: int = 0,
    shuffle_labels: bool = False,
    audio: bool = True,
) -> pd.DataFrame:
    """Shards of videos of a square moving in one of ``n_classes`` directions (speed, position,
    size and grey levels random), each with a log-mel band of its class that hums throughout
    and clicks at a random instant per second; 3 folds (video i tests in fold i % 3 + 1). Returns the index (key, status,
    label_idx, fold_1..3, path)."""
    import webdataset as wds

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.arange(n_videos) % n_classes
    if shuffle_labels:
        labels = rng.permutation(labels)
    rows = []
    t = int(seconds * fps)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in range(n_videos):
            cls = v % n_classes  # the true motion class (label_idx differs when shuffled)
            dx, dy = DIRECTIONS[cls]
            speed = rng.uniform(0.8, 1.5)
            frames = np.full((t, 24, 32, 3), rng.integers(0, 60), np.uint8)
            x, y = rng.uniform(8, 24), rng.uniform(6, 18)
            size = int(rng.integers(3, 6))
            grey = int(rng.integers(150, 255))
            for k in range(t):
                cx = int(round(x + dx * speed * (k - t / 2) / 2)) % 32
                cy = int(round(y + dy * speed * (k - t / 2) / 2)) % 24
                frames[k, max(0, cy - size) : cy + size, max(0, cx - size) : cx + size] = grey
            n_mel = int(seconds * 100)
            mel = rng.normal(-8, 0.5, (16, n_mel)).astype(np.float16)
            mel[4 + 2 * cls : 6 + 2 * cls] += 2  # the class's band hums throughout
            for s in range(int(seconds)):
                m = s * 100 + int(rng.integers(0, 90))
                mel[4 + 2 * cls : 6 + 2 * cls, m : m + 5] += 6
            key = f"v{v:03d}"
            meta = {
                "id": key,
                "label_idx": int(labels[v]),
                "fps": fps,
                "hop_ms": 10.0,
                "n_frames": t,
                "has_audio": audio,
                "t_start": 0.0,
                "t_end": seconds,
                "n_mel_frames": n_mel if audio else 0,
                "source": f"{key}.avi",
            }
            sample = {"__key__": key, "frames.npy": _npy(frames), "json": json.dumps(meta).encode()}
            if audio:
                sample["mel.npy"] = _npy(mel)
            sink.write(sample)
            row = {"key": key, "id": key, "status": "ok", "label_idx": int(labels[v]), "path": f"/data/{key}.avi"}
            for f in (1, 2, 3):
                row[f"fold_{f}"] = "test" if v % 3 == f - 1 else "train"
            rows.append(row)
    index = pd.DataFrame(rows)
    index.to_parquet(folder / "index.parquet", index=False)
    return index


@pytest.fixture
def moving_squares():
    return write_moving_squares


TINY_CFG = {
    "method": "scratch",
    "video_backbone": "small3d",
    "audio_backbone": "vgg_small",
    "channels": [8, 16, 32, 32],
    "flow": {"backbone": "tcam_small", "segments": 2, "frames": 4},
    "clip_frames": 8,
    "clips_per_video": 2,
    "epochs": 1,
    "batch_size": 16,
    "lr": 0.003,
    "weight_decay": 0.0,
    "amp": True,
    "avts": {
        "margin": 1.0,
        "embed_dim": 16,
        "easy_fraction": 1.0,
        "curriculum_switch": 0.0,
        "hard_offset_s": [0.3, 1.0],
    },
    "supervised": {"encoders": ["video", "audio"]},
}


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """``make(shard_dir, method="scratch", **overrides) -> checkpoint path`` pretrained on ``shard_dir``."""
    from avbench.pretrain import pretrain

    def make(shard_dir: Path, method: str = "scratch", **over) -> Path:
        out = tmp_path / f"ck_{method}"
        pretrain(
            run=method,
            cfg={**TINY_CFG, "method": method, **over},
            shard_dir=shard_dir,
            out_dir=out,
            seed=0,
            progress=False,
            threads=1,
        )
        return out / "checkpoint.pt"

    return make
