"""A tiny DCASE-layout scene dataset (meta.txt + evaluation_setup folds) through ingest, probe,
shard, pretrain (scratch) and both sound protocols, all through the command line."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from avbench.cli import main

SR = 16000
SCENES = ("bus", "office", "park")


def _scene(kind: str, rng: np.random.Generator, seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.normal(0, 0.02, n)
    if kind == "bus":  # engine: low rumble at a drifting pitch
        f0 = rng.uniform(60, 90)
        x += 0.3 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.convolve(rng.normal(0, 1, n), np.ones(40) / 40, "same")
    elif kind == "office":  # keyboard clicks
        for s in rng.uniform(0, seconds - 0.05, 25):
            i = int(s * SR)
            x[i : i + 300] += rng.normal(0, 0.4, 300) * np.exp(-np.arange(300) / 60)
    else:  # birds: chirps at 3-5 kHz
        for s in rng.uniform(0, seconds - 0.2, 8):
            i = int(s * SR)
            m = np.arange(2400)
            f = rng.uniform(3000, 5000) + 2000 * m / 2400
            x[i : i + 2400] += 0.3 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.hanning(2400)
    return np.clip(x, -1, 1)


def _write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((x * 32767).astype("<i2").tobytes())


def make_dcase(root: Path, *, per_scene: int = 8, folds: int = 2, seed: int = 0) -> None:
    """``root/audio/<scene><nn>.wav``, ``root/meta.txt`` and ``evaluation_setup/fold{k}_{train,test}.txt``
    (every scene's files spread over the folds' test sets)."""
    rng = np.random.default_rng(seed)
    items = []
    for scene in SCENES:
        for i in range(per_scene):
            name = f"audio/{scene}{i:02d}.wav"
            _write_wav(root / name, _scene(scene, rng))
            items.append((name, scene, i % folds + 1))
    (root / "meta.txt").write_text("".join(f"{n}\t{s}\n" for n, s, _ in items))
    setup = root / "evaluation_setup"
    setup.mkdir()
    for k in range(1, folds + 1):
        (setup / f"fold{k}_train.txt").write_text("".join(f"{n}\t{s}\n" for n, s, f in items if f != k))
        (setup / f"fold{k}_test.txt").write_text("".join(f"{n}\n" for n, s, f in items if f == k))


def test_dcase_layout_through_ingest_probe_shard_and_evaluate(tmp_path):
    root = tmp_path / "dcase"
    make_dcase(root)
    cfg = {
        "datasets": {"dcase": {"format": "dcase", "source": str(root), "modality": "audio"}},
        "pretrain_dataset": "dcase",
        "downstream": {"dcase": "audio"},
        "pretrain": {"methods": [], "channels": [8, 16, 32, 32]},
        "evaluate": {
            "clips_per_video": 2,
            "audio_classifier": "svm",
            "finetune": {"epochs": 3, "batch_size": 8, "optimizer": "adam", "lr": 0.003},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    c = ["--config", str(tmp_path / "config.yaml")]
    m, p, s = (str(tmp_path / n) for n in ("dcase.parquet", "dcase.probed.parquet", "shards"))
    idx = str(tmp_path / "shards" / "index.parquet")
    assert main(["ingest", "dcase", str(root), "-o", m]) == 0
    assert main(["probe", m, "-o", p, "--modality", "audio", "--workers", "1"]) == 0
    assert main(["shard", p, "-o", s + "/group-000", "--index", idx, "--modality", "audio", "--workers", "1", *c]) == 0
    index = pd.read_parquet(idx)
    assert (index["status"] == "ok").sum() == 24 and {"fold_1", "fold_2"} <= set(index.columns)
    assert main(["pretrain", "scratch", "--shards", s, "--index", idx, "--out", str(tmp_path / "scratch"), *c]) == 0
    ck = str(tmp_path / "scratch" / "checkpoint.pt")
    common = ["--checkpoint", ck, "--shards", s, "--index", idx, "--kind", "audio", "--downstream", "dcase", *c]
    assert main(["evaluate", *common, "--threads", "1", "-o", str(tmp_path / "linear.csv")]) == 0
    lin = pd.read_csv(tmp_path / "linear.csv")
    assert set(lin["fold"]) == {1, 2} and set(lin["protocol"]) == {"linear"} and set(lin["classifier"]) == {"svm"}
    assert (lin["n_test"] == 12).all() and (lin["clips_used"] == 24).all() and (lin["method"] == "scratch").all()
    assert lin.loc[lin.metric == "video_acc", "value"].mean() > 0.8  # three distinct scenes, chance 1/3
    assert main(["finetune", *common, "--fold", "2", "--threads", "1", "-o", str(tmp_path / "ft.csv")]) == 0
    ft = pd.read_csv(tmp_path / "ft.csv")
    assert (
        set(ft["fold"]) == {2}
        and set(ft["protocol"]) == {"finetune", "finetune_fc"}
        and set(ft["metric"]) == {"clip_acc", "video_acc"}
    )
    assert ft["value"].between(0, 1).all() and (ft["n_train"] == 12).all()
