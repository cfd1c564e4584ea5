"""The Multisensory network (Owens & Efros, ECCV 2018) at avbench's scale: early audio-visual fusion.

A video 3D CNN (the stages of :class:`avbench.models.video.Small3D`) runs on the clip up to an
intermediate layer (``fuse_after`` stages); an audio subnet turns the clip's audio into a feature
sequence, which is pooled to the video feature map's temporal resolution, tiled over its spatial
positions and concatenated to it along the channels; the remaining stages (``fusion``, whose first
convolution reads video + audio channels) run on the fused map, and a global max pool gives the
network's features (B, out_dim). The audio subnet reads either

- ``waveform``: the raw waveform (B, N) through strided 1D convolutions with max pooling (the
  paper's audio subnet; kernel 65 / stride 4 first, then kernel 15 / stride 4), or
- ``spectrogram``: the normalised log-mel (B, 1, n_mels, A) through 2D convolutions whose frequency
  axis is pooled away (the paper's "spectrogram" ablation).

**Without audio** (``forward(x)`` alone: what :func:`avbench.evaluate` calls on a video encoder)
the audio channels of the fused map hold ``audio_mean``, the running mean (per channel) of the
audio features seen in training (updated like BatchNorm's running statistics, momentum 0.1): the
fused network's "vision only" features, with a neutral, typical soundtrack in place of the clip's.
So the whole network is one ``video`` encoder of a checkpoint: the linear probe, the fine-tunes and
``finetune_top`` (which trains ``fusion``, the layers after the fusion) read it unchanged, and the
audio subnet's weights travel with it: the ``finetune_av`` protocol (:mod:`avbench.evaluate.finetune`)
calls ``forward(x, audio, audio_ok)`` with each clip's own audio (a clip whose video has no audio
stream gets ``audio_mean``, ``audio_ok`` False), and class activation maps read :meth:`fuse_map`.
"""

from __future__ import annotations

import torch
from torch import nn

AUDIO_INPUTS = ("waveform", "spectrogram")


def _stage3d(c_in: int, c_out: int, stride: tuple[int, int, int]) -> list[nn.Module]:
    return [
        nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    ]


def _stride(i: int) -> tuple[int, int, int]:
    """Small3D's strides: stage 0 halves space only, stages 1-2 halve time and space, then none."""
    return (1, 2, 2) if i == 0 else (2, 2, 2) if i < 3 else (1, 1, 1)


class WaveformNet(nn.Module):
    """Strided 1D convolutions on the raw waveform: (B, N) -> (B, C, N'), N' ~ N / 1024 (16 kHz: 64 ms)."""

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64), out_dim: int = 32) -> None:
        super().__init__()
        c1, c2, c3 = (tuple(channels) + (channels[-1],) * 3)[:3]
        self.net = nn.Sequential(
            nn.Conv1d(1, c1, 65, stride=4, padding=32, bias=False),
            nn.BatchNorm1d(c1),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(c1, c2, 15, stride=4, padding=7, bias=False),
            nn.BatchNorm1d(c2),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(c2, c3, 15, stride=4, padding=7, bias=False),
            nn.BatchNorm1d(c3),
            nn.ReLU(inplace=True),
            nn.Conv1d(c3, out_dim, 3, padding=1, bias=False),
            nn.BatchNorm1d(out_dim),
            nn.ReLU(inplace=True),
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.net(wav.reshape(wav.shape[0], 1, -1))


class SpectrogramNet(nn.Module):
    """2D convolutions on the log-mel, the frequency axis max-pooled away: (B, 1, F, A) -> (B, C, A')."""

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64), out_dim: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.proj = nn.Sequential(
            nn.Conv1d(c_in, out_dim, 3, padding=1, bias=False), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True)
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.amax(self.features(mel), dim=2))


