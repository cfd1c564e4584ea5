"""Video encoders: a small 3D CNN for CPU runs, torchvision's R3D/MC3/R(2+1)D-18 for real runs, and a
small video ViT on space-time patches (:mod:`avbench.models.vit`, VideoMAE's encoder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class Small3D(nn.Module):
    """A small 3D CNN of the C3D/R3D family.

    Input: float (B, 3, T, H, W), values in [0, 1]. Output: float (B, out_dim) pooled features.
    The static background is removed at the input (each clip's mean frame is subtracted) and
    features are pooled with a global max, which lets a small moving object dominate.
    """

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64, 128), subtract_mean: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(channels):
            stride = (1, 2, 2) if i == 0 else (2, 2, 2) if i < 3 else (1, 1, 1)
            layers += [
                nn.Conv3d(c_in, c, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.subtract_mean = subtract_mean
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.subtract_mean:
            x = x - x.mean(dim=2, keepdim=True)
        return torch.amax(self.features(x), dim=(2, 3, 4))


class TorchvisionVideo(nn.Module):
    """torchvision's ``r3d_18`` / ``mc3_18`` / ``r2plus1d_18`` without its classifier (random init)."""

    def __init__(self, *, name: str) -> None:
        super().__init__()
        from torchvision.models import video as tvv

        net = getattr(tvv, name)(weights=None)
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_video_encoder(
    *,
    name: str = "small3d",
    channels: tuple[int, ...] = (16, 32, 64, 128),
    vit: dict[str, Any] | None = None,
    **kw: Any,
) -> nn.Module:
    """Build a video encoder by name: ``small3d``, ``r3d_18``, ``mc3_18``, ``r2plus1d_18``;
    ``vit_small3d`` (``vit``: its ``pretrain.vit`` settings; ``channels`` is for small3d only); or
    ``multisensory`` (:class:`avbench.models.multisensory.MultisensoryNet`, the audio-visual
    early-fusion network, ``kw`` its settings; video alone in, the "vision only" features out)."""
    from avbench.models.vit import VIT_NAMES, build_vit

    if name in VIT_NAMES:
        return build_vit(name, **(vit or {}))
    if vit:
        raise ValueError(f"vit settings given for the video backbone {name!r}, which is not a ViT")
    if name == "multisensory":
        from avbench.models.multisensory import build_multisensory

        return build_multisensory(channels=tuple(channels), **kw)
    if kw:
        raise ValueError(f"video backbone {name!r} takes no settings {sorted(kw)}")
    if name == "small3d":
        return Small3D(channels=tuple(channels))
    if name in ("r3d_18", "mc3_18", "r2plus1d_18"):
        return TorchvisionVideo(name=name)
    raise ValueError(f"unknown video backbone {name!r}")


def stage_features(encoder: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The intermediate feature map of a video encoder, for tasks that need positions (mask
    propagation, colorization as tracking): clips (B, 3, T, H, W) -> (B, C, T', h, w). Small3D:
    after its second block (spatial stride 4, its mean-frame subtraction included); torchvision's
    R3D family: after ``layer2`` (stride 8); any other encoder: its ``feature_map`` method."""
    if isinstance(encoder, Small3D):
        blocks = nn.Sequential(*list(encoder.features.children())[:6])  # conv-bn-relu x 2

        def small(x: torch.Tensor) -> torch.Tensor:
            if encoder.subtract_mean:
                x = x - x.mean(dim=2, keepdim=True)
            return blocks(x)

        return small
    if isinstance(encoder, TorchvisionVideo):
        net = encoder.net

        def tv(x: torch.Tensor) -> torch.Tensor:
            return net.layer2(net.layer1(net.stem(x)))

        return tv
    fm = getattr(encoder, "feature_map", None)
    if callable(fm):
        return fm  # type: ignore[no-any-return]
    raise ValueError(f"no spatial feature map known for {type(encoder).__name__}: give it a feature_map(x) method")
