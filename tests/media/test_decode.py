"""Decoding by timestamps on clips with known content (lossless, so frames compare exactly)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avbench.media.decode import decode_clip
from avbench.preprocess.audio import log_mel
from avbench.synthesize import make_tone_clip


def test_lossless_round_trip_is_exact(tmp_path):
    clip = make_tone_clip(tmp_path / "c.mkv", seconds=1.0, fps=16, size=(64, 48))
    out = decode_clip(str(clip["path"]), fps=16, size=(64, 48), sample_rate=16000)
    assert out.frames.shape == clip["frames"].shape
    assert np.array_equal(out.frames, clip["frames"])
    # Matroska rounds the duration up to the millisecond: the window is the file's duration.
    assert out.audio is not None and len(out.audio) == round(out.t_end * 16000)
    assert np.abs(out.audio[:16000] - clip["audio"][0]).max() < 1e-3  # 16-bit PCM quantisation


def test_fps_resampling_picks_frames_by_timestamp(tmp_path):
    clip = make_tone_clip(tmp_path / "c.mkv", seconds=2.0, fps=30, size=(64, 48))
    out = decode_clip(str(clip["path"]), fps=10, size=(64, 48))
    assert out.frames.shape[0] == 20
    # output frame k shows the last source frame at or before k / 10 s: source index floor(3k).
    for k in range(20):
        assert np.array_equal(out.frames[k], clip["frames"][3 * k])


def test_window_inside_the_file(tmp_path):
    clip = make_tone_clip(tmp_path / "c.mkv", seconds=3.0, fps=16, size=(64, 48))
    out = decode_clip(str(clip["path"]), t_start=1.0, t_end=2.0, fps=16, size=(64, 48))
    assert np.array_equal(out.frames, clip["frames"][16:32])
    assert len(out.audio) == 16000
    assert np.abs(out.audio - clip["audio"][0][16000:32000]).max() < 1e-3


def test_variable_frame_rate(tmp_path):
    """Frames with irregular timestamps: the frame shown at time t is the one whose pts <= t."""
    path = tmp_path / "vfr.mkv"
    times = [0.0, 0.1, 0.15, 0.5, 0.55, 0.9]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264rgb", rate=1000)
        s.width, s.height, s.pix_fmt = 32, 32, "rgb24"
        s.time_base = __import__("fractions").Fraction(1, 1000)
        s.options = {"crf": "0"}
        for i, t in enumerate(times):
            img = np.full((32, 32, 3), 20 * (i + 1), np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = int(t * 1000)
            f.time_base = s.time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out = decode_clip(str(path), t_start=0.0, t_end=1.0, fps=10, size=(32, 32), audio=False)
    expect = [0, 1, 2, 2, 2, 3, 4, 4, 4, 5]  # source frame shown at 0.0, 0.1, ..., 0.9 s
    got = [int(round(out.frames[k, 0, 0, 0] / 20)) - 1 for k in range(10)]
    assert got == expect


def test_late_audio_is_padded_and_recorded(tmp_path):
    clip = make_tone_clip(tmp_path / "c.mp4", seconds=2.0, fps=16, lossless=False)
    out = decode_clip(str(clip["path"]), t_start=0.0, t_end=2.5, fps=16, size=(64, 48))
    assert len(out.audio) == 40000 and out.audio_pad_end > 0
    assert any("early" in n for n in out.notes)


@pytest.mark.parametrize("freq", [500.0, 2000.0])
def test_tone_of_known_frequency_peaks_in_the_right_mel_band(tmp_path, freq):
    import torchaudio

    clip = make_tone_clip(tmp_path / "c.mkv", seconds=1.0, freq=freq)
    out = decode_clip(str(clip["path"]), fps=16, size=(64, 48))
    mel = log_mel(out.audio, sample_rate=16000, n_mels=40)
    fb = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16000)  # (freqs, mels)
    expected_band = int(fb[int(round(freq / 8000 * 200))].argmax())
    assert abs(int(mel.mean(axis=1).argmax()) - expected_band) <= 1


def test_no_audio_stream(tmp_path):
    clip = make_tone_clip(tmp_path / "c.mkv", audio=False)
    out = decode_clip(str(clip["path"]), fps=16, size=(64, 48))
    assert out.audio is None and out.frames.shape[0] == 16
