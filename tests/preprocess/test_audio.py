"""Audio: which stream, flags (silent, band-limited with its bandwidth), and a tone in the right mel band."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest

from avbench.media.decode import decode_clip, pick_stream
from avbench.media.ffmpeg import bundled_ffmpeg_binary
from avbench.preprocess.audio import audio_flags, bandwidth_hz, log_mel
from avbench.synthesize import make_tone_clip, write_wav


def _noise(seconds=2.0, sr=16000, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * sr)).astype(np.float32)


def _lowpass(x, cutoff, sr=16000):
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / sr) > cutoff] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def test_bandwidth_and_band_limited_flag():
    wide = _noise()
    assert bandwidth_hz(wide) > 7500
    flags = audio_flags(wide)
    assert not flags["band_limited"] and not flags["silent"]
    narrow = _lowpass(wide, 4000)
    assert bandwidth_hz(narrow) == pytest.approx(4000, abs=150)
    assert audio_flags(narrow)["band_limited"]
    quiet = np.full(16000, 1e-6, np.float32)
    assert audio_flags(quiet) == {"rms_dbfs": -120.0, "silent": True, "bandwidth_hz": None, "band_limited": False}
    assert audio_flags(wide, silence_dbfs=0.0)["silent"]  # thresholds come from config


def test_narrow_band_source_resampled_to_16k_is_flagged(tmp_path):
    # 8 kHz audio in the file (nothing can be above 4 kHz), decoded to 16 kHz
    write_wav(tmp_path / "tel.wav", _noise(sr=8000), 8000)
    out = decode_clip(str(tmp_path / "tel.wav"), fps=16, video=False, sample_rate=16000)
    flags = audio_flags(out.audio, sample_rate=16000)
    assert flags["band_limited"] and 3800 <= flags["bandwidth_hz"] < 4800  # the resampler leaks a little above 4 kHz


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_tone_peaks_in_its_mel_band(tmp_path, freq):
    import torchaudio

    clip = make_tone_clip(tmp_path / "t.mkv", seconds=1.0, freq=freq)
    out = decode_clip(str(clip["path"]), fps=16, size=(64, 48))
    mel = log_mel(out.audio, sample_rate=16000, n_mels=64, win_ms=32, hop_ms=10)
    fb = torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 64, 16000)  # (freqs, mels)
    assert abs(int(mel.mean(axis=1).argmax()) - int(fb[int(round(freq / 8000 * 256))].argmax())) <= 1


def test_default_stream_rule(tmp_path):
    src = make_tone_clip(tmp_path / "a.mkv", seconds=1.0, freq=500.0)["path"]
    other = make_tone_clip(tmp_path / "b.mkv", seconds=1.0, freq=2500.0)["path"]
    both = tmp_path / "two.mkv"
    # two audio streams; the second is marked default, the first not
    subprocess.run(
        [
            bundled_ffmpeg_binary(),
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-i",
            str(other),
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-map",
            "1:a",
            "-c",
            "copy",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "default",
            str(both),
        ],
        check=True,
    )
    with av.open(str(both)) as c:
        assert pick_stream(c.streams.audio).index == 2
    out = decode_clip(str(both), fps=16, size=(64, 48))
    assert out.audio_stream["index"] == 2 and out.audio_stream["n_streams"] == 2
    spec = np.abs(np.fft.rfft(out.audio[:16000]))
    assert abs(int(spec.argmax()) - 2500) <= 2  # the 2.5 kHz tone of the default stream
    # without a default disposition, the first stream
    none = tmp_path / "none.mkv"
    subprocess.run(
        [
            bundled_ffmpeg_binary(),
            "-v",
            "error",
            "-y",
            "-i",
            str(both),
            "-map",
            "0",
            "-c",
            "copy",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "0",
            str(none),
        ],
        check=True,
    )
    with av.open(str(none)) as c:
        assert pick_stream(c.streams.audio).index == 1


def test_nasa_streams_are_chosen_by_rule(realdata):
    """Six streams: H.264 320x180 and 480x270, AAC 8 kHz and 16 kHz, all marked default: the first of each."""
    out = decode_clip(str(realdata / "clips" / "nasa_13013.mp4"), t_start=0.0, t_end=4.0, fps=16, size=(40, 30))
    assert out.video_stream["index"] == 0 and (out.video_stream["width"], out.video_stream["height"]) == (320, 180)
    assert out.audio_stream["index"] == 1 and out.audio_stream["sample_rate"] == 8000
    flags = audio_flags(out.audio, sample_rate=16000)
    assert flags["band_limited"] and flags["bandwidth_hz"] < 5000  # 8 kHz AAC: nothing above 4 kHz
    wide = decode_clip(str(realdata / "clips" / "chaplin.mp4"), t_start=0.0, t_end=4.0, fps=16, video=False)
    assert not audio_flags(wide.audio, sample_rate=16000)["band_limited"]
