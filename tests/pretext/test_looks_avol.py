"""AVOL-Net on the synthetic world with ``appearance_by_class`` on (videos rendered by the world itself,
written straight into shards): one frame tells the class, yet AVOL-Net does not learn the correspondence
(measured; README "Sound-source localization")."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import webdataset as wds
from test_avol import _heldout_accuracy  # the held-out correspondence of tests/pretext/test_avol.py

from avbench.preprocess.audio import log_mel
from avbench.pretrain import pretrain
from avbench.shards.codec import npy_bytes
from avbench.synthesize.world import CLASSES, render, sample_spec

WORLD_CLASSES = ("bounce", "spin")
FPS, SR, SECONDS = 16.0, 16000, 4.0
W, H = 40, 30  # stored as the shards store frames (rendered at twice the size)


def write_world_shards(folder: Path, *, n_videos: int, seed: int, appearance_by_class: bool) -> Path:
    """``n_videos`` world videos (classes in turn) rendered at 80x60 with no framing or camera
    nuisance, stored at 40x30 (as the shards store frames) with a 24-band log-mel, as one tar shard."""
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in range(n_videos):
            cls = WORLD_CLASSES[v % len(WORLD_CLASSES)]
            spec = sample_spec(
                np.random.default_rng([seed, v]),
                cls,
                duration_s=(SECONDS, SECONDS),
                fps=(FPS,),
                sizes=((2 * W, 2 * H),),
                sample_rate=SR,
                channels=1,
                p_letterbox=0.0,
                p_pillarbox=0.0,
                p_black_frames=0.0,
                p_camera=0.0,
                p_distractor=0.0,
                p_silent=0.0,
                p_no_audio=0.0,
                appearance_by_class=appearance_by_class,
            )
            frames, audio, _, _ = render(spec)
            small = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in frames])
            wave = np.asarray(audio, np.float32).mean(0)  # (C, N) -> mono
            mel = log_mel(wave, sample_rate=SR, n_mels=24)
            n = len(small)
            meta = {
                "id": f"v{v:03d}",
                "label": cls,
                "label_idx": CLASSES.index(cls),
                "fps": FPS,
                "hop_ms": 10.0,
                "n_frames": n,
                "frame_times": [k / FPS for k in range(n)],
                "has_audio": True,
                "t_start": 0.0,
                "t_end": n / FPS,
                "n_mel_frames": int(mel.shape[1]),
                "size": [W, H],
                "flow": None,
            }
            sink.write(
                {
                    "__key__": f"v{v:03d}",
                    "frames.npy": npy_bytes(small),
                    "mel.npy": npy_bytes(mel.astype(np.float16)),
                    "json": json.dumps(meta).encode(),
                }
            )
    return folder


def test_one_frame_tells_the_class_with_the_setting_only(cfg_for, tmp_path):
    """The setting's purpose: a single-frame supervised classifier (video only) reads the class on the
    validation videos with the setting (measured 1.0), not without it (0.5, chance: training pairs memorised)."""
    acc = {}
    for on in (True, False):
        shards = write_world_shards(tmp_path / f"w{on}", n_videos=64, seed=0, appearance_by_class=on)
        cfg = cfg_for(
            "supervised", video_backbone="small2d", clip_frames=1, epochs=6, supervised={"encoders": ["video"]}
        )
        pretrain(run="sup", cfg=cfg, shard_dir=shards, out_dir=tmp_path / f"s{on}", seed=0, progress=False, threads=2)
        acc[on] = pd.read_csv(tmp_path / f"s{on}" / "metrics.csv")["val_pretext_acc"].iloc[-1]
    assert acc[True] >= 0.9 and acc[False] <= 0.75, acc


@pytest.mark.xfail(
    strict=True,
    reason="measured: AVOL-Net memorises its training pairs (each video's background, pitch and noise are "
    "unique) instead of pairing class colour with class timbre; held-out 0.44-0.59 over 48-256 videos, "
    "6-16 epochs, clip_frames 8/16, learning rate 1e-3/3e-3. A world change that makes it learn turns this "
    "into a pass (strict: then drop the mark).",
)
def test_avolnet_learns_on_a_world_whose_objects_look_like_their_class(cfg_for, tmp_path):
    """Held-out correspondence (another world's 32 videos) above chance (0.5) after a tiny run."""
    shards = write_world_shards(tmp_path / "train", n_videos=48, seed=0, appearance_by_class=True)
    pretrain(
        run="avolnet",
        cfg=cfg_for("avolnet", avolnet={"embed_dim": 32, "blocks": 4}, epochs=8),
        shard_dir=shards,
        out_dir=tmp_path / "avol",
        seed=0,
        progress=False,
        threads=2,
    )
    held = write_world_shards(tmp_path / "held", n_videos=32, seed=1, appearance_by_class=True)
    acc = _heldout_accuracy(tmp_path / "avol" / "checkpoint.pt", held)
    assert acc > 0.6, acc
