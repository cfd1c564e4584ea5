"""Camera-motion fitting memory does not grow with the video's duration (issue 12, defect 7)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from avbench.preprocess.stabilize import FIT_CHUNK, fit_camera_motion


def test_fit_camera_motion_memory_is_bounded_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    P = 1200  # 75 s at 16 fps
    flow = np.empty((P, 30, 40, 2), np.float32)
    flow[..., 0] = 1.5  # a pan
    flow[..., 1] = -0.5
    flow += rng.normal(0, 0.05, flow.shape).astype(np.float32)
    tracemalloc.start()
    out = fit_camera_motion(flow)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB for {P} flow fields"  # was ~400 MB
    assert np.allclose(out[:, 0, 2], 1.5, atol=0.05) and np.allclose(out[:, 1, 2], -0.5, atol=0.05)
    part = fit_camera_motion(flow[FIT_CHUNK - 3 : FIT_CHUNK + 5])
    assert np.allclose(part, out[FIT_CHUNK - 3 : FIT_CHUNK + 5], atol=1e-9)


@pytest.mark.slow
def test_ten_minute_clip_shards_under_the_default_bound(tmp_path: Path):
    """A genuine 600 s 64x48 clip was out_of_memory with the default limits."""
    import av

    from avbench.config import load_config
    from avbench.media.bounded import run_bounded
    from avbench.media.probe import probe_file
    from avbench.shards.write import make_sample

    path = tmp_path / "long.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=16)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        base = np.full((48, 64, 3), 90, np.uint8)  # never black (black frames would be dropped)
        base[:, ::8] = 200
        for i in range(600 * 16):
            for p in s.encode(av.VideoFrame.from_ndarray(np.roll(base, i % 8, axis=1), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        t = np.arange(600 * 16000) / 16000
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(wave), 16000):
            fr = av.AudioFrame.from_ndarray(wave[None, k : k + 16000], format="fltp", layout="mono")
            fr.sample_rate = 16000
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    row = {**probe_file(str(path)), "id": "long", "t_start": 0.0, "t_end": float("nan")}
    assert row["status"] == "ok" and row["duration"] > 590
    cfg = load_config(Path(__file__).resolve().parents[2] / "config.yaml")["shard"]
    out = list(
        run_bounded(make_sample, [(row, cfg, "audiovisual")], workers=1, timeout_s=600, mem_mb=int(cfg["mem_mb"]))
    )
    assert out[0].status == "ok", out[0].detail
    assert out[0].value["status"] == "ok" and out[0].value["meta"]["n_frames"] > 9000
