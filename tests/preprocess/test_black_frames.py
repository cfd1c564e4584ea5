"""Black frames: exact dropped ranges on clips with known black frames and on the synthetic world."""

from __future__ import annotations

import numpy as np
import pytest

from avbench.media.decode import BlackFrameTest, BorderSearch, decode_clip
from avbench.preprocess.black_frames import is_black, plan_black_frames
from avbench.synthesize import make_tone_clip, render, sample_spec, write_lossless_video, write_video


def test_plan_trims_the_ends_and_drops_the_inside():
    flags = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1], bool)
    plan = plan_black_frames(flags)
    assert plan.lead == 2 and plan.trail == 1
    assert plan.dropped == [(0, 2, "black_lead_in"), (4, 7, "black_interior"), (10, 11, "black_lead_out")]
    assert plan.keep.tolist() == [2, 3, 7, 8, 9]
    assert plan_black_frames(np.zeros(4, bool)).dropped == [] and plan_black_frames(
        np.zeros(4, bool)
    ).keep.tolist() == [0, 1, 2, 3]
    assert plan_black_frames(np.ones(3, bool)).all_black


def test_is_black_tolerates_noise_but_not_content():
    rng = np.random.default_rng(0)
    noisy_black = rng.integers(0, 20, size=(90, 160)).astype(np.uint8)
    assert is_black(noisy_black, max_luma=32)
    with_object = noisy_black.copy()
    with_object[30:60, 60:100] = 180  # 8% of the picture
    assert not is_black(with_object, max_luma=32)
    assert not is_black(np.full((90, 160), 60, np.uint8), max_luma=32)


def test_clip_with_known_black_frames(tmp_path):
    clip = make_tone_clip(tmp_path / "b.mkv", seconds=2.0, fps=16, size=(64, 48), black_frames=(3, 2))
    out = decode_clip(str(clip["path"]), fps=16, size=(64, 48), black=BlackFrameTest(32))
    assert np.flatnonzero(out.black).tolist() == [0, 1, 2, 30, 31]
    plan = plan_black_frames(out.black)
    assert plan.dropped == [(0, 3, "black_lead_in"), (30, 32, "black_lead_out")]


def test_interior_black_frames_on_a_lossy_clip(tmp_path):
    clip = make_tone_clip(tmp_path / "src.mkv", seconds=2.0, fps=16, size=(64, 48))
    frames = clip["frames"].copy()
    frames[10:14] = 0
    path = tmp_path / "gap.mp4"
    write_video(path, frames, 16, clip["audio"], 16000)
    out = decode_clip(str(path), fps=16, size=(64, 48), black=BlackFrameTest(32), audio=False)
    assert plan_black_frames(out.black).dropped == [(10, 14, "black_interior")]


@pytest.mark.parametrize("seed", [4, 5])
def test_synthetic_world_black_frames_match_the_ground_truth(tmp_path, seed):
    rng = np.random.default_rng(seed)
    spec = sample_spec(rng, "fall", duration_s=(2.0, 2.0), sizes=((160, 120),), p_black_frames=1.0, p_letterbox=0.5)
    frames, audio, _, gt = render(spec)
    assert gt["black_frames"]
    path = tmp_path / "w.mp4"
    write_video(path, frames, spec.fps, audio, spec.sample_rate)
    out = decode_clip(str(path), fps=16, size=(40, 30), borders=BorderSearch(32), black=BlackFrameTest(32), audio=False)
    # output frame k shows source frame floor(k * fps_src / 16): it is black iff that frame is
    src = np.floor(np.arange(len(out.black)) * spec.fps / 16 + 1e-9).astype(int)
    expected = np.zeros(len(out.black), bool)
    for a, b in gt["black_frames"]:
        expected |= (src >= a) & (src < b)
    assert out.black.tolist() == expected.tolist()


def test_lossless_black_frames_are_exactly_found(tmp_path):
    frames = np.full((20, 32, 48, 3), 120, np.uint8)
    frames[0] = frames[7] = frames[19] = 0
    write_lossless_video(tmp_path / "l.mkv", frames, 16)
    out = decode_clip(str(tmp_path / "l.mkv"), fps=16, size=(48, 32), black=BlackFrameTest(32), audio=False)
    assert np.flatnonzero(out.black).tolist() == [0, 7, 19]
