"""A small video Vision Transformer (ViT) with space-time patches, the encoder of VideoMAE.

The clip (float (B, 3, T, H, W) in [0, 1]) is standardised with the ImageNet mean and std (as
VideoMAE's loader does), cut into **tubelets** of ``tubelet`` frames x ``patch`` x ``patch``
pixels by a Conv3d whose kernel is its stride (one token per tubelet, Tong et al. 2022, after
ViViT's tubelet embedding), given fixed sinusoidal position embeddings and passed through
``depth`` pre-norm transformer blocks (``torch.nn.TransformerEncoderLayer``, GELU MLP of
``mlp_ratio`` x ``dim``). The pooled feature (what every downstream protocol reads) is the mean
of the final layer-normed tokens: ``(B, dim)``, ``out_dim = dim``, as VideoMAE's fine-tuning
head pools.

Token order is time slot, row, column (``t * rows * cols + r * cols + c``); :func:`patchify`
cuts the pixels of the same tubelets in the same order (VideoMAE's reconstruction targets).
A clip whose size is not a multiple of the tubelet is centre-cropped in space and cut at the
end in time to the largest multiple (:func:`crop_to_grid`), the same crop for tokens and
targets.

Position embeddings are **3D separable** sines and cosines (a third of the channels each for
the time slot, the row and the column), computed for whatever grid the clip gives: the same
encoder reads clips of another size or length. VideoMAE uses a 1D sinusoid table over the
flattened token index, which ties the embedding to one grid size; the 3D form keeps the
geometry when the grid changes (e.g. pretraining and evaluation clips of different lengths).

Sizes: the default run stores 40x30 frames (``shard.size``), so ``patch`` 5 (it divides both:
an 8 x 6 grid, 48 patches per time slot, 8 time slots for 16 frames: 384 tokens, 38 visible
at 90% masking). ``patch`` 10 would leave 12 patches per slot and one or two visible: too
coarse for the small moving objects of the synthetic world. The paper's ViT-B (768 wide, 12
blocks, 12 heads, 16x16 patches on 224 px) is too big for these machines; the default here is
128 wide, 4 blocks, 4 heads (0.8 M parameters); ``workflow/configs/kinetics.yaml`` uses ViT-S
(384 wide, 12 blocks, 6 heads, 16x16 patches; VideoMAE reports ViT-S too).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: the video backbone names that are transformers built here
VIT_NAMES = ("vit_small3d",)
#: the ViT's settings (``pretrain.vit``) and their defaults: the schema's defaults (a test checks)
VIT_DEFAULTS: dict[str, Any] = {"patch": 5, "tubelet": 2, "dim": 128, "depth": 4, "heads": 4, "mlp_ratio": 4.0}

# VideoMAE's input standardisation (timm's IMAGENET_DEFAULT_MEAN / STD)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def sincos_1d(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """Sines and cosines of positions ``pos`` (N,) at ``dim // 2`` geometric frequencies
    (1 to 1/10000): float (N, dim), ``dim`` even."""
    half = dim // 2
    omega = 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float32, device=pos.device) / max(1, half)))
    a = pos.float()[:, None] * omega[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


def sincos_3d(grid: tuple[int, int, int], dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 3D position embeddings of a (time slots, rows, columns) grid: float (N, dim), tokens in
    time-row-column order; ``2 * (dim // 6)`` channels each for time, row and column, the rest zero."""
    t, h, w = grid
    d = 2 * (dim // 6)
    tt, hh, ww = torch.meshgrid(
        torch.arange(t, device=device), torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    parts = [sincos_1d(p.reshape(-1), d) for p in (tt, hh, ww)]
    pad = torch.zeros(t * h * w, dim - 3 * d, device=device)
    return torch.cat(parts + [pad], dim=1)


def token_grid(shape: tuple[int, ...], *, patch: int, tubelet: int) -> tuple[int, int, int]:
    """(time slots, rows, columns) of tubelets that a clip of shape (..., T, H, W) gives."""
    t, h, w = (int(v) for v in shape[-3:])
    g = (t // tubelet, h // patch, w // patch)
    if min(g) < 1:
        raise ValueError(f"a clip of {t} frames of {w}x{h} px holds no {tubelet}x{patch}x{patch} tubelet")
    return g


def crop_to_grid(x: torch.Tensor, *, patch: int, tubelet: int) -> torch.Tensor:
    """The frames of clip ``x`` (..., T, H, W) that whole tubelets cover: the first ``T'`` frames
    (a multiple of ``tubelet``) and the central ``rows * patch`` x ``cols * patch`` pixels."""
    gt, gh, gw = token_grid(tuple(x.shape), patch=patch, tubelet=tubelet)
    h, w = x.shape[-2:]
    top, left = (h - gh * patch) // 2, (w - gw * patch) // 2
    return x[..., : gt * tubelet, top : top + gh * patch, left : left + gw * patch]


def patchify(x: torch.Tensor, *, patch: int, tubelet: int) -> torch.Tensor:
    """Pixels of every tubelet of clips ``x`` (B, C, T, H, W), in token order: (B, N, tubelet * patch *
    patch, C) (:func:`crop_to_grid` first)."""
    x = crop_to_grid(x, patch=patch, tubelet=tubelet)
    b, c = x.shape[:2]
    gt, gh, gw = token_grid(tuple(x.shape), patch=patch, tubelet=tubelet)
    x = x.reshape(b, c, gt, tubelet, gh, patch, gw, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', rows, cols, tubelet, P, P, C)
    return x.reshape(b, gt * gh * gw, tubelet * patch * patch, c)


def transformer_blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.Sequential:
    """``depth`` pre-norm transformer blocks (self-attention and a GELU MLP), batch first."""
    return nn.Sequential(
        *[
            nn.TransformerEncoderLayer(
                dim,
                heads,
                dim_feedforward=int(round(mlp_ratio * dim)),
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        ]
    )


def init_weights(module: nn.Module) -> None:
    """MAE's initialisation: Xavier-uniform linear layers (attention projections included) with zero
    biases; LayerNorm weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            nn.init.xavier_uniform_(m.in_proj_weight)
            if m.in_proj_bias is not None:
                nn.init.zeros_(m.in_proj_bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ViT3D(nn.Module):
    """Video ViT on tubelet tokens (module doc). Input float (B, 3, T, H, W) in [0, 1]; output
    float (B, dim). :meth:`tokens` and :meth:`encode` split the forward pass for masked modelling:
    the tokens of a clip, then the blocks over any subset of them."""

    def __init__(
        self,
        *,
        patch: int = 5,
        tubelet: int = 2,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"vit.dim {dim} is not a multiple of vit.heads {heads}")
        if dim < 6:
            raise ValueError(f"vit.dim {dim} is too small for 3D position embeddings (at least 6)")
        self.patch, self.tubelet, self.dim = int(patch), int(tubelet), int(dim)
        self.patch_embed = nn.Conv3d(3, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))
        self.blocks = transformer_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1, 1), persistent=False)
        init_weights(self)
        w = self.patch_embed.weight.data  # MAE: the patch projection initialised like a linear layer
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))

    def grid(self, x: torch.Tensor) -> tuple[int, int, int]:
        return token_grid(tuple(x.shape), patch=self.patch, tubelet=self.tubelet)

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Embedded tubelets with their position embeddings: ((B, N, dim), grid (T', rows, cols))."""
        x = crop_to_grid(x, patch=self.patch, tubelet=self.tubelet)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        t = self.patch_embed(x)  # (B, dim, T', rows, cols)
        grid = (int(t.shape[2]), int(t.shape[3]), int(t.shape[4]))
        t = t.flatten(2).transpose(1, 2)
        return t + sincos_3d(grid, self.dim, t.device).to(t.dtype)[None], grid

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """The transformer over tokens (B, n, dim) (all of a clip's, or the visible ones): (B, n, dim)."""
        return self.norm(self.blocks(tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(self.tokens(x)[0]).mean(dim=1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The final tokens laid out on their grid, for tasks that need positions
        (:func:`avbench.models.video.stage_features`): (B, dim, T', rows, cols), stride ``patch``."""
        tokens, (t, h, w) = self.tokens(x)
        return self.encode(tokens).transpose(1, 2).reshape(len(x), self.dim, t, h, w)


def build_vit(name: str, **settings: Any) -> ViT3D:
    """A ViT by name (``vit_small3d``) with ``pretrain.vit`` settings over :data:`VIT_DEFAULTS`."""
    if name not in VIT_NAMES:
        raise ValueError(f"unknown ViT {name!r}")
    unknown = set(settings) - set(VIT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown vit settings {sorted(unknown)}")
    kw = {**VIT_DEFAULTS, **settings}
    return ViT3D(
        patch=int(kw["patch"]),
        tubelet=int(kw["tubelet"]),
        dim=int(kw["dim"]),
        depth=int(kw["depth"]),
        heads=int(kw["heads"]),
        mlp_ratio=float(kw["mlp_ratio"]),
    )


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "VIT_DEFAULTS",
    "VIT_NAMES",
    "ViT3D",
    "build_vit",
    "crop_to_grid",
    "patchify",
    "sincos_3d",
    "token_grid",
    "transformer_blocks",
]
