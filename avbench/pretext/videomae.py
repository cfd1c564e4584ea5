"""VideoMAE: masked video modelling with tube masking (Tong, Song, Wang & Wang, NeurIPS 2022; seed
001's generative family: "vanilla ViT trained with a masked autoencoder, tube masking with an
extremely high ratio due to temporal redundancy").

A training item is one clip of ``clip_frames`` frames (:func:`avbench.shards.loader.clip_view`,
no audio). The video encoder must be a ViT (``video_backbone: vit_small3d``,
:mod:`avbench.models.vit`): the clip becomes tubelet tokens (``tubelet`` frames x ``patch`` x
``patch`` pixels), and

- **tube masking** (:func:`tube_mask`): per clip, ``round(mask_ratio * rows * cols)`` spatial
  positions drawn uniformly are masked in *every* time slot (the same positions through time,
  so a masked patch cannot be copied from the neighbouring frames of a nearly still video);
- the **encoder sees only the visible tokens** (``(1 - mask_ratio)`` of them: 38 of 384 on the
  default 16-frame 40x30 clips at 0.9);
- a light **decoder** (:class:`MAEDecoder`: a linear map to ``decoder_dim``, a learned mask
  token at every masked position, fixed 3D sinusoidal positions, ``decoder_depth`` transformer
  blocks, a linear map to the tubelet's pixels) predicts the pixels of the masked tubelets;
- the targets are the masked tubelets' pixels, each tubelet **normalized** by its own mean and
  (unbiased) standard deviation per colour channel (``norm_pix``, the paper's default; off:
  the raw pixels in [0, 1]); the loss is the **MSE on the masked tokens only**.

Held-out metrics (``val_*`` of metrics.csv, the same clips and masks every epoch): ``recon_mse``,
the model's masked-token MSE, against two predictions that need no learning: ``mean_mse``, each
masked tubelet predicted by its mean (zero in the normalized space; with raw targets the mean
colour of the clip's visible pixels), and ``copy_mse``, each masked tubelet predicted by the
nearest visible tubelet of the same time slot (spatial nearest neighbour, a classic in-painting
baseline). ``recon_gain = 1 - recon_mse / min(mean_mse, copy_mse)``: above 0 means the model
reconstructs better than the better baseline ("above chance" for a regression pretext).

Deviations from the paper: a small ViT (:mod:`avbench.models.vit`: 128 wide, 4 blocks by default;
ViT-S in the Kinetics config; the paper's main results are ViT-B), 3D separable instead of 1D
sinusoidal positions, and the one optimiser of :func:`avbench.pretrain.pretrain` (Adam at a
constant rate, coupled weight decay) instead of AdamW with warm-up and a cosine schedule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avbench.models import encoder_spec
from avbench.models.vit import VIT_NAMES, init_weights, patchify, sincos_3d, transformer_blocks
from avbench.pretext.base import Pretext, PretrainModel

#: VideoMAE's settings (``pretrain.videomae``) and their defaults: the schema's defaults (a test checks)
VIDEOMAE_DEFAULTS: dict[str, Any] = {
    "mask_ratio": 0.9,
    "norm_pix": True,
    "decoder_dim": 64,
    "decoder_depth": 2,
    "decoder_heads": 4,
}


def n_masked(spatial: int, ratio: float) -> int:
    """Spatial positions masked per time slot: ``round(ratio * spatial)``, at least 1, at most
    ``spatial - 1`` (the encoder needs one visible token and the loss one masked)."""
    if spatial < 2:
        raise ValueError("tube masking needs at least 2 spatial positions per time slot")
    return min(spatial - 1, max(1, int(round(ratio * spatial))))


def tube_mask(
    batch: int, grid: tuple[int, int, int], ratio: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tube masks of ``batch`` clips of a (time slots, rows, columns) token grid.

    Returns (``mask`` bool (B, N), True where masked, the same spatial positions in every time
    slot; ``visible`` int64 (B, N_vis) and ``masked`` int64 (B, N_mask), the token indices (time-
    row-column order) of each, ascending). N_mask = T' * :func:`n_masked`, the same for every clip.
    Drawn on the CPU from ``generator``."""
    t, h, w = grid
    s = h * w
    k = n_masked(s, ratio)
    order = torch.rand(batch, s, generator=generator).argsort(dim=1)
    spatial = torch.zeros(batch, s, dtype=torch.bool)
    spatial.scatter_(1, order[:, :k], True)
    mask = spatial.repeat(1, t)  # (B, T' * S): slot-major, so the spatial mask repeats per slot
    idx = torch.arange(t * s).expand(batch, -1)
    visible = idx[~mask].reshape(batch, -1)
    masked = idx[mask].reshape(batch, -1)
    return mask, visible, masked


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[b, idx[b]]`` for every clip: (B, N, ...) and (B, n) -> (B, n, ...)."""
    return torch.gather(x, 1, idx.view(*idx.shape, *([1] * (x.ndim - 2))).expand(-1, -1, *x.shape[2:]))


def targets(video: torch.Tensor, *, patch: int, tubelet: int, norm_pix: bool) -> torch.Tensor:
    """Reconstruction targets of every tubelet of clips (B, 3, T, H, W) in [0, 1]: float32 (B, N,
    tubelet * patch * patch * 3), normalized per tubelet and colour channel when ``norm_pix``
    (VideoMAE: mean and unbiased std over the tubelet's pixels, eps 1e-6)."""
    p = patchify(video.float(), patch=patch, tubelet=tubelet)  # (B, N, K, 3)
    if norm_pix:
        p = (p - p.mean(dim=2, keepdim=True)) / (p.var(dim=2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return p.flatten(2)


class MAEDecoder(nn.Module):
    """VideoMAE's decoder: encoded visible tokens (B, n_vis, enc_dim) -> predicted pixels of the
    masked tokens (B, n_mask, patch_dim), given the token indices of both and the grid."""

    def __init__(self, *, enc_dim: int, dim: int, depth: int, heads: int, patch_dim: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"videomae.decoder_dim {dim} is not a multiple of videomae.decoder_heads {heads}")
        self.dim = int(dim)
        self.embed = nn.Linear(enc_dim, dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = transformer_blocks(dim, depth, heads, 4.0)
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, patch_dim)
        init_weights(self)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(
        self, z: torch.Tensor, visible: torch.Tensor, masked: torch.Tensor, grid: tuple[int, int, int]
    ) -> torch.Tensor:
        b = z.shape[0]
        pos = sincos_3d(grid, self.dim, z.device).to(z.dtype).expand(b, -1, -1)
        x_vis = self.embed(z) + gather_tokens(pos, visible)
        x_mask = self.mask_token.to(x_vis.dtype).expand(b, masked.shape[1], -1) + gather_tokens(pos, masked)
        x = self.blocks(torch.cat([x_vis, x_mask], dim=1))
        return self.pred(self.norm(x[:, -masked.shape[1] :]))


def nearest_visible(grid: tuple[int, int, int], visible: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """For each masked token, the index of the nearest visible token of the same time slot (grid
    distance; ties: the lower index): int64 (B, n_mask)."""
    _, h, w = grid
    s = h * w
    rc = torch.stack([torch.arange(s) // w, torch.arange(s) % w], 1).float()  # (S, 2)
    vs, ms = visible % s, masked % s
    d = torch.cdist(rc[ms], rc[vs])  # (B, n_mask, n_vis)
    # visible tokens of the masked token's slot only (tube masking: every slot has the same ones)
    same = (masked // s)[:, :, None] == (visible // s)[:, None, :]
    d = d.masked_fill(~same, float("inf"))
    return torch.gather(visible, 1, d.argmin(dim=2))


class VideoMAE(Pretext):
    """Masked video modelling with tube masking and pixel reconstruction: ``videomae``."""

    name = "videomae"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = {**VIDEOMAE_DEFAULTS, **self.settings()}
        self.mask_ratio = float(s["mask_ratio"])
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"videomae.mask_ratio must lie in (0, 1), not {self.mask_ratio}")
        self.norm_pix = bool(s["norm_pix"])
        self.decoder = {k: int(s[f"decoder_{k}"]) for k in ("dim", "depth", "heads")}
        spec = encoder_spec("video", cfg)
        if spec["name"] not in VIT_NAMES:
            raise ValueError(
                f"videomae needs a ViT video backbone ({', '.join(VIT_NAMES)}), not "
                f"{spec['name']!r}: set video_backbone in the run"
            )
        self.patch, self.tubelet = int(spec["vit"]["patch"]), int(spec["vit"]["tubelet"])
        if self.clip_frames < self.tubelet:
            raise ValueError(f"clip_frames {self.clip_frames} is shorter than one tubelet ({self.tubelet} frames)")

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return MAEDecoder(enc_dim=dims["video"], patch_dim=self.tubelet * self.patch * self.patch * 3, **self.decoder)

    def reconstruct(self, model: PretrainModel, video: torch.Tensor, generator: torch.Generator) -> dict[str, Any]:
        """Mask clips ``video`` (B, 3, T, H, W), encode the visible tokens, decode the masked ones:
        ``pred`` and ``target`` (B, n_mask, patch_dim), the encoder's output ``encoded`` (B, n_vis,
        dim), ``mask``, ``visible``, ``masked`` (:func:`tube_mask`, on the clips' device), ``grid``
        and ``all_targets`` (B, N, patch_dim)."""
        enc = model.encoders["video"]
        tokens, grid = enc.tokens(video)
        mask, visible, masked = (m.to(video.device) for m in tube_mask(len(video), grid, self.mask_ratio, generator))
        encoded = enc.encode(gather_tokens(tokens, visible))
        pred = model.head(encoded, visible, masked, grid)
        tgt = targets(video, patch=self.patch, tubelet=self.tubelet, norm_pix=self.norm_pix)
        return {
            "pred": pred,
            "target": gather_tokens(tgt, masked),
            "encoded": encoded,
            "mask": mask,
            "visible": visible,
            "masked": masked,
            "grid": grid,
            "all_targets": tgt,
        }

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        r = self.reconstruct(model, batch["video"], generator)
        loss = nn.functional.mse_loss(r["pred"].float(), r["target"])
        return loss, {"recon_mse": float(loss.detach())}

    def baselines(self, r: dict[str, Any]) -> dict[str, float]:
        """MSE of the two predictions without learning (module doc) on the masked tokens of ``r``."""
        tgt = r["target"]
        if self.norm_pix:
            mean_pred = torch.zeros_like(tgt)
        else:
            vis = gather_tokens(r["all_targets"], r["visible"])  # (B, n_vis, K * 3)
            colour = vis.reshape(*vis.shape[:2], -1, 3).mean(dim=(1, 2))  # (B, 3)
            mean_pred = colour[:, None, None, :].expand(-1, tgt.shape[1], tgt.shape[2] // 3, -1).reshape(tgt.shape)
        near = nearest_visible(r["grid"], r["visible"].cpu(), r["masked"].cpu()).to(tgt.device)
        copy_pred = gather_tokens(r["all_targets"], near)
        return {"mean_mse": float(((mean_pred - tgt) ** 2).mean()), "copy_mse": float(((copy_pred - tgt) ** 2).mean())}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        r = self.reconstruct(model, batch["video"], generator)
        out = {"recon_mse": float(((r["pred"].float() - r["target"]) ** 2).mean())}
        out.update(self.baselines(r))
        out["recon_gain"] = 1.0 - out["recon_mse"] / max(1e-12, min(out["mean_mse"], out["copy_mse"]))
        return out