class MultisensoryNet(nn.Module):
    """Early-fusion audio-visual network (module doc). Input: video float (B, 3, T, H, W) in [0, 1]
    and optionally audio (waveform float (B, N), or log-mel float (B, 1, n_mels, A)). Output: float
    (B, out_dim). ``fuse_after`` video stages (of ``len(channels)``) run before the fusion."""

    def __init__(
        self,
        *,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        fuse_after: int = 2,
        audio_input: str = "waveform",
        audio_channels: tuple[int, ...] = (16, 32, 64),
        audio_dim: int | None = None,
        subtract_mean: bool = True,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not 1 <= fuse_after < len(channels):
            raise ValueError(f"fuse_after must be in 1..{len(channels) - 1}, not {fuse_after}")
        if audio_input not in AUDIO_INPUTS:
            raise ValueError(f"audio_input must be one of {AUDIO_INPUTS}, not {audio_input!r}")
        self.audio_input = audio_input
        self.fuse_after = int(fuse_after)
        self.subtract_mean = subtract_mean
        c_v = channels[fuse_after - 1]
        self.audio_dim = int(audio_dim or c_v)
        video: list[nn.Module] = []
        c_in = 3
        for i in range(fuse_after):
            video += _stage3d(c_in, channels[i], _stride(i))
            c_in = channels[i]
        self.video = nn.Sequential(*video)
        net = WaveformNet if audio_input == "waveform" else SpectrogramNet
        self.audio = net(channels=tuple(int(c) for c in audio_channels), out_dim=self.audio_dim)
        fused: list[nn.Module] = []
        c_in = c_v + self.audio_dim
        for i in range(fuse_after, len(channels)):
            fused += _stage3d(c_in, channels[i], _stride(i))
            c_in = channels[i]
        self.fusion = nn.Sequential(*fused)
        self.register_buffer("audio_mean", torch.zeros(self.audio_dim))
        self.momentum = 0.1
        self.out_dim = c_in

    def video_map(self, x: torch.Tensor) -> torch.Tensor:
        """The video subnet's feature map before the fusion: (B, C_v, T', H', W')."""
        if self.subtract_mean:
            x = x - x.mean(dim=2, keepdim=True)
        return self.video(x)

    def audio_sequence(self, audio: torch.Tensor, steps: int) -> torch.Tensor:
        """The audio subnet's features pooled (averaged) to ``steps`` time steps: (B, audio_dim, steps)."""
        return nn.functional.adaptive_avg_pool1d(self.audio(audio), steps)

    def fuse_map(
        self, v: torch.Tensor, audio: torch.Tensor | None = None, audio_ok: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The video map ``v`` (:meth:`video_map`) fused with ``audio`` (None: ``audio_mean``) through
        the layers after the fusion: (B, out_dim, T'', H'', W'') (class activation maps read it).
        ``audio_ok`` (bool (B,), optional): the items whose audio is real; the others (a video without
        an audio stream, its ``audio`` a placeholder) get ``audio_mean`` as if called without audio,
        and only real audio updates ``audio_mean`` in training."""
        b, _, t, h, w = v.shape
        mean = self.audio_mean.to(v.dtype)[None, :, None].expand(b, -1, t)
        if audio is None:
            a = mean
        else:
            a = self.audio_sequence(audio, t)
            ok = None if audio_ok is None else audio_ok.to(device=a.device, dtype=torch.bool).reshape(-1)
            if self.training:
                with torch.no_grad():
                    seen = a.detach().float() if ok is None else a.detach().float()[ok]
                    if len(seen):
                        self.audio_mean.lerp_(seen.mean(dim=(0, 2)), self.momentum)
            a = a.to(v.dtype)
            if ok is not None:
                a = torch.where(ok[:, None, None], a, mean)
        z = torch.cat([v, a[:, :, :, None, None].expand(-1, -1, -1, h, w)], dim=1)
        return self.fusion(z)

    def fuse(
        self, v: torch.Tensor, audio: torch.Tensor | None = None, audio_ok: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pooled features (B, out_dim) of the video map ``v`` fused with ``audio`` (:meth:`fuse_map`)."""
        return torch.amax(self.fuse_map(v, audio, audio_ok), dim=(2, 3, 4))

    def forward(
        self, x: torch.Tensor, audio: torch.Tensor | None = None, audio_ok: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Features (B, out_dim) of clips ``x`` with their own ``audio`` (the ``finetune_av`` protocol),
        or without it (None: the "vision only" features); ``audio_ok`` as in :meth:`fuse_map`."""
        return self.fuse(self.video_map(x), audio, audio_ok)


def build_multisensory(
    *,
    channels: tuple[int, ...] = (16, 32, 64, 128),
    fuse_after: int = 2,
    audio_input: str = "waveform",
    audio_channels: tuple[int, ...] = (16, 32, 64),
    audio_dim: int | None = None,
) -> MultisensoryNet:
    return MultisensoryNet(
        channels=tuple(channels),
        fuse_after=fuse_after,
        audio_input=audio_input,
        audio_channels=tuple(audio_channels),
        audio_dim=audio_dim,
    )
