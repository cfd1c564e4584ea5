"""Audio features: log-mel spectrograms (torchaudio) and quality flags (silence, band limitation)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torchaudio

SILENCE_DBFS = -80.0  # RMS level below which a track is silent
BAND_LIMIT_DB = 90.0  # spectrum this far below its peak counts as empty
BAND_LIMITED_FRACTION = 0.75  # band-limited: nothing above this fraction of the Nyquist frequency


@lru_cache(maxsize=8)
def _mel_transform(sample_rate: int, n_mels: int, win: int, hop: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=win, win_length=win, hop_length=hop, n_mels=n_mels, power=2.0, center=True
    )


def log_mel(
    wave: np.ndarray, *, sample_rate: int = 16000, n_mels: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0
) -> np.ndarray:
    """Log-mel spectrogram of a mono waveform.

    wave: float32 (N,). Returns float32 (n_mels, M) with M = N // hop + 1, frame ``i`` centred on
    sample ``i * hop`` (so frame ``i`` covers time ``i * hop_ms`` ms). Values are ``log(mel + 1e-6)``.
    """
    win = int(round(sample_rate * win_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        mel = _mel_transform(sample_rate, n_mels, win, hop)(x)
        return torch.log(mel + 1e-6).numpy()


def _blackman_harris(n: int) -> np.ndarray:
    """4-term Blackman-Harris window (side lobes below -92 dB, so a band edge stays sharp at -90 dB)."""
    t = 2 * np.pi * np.arange(n) / (n - 1)
    return 0.35875 - 0.48829 * np.cos(t) + 0.14128 * np.cos(2 * t) - 0.01168 * np.cos(3 * t)


def power_spectrum_db(wave: np.ndarray, *, n_fft: int = 1024) -> np.ndarray:
    """Long-term average power spectrum in dB (Welch, Blackman-Harris windows, no overlap).

    wave: float32 (N,). Returns float64 (n_fft // 2 + 1,); bin ``i`` is at ``i * sample_rate / n_fft`` Hz.
    """
    m = len(wave) // n_fft
    if m == 0:
        wave = np.pad(wave, (0, n_fft - len(wave)))
        m = 1
    frames = wave[: m * n_fft].reshape(m, n_fft).astype(np.float64) * _blackman_harris(n_fft)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    return 10.0 * np.log10(power + 1e-20)


def bandwidth_hz(wave: np.ndarray, *, sample_rate: int = 16000, drop_db: float = BAND_LIMIT_DB) -> float:
    """Highest frequency whose long-term power is within ``drop_db`` of the spectrum's peak.

    An 8 kHz stream resampled to 16 kHz has (almost) nothing above 4 kHz: the spectrum falls
    100+ dB there, whereas natural wide-band sound stays within ~80 dB of its peak up to Nyquist.
    """
    spec = power_spectrum_db(wave)
    above = np.flatnonzero(spec > spec.max() - drop_db)
    return float(above[-1] * sample_rate / (2 * (len(spec) - 1)))


def audio_flags(
    wave: np.ndarray,
    *,
    sample_rate: int = 16000,
    silence_dbfs: float = SILENCE_DBFS,
    band_limit_db: float = BAND_LIMIT_DB,
    band_limited_fraction: float = BAND_LIMITED_FRACTION,
) -> dict[str, float | bool | None]:
    """Quality flags of a mono waveform (float32 (N,)).

    ``rms_dbfs``; ``silent`` (RMS below ``silence_dbfs``); ``bandwidth_hz`` (see
    :func:`bandwidth_hz`; None when silent) and ``band_limited`` (bandwidth below
    ``band_limited_fraction`` of the Nyquist frequency: upsampled narrow-band audio, or a pure tone).
    """
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    rms_db = round(20 * np.log10(max(rms, 1e-10)), 2)
    silent = bool(rms_db < silence_dbfs)
    bw = (
        None
        if silent or not wave.size
        else round(bandwidth_hz(wave, sample_rate=sample_rate, drop_db=band_limit_db), 1)
    )
    limited = bool(bw is not None and bw < band_limited_fraction * sample_rate / 2)
    return {"rms_dbfs": rms_db, "silent": silent, "bandwidth_hz": bw, "band_limited": limited}
