"""The classic handcrafted baselines, shipped as external encoders (``external`` in config.yaml):

- :func:`mfcc_stats` (sound): MFCCs of the log-mel (its DCT-II, torchaudio's ``create_dct`` as in
  ``torchaudio.transforms.MFCC``), mean and standard deviation over time: the ESC-50 paper's baseline
  (Piczak 2015), without its zero-crossing rate (the shards keep the log-mel, not the waveform).
- :func:`motion_histogram` (video): a histogram of normal flow and motion-energy descriptor from frame
  differences: per cell of a 2x2 grid, the orientation histogram (8 bins) of the normal flow
  ``-I_t grad I / |grad I|^2`` weighted by the motion energy ``|I_t|``, plus the motion energy of a 4x4 grid,
  its profile over 4 time bins and a histogram of normal-flow magnitudes (the HOF / MEI family of
  action-recognition descriptors, computed on the clip itself: no optical flow needed).

Neither has parameters: the linear classifier on top is the whole learned part.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class MFCCStats(nn.Module):
    """(B, 1, n_mels, M) log-mel -> (B, 2 * n_mfcc): mean and std over time of the MFCCs."""

    def __init__(self, *, n_mfcc: int = 20) -> None:
        super().__init__()
        self.n_mfcc = int(n_mfcc)
        self.out_dim = 2 * self.n_mfcc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torchaudio

        n_mels = x.shape[-2]
        dct = torchaudio.functional.create_dct(min(self.n_mfcc, n_mels), n_mels, norm="ortho").to(x)  # (n_mels, n)
        mfcc = torch.einsum("bfm,fn->bnm", x[:, 0].float(), dct)  # (B, n_mfcc, M)
        if mfcc.shape[1] < self.n_mfcc:  # fewer mel bands than coefficients: pad with zeros
            mfcc = F.pad(mfcc, (0, 0, 0, self.n_mfcc - mfcc.shape[1]))
        std = mfcc.std(-1, unbiased=False) if mfcc.shape[-1] > 1 else torch.zeros_like(mfcc[..., 0])
        return torch.cat([mfcc.mean(-1), std], dim=1)


class MotionHistogram(nn.Module):
    """(B, 3, T, H, W) RGB in [0, 1] -> (B, out_dim) histogram of normal flow and motion energy."""

    def __init__(
        self,
        *,
        orientations: int = 8,
        cells: int = 2,
        energy_grid: int = 4,
        time_bins: int = 4,
        magnitude_bins: int = 8,
    ) -> None:
        super().__init__()
        self.orientations, self.cells, self.energy_grid = int(orientations), int(cells), int(energy_grid)
        self.time_bins, self.magnitude_bins = int(time_bins), int(magnitude_bins)
        self.out_dim = self.orientations * self.cells**2 + self.energy_grid**2 + self.time_bins + self.magnitude_bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).float()  # (B, T, H, W)
        if gray.shape[1] < 2:
            return gray.new_zeros(b, self.out_dim)
        it = gray[:, 1:] - gray[:, :-1]  # temporal derivative (B, T-1, H, W)
        mid = 0.5 * (gray[:, 1:] + gray[:, :-1])
        gy, gx = torch.gradient(mid, dim=(2, 3))
        g2 = gx * gx + gy * gy + 1e-3
        u, v = -it * gx / g2, -it * gy / g2  # normal flow
        energy = it.abs()
        angle = torch.atan2(v, u)  # (-pi, pi]
        obin = ((angle + math.pi) / (2 * math.pi) * self.orientations).long().clamp_(0, self.orientations - 1)
        hof = F.one_hot(obin, self.orientations).float() * energy.unsqueeze(-1)  # (B, T-1, H, W, O)
        hof = F.adaptive_avg_pool2d(hof.sum(1).permute(0, 3, 1, 2), self.cells).flatten(1)  # (B, O * cells^2)
        hof = hof / hof.sum(1, keepdim=True).clamp_min(1e-8)
        mei = F.adaptive_avg_pool2d(energy.mean(1, keepdim=True), self.energy_grid).flatten(1)
        prof = F.adaptive_avg_pool1d(energy.mean((2, 3)).unsqueeze(1), self.time_bins).flatten(1)
        mag = torch.sqrt(u * u + v * v).clamp_max(4.0) / 4.0 * (self.magnitude_bins - 1e-4)
        mhist = F.one_hot(mag.long(), self.magnitude_bins).float() * energy.unsqueeze(-1)
        mhist = mhist.flatten(1, 3).sum(1)
        mhist = mhist / mhist.sum(1, keepdim=True).clamp_min(1e-8)
        return torch.cat([hof, mei, prof, mhist], dim=1)


def mfcc_stats(*, n_mfcc: int = 20) -> nn.Module:
    """The MFCC-statistics sound baseline (``model: avbench.models.handcrafted:mfcc_stats``)."""
    return MFCCStats(n_mfcc=n_mfcc)


def motion_histogram(**kwargs: int) -> nn.Module:
    """The histogram-of-normal-flow / motion-energy video baseline
    (``model: avbench.models.handcrafted:motion_histogram``)."""
    return MotionHistogram(**kwargs)


#: the specs of the shipped baselines (config.yaml's ``external`` section names them)
HANDCRAFTED = {
    "mfcc_stats": {
        "kind": "callable",
        "model": "avbench.models.handcrafted:mfcc_stats",
        "modality": "audio",
        "feature_dim": 40,
    },
    "motion_histogram": {
        "kind": "callable",
        "model": "avbench.models.handcrafted:motion_histogram",
        "modality": "video",
        "feature_dim": 60,
    },
}
