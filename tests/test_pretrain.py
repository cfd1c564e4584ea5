"""Pretraining on tiny shards with known content: losses fall, pretext accuracy rises, resume works."""

from __future__ import annotations

from pathlib import Path
import io
import json

import numpy as np
import pandas as pd
import pytest
import webdataset as wds

from avbench.preprocess.audio import log_mel
from avbench.pretext.avts import avts_loss
from avbench.pretext.base import derangement
from avbench.pretrain import pretrain


def _write_tiny_shards(folder, n_videos=48, seconds=4, fps=16, sr=16000, seed=0):
    """Videos of a bright square that jumps at random instants; each jump makes a click in the audio."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in range(n_videos):
            t = seconds * fps
            frames = np.zeros((t, 24, 32, 3), np.uint8)
            wave = rng.normal(0, 0.01, seconds * sr).astype(np.float32)
            x, y = rng.integers(4, 24), rng.integers(4, 16)
            label = v % 2
            events = np.sort(rng.choice(np.arange(2, t - 2), size=rng.integers(3, 7), replace=False))
            for k in range(t):
                if k in events:
                    x, y = rng.integers(4, 24), rng.integers(4, 16)
                    s = int(k / fps * sr)
                    freq = 1000 if label == 0 else 3000
                    wave[s : s + 1600] += (
                        0.5 * np.sin(2 * np.pi * freq * np.arange(1600) / sr) * np.exp(-np.arange(1600) / 300)
                    )
                frames[k, y - 3 : y + 3, x - 3 : x + 3] = 255
            mel = log_mel(wave, sample_rate=sr, n_mels=24)
            buf_f, buf_m = io.BytesIO(), io.BytesIO()
            np.save(buf_f, frames)
            np.save(buf_m, mel.astype(np.float16))
            meta = {
                "id": f"v{v:03d}",
                "label_idx": label,
                "fps": fps,
                "hop_ms": 10.0,
                "n_frames": t,
                "has_audio": True,
                "t_start": 0.0,
                "t_end": float(seconds),
                "n_mel_frames": int(mel.shape[1]),
            }
            sink.write(
                {
                    "__key__": f"v{v:03d}",
                    "frames.npy": buf_f.getvalue(),
                    "mel.npy": buf_m.getvalue(),
                    "json": json.dumps(meta).encode(),
                }
            )


CFG = {
    "method": "avts",
    "video_backbone": "small3d",
    "audio_backbone": "vgg_small",
    "channels": [8, 16, 32, 32],
    "flow": {"backbone": "tcam_small", "segments": 4, "frames": 4},
    "clip_frames": 16,
    "clips_per_video": 4,
    "epochs": 6,
    "batch_size": 16,
    "lr": 0.003,
    "weight_decay": 0.0,
    "amp": True,
    "avts": {
        "margin": 1.0,
        "embed_dim": 16,
        "easy_fraction": 1.0,
        "curriculum_switch": 0.0,
        "hard_offset_s": [0.5, 2.0],
    },
    "supervised": {"encoders": ["video", "audio"]},
}


def test_avts_loss_matches_the_paper_formula():
    """Korbar et al. 2018, Eq. 1: y d^2 + (1 - y) max(margin - d, 0)^2 (the positive distance
    squared; seed 000's slide lost the square)."""
    import torch

    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    loss, d = avts_loss(v, a, torch.tensor([1.0, 0.0, 1.0]), margin=2.0)
    assert d.tolist() == pytest.approx([0.0, 2**0.5, 0.8**0.5])
    assert float(loss) == pytest.approx((0.0 + (2 - 2**0.5) ** 2 + 0.8) / 3)  # seed's slide: 0.8 ** 0.5


def test_derangement_has_no_fixed_point():
    import torch

    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 17):
        perm = derangement(n, g)
        assert sorted(perm.tolist()) == list(range(n))
        assert (perm != torch.arange(n)).all()


