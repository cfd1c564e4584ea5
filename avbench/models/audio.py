"""Audio encoders on log-mel spectrograms: VGG-style 2D CNNs (as in AVTS) and a 2D ResNet-18."""

from __future__ import annotations

import torch
from torch import nn


class SmallVGG(nn.Module):
    """VGG-style 2D CNN: conv-BN-ReLU stages with 2x2 max pooling between them, global max pool.

    Input: float (B, 1, n_mels, frames), a normalised log-mel. Output: float (B, out_dim).
    """

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64, 128), convs_per_stage: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(channels):
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                c_in = c
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.features(x), dim=(2, 3))


class ResNet18Audio(nn.Module):
    """torchvision's ResNet-18 (random init) on a 1-channel log-mel, without its classifier.

    Input: float (B, 1, n_mels, frames). Output: float (B, 512).
    """

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_audio_encoder(*, name: str = "vgg_small", channels: tuple[int, ...] = (16, 32, 64, 128)) -> nn.Module:
    """Build an audio encoder by name: ``vgg_small`` (one conv per stage, ``channels``), ``vgg``
    (the AVTS-style VGG: two convs per stage, 64-512 channels) or ``resnet18``."""
    if name == "vgg_small":
        return SmallVGG(channels=tuple(channels))
    if name == "vgg":
        return SmallVGG(channels=(64, 128, 256, 512), convs_per_stage=2)
    if name == "resnet18":
        return ResNet18Audio()
    raise ValueError(f"unknown audio backbone {name!r}")
