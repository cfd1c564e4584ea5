"""The opt-in raw waveform of shard samples (``shard.waveform``): stored on the log-mel's timeline,
cut by the loader at the instant of a video clip, absent by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avbench.config import deep_merge, load_config, shard_settings
from avbench.media.probe import probe_manifest
from avbench.shards.loader import load_samples
from avbench.shards.loader import clip_view, frame_time, wav_window
from avbench.shards.write import write_shards

REPO = Path(__file__).resolve().parents[2]


def _click_clip(path: Path, *, seconds: float = 2.5, fps: int = 16, sr: int = 16000, click_s: float = 1.0) -> None:
    """Lossless clip: 4 black lead-in frames (trimmed by the shard stage, audio too), a moving square,
    silence with one 10 ms click at ``click_s`` of the file."""
    from avbench.synthesize import write_lossless_video

    rng = np.random.default_rng(0)
    T = int(seconds * fps)
    frames = np.repeat(rng.integers(60, 200, size=(48, 64, 3)).astype(np.uint8)[None], T, 0)
    for k in range(T):
        frames[k, 20:28, (2 * k) % 56 : (2 * k) % 56 + 8] = 255
    frames[:4] = 0
    wave = rng.normal(0, 0.01, int(seconds * sr)).astype(np.float32)
    c = int(click_s * sr)
    wave[c : c + 160] += 0.8 * np.sin(2 * np.pi * 3000 * np.arange(160) / sr)
    write_lossless_video(path, frames, fps, wave[None], sr)


def _shard(tmp_path: Path, name: str, **over) -> dict:
    cfg = load_config(REPO / "config.yaml")
    cfg["shard"] = deep_merge(cfg["shard"], {"size": [64, 48], "stabilize": {"enabled": False}, **over})
    df = pd.DataFrame(
        {
            "id": ["c.mkv"],
            "path": [str(tmp_path / "c.mkv")],
            "label": "",
            "label_idx": -1,
            "split": "train",
            "t_start": np.nan,
            "t_end": np.nan,
            "status": "ok",
            "dataset": "t",
            "format": "folder",
        }
    )
    probed = probe_manifest(df, modality="audiovisual", progress=False)
    index = write_shards(
        probed,
        tmp_path / name,
        tmp_path / f"{name}.parquet",
        cfg=shard_settings(cfg),
        modality="audiovisual",
        progress=False,
    )
    assert index["status"].tolist() == ["ok"]
    return load_samples(tmp_path / name)[0]


def test_waveform_is_off_by_default_and_aligned_with_the_clip_when_on(tmp_path):
    _click_clip(tmp_path / "c.mkv", click_s=1.0)
    plain = _shard(tmp_path, "plain")
    assert plain.get("wav") is None and "n_wav_samples" not in plain["meta"]  # default: no member, same JSON keys
    s = _shard(tmp_path, "wav", waveform=True)
    m = s["meta"]
    assert s["wav"].dtype == np.int16 and len(s["wav"]) == m["n_wav_samples"]
    assert m["t_start"] == 0.25  # the black lead-in trimmed: the click (1.0 s of the file) is 0.75 s in
    assert abs(len(s["wav"]) - round((m["t_end"] - m["t_start"]) * 16000)) <= 1
    assert abs(int(np.abs(s["wav"].astype(int)).argmax()) - 12000) <= 160  # the click, on the same timeline
    assert np.array_equal(s["mel"], plain["mel"]) and np.array_equal(s["frames"], plain["frames"])
    # a clip starting 0.5 s in: the click 0.25 s into its waveform window and its log-mel window alike
    k0 = 8
    item = clip_view(s, np.random.default_rng(0), clip_frames=16, audio=True, wav=True, start=k0)
    assert frame_time(m, k0) == 0.5 and item["wav"].shape == (16000,) and item["wav"].dtype == np.float32
    click = int(np.abs(item["wav"]).argmax())
    assert abs(click - 4000) <= 160
    assert abs(int(item["audio"].sum(axis=0).argmax()) - click / 160) <= 2  # mel frame = 160 samples
    assert np.allclose(item["wav"], s["wav"][8000:24000] / 32768.0)
    # windows running outside the audio are zero-padded, like the log-mel's
    edge = wav_window(s["wav"], m, -0.1, 0.5)
    assert edge.shape == (8000,) and not edge[:1600].any() and np.allclose(edge[1600:], s["wav"][:6400] / 32768.0)
    assert clip_view(plain, np.random.default_rng(0), clip_frames=16, wav=True) is None  # no waveform: no clip
