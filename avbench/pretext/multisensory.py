"""Multisensory: audio-visual synchronization with early fusion (Owens & Efros, ECCV 2018; seeds 000-002).

One network sees a video clip and an audio window together and says whether they are in sync:
the video 3D CNN runs up to an intermediate layer, the audio subnet's features (raw waveform
through strided 1D convolutions, or the log-mel through 2D convolutions) are pooled to the video
feature map's temporal resolution, tiled over space and concatenated to it, and the fused layers
after it end in a global pool and a linear head giving one logit (binary cross-entropy). The
network is :class:`avbench.models.multisensory.MultisensoryNet`.

Negatives (``multisensory.negatives``):

- ``shifted`` (the paper's): the **same video's** audio shifted by ``delta``, ``shift_s[0] <= |delta|
  <= shift_s[1]`` seconds, forwards or backwards, the shifted window inside the audio. The paper
  shifts by 2.0-5.8 s with 4.2 s clips in 10 s videos (0.48-1.38 clip lengths: the negative window
  partly overlaps the positive for small shifts); avbench's default [0.5, 1.4] s keeps those ratios
  for its 1 s clips (16 frames at 16 fps) and fits the synthetic 3-10 s videos.
- ``random`` (the paper's "random pairing" ablation): the audio of another video of the batch
  (never another clip of the same video, :func:`~avbench.pretext.base.other_video_pairing`).

Each clip gives one positive and one negative, in one forward pass (one BatchNorm batch); the
video subnet runs once per clip, its map fused with both soundtracks.

Audio input (``multisensory.audio_input``): ``waveform`` reads the shards' ``wav.npy`` (written
only with the shard option ``shard.waveform: true``; a waveform run on shards without it stops
with the loader's "no training batch" error naming the member it needs), ``spectrogram`` the
log-mel every shard has.

Data: a video is usable when it holds a clip (``clip_frames`` frames with audio) and, for
``shifted`` negatives, enough audio for the smallest shift: ``clip seconds + shift_s[0]``
(:meth:`Multisensory.skip_reason`). Index rows carry frame and mel-frame counts but not the shard's
frame rate and mel hop: for those rows the shard defaults of the schema (16 fps, 10 ms) are
assumed; a sample's JSON carries its own. The training view draws the clip among the starts that
admit a shift, so a usable video never fails to give a negative.

Evaluation: the checkpoint holds one ``video`` encoder, the whole fused network (its audio subnet
included). Called on video alone, as :mod:`avbench.evaluate` does, it fuses the video map with the
running mean of the audio features seen in training (a neutral soundtrack): the "vision only"
features of the audio-visual network (the seed's "Multisensory (vision only)" row fine-tunes this
network without its audio). ``finetune_top`` trains the layers after the fusion. There is no
``audio`` encoder: the waveform subnet does not read the log-mel that audio downstream sets are
evaluated on, so sound sets skip this method (as they skip the visual-only pretexts).

Downstream with audio (protocol ``finetune_av``, :mod:`avbench.evaluate.finetune`): the fused
network fine-tuned on a labelled set with each clip's own audio (:func:`av_train_view`,
:func:`avbench.evaluate.finetune.av_eval_clips`: the same evaluation clips as the video protocols, the waveform or the log-mel
of the same instant, whichever the network reads); a video without audio is scored with
``audio_mean`` and a one-line reason (:func:`audio_missing`) in its predictions' ``audio_note``.

Held-out metrics: ``pretext_acc`` (in sync vs the run's negatives, logit > 0 called in sync),
``pretext_acc_shifted`` and ``pretext_acc_random`` (both negative kinds, whatever the run trains
on) and ``sync_auc`` (in-sync vs shifted, threshold-free).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.pretext.base import Pretext, PretrainModel, other_video_pairing
from avbench.shards.loader import View, batches, clip_starts, clip_view, frame_time, mel_window, usable, wav_window

#: frame rate and mel hop assumed for index rows, which do not carry them (the shard schema's defaults)
DEFAULT_FPS, DEFAULT_HOP_MS = 16.0, 10.0


def shift_range(t0: float, seconds: float, audio_s: float, lo: float, hi: float) -> list[tuple[float, float]]:
    """The intervals of offsets ``delta`` (``lo <= |delta| <= hi``) that put the window
    ``[t0 + delta, t0 + delta + seconds)`` inside ``[0, audio_s)``: up to one per direction."""
    out = []
    a, b = max(t0 + lo, 0.0), min(t0 + hi, audio_s - seconds)  # later audio: delta in [a - t0, b - t0]
    if b >= a:
        out.append((a - t0, b - t0))
    a, b = max(t0 - hi, 0.0), min(t0 - lo, audio_s - seconds)  # earlier audio
    if b >= a:
        out.append((a - t0, b - t0))
    return out


def draw_shift(
    t0: float, seconds: float, audio_s: float, lo: float, hi: float, rng: np.random.Generator
) -> float | None:
    """A random offset of :func:`shift_range` (direction first, then uniform), None when there is none."""
    ranges = shift_range(t0, seconds, audio_s, lo, hi)
    if not ranges:
        return None
    a, b = ranges[int(rng.integers(len(ranges)))]
    return float(rng.uniform(a, b))


def audio_seconds(sample: dict[str, Any], key: str) -> float:
    """Seconds of audio of a decoded sample in the member the method reads (``wav`` or ``mel``)."""
    meta = sample["meta"]
    if key == "wav":
        return len(sample["wav"]) / float(meta["sample_rate"])
    return sample["mel"].shape[1] * float(meta["hop_ms"]) / 1000.0


def multisensory_view(
    sample: dict[str, Any],
    rng: np.random.Generator,
    *,
    clip_frames: int,
    audio_input: str,
    shift_s: tuple[float, float],
    need_shift: bool,
) -> dict[str, Any] | None:
    """A synchronized clip (``video``, and ``wav`` float32 (N,) or ``audio`` log-mel of the same
    instant, :func:`clip_view`) plus the same video's audio shifted by ``shift`` seconds
    (``wav_neg`` / ``audio_neg``; ``shift_ok`` False, ``shift`` 0 and a copy of the in-sync audio
    when no shift fits). With ``need_shift`` the clip is drawn among the starts that admit a shift
    (None when none does)."""
    key = "wav" if audio_input == "waveform" else "mel"
    meta = sample["meta"]
    if sample["frames"] is None or sample.get(key) is None:
        return None
    fps = float(meta["fps"])
    seconds = clip_frames / fps
    total = audio_seconds(sample, key)
    starts = clip_starts(meta, clip_frames)
    fits = [k for k in starts if shift_range(frame_time(meta, k), seconds, total, *shift_s)]
    if need_shift:
        starts = fits
    if not starts:
        return None
    k0 = int(starts[int(rng.integers(len(starts)))])
    item = clip_view(sample, rng, clip_frames=clip_frames, audio=key == "mel", wav=key == "wav", start=k0)
    if item is None:
        return None
    item.pop("start")
    t0 = frame_time(meta, k0)
    delta = draw_shift(t0, seconds, total, *shift_s, rng)
    out_key = "wav" if key == "wav" else "audio"
    item["shift_ok"] = delta is not None
    item["shift"] = float(delta) if delta is not None else 0.0
    item["t0"] = float(t0)
    if delta is None:
        item[out_key + "_neg"] = item[out_key]
    elif key == "wav":
        item["wav_neg"] = wav_window(sample["wav"], meta, t0 + delta, seconds)
    else:
        item["audio_neg"] = mel_window(sample["mel"], meta, t0 + delta, seconds)
    return item


# -- downstream: the fused network fine-tuned with each clip's own audio (protocol finetune_av) -----------

#: the shard member each audio input reads
AUDIO_MEMBER = {"waveform": "wav", "spectrogram": "mel"}
#: the batch key each audio input is fed under (``to_tensors`` normalises ``audio*`` as a log-mel)
AUDIO_KEY = {"waveform": "wav", "spectrogram": "audio"}


def audio_missing(sample: dict[str, Any], audio_input: str) -> str | None:
    """Why a decoded sample gives the fused network no audio, as one line, or None when it has some:
    ``no_audio_stream`` (the video has no audio: no log-mel, ``has_audio`` false) or ``no_waveform``
    (a waveform network, shards written without ``shard.waveform``)."""
    meta = sample["meta"]
    mel = sample.get("mel")
    if not meta.get("has_audio", True) or (audio_input == "spectrogram" and (mel is None or mel.shape[1] == 0)):
        return "no_audio_stream: the video has no audio; scored with the mean training audio feature"
    if audio_input == "waveform" and (sample.get("wav") is None or len(sample["wav"]) == 0):
        return "no_waveform: the shard stores no wav.npy (shard.waveform); scored with the mean training audio feature"
    return None


def av_clip(sample: dict[str, Any], k0: int, *, clip_frames: int, audio_input: str) -> dict[str, Any] | None:
    """The clip of ``clip_frames`` frames starting at frame ``k0`` with its own audio of the same
    instant and duration: ``video``, ``label``, ``wav`` float32 (N,) (waveform) or ``audio`` float32
    (n_mels, A) (spectrogram), ``with_audio`` and ``no_audio_reason`` (:func:`audio_missing`, "" when
    ok; not named ``audio_*``, which the batch normalises as log-mels). A sample without audio gives a
    zero placeholder of the same shape, ``with_audio`` False (the network then fuses ``audio_mean``)."""
    item = clip_view(sample, np.random.default_rng(0), clip_frames=clip_frames, audio=False, start=k0)
    if item is None:
        return None
    meta = sample["meta"]
    seconds = clip_frames / float(meta["fps"])
    t0 = frame_time(meta, k0)
    reason = audio_missing(sample, audio_input)
    if audio_input == "waveform":
        n = int(round(seconds * float(meta.get("sample_rate") or 16000)))
        item["wav"] = wav_window(sample["wav"], meta, t0, seconds) if reason is None else np.zeros(n, np.float32)
    else:
        n = int(round(seconds * 1000.0 / float(meta.get("hop_ms") or DEFAULT_HOP_MS)))
        n_mels = int(meta.get("n_mels") or (sample["mel"].shape[0] if sample.get("mel") is not None else 40))
        item["audio"] = (
            mel_window(sample["mel"], meta, t0, seconds) if reason is None else np.zeros((n_mels, n), np.float32)
        )
    item.pop("start", None)
    item["with_audio"] = reason is None
    item["no_audio_reason"] = reason or ""
    return item


def av_train_view(
    sample: dict[str, Any], rng: np.random.Generator, *, clip_frames: int, audio_input: str
) -> dict[str, Any] | None:
    """A random training clip of a labelled video with its own audio (:func:`av_clip`); None when the
    video holds no clip."""
    if sample["frames"] is None:
        return None
    starts = clip_starts(sample["meta"], clip_frames)
    if not starts:
        return None
    return av_clip(
        sample, int(starts[int(rng.integers(len(starts)))]), clip_frames=clip_frames, audio_input=audio_input
    )


@torch.no_grad()
def calibrate_fused(trainer: Any, kind: str, keys: list[str], *, clip_frames: int, clips: int) -> dict[str, Any]:
    """Random init of a fused network (encoder ``kind`` of ``trainer.model``, a
    :class:`~avbench.models.multisensory.MultisensoryNet`: the ``scratch`` run with ``video_backbone:
    multisensory``): its BatchNorm running statistics and ``audio_mean`` re-estimated as cumulative averages
    over up to ``clips`` training clips of ``keys`` fed with their own audio (train mode, no gradient step),
    so that the random network sees its audio subnet's normalised features, as a pretrained one does.
    Returns ``{"bn_calibration_clips_<kind>_with_audio": n}`` (0: no clip had the audio it reads)."""
    net = trainer.model.encoders[kind]
    bns = {m: m.momentum for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was, momentum = net.training, net.momentum
    net.train()
    view = functools.partial(av_train_view, clip_frames=clip_frames, audio_input=net.audio_input)
    needs = frozenset({"frames", AUDIO_MEMBER[net.audio_input]})
    stream = trainer.stream(view=view, keys=keys, epoch=0, shuffle=True, split=False, needs=needs)
    seen, total = 0, torch.zeros_like(net.audio_mean)
    for b in batches(stream, batch_size=int(trainer.cfg["batch_size"])):
        t = trainer.tensors(b)
        ok = t["with_audio"].bool()
        if not bool(ok.any()):
            continue
        net.momentum = 1.0  # audio_mean: this batch's mean, summed below
        net(t["video"][ok], t[AUDIO_KEY[net.audio_input]][ok])
        n = int(ok.sum())
        total += n * net.audio_mean
        seen += n
        if seen >= clips:
            break
    if seen:
        net.audio_mean.copy_(total / seen)
    for m, mom in bns.items():
        m.momentum = mom
    net.momentum = momentum
    net.train(was)
    return {f"bn_calibration_clips_{kind}_with_audio": seen}


class SyncHead(nn.Module):
    """One logit (in sync?) from the fused network's pooled features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f).squeeze(-1)


