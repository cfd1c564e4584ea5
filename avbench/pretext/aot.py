"""Arrow of time (Wei, Lim, Zisserman & Freeman, CVPR 2018): is a clip played forwards or backwards?

Input is optical flow only: ``segments * frames`` consecutive flow fields of a clip (the shards'
``flow.npy``), encoded by the T-CAM flow network (:mod:`avbench.models.flow`: a 2D CNN per
segment, late fusion, global average pooling) and classified forward / backward by a linear
layer (the class-activation-map layer of T-CAM).

The backward version of a clip is its flow fields **in reverse order and negated**, which
approximates the flow computed on the reversed video (:func:`aot_directions`: by default both
directions are first moved to the midpoints of their vectors, where this reversal is exact; the
plain negation of the stored fields leaks the direction through second-order effects). The
forward clip is the midpoint representation that every flow encoder reads, downstream too
(:func:`avbench.preprocess.flow.flow_input`): pretext and evaluation see one input. Quantized
flow is read with the two levels next to zero as 0 (:func:`avbench.pretext.base.flow_unit`), so a
still background reads the same in both directions.

Every training clip is used in both directions (target 1 forward, 0 backward), so the classes
are balanced within each batch and chance is exactly 50%. With ``motion_sampling`` the clip
start is drawn with probability proportional to the clip's mean flow magnitude (plus a floor),
so that still stretches, which carry no arrow of time, are rarely drawn.

Shortcut cues (seed 002): black framing and camera motion (real footage zooms in and tilts down
far more often than the reverse) let a network tell the direction without understanding the
scene. The default shards remove them (border crop, black-frame removal, stabilization); a
dataset entry with per-dataset shard overrides keeps them (``aot_cues_kept`` in config.yaml). The
share of training videos carrying each cue is read from the samples' JSON (:func:`cue_flags`)
and recorded in the metrics and the checkpoint meta, as the cue table's "percent of videos".
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from avbench.preprocess.flow import flow_input, midpoint_field, quantized_flow, unit_flow  # noqa: F401 (re-exported)
from avbench.pretext.base import ClassificationPretext, PretrainModel, accuracy, positives_negatives
from avbench.pretext.motion import motion_weighted_choice, window_motion
from avbench.shards.loader import View, clip_starts, usable

if TYPE_CHECKING:  # pragma: no cover
    from avbench.pretrain import Trainer


def reverse_flow(flow: np.ndarray) -> np.ndarray:
    """The fields of a clip in reverse order and negated. flow: uint8 (T, H, W, 2) quantized
    (negation ``255 - q``, exact on the quantization levels) or float (negation ``-f``)."""
    rev = flow[::-1]
    return np.ascontiguousarray(255 - rev) if flow.dtype == np.uint8 else np.ascontiguousarray(-rev)


def aot_directions(clip: np.ndarray, bound: float, *, reversal: str = "midpoint") -> tuple[np.ndarray, np.ndarray]:
    """The forward and backward versions of a clip of quantized flow (uint8 (T, H, W, 2), bound in
    pixels). Returns (forward, backward), uint8 (T, H, W, 2) each.

    The backward version is the fields in reverse order and negated, an approximation of the flow
    one would compute on the reversed video, whose field from frame k + 1 to frame k lives on the
    pixel grid of frame k + 1 rather than k.

    - ``reversal="negate"``: the stored fields, reversed and negated (``255 - q``). The grids
      differ by one frame's displacement, which a network notices: a rotation's forward chord
      points inwards and its negation outwards, and the vectors stop pointing at where the next
      field's support is by the acceleration, so even a time-symmetric spin looks directional.
    - ``reversal="midpoint"`` (default): both versions are first moved to the midpoints of their
      vectors (:func:`midpoint_field`), the one grid that the forward and the reversed flow share,
      where reversal is exactly "reverse the order and negate"; both directions go through the
      same resampling, so neither carries an artifact the other lacks. The forward version is
      :func:`avbench.preprocess.flow.flow_input`, the one flow representation that every flow
      encoder reads, in pretraining and downstream (``avbench.shards.loader.clip_view``).
      ``negate`` is a diagnostic only: its forward clips are the raw stored fields, which no
      downstream protocol reads.
    """
    if reversal == "negate":
        return np.ascontiguousarray(clip), reverse_flow(clip)
    if reversal != "midpoint":
        raise ValueError(f"unknown arrow-of-time reversal {reversal!r}")
    fwd = flow_input(clip, bound)  # the representation every flow encoder reads (downstream too)
    return fwd, reverse_flow(fwd)


def flow_motion(flow: np.ndarray) -> np.ndarray:
    """Mean flow magnitude of each field of quantized flow (T, H, W, 2) uint8, in quantization
    steps (0 for still fields). Returns float32 (T,)."""
    c = np.abs(flow.astype(np.float32) - 127.5) - 0.5
    return np.maximum(c, 0).reshape(len(flow), -1).mean(1)


def aot_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    flow_frames: int,
    motion_sampling: bool,
    reversal: str = "midpoint",
) -> dict[str, Any] | None:
    """A clip of ``flow_frames`` consecutive flow fields (never across dropped frames) in both
    directions (:func:`aot_directions`): ``flow`` uint8 (T, H, W, 2) forward, ``flow_rev`` uint8
    (T, H, W, 2) backward, ``label``, ``start``. None when the sample has no such clip."""
    meta, flow = sample["meta"], sample["flow"]
    if flow is None:
        return None
    starts = [k for k in clip_starts(meta, flow_frames + 1) if k + flow_frames <= len(flow)]
    if not starts:
        return None
    if motion_sampling and len(starts) > 1:
        k0 = motion_weighted_choice(starts, window_motion(flow_motion(flow), starts, flow_frames + 1), rng)
    else:
        k0 = int(starts[int(rng.integers(len(starts)))])
    fwd, bwd = aot_directions(flow[k0 : k0 + flow_frames], float(meta["flow"]["bound"]), reversal=reversal)
    return {"flow": fwd, "flow_rev": bwd, "label": int(meta.get("label_idx", -1)), "start": k0}


def cue_flags(meta: dict[str, Any], *, camera_threshold: float | None) -> dict[str, bool | None]:
    """Whether one sample carries each arrow-of-time shortcut cue, from its JSON (None: unknown).

    ``black_border``: black bars were detected (``borders.bars`` non-zero, or ``crop_box``
    smaller than the source frame); unknown when border detection did not run. ``camera_motion``:
    ``stabilization.camera_motion_score`` (frame diagonals per second) above ``camera_threshold``,
    or, when that is None, the sample's own ``stabilization.camera_moving`` (the shard stage's
    threshold); unknown without a score. ``borders_removed`` / ``stabilized``: whether these
    shards had the cue removed.
    """
    borders = meta.get("borders") or {}
    box = meta.get("crop_box")
    bars = borders.get("bars")
    black: bool | None = None
    if bars:
        black = any(int(v) > 0 for v in bars.values())
    elif box is not None:
        src = (meta.get("geometry") or {}).get("source_size")
        if src:
            black = (int(box[2]) - int(box[0])) < int(src[0]) or (int(box[3]) - int(box[1])) < int(src[1])
        else:
            black = True
    elif borders.get("enabled"):
        black = False
    stab = meta.get("stabilization") or {}
    score = stab.get("camera_motion_score")
    if score is None:
        moving = None
    elif camera_threshold is None and stab.get("camera_moving") is not None:
        moving = bool(stab["camera_moving"])
    else:
        moving = bool(float(score) > (0.01 if camera_threshold is None else camera_threshold))
    return {
        "black_border": black,
        "camera_motion": moving,
        "borders_removed": bool(borders.get("enabled")) if borders else None,
        "stabilized": bool(stab.get("enabled")) if stab else None,
    }


def cue_shares(metas: list[dict[str, Any]], *, camera_threshold: float | None) -> dict[str, float]:
    """Share of videos with each cue among those where it is known (NaN when never known), and
    the share of videos whose shards had each cue removed."""
    flags = [cue_flags(m, camera_threshold=camera_threshold) for m in metas]
    out: dict[str, float] = {"cue_videos": float(len(flags))}
    for name in ("black_border", "camera_motion", "borders_removed", "stabilized"):
        known = [f[name] for f in flags if f[name] is not None]
        out[f"share_{name}"] = float(np.mean(known)) if known else float("nan")
    return out


class ArrowOfTime(ClassificationPretext):
    """Forward vs backward on flow (T-CAM): ``aot``."""

    name = "aot"
    encoders = ("flow",)
    needs = frozenset({"flow"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.motion_sampling = bool(s.get("motion_sampling", True))
        thr = s.get("camera_motion_threshold")
        self.camera_threshold = None if thr is None else float(thr)
        self.reversal = str(s.get("reversal", "midpoint"))
        self.cues: dict[str, float] | None = None

    def usable(self, row: dict[str, Any]) -> bool:
        return usable(row, clip_frames=self.flow_frames(), audio=False, flow=True)

    def view(self, epoch: int) -> View:
        return functools.partial(
            aot_view, flow_frames=self.flow_frames(), motion_sampling=self.motion_sampling, reversal=self.reversal
        )

    def heldout_view(self) -> View:
        return functools.partial(
            aot_view, flow_frames=self.flow_frames(), motion_sampling=False, reversal=self.reversal
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return nn.Linear(dims["flow"], 2)

    def targets(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return positives_negatives(model, "flow", batch["flow"], batch["flow_rev"])  # forward 1, backward 0

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        logits, y = self.targets(model, batch)
        n = len(batch["flow"])
        pred = logits.argmax(-1)
        # a clip is "understood" when both of its directions are classified right
        both = ((pred[:n] == 1) & (pred[n:] == 0)).float().mean()
        return {"pretext_acc": accuracy(logits, y), "both_directions_acc": float(both)}

    def before_epoch(self, trainer: "Trainer", epoch: int) -> dict[str, float]:
        if self.cues is None:
            metas = [
                s["meta"]
                for s in trainer.stream(
                    view=None, keys=trainer.train_keys, epoch=0, shuffle=False, split=False, needs=frozenset()
                )
            ]
            self.cues = cue_shares(metas, camera_threshold=self.camera_threshold)
        return dict(self.cues)

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"aot_cues": dict(self.cues or {}), "aot_camera_motion_threshold": self.camera_threshold}
