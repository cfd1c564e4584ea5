"""Video jigsaw: spatio-temporal tile permutations (Ahsan, Madhok & Essa, WACV 2019), after the
image jigsaw of Noroozi & Favaro (ECCV 2016).

A clip of ``clip_frames`` frames (the pretraining clip length; drawn with motion-based sampling,
:mod:`avbench.pretext.motion`) is cut into a ``grid = [t, h, w]`` of cells, ``t`` in time and
``h x w`` in space (default 2 x 2 x 2 = 8 cells); tile ``i`` is cell ``i`` in time-major, then
row, then column order (:func:`cut_tiles`). A tile is a random crop of its cell, ``gap`` pixels
smaller in height and width (Noroozi & Favaro's gaps between tiles, so that the edges of
neighbouring tiles do not simply continue each other; frames left over when a size does not
divide are dropped). The tiles are shown in a shuffled order, slot ``j`` holding tile
``perm[j]``, ``perm`` drawn uniformly from a **fixed set** of ``n_permutations`` permutations
(:func:`permutation_set`: chosen once, deterministically, greedily for maximal Hamming distance as
in Noroozi & Favaro), and the class is the index of ``perm`` in that set (chance ``1 /
n_permutations``).

One video encoder, shared by every tile, encodes each tile at its own size (the encoders pool
globally, so any tile of at least one voxel per axis after their strides is accepted: 8 x 13 x 18
from 16 x 30 x 40 clips here); the features, concatenated in slot order, go into an MLP over the
permutation classes.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import ClassificationPretext, PretrainModel, mlp
from avbench.pretext.motion import frame_motion, motion_weighted_choice, window_motion
from avbench.shards.loader import View, clip_starts, usable

ENUMERATE_UP_TO = 9  # tiles: up to 9! = 362,880 candidate permutations are enumerated, beyond a fixed pool is drawn
POOL = 100_000


@functools.lru_cache(maxsize=16)
def permutation_set(n_tiles: int, n_permutations: int) -> np.ndarray:
    """A fixed set of permutations of ``range(n_tiles)`` far apart in Hamming distance: int64
    (n_permutations, n_tiles), the same on every call and machine.

    Greedy (Noroozi & Favaro, Algorithm 1, with the minimum distance as the criterion): starts from
    the identity and adds, one at a time, the candidate whose smallest Hamming distance to the set
    so far is largest, ties broken by the larger summed distance, then by the first candidate in
    lexicographic order. Candidates: every permutation for up to :data:`ENUMERATE_UP_TO` tiles, else
    a pool of :data:`POOL` drawn with a fixed seed.
    """
    if n_tiles < 2:
        raise ValueError("a jigsaw needs at least 2 tiles")
    if n_permutations < 2 or n_permutations > math.factorial(n_tiles):
        raise ValueError(f"{n_permutations} permutations of {n_tiles} tiles: need 2 to {n_tiles}!")
    if n_tiles <= ENUMERATE_UP_TO:
        cand = np.array(list(itertools.permutations(range(n_tiles))), dtype=np.int8)
    else:
        rng = np.random.default_rng(20190107)
        cand = np.stack([np.arange(n_tiles)] + [rng.permutation(n_tiles) for _ in range(POOL - 1)]).astype(np.int8)
    chosen = [0]  # the identity (first in lexicographic order, and first in the pool)
    dmin = (cand != cand[0]).sum(1).astype(np.int64)
    dsum = dmin.copy()
    taken = np.zeros(len(cand), bool)
    taken[0] = True
    for _ in range(n_permutations - 1):
        score = np.where(taken, -1, dmin * (n_tiles * n_permutations + 1) + dsum)
        k = int(np.argmax(score))  # first maximum: the earliest candidate among ties
        chosen.append(k)
        taken[k] = True
        d = (cand != cand[k]).sum(1)
        np.minimum(dmin, d, out=dmin)
        dsum += d
    out = cand[chosen].astype(np.int64)
    out.setflags(write=False)  # shared by every caller (cached)
    return out


def tile_shape(frames_hw: tuple[int, int, int], grid: tuple[int, int, int], gap: int) -> tuple[int, int, int]:
    """(frames, height, width) of every tile of a (T, H, W) clip cut into ``grid`` cells."""
    ct, ch, cw = (n // g for n, g in zip(frames_hw, grid))
    th, tw = ch - gap, cw - gap
    if ct < 1 or th < 1 or tw < 1:
        raise ValueError(f"a {frames_hw} clip cut into {grid} cells with gap {gap} leaves no tile")
    return ct, th, tw


def cut_tiles(clip: np.ndarray, grid: tuple[int, int, int], gap: int, rng: np.random.Generator) -> np.ndarray:
    """The tiles of a clip in cell order (time-major, then row, then column): uint8 (t*h*w,
    frames, height, width, C) (:func:`tile_shape`), each a crop of its cell at a random offset of
    0 to ``gap`` pixels in height and width."""
    gt, gh, gw = grid
    t, h, w = clip.shape[:3]
    ct, ch, cw = t // gt, h // gh, w // gw
    _, th, tw = tile_shape((t, h, w), grid, gap)
    tiles = []
    for i, j, k in itertools.product(range(gt), range(gh), range(gw)):
        dy, dx = (int(v) for v in rng.integers(0, gap + 1, size=2))
        y0, x0 = j * ch + dy, k * cw + dx
        tiles.append(clip[i * ct : (i + 1) * ct, y0 : y0 + th, x0 : x0 + tw])
    return np.stack(tiles)


def jigsaw_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    clip_frames: int,
    grid: tuple[int, int, int],
    gap: int,
    permutations: np.ndarray,
    motion_sampling: bool,
) -> dict[str, Any] | None:
    """A shuffled jigsaw of one clip: ``video_tiles`` uint8 (n_tiles, frames, height, width, 3), slot
    j holding tile ``permutations[perm][j]`` (:func:`cut_tiles`), ``perm`` (the class: the index in
    ``permutations``), ``label``, ``start`` (the clip's first frame). None when the sample has no
    clip of ``clip_frames`` frames."""
    frames, meta = sample["frames"], sample["meta"]
    if frames is None:
        return None
    starts = clip_starts(meta, clip_frames)
    if not starts:
        return None
    if motion_sampling and len(starts) > 1:
        k0 = motion_weighted_choice(starts, window_motion(frame_motion(frames), starts, clip_frames), rng)
    else:
        k0 = int(starts[int(rng.integers(len(starts)))])
    tiles = cut_tiles(np.asarray(frames[k0 : k0 + clip_frames]), grid, gap, rng)
    c = int(rng.integers(len(permutations)))
    return {
        "video_tiles": np.ascontiguousarray(tiles[permutations[c]]),
        "perm": c,
        "label": int(meta.get("label_idx", -1)),
        "start": k0,
    }


class JigsawHead(nn.Module):
    """Concatenated tile features in slot order -> MLP -> ``n_permutations`` logits. Input (B, n_tiles, D)."""

    def __init__(self, *, dim: int, n_tiles: int, n_permutations: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp = mlp(n_tiles * dim, n_permutations, hidden)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(f.flatten(1))


class Jigsaw(ClassificationPretext):
    """Which permutation of the fixed set shuffled a clip's spatio-temporal tiles: ``jigsaw``."""

    name = "jigsaw"
    encoders = ("video",)
    needs = frozenset({"frames"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        grid = tuple(int(v) for v in s.get("grid", (2, 2, 2)))
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(f"jigsaw.grid must be [t, h, w] of positive counts, not {list(grid)}")
        self.grid: tuple[int, int, int] = (grid[0], grid[1], grid[2])
        self.n_tiles = math.prod(self.grid)
        self.gap = int(s.get("gap", 2))
        self.n_permutations = int(s.get("n_permutations", 32))
        self.motion_sampling = bool(s.get("motion_sampling", True))
        if self.clip_frames < self.grid[0]:
            raise ValueError(f"clip_frames {self.clip_frames} cannot be cut into {self.grid[0]} temporal cells")
        self.permutations = permutation_set(self.n_tiles, self.n_permutations)

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.clip_frames, audio=False)

    def _view(self, motion_sampling: bool) -> View:
        return functools.partial(
            jigsaw_view,
            clip_frames=self.clip_frames,
            grid=self.grid,
            gap=self.gap,
            permutations=self.permutations,
            motion_sampling=motion_sampling,
        )

    def view(self, epoch: int) -> View:
        return self._view(self.motion_sampling)

    def heldout_view(self) -> View:
        return self._view(False)

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return JigsawHead(
            dim=dims["video"],
            n_tiles=self.n_tiles,
            n_permutations=self.n_permutations,
            hidden=int(self.settings().get("hidden", 128)),
        )

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return model.head(model.encode("video", batch["video_tiles"])), batch["perm"]
