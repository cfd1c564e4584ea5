"""Optical-flow encoders for the arrow of time: T-CAM style (Wei et al., CVPR 2018).

The clip's flow is cut into ``segments`` consecutive segments of ``frames`` flow fields each. A
2D CNN (shared weights) encodes each segment's stacked flow (``2 * frames`` channels: x and y of
every field); the segment feature maps are concatenated along channels (late fusion), a fusion
block mixes them, and global average pooling gives the clip feature (GAP keeps the class
activation maps of T-CAM). ``fusion`` is the part that "fine-tune after fusion" trains.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_block(c_in: int, c_out: int, *, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return layers


class TCAMFlow(nn.Module):
    """Late-fusion flow network.

    Input: float (B, T, 2, H, W) flow in units of the quantization bound (values in [-1, 1]) with
    ``T = segments * frames``. Output: float (B, out_dim).
    """

    def __init__(self, *, segments: int = 4, frames: int = 4, channels: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.segments, self.frames = int(segments), int(frames)
        layers: list[nn.Module] = []
        c_in = 2 * self.frames
        for i, c in enumerate(channels[:-1]):
            layers += _conv_block(c_in, c, pool=i < len(channels) - 2)
            c_in = c
        self.segment = nn.Sequential(*layers)
        c_last = int(channels[-1])
        self.fusion = nn.Sequential(
            nn.Conv2d(c_in * self.segments, c_last, 1, bias=False),
            nn.BatchNorm2d(c_last),
            nn.ReLU(inplace=True),
            *_conv_block(c_last, c_last, pool=False),
        )
        self.out_dim = c_last

    @property
    def clip_frames(self) -> int:
        return self.segments * self.frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        if t != self.clip_frames or c != 2:
            raise ValueError(f"expected (B, {self.clip_frames}, 2, H, W) flow, got {tuple(x.shape)}")
        seg = x.reshape(b * self.segments, self.frames * 2, h, w)
        f = self.segment(seg)
        f = f.reshape(b, self.segments * f.shape[1], f.shape[2], f.shape[3])
        return self.fusion(f).mean(dim=(2, 3))


def build_flow_encoder(
    *, name: str = "tcam_small", segments: int = 4, frames: int = 4, channels: tuple[int, ...] = (16, 32, 64, 128)
) -> nn.Module:
    """Build a flow encoder by name: ``tcam_small`` (configurable channels) or ``tcam_vgg``
    (wider VGG-like stages, 64-512 channels, for GPU runs)."""
    if name == "tcam_small":
        return TCAMFlow(segments=segments, frames=frames, channels=tuple(channels))
    if name == "tcam_vgg":
        return TCAMFlow(segments=segments, frames=frames, channels=(64, 128, 256, 512, 512))
    raise ValueError(f"unknown flow backbone {name!r}")
