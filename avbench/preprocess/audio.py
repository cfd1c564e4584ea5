"""Audio features: log-mel spectrograms (torchaudio) and quality flags."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torchaudio

SILENCE_RMS = 1e-4  # about -80 dBFS


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


def audio_flags(wave: np.ndarray, *, sample_rate: int = 16000) -> dict[str, float | bool]:
    """Quality flags of a mono waveform: RMS level (dBFS) and ``silent``."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    return {"rms_dbfs": round(20 * np.log10(max(rms, 1e-10)), 2), "silent": rms < SILENCE_RMS}
