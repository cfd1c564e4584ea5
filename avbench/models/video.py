"""Video encoders: a small 3D CNN for CPU runs, torchvision's R3D/MC3/R(2+1)D-18 for real runs, a
small video ViT on space-time patches (:mod:`avbench.models.vit`, VideoMAE's encoder), and a small
frame-level 2D CNN (:class:`Small2D`, the encoder of the image pretexts) that reads clips like the
others and averages its per-frame features over time."""

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


#: the video backbone names that encode each frame alone (2D CNNs): what the image pretexts train
FRAME_NAMES = ("small2d",)


class Small2D(nn.Module):
    """A small 2D CNN applied to every frame of a clip alone, its pooled features averaged over time:
    a frame-level model that the clip protocols (linear probe, fine-tuning) evaluate unchanged.

    Input: float (B, 3, T, H, W) in [0, 1] (T may be 1: one image). Output: float (B, out_dim), the
    mean over the T frames of each frame's global max over space (max pooling, as :class:`Small3D`,
    lets a small object dominate). Stages are conv 3x3 - BatchNorm - ReLU with spatial strides
    1, 2, 2, 1, 1, ... (total stride 4): the stored 40x30 frames give a 10x8 map (what the image
    colourization head classifies per position), the 8x8 patches of relative position a 2x2 map.
    Nothing is subtracted over time (a single frame would be zero): the input is centred at 0.5.
    """

    def __init__(self, *, channels: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(channels):
            stride = 2 if i in (1, 2) else 1
            layers += [
                nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.out_dim = c_in

    @staticmethod
    def frames(x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B * T, 3, H, W), frames of a clip consecutive."""
        b, c, t, h, w = x.shape
        return x.transpose(1, 2).reshape(b * t, c, h, w)

    def image_map(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] -> the last stage's map (N, C, ceil(H/4), ceil(W/4))."""
        return self.features(images - 0.5)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (B, 3, T, H, W) -> per-frame maps (B, C, T, h, w) (:func:`stage_features`)."""
        b, t = x.shape[0], x.shape[2]
        m = self.image_map(self.frames(x))
        return m.reshape(b, t, *m.shape[1:]).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        f = torch.amax(self.image_map(self.frames(x)), dim=(2, 3))
        return f.reshape(b, t, -1).mean(1)


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
    ``small2d`` (:class:`Small2D`, frame by frame, ``channels``);
    ``vit_small3d`` (``vit``: its ``pretrain.vit`` settings; ``channels`` is for the small CNNs only); or
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
    if name == "small2d":
        return Small2D(channels=tuple(channels))
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
