"""Reference rows of every table: supervised pretraining and random initialisation (scratch).

``supervised`` trains each of its encoders (``supervised.encoders``: video and audio by default,
flow too for the arrow-of-time table) with a linear classifier on the pretraining set's labels
(cross-entropy, one loss per encoder, summed): the "fully supervised" upper reference.
``scratch`` trains nothing: its checkpoint holds randomly initialised video, audio and flow
encoders, which evaluation then scores (linear classifier) or trains from scratch (fine-tune). Their BatchNorm
running statistics are measured on the pretraining clips (no gradient step): left at their initial
mean 0 / variance 1, the frozen layers pass un-normalised activations (flow fields are ~1e-3 after
three layers), the momentum average of a fine-tuned top layer has not forgotten its initial variance
after a few dozen steps, and every test clip lands in one class.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, accuracy, members_read
from avbench.shards.loader import View, batches, clip_view, usable


class Supervised(Pretext):
    name = "supervised"
    uses_labels = True

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        if n_classes < 2:
            raise ValueError("supervised pretraining needs a labelled pretraining set (label_idx >= 0, 2+ classes)")
        kinds = tuple(self.settings().get("encoders") or ("video", "audio"))
        self.encoders = kinds  # type: ignore[misc]
        self.needs = members_read(kinds)  # type: ignore[misc]

    def usable(self, row: dict[str, Any]) -> bool:
        return super().usable(row) and int(row.get("label_idx", -1)) >= 0

    def view(self, epoch: int) -> View:
        frames = self.flow_frames() if "flow" in self.encoders else self.clip_frames
        return functools.partial(
            supervised_view,
            clip_frames=self.clip_frames,
            flow_frames=frames,
            audio="audio" in self.encoders,
            flow="flow" in self.encoders,
        )

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return nn.ModuleDict({k: nn.Linear(dims[k], self.n_classes) for k in self.encoders})

    def _logits(self, model: PretrainModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {k: model.head[k](model.encode(k, batch[k])) for k in self.encoders}

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        y = batch["label"]
        logits = self._logits(model, batch)
        loss = sum(nn.functional.cross_entropy(z, y) for z in logits.values())
        return loss, _accuracies(logits, y)  # type: ignore[return-value]

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        return _accuracies(self._logits(model, batch), batch["label"])


def _accuracies(logits: dict[str, torch.Tensor], y: torch.Tensor) -> dict[str, float]:
    """``pretext_acc`` is the first encoder's accuracy (video), the others ``<kind>_acc``."""
    out = {}
    for i, (k, z) in enumerate(logits.items()):
        out["pretext_acc" if i == 0 else f"{k}_acc"] = accuracy(z, y)
    return out


def supervised_view(
    sample: dict[str, Any], rng: Any, *, clip_frames: int, flow_frames: int, audio: bool, flow: bool
) -> dict[str, Any] | None:
    """A synchronized clip of ``max(clip_frames, flow_frames)`` frames; ``video`` keeps the first
    ``clip_frames`` of them and ``flow`` the first ``flow_frames`` flow pairs."""
    n = max(clip_frames, flow_frames) if flow else clip_frames
    item = clip_view(sample, rng, clip_frames=n, audio=audio, flow=flow)
    if item is None:
        return None
    if flow:
        item["flow"] = item["flow"][:flow_frames]
    if n != clip_frames:
        item["video"] = item["video"][:clip_frames]
        if audio:  # the audio window of the first clip_frames frames
            item["audio"] = item["audio"][:, : int(round(item["audio"].shape[1] * clip_frames / n))]
    return item


class Scratch(Pretext):
    name = "scratch"
    encoders = ("video", "audio", "flow")
    needs = frozenset()
    trains = False
    calibration_clips = 256

    def prepare(self, trainer: Any) -> dict[str, Any]:
        """Measure the encoders' BatchNorm statistics (cumulative average) on up to
        ``calibration_clips`` random training clips of the samples that carry the inputs of the
        most encoders; encoders whose inputs no sample has keep their initial statistics. Returns
        ``{"bn_calibration_clips_<kind>": n}``."""
        rows = {r["key"]: r for r in trainer.rows.to_dict("records")}
        frames = self.flow_frames()

        def fit(audio: bool, flow: bool) -> list[str]:
            return [k for k in trainer.train_keys if usable(rows[k], clip_frames=frames, audio=audio, flow=flow)]

        audio, flow = bool(fit(True, False)), bool(fit(False, True))
        keys = fit(audio, flow)
        if not keys:  # some samples have audio, others flow, none both: calibrate the video encoder only
            audio = flow = False
            keys = [
                k for k in trainer.train_keys if usable(rows[k], clip_frames=self.clip_frames, audio=False, flow=False)
            ]
        if not keys:
            return {}
        kinds = [k for k in self.encoders if k == "video" or (k == "audio" and audio) or (k == "flow" and flow)]
        view = functools.partial(
            supervised_view, clip_frames=self.clip_frames, flow_frames=frames, audio=audio, flow=flow
        )
        out = calibrate_batchnorm(trainer, kinds, view, keys, clips=self.calibration_clips)
        if getattr(trainer.model.encoders["video"], "audio_input", None):  # video_backbone multisensory
            from avbench.pretext.multisensory import calibrate_fused

            fused = [k for k in trainer.train_keys if usable(rows[k], clip_frames=self.clip_frames, audio=True)]
            out.update(
                calibrate_fused(trainer, "video", fused, clip_frames=self.clip_frames, clips=self.calibration_clips)
            )
        return out


@torch.no_grad()
def calibrate_batchnorm(trainer: Any, kinds: list[str], view: View, keys: list[str], *, clips: int) -> dict[str, Any]:
    """Reset the BatchNorm running statistics of encoders ``kinds`` and re-estimate them as the
    cumulative average over up to ``clips`` training clips (train mode, no gradient)."""
    model = trainer.model
    momenta = {
        m: m.momentum
        for k in kinds
        for m in model.encoders[k].modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    for m in momenta:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was = model.training
    model.train()
    seen = 0
    bs = int(trainer.cfg["batch_size"])
    stream = trainer.stream(view=view, keys=keys, epoch=0, shuffle=True, split=False, needs=members_read(kinds))
    for b in batches(stream, batch_size=bs):
        t = trainer.tensors(b)
        for k in kinds:
            model.encode(k, t[k])
        seen += len(b["key"])
        if seen >= clips:
            break
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.train(was)
    return {f"bn_calibration_clips_{k}": seen for k in kinds}
