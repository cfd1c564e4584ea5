"""Flow stored as two 8-bit grayscale JPEG images per pair (``shard.flow.codec: jpeg``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avbench.config import deep_merge, load_config, shard_settings
from avbench.shards.codec import JpegFlow, decode_sample, dequantize_flow, encode_jpeg_flow, quantize_flow

REPO = Path(__file__).resolve().parents[2]


def _smooth_flow(T=5, H=32, W=48, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.empty((T, H, W, 2), np.float32)
    for t in range(T):
        a, b = rng.uniform(-3, 3, 2)
        out[t, ..., 0] = a + 2.0 * np.sin(xx / 9.0 + t)
        out[t, ..., 1] = b + 1.5 * np.cos(yy / 7.0 - t)
    return out


def test_jpeg_flow_round_trip_and_lazy_indexing():
    bound = 10.0
    q = quantize_flow(_smooth_flow(), bound)
    data, lengths = encode_jpeg_flow(q, 95)
    assert len(lengths) == 2 * len(q) and sum(lengths) == len(data)
    f = JpegFlow(data, lengths, (48, 32))
    assert len(f) == 5 and f.shape == (5, 32, 48, 2) and f.dtype == np.uint8
    full = np.asarray(f)
    assert full.shape == q.shape
    assert np.abs(full.astype(int) - q).mean() < 1.0  # a fraction of one quantization step on smooth fields
    assert np.array_equal(f[1:3], full[1:3]) and np.array_equal(f[-1], full[-1])
    assert np.array_equal(f[[0, 4]], full[[0, 4]]) and np.array_equal(f[..., 1], full[..., 1])
    assert np.array_equal(f.astype(np.float32), full.astype(np.float32))
    epe = np.linalg.norm(dequantize_flow(full, bound) - dequantize_flow(q, bound), axis=-1).mean()
    assert epe < 2 * bound / 255
    with pytest.raises(ValueError):
        JpegFlow(data, lengths[:-1])


def _cfg(codec):
    cfg = load_config(REPO / "config.yaml")
    cfg["shard"] = deep_merge(
        cfg["shard"], {"size": [64, 48], "stabilize": {"enabled": False}, "flow": {"codec": codec}}
    )
    return shard_settings(cfg)


def test_schema_default_is_jpeg_and_the_default_run_keeps_npy():
    cfg = load_config(REPO / "config.yaml")
    assert cfg["shard"]["flow"]["codec"] == "npy"
    raw = {k: v for k, v in cfg.items()}
    raw["shard"] = deep_merge(cfg["shard"], {})
    del raw["shard"]["flow"]["codec"]
    assert shard_settings(raw)["flow"]["codec"] == "jpeg"
    assert shard_settings(raw)["flow"]["jpeg_quality"] == 95


def test_make_sample_writes_and_the_loader_reads_both_codecs(tmp_path):
    from avbench.shards.write import make_sample
    from avbench.synthesize import write_lossless_video

    rng = np.random.default_rng(0)
    T, fps, sr = 24, 16, 16000
    base = rng.integers(60, 200, size=(48, 64, 3)).astype(np.uint8)
    frames = np.repeat(base[None], T, 0)
    for k in range(T):
        frames[k, 16:30, 2 * k : 2 * k + 14] = 255
    write_lossless_video(
        tmp_path / "c.mkv", frames, fps, rng.normal(0, 0.05, (1, T * sr // fps)).astype(np.float32), sr
    )
    row = {"id": "c", "path": str(tmp_path / "c.mkv"), "t_start": 0.0, "t_end": T / fps, "duration": T / fps}
    out = {}
    for codec in ("npy", "jpeg"):
        res = make_sample(row, _cfg(codec), "audiovisual")
        assert res["status"] == "ok"
        files = res["files"]
        assert ("flow.mjpeg" in files) == (codec == "jpeg") and ("flow.npy" in files) == (codec == "npy")
        assert res["meta"]["flow"]["codec"]["name"] == codec
        out[codec] = decode_sample({"__key__": "c", "json": files["json"], **files})
    assert isinstance(out["jpeg"]["flow"], JpegFlow)
    a, b = np.asarray(out["npy"]["flow"]).astype(int), np.asarray(out["jpeg"]["flow"]).astype(int)
    assert a.shape == b.shape == (T - 1, 48, 64, 2)
    assert np.abs(a - b).mean() < 2.0


def test_loader_member_list_reads_jpeg_flow():
    from avbench.shards.loader import MEMBERS

    assert "flow.mjpeg" in MEMBERS and "flow.npy" in MEMBERS
