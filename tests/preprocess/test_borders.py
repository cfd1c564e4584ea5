"""Black bars: known widths on arrays, on encoded clips, on the synthetic world, on a real film."""

from __future__ import annotations

import numpy as np
import pytest

from avbench.media.decode import BlackFrameTest, BorderSearch, decode_clip
from avbench.preprocess.borders import bars_of, detect_borders, raw_luma_threshold
from avbench.synthesize import make_tone_clip, render, sample_spec, write_video


def _lumas(n=6, h=120, w=160, top=12, left=20, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(60, 220, size=(n, h, w)).astype(np.uint8)  # content
    y[:, :top] = rng.integers(0, 26, size=(n, top, w))  # noisy near-black bars, not 0
    y[:, h - top :] = rng.integers(0, 26, size=(n, top, w))
    y[:, :, :left] = rng.integers(0, 26, size=(n, h, left))
    y[:, :, w - left :] = rng.integers(0, 26, size=(n, h, left))
    return y


def test_noisy_bars_of_known_width():
    box = detect_borders(_lumas(top=12, left=20), max_luma=32)
    assert box == (20, 12, 140, 108)
    assert bars_of(box, 160, 120) == {"top": 12, "bottom": 12, "left": 20, "right": 20}
    # odd widths: the box is rounded inwards to even offsets and sizes (4:2:0 chroma), within 1 px
    x0, y0, x1, y1 = detect_borders(_lumas(top=7, left=13), max_luma=32)
    assert (x0, y0) == (14, 8) and (160 - x1, 120 - y1) in {(14, 8), (13, 7), (14, 7), (13, 8)}
    assert (x1 - x0) % 2 == 0 and (y1 - y0) % 2 == 0


def test_no_bars_and_dark_scenes_are_not_cropped():
    assert detect_borders(_lumas(top=0, left=0), max_luma=32) == (0, 0, 160, 120)
    assert detect_borders(np.zeros((0, 10, 10), np.uint8), max_luma=32) is None
    dark = _lumas(top=0, left=0)
    dark[:, :, :100] = 10  # a dark region on one side only: a scene, not a pillarbox
    assert detect_borders(dark, max_luma=32) == (0, 0, 160, 120)
    night = np.full((4, 120, 160), 12, np.uint8)
    night[:, 50:70, 60:100] = 200  # mostly dark everywhere: bars would leave too little content
    assert detect_borders(night, max_luma=32) == (0, 0, 160, 120)
    # a bright row inside a bar in one frame ends the bar there: bars must be dark in every frame
    y = _lumas(top=12, left=0)
    y[3, 5] = 255
    assert detect_borders(y, max_luma=32)[1] <= 6


def test_limited_range_threshold():
    assert raw_luma_threshold(32, full_range=True) == 32
    assert raw_luma_threshold(0, full_range=False) == 16 and raw_luma_threshold(255, full_range=False) == 235


def test_clip_with_bars_of_known_width(tmp_path):
    clip = make_tone_clip(tmp_path / "bars.mp4", seconds=1.0, size=(160, 120), bars=(14, 22), lossless=False)
    out = decode_clip(str(clip["path"]), fps=16, size=(80, 60), borders=BorderSearch(32), audio=False)
    assert out.crop_box is not None
    assert np.abs(np.array(out.crop_box) - np.array([22, 14, 138, 106])).max() <= 2
    # no bar is left in the stored frames: every edge column/row is as bright as the picture
    assert out.frames[:, :, :2].mean() > 35 and out.frames[:, :2].mean() > 35


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_world_bars_match_the_ground_truth(tmp_path, seed):
    rng = np.random.default_rng(seed)
    spec = sample_spec(
        rng,
        "bounce",
        duration_s=(1.0, 1.0),
        sizes=((160, 120),),
        p_letterbox=1.0,
        p_pillarbox=1.0,
        p_black_frames=1.0,
        p_camera=0.5,
    )
    frames, audio, _, gt = render(spec)
    path = tmp_path / "w.mp4"
    write_video(path, frames, spec.fps, audio, spec.sample_rate)
    out = decode_clip(str(path), fps=16, size=(40, 30), borders=BorderSearch(32), black=BlackFrameTest(32), audio=False)
    assert np.abs(np.array(out.crop_box) - np.array(gt["content_box"])).max() <= 2, (out.crop_box, gt["content_box"])


def test_real_pillarboxed_film(realdata):
    out = decode_clip(
        str(realdata / "clips" / "chaplin.mp4"),
        t_start=0.0,
        t_end=4.0,
        fps=16,
        size=(40, 30),
        borders=BorderSearch(32),
        audio=False,
    )
    x0, y0, x1, y1 = out.crop_box
    assert (y0, y1) == (0, 360)  # pillarbox only
    assert 70 <= x0 <= 82 and 558 <= x1 <= 570 and abs(x0 - (640 - x1)) <= 2