def binary_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(score of a positive > score of a negative), ties counting half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    d = pos.float()[:, None] - neg.float()[None, :]
    return float((d > 0).float().mean() + 0.5 * (d == 0).float().mean())


class Multisensory(Pretext):
    name = "multisensory"
    encoders = ("video",)
    needs = frozenset({"frames", "wav"})

    def __init__(self, cfg: dict[str, Any], *, n_classes: int, seed: int) -> None:
        super().__init__(cfg, n_classes=n_classes, seed=seed)
        s = self.settings()
        self.audio_input = str(s.get("audio_input", "waveform"))
        self.negatives = str(s.get("negatives", "shifted"))
        lo, hi = (float(x) for x in s.get("shift_s", (0.5, 1.4)))
        if not 0 < lo <= hi:
            raise ValueError(f"multisensory.shift_s must satisfy 0 < min <= max, not [{lo}, {hi}]")
        if self.audio_input not in ("waveform", "spectrogram") or self.negatives not in ("shifted", "random"):
            raise ValueError(f"multisensory: audio_input {self.audio_input!r} / negatives {self.negatives!r}")
        self.shift_s = (lo, hi)
        self.fuse_after = int(s.get("fuse_after", 2))
        self.audio_channels = [int(c) for c in s.get("audio_channels", (16, 32, 64))]
        self.needs = frozenset({"frames", "wav" if self.audio_input == "waveform" else "mel"})
        self.audio_key = "wav" if self.audio_input == "waveform" else "audio"

    def encoder_specs(self) -> dict[str, dict[str, Any]]:
        return {
            "video": {
                "kind": "video",
                "name": "multisensory",
                "channels": [int(c) for c in self.cfg["channels"]],
                "fuse_after": self.fuse_after,
                "audio_input": self.audio_input,
                "audio_channels": self.audio_channels,
            }
        }

    # -- data -------------------------------------------------------------------------------------
    def skip_reason(self, row: dict[str, Any]) -> str | None:
        """Why a sample (its JSON or an index row) cannot be used, or None: ``no_clip`` (fewer than
        ``clip_frames`` frames, or no audio) or ``audio_too_short`` (shifted negatives: less audio
        than a clip plus the smallest shift)."""
        if not usable(row, clip_frames=self.clip_frames, audio=True):
            return f"no_clip: {int(row.get('n_frames') or 0)} frames (< {self.clip_frames}) or no audio"
        if self.negatives != "shifted":
            return None
        fps = float(row.get("fps") or DEFAULT_FPS)
        if row.get("t_start") is not None and row.get("t_end") is not None and "fps" in row:
            have = float(row["t_end"]) - float(row["t_start"])  # a sample's JSON: its audio timeline
        elif row.get("n_mel_frames") is not None and not (
            isinstance(row["n_mel_frames"], float) and math.isnan(row["n_mel_frames"])
        ):
            have = float(row["n_mel_frames"]) * float(row.get("hop_ms") or DEFAULT_HOP_MS) / 1000.0
        else:
            have = int(row.get("n_frames") or 0) / fps
        need = self.clip_frames / fps + self.shift_s[0]
        if have + 1e-6 < need:
            return f"audio_too_short: {have:.2f} s < {need:.2f} s (a clip of {self.clip_frames / fps:.2f} s + the smallest shift {self.shift_s[0]:.2f} s)"
        return None

    def usable(self, row: dict[str, Any]) -> bool:
        return self.skip_reason(row) is None

    def view(self, epoch: int) -> View:
        return functools.partial(
            multisensory_view,
            clip_frames=self.clip_frames,
            audio_input=self.audio_input,
            shift_s=self.shift_s,
            need_shift=self.negatives == "shifted",
        )

    # -- model ------------------------------------------------------------------------------------
    def build_head(self, dims: dict[str, int]) -> nn.Module:
        return SyncHead(dims["video"])

    def logits(self, model: PretrainModel, video: torch.Tensor, audios: list[torch.Tensor]) -> list[torch.Tensor]:
        """Sync logits of ``video`` with each audio batch of ``audios`` (the video subnet runs once;
        the fused layers see every pairing in one batch)."""
        net = model.encoders["video"]
        v = net.video_map(video)
        a = torch.cat(audios)
        k = len(audios)
        f = net.fuse(v.repeat(k, *([1] * (v.ndim - 1))), a)
        return list(model.head(f).float().split(len(video)))

    def negatives_for(self, batch: dict[str, Any], kind: str, generator: torch.Generator) -> torch.Tensor:
        if kind == "shifted":
            return batch[self.audio_key + "_neg"]
        perm = other_video_pairing(batch["key"], len(batch["video"]), generator)
        return batch[self.audio_key][perm.to(batch[self.audio_key].device)]

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        pos_a = batch[self.audio_key]
        neg_a = self.negatives_for(batch, self.negatives, generator)
        keep = torch.ones(len(pos_a), dtype=torch.bool, device=pos_a.device)
        if self.negatives == "shifted":
            keep = batch["shift_ok"].bool().to(pos_a.device)
        pos, neg = self.logits(model, batch["video"], [pos_a, neg_a])
        neg = neg[keep]
        logits = torch.cat([pos, neg])
        y = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
        with torch.no_grad():
            acc = float(((logits > 0).float() == y).float().mean())
        return loss, {"pretext_acc": acc}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        pos_a = batch[self.audio_key]
        shifted = batch[self.audio_key + "_neg"]
        rand = self.negatives_for(batch, "random", generator)
        pos, neg_s, neg_r = self.logits(model, batch["video"], [pos_a, shifted, rand])
        ok = batch["shift_ok"].bool().to(pos.device)
        out: dict[str, float] = {}

        def acc(p: torch.Tensor, n: torch.Tensor) -> float:
            return float(((p > 0).sum() + (n <= 0).sum()) / max(1, len(p) + len(n)))

        out["pretext_acc_random"] = acc(pos, neg_r)
        if bool(ok.any()):
            out["pretext_acc_shifted"] = acc(pos[ok], neg_s[ok])
            out["sync_auc"] = binary_auc(pos[ok], neg_s[ok])
        main = "pretext_acc_shifted" if self.negatives == "shifted" else "pretext_acc_random"
        if main in out:
            out["pretext_acc"] = out[main]
        return out
