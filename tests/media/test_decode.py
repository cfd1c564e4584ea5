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


def _moving_clip(path, *, codec: str, fps: int = 30, seconds: float = 2.0, options: dict | None = None) -> None:
    """A clip whose every frame differs (a bar sweeping across), encoded with B-frames."""
    n = int(fps * seconds)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.options = options or {}
        for i in range(n):
            img = np.zeros((64, 96, 3), np.uint8)
            img[:, (i * 3) % 96 : (i * 3) % 96 + 8] = 255
            img[..., 1] = (4 * i) % 256
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize("window", [(0.0, None), (0.45, 1.6)])
@pytest.mark.parametrize("fps", [16.0, 7.0])
def test_dropping_unneeded_b_frames_changes_no_frame(tmp_path, window, fps):
    """30 fps H.264 with non-reference B-frames, sampled at 16 or 7 fps: the decoder drops the B-frames
    no output frame shows, and every output frame is the one a full decode gives, bit for bit."""
    path = tmp_path / "b.mp4"
    _moving_clip(
        path, codec="libx264", options={"x264-params": "bframes=3:b-adapt=0:b-pyramid=none:keyint=30:scenecut=0"}
    )
    t0, t1 = window
    full = decode_clip(str(path), t_start=t0, t_end=t1, fps=fps, size=(48, 32), audio=False, skip_unneeded=False)
    fast = decode_clip(str(path), t_start=t0, t_end=t1, fps=fps, size=(48, 32), audio=False)
    assert full.dropped_frames == 0
    assert fast.dropped_frames > 0
    assert fast.frames.shape == full.frames.shape and len(full.frames) > 0
    assert np.array_equal(fast.frames, full.frames)
    assert np.array_equal(fast.black, full.black) if full.black is not None else fast.black is None


def test_nothing_is_dropped_where_packets_carry_decode_times(tmp_path):
    """AVI stamps packets in decode order: MPEG-4 B-frames would be matched to the wrong frames, so
    nothing is dropped there and the output is the full decode's."""
    path = tmp_path / "b.avi"
    _moving_clip(path, codec="mpeg4", options={"bf": "2", "qscale": "3"})
    full = decode_clip(str(path), fps=16.0, size=(48, 32), audio=False, skip_unneeded=False)
    fast = decode_clip(str(path), fps=16.0, size=(48, 32), audio=False)
    assert fast.dropped_frames == 0
    assert np.array_equal(fast.frames, full.frames)


def test_skip_loop_filter_changes_the_pixels_a_little_and_is_recorded(tmp_path):
    """``skip_loop_filter``: without the in-loop deblocking the frames differ from the reference
    decoder's, a little (coarse quantization leaves block edges for it to smooth); ``noref``
    changes B-frames only (nothing is predicted from them), ``all`` the I- and P-frames too (the
    difference carried on by prediction); the level is recorded in ``video_stream``,
    absent by default."""
    from av.video.frame import PictureType

    path = tmp_path / "q.mp4"
    _moving_clip(path, codec="libx264", options={"x264-params": "qp=44:bframes=2:b-adapt=0:b-pyramid=none:keyint=30"})
    with av.open(str(path)) as c:
        types = np.array([f.pict_type for f in c.decode(video=0)])
    kw = {"fps": 30.0, "size": (96, 64), "audio": False}
    ref = decode_clip(str(path), **kw)
    assert "skip_loop_filter" not in ref.video_stream and len(ref.frames) == len(types) == 60
    changed = {}
    for lvl in ("noref", "all"):
        clip = decode_clip(str(path), skip_loop_filter=lvl, **kw)
        assert clip.video_stream["skip_loop_filter"] == lvl and clip.frames.shape == ref.frames.shape
        diff = np.abs(clip.frames.astype(np.int16) - ref.frames)
        assert diff.mean() < 4
        changed[lvl] = diff.reshape(len(diff), -1).any(1)
    is_b = types == PictureType.B
    assert changed["noref"].sum() > 10 and not (changed["noref"] & ~is_b).any()  # B-frames only
    assert (changed["all"] & ~is_b).sum() > 10 and not (changed["noref"] & ~changed["all"]).any()
    with pytest.raises(ValueError, match="skip_loop_filter"):
        decode_clip(str(path), skip_loop_filter="bidir", **kw)
