"""Audio encoders on log-mel spectrograms: a small VGG-style 2D CNN (as in AVTS)."""

from __future__ import annotations

import torch
from torch import nn


class SmallVGG(nn.Module):
    """VGG-style 2D CNN.

    Input: float (B, 1, n_mels, frames), a normalised log-mel. Output: float (B, out_dim).
    """

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.features(x), dim=(2, 3))


def build_audio_encoder(*, name: str = "vgg_small", channels: tuple[int, ...] = (16, 32, 64, 128)) -> nn.Module:
    """Build an audio encoder by name: ``vgg_small``."""
    if name == "vgg_small":
        return SmallVGG(channels=tuple(channels))
    raise ValueError(f"unknown audio backbone {name!r}")