@pytest.mark.parametrize("method", ["avts", "supervised"])
def test_pretrain_learns_on_tiny_shards(tmp_path, method):
    _write_tiny_shards(tmp_path / "shards")
    out = pretrain(
        run=method,
        shard_dir=tmp_path / "shards",
        out_dir=tmp_path / method,
        cfg=dict(CFG, method=method),
        seed=0,
        progress=False,
        threads=2,
    )
    m = pd.read_csv(tmp_path / method / "metrics.csv")
    assert len(m) == CFG["epochs"] and out["epochs"] == CFG["epochs"]
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_pretext_acc"].iloc[-2:].mean() > 0.7  # chance is 0.5
    assert (tmp_path / method / "checkpoint.pt").exists() and not (tmp_path / method / "last.pt").exists()


def test_pretrain_resumes_after_interruption(tmp_path, monkeypatch, capsys):
    import avbench.pretrain as pretrain_module

    _write_tiny_shards(tmp_path / "shards", n_videos=16)
    cfg = dict(CFG, epochs=3)
    real = pretrain_module.evaluate_pretext
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed during epoch 2
        return real(*args, **kw)

    monkeypatch.setattr(pretrain_module, "evaluate_pretext", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(run="avts", shard_dir=tmp_path / "shards", out_dir=tmp_path / "b", cfg=cfg, seed=0, progress=False)
    assert (tmp_path / "b" / "last.pt").exists() and not (tmp_path / "b" / "checkpoint.pt").exists()
    monkeypatch.setattr(pretrain_module, "evaluate_pretext", real)
    resumed = pretrain(
        run="avts", shard_dir=tmp_path / "shards", out_dir=tmp_path / "b", cfg=cfg, seed=0, progress=False
    )
    assert "resuming avts from epoch 1" in capsys.readouterr().out
    assert resumed["epochs"] == 3
    assert pd.read_csv(tmp_path / "b" / "metrics.csv")["epoch"].tolist() == [1, 2, 3]
    assert calls["n"] == 2  # the resumed run did not redo epoch 1 with the patched function


def test_resume_refuses_other_data(tmp_path, monkeypatch, capsys):
    """Issue 12, defect 5: after a kill, a rerun on other shards resumed from the old epoch."""
    import avbench.pretrain as pretrain_module

    _write_tiny_shards(tmp_path / "shards", n_videos=16)
    cfg = dict(CFG, epochs=2)
    real = pretrain_module.evaluate_pretext
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(pretrain_module, "evaluate_pretext", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(run="avts", shard_dir=tmp_path / "shards", out_dir=tmp_path / "b", cfg=cfg, seed=0, progress=False)
    assert (tmp_path / "b" / "last.pt").exists()
    monkeypatch.setattr(pretrain_module, "evaluate_pretext", real)
    _write_tiny_shards(tmp_path / "shards", n_videos=20, seed=1)  # other data, same config
    capsys.readouterr()
    pretrain(run="avts", shard_dir=tmp_path / "shards", out_dir=tmp_path / "b", cfg=cfg, seed=0, progress=False)
    out = capsys.readouterr().out
    assert "resuming avts from epoch" not in out and "not resuming avts" in out
    assert pd.read_csv(tmp_path / "b" / "metrics.csv")["epoch"].tolist() == [1, 2]


def test_scratch_writes_a_random_init_checkpoint(tmp_path):
    import torch

    _write_tiny_shards(tmp_path / "shards", n_videos=8)
    pretrain(
        run="scratch",
        shard_dir=tmp_path / "shards",
        out_dir=tmp_path / "s",
        cfg=dict(CFG, method="scratch"),
        seed=3,
        progress=False,
    )
    ck = torch.load(tmp_path / "s" / "checkpoint.pt", weights_only=False)
    assert ck["meta"]["method"] == "scratch" and ck["metrics"] == []
    assert set(ck["encoders"]) == {"video", "audio", "flow"}


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    """`torchrun --nproc-per-node 2` on the CPU (gloo): ranks split each batch, rank 0 writes one
    checkpoint, and training learns as the single process does."""
    import os
    import subprocess
    import sys

    import torch
    import yaml

    REPO = Path(__file__).resolve().parents[1]

    _write_tiny_shards(tmp_path / "shards", n_videos=32)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    p = {k: v for k, v in CFG.items() if k != "method"}
    cfg["pretrain"] = dict(p, epochs=4, methods=["supervised"], runs={"supervised": {"method": "supervised"}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    args = [
        "pretrain",
        "supervised",
        "--shards",
        str(tmp_path / "shards"),
        "--config",
        str(tmp_path / "config.yaml"),
        "--threads",
        "2",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "avbench.cli",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    ck = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)
    assert ck["meta"]["world_size"] == 2
    m2 = pd.read_csv(tmp_path / "two" / "metrics.csv")
    one = subprocess.run(
        [sys.executable, "-m", "avbench.cli", *args, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    m1 = pd.read_csv(tmp_path / "one" / "metrics.csv")
    assert len(m1) == len(m2) == 4
    assert m2["train_loss"].iloc[-1] < m2["train_loss"].iloc[0]
    # Same data, same global batches and averaged gradients: the curves agree up to BatchNorm's
    # per-rank statistics.
    assert abs(m2["train_loss"].iloc[-1] - m1["train_loss"].iloc[-1]) < 0.35 * m1["train_loss"].iloc[0]


def _index_of(folder):
    """The index write_shards would have written for the tiny shards (checksums included)."""
    import tarfile
    from collections import defaultdict

    from avbench.shards.write import file_sha256, sample_checksum

    tar = folder / "shard-000000.tar"
    members = defaultdict(dict)
    with tarfile.open(tar) as t:
        for m in t.getmembers():
            key, _, ext = m.name.partition(".")
            members[key][ext] = t.extractfile(m).read()
    rows = []
    for key, files in members.items():
        meta = json.loads(files["json"])
        rows.append(
            {
                "id": key,
                "key": key,
                "status": "ok",
                "reason": "",
                "shard": tar.name,
                "label_idx": 0,
                "n_frames": meta["n_frames"],
                "has_audio": True,
                "n_mel_frames": meta["n_mel_frames"],
                "sample_sha256": sample_checksum(files),
                "shard_sha256": file_sha256(tar),
                "dataset": "t",
                "path": f"/x/{key}.mp4",
            }
        )
    return pd.DataFrame(rows)


def test_pretrain_checks_the_shards_against_the_index(tmp_path):
    """Issue 12, defect 4: a damaged shard was skipped silently by pretrain."""
    from avbench.shards.verify import DamagedShards

    _write_tiny_shards(tmp_path / "shards", n_videos=12)
    _index_of(tmp_path / "shards").to_parquet(tmp_path / "index.parquet")
    tar = tmp_path / "shards" / "shard-000000.tar"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside some sample
    tar.write_bytes(bytes(data))
    cfg = dict(CFG, epochs=1, batch_size=4)
    with pytest.raises(DamagedShards, match="shard-000000.tar key v0"):
        pretrain(
            run="avts",
            shard_dir=tmp_path / "shards",
            out_dir=tmp_path / "a",
            cfg=cfg,
            seed=0,
            progress=False,
            index=tmp_path / "index.parquet",
        )
    pretrain(
        run="avts",
        shard_dir=tmp_path / "shards",
        out_dir=tmp_path / "b",
        cfg=cfg,
        seed=0,
        progress=False,
        index=tmp_path / "index.parquet",
        on_damage="skip",
        provenance={"pretrain_clips_used": 12},
    )
    import torch

    meta = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["meta"]
    assert meta["pretrain_clips_damaged"] == 1 and meta["pretrain_clips_used"] == 11
