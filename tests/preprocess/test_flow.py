"""Optical flow: a known global shift, skipped pairs, quantization, and TV-L1 refused without contrib."""

from __future__ import annotations

from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import yaml

from avbench.config import shard_settings, validate
from avbench.preprocess.flow import check_algorithm, extract_flow, has_tvl1
from avbench.shards.codec import dequantize_flow, quantize_flow

REPO = Path(__file__).resolve().parents[2]


def shifted_frames(n: int = 6, size: tuple[int, int] = (96, 72), step: tuple[int, int] = (2, -1), seed: int = 0):
    """A smooth random texture moved by ``step`` = (dx, dy) pixels per frame. uint8 (n, H, W, 3)."""
    W, H = size
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.integers(0, 256, (H + 64, W + 64)).astype(np.uint8), (0, 0), 2.0)
    frames = []
    for k in range(n):
        x0, y0 = 32 - k * step[0], 32 - k * step[1]  # content moves by +step
        frames.append(np.repeat(big[y0 : y0 + H, x0 : x0 + W, None], 3, axis=2))
    return np.stack(frames)


@pytest.mark.parametrize(
    "algorithm,preset", [("dis", "ultrafast"), ("dis", "fast"), ("dis", "medium"), ("farneback", "fast")]
)
def test_known_global_shift(algorithm, preset):
    cv2.setNumThreads(1)
    frames = shifted_frames()
    flow = extract_flow(frames, algorithm=algorithm, preset=preset)
    assert flow.shape == (5, 72, 96, 2) and flow.dtype == np.float32
    inner = flow[:, 12:-12, 12:-12]
    assert np.abs(np.median(inner[..., 0]) - 2) < 0.1 and np.abs(np.median(inner[..., 1]) + 1) < 0.1


def test_pairs_not_asked_for_are_zero_and_results_repeat():
    frames = shifted_frames()
    pairs = np.array([True, False, True, True, False])
    flow = extract_flow(frames, pairs=pairs)
    assert not flow[1].any() and not flow[4].any() and flow[0].any()
    assert np.array_equal(flow, extract_flow(frames, pairs=pairs))  # deterministic
    assert extract_flow(frames[:1]).shape == (0, 72, 96, 2)


def test_quantization_round_trip_within_one_step():
    frames = shifted_frames()
    flow = extract_flow(frames)
    q = quantize_flow(flow, 4.0)
    assert q.dtype == np.uint8
    assert np.abs(dequantize_flow(q, 4.0) - np.clip(flow, -4, 4)).max() <= 4.0 / 255 + 1e-6
    assert quantize_flow(np.zeros((1, 2, 2, 2), np.float32), 20.0).ravel().tolist() == [128] * 8  # zero flow


@pytest.mark.skipif(has_tvl1(), reason="opencv-contrib is installed here")
def test_tvl1_without_contrib_is_refused_early_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="opencv-contrib") as err:
        check_algorithm("tvl1")
    assert "\n" not in str(err.value)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["shard"]["flow"]["algorithm"] = "tvl1"
    with pytest.raises(ValueError, match="opencv-contrib"):
        validate(cfg)
    # the CLI stops with the same single line, before any work
    from avbench.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(SystemExit, match="opencv-contrib"):
        main(
            [
                "shard",
                "none.parquet",
                "-o",
                str(tmp_path / "o"),
                "--index",
                str(tmp_path / "i.parquet"),
                "--config",
                str(path),
            ]
        )


def test_unknown_algorithm_and_preset_are_refused():
    with pytest.raises(ValueError):
        check_algorithm("raft")
    with pytest.raises(ValueError):
        check_algorithm("dis", "slow")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["datasets"]["synth_action"]["shard"] = {"flow": {"preset": "slow"}}
    with pytest.raises(jsonschema.ValidationError, match="datasets.synth_action.shard"):
        shard_settings(cfg, "synth_action")
