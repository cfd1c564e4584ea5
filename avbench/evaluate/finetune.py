"""Fine-tuning a pretrained encoder on one official fold of a downstream set.

Three protocols (seeds 000, 002, 003):

- ``finetune`` (all layers): the encoder and a new linear classifier (``fc``) are trained on
  random clips of the fold's training videos. Fine-tuning the ``scratch`` run (random init) is
  the papers' "trained from scratch" baseline.
- ``finetune_top`` (the arrow of time's "after fusion"): only the top of the encoder and ``fc``
  are trained; the rest stays frozen, BatchNorm statistics included. The top is
  :func:`top_module`: the T-CAM flow network's ``fusion`` block, the last stage of the other
  encoders (a video ViT: its last quarter of transformer blocks and the final LayerNorm).
- ``finetune_av`` (seed 000's Multisensory "full" rows): all layers of a fused audio-visual encoder
  (the Multisensory network, :class:`avbench.models.multisensory.MultisensoryNet`) and a new fc, the
  network fed each clip's own audio with its video (:class:`ClipInputs`: the waveform or the log-mel of
  the same instant, whichever it was trained on), on the same folds and evaluation clips as
  ``finetune``, which fine-tunes the same network on video alone (its "vision only" row). The fc starts
  from a linear classifier of the fused features *with* audio. A video without audio is kept and
  scored with the network's mean training audio feature, its reason in the predictions' ``audio_note``;
  encoders that take no audio are skipped with a one-line reason.

With the linear classifier (:mod:`avbench.evaluate.linear`, "last layer" / "fc") this gives the seeds'
last layer / after fusion / all layers and fc / all comparisons.

Training streams the fold's training samples with :class:`~avbench.shards.loader.ShardStream`
(``clips_per_video`` random clips of every video per epoch, reshuffled each epoch), SGD with
momentum or Adam, a cosine or constant learning rate, cross-entropy. The fine-tuned model is
scored on the fold's test videos with the evenly spaced evaluation clips of the linear classifier:
clip accuracy, and video accuracy from the softmax averaged over each video's clips. The model
carries its fold (:func:`avbench.evaluate.guards.fold_meta`) and is refused on any other test set.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.checkpoint import load_checkpoint, load_encoders, load_state, save_state
from avbench.evaluate.downstream import Downstream, Split
from avbench.evaluate.features import NEEDS, FeatureCache, _clip_items, spaced
from avbench.evaluate.guards import check_index_covers, check_model_fold, fold_meta
from avbench.evaluate.linear import (
    TASK_ENCODERS,
    backbone,
    clip_and_video_accuracy,
    clip_ordinals,
    clip_predictions,
    encoder_clip_frames,
)
from avbench.pretext.base import to_tensors
from avbench.progress import progress_bar
from avbench.shards.loader import SampleCache, ShardStream, batches, clip_starts, clip_view, collate, mel_window

PROTOCOLS = {"finetune": "all", "finetune_top": "top", "finetune_av": "all"}
#: protocols whose encoder also receives each clip's own audio (a fused audio-visual network)
AV_PROTOCOLS = ("finetune_av",)


def default_device() -> torch.device:
    """The first GPU when there is one (not exercised by the CPU-only tests), else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def top_module(encoder: nn.Module) -> nn.Module:
    """The part of an encoder that ``finetune_top`` trains: ``fusion`` of a T-CAM flow network,
    ``layer4`` of a torchvision ResNet, the modules after the last pooling layer (or the last
    convolution block) of a ``features`` stack (small 3D CNN, VGG), and of a video ViT (VideoMAE's
    encoder) its last quarter of transformer blocks (at least one: 1 of the default 4, 3 of ViT-S's
    12, as ``layer4`` is the last of a ResNet's four stages) with the final LayerNorm."""
    if hasattr(encoder, "fusion"):
        return encoder.fusion
    from avbench.models.vit import ViT3D

    if isinstance(encoder, ViT3D):
        blocks = list(encoder.blocks)
        return nn.ModuleList([*blocks[-max(1, len(blocks) // 4) :], encoder.norm])
    from avbench.models.external import ExternalEncoder

    if isinstance(encoder, ExternalEncoder):  # an external model: its own top stage
        return top_module(encoder.model)
    net = getattr(encoder, "net", None)
    if net is not None and hasattr(net, "layer4"):
        return net.layer4
    feats = getattr(encoder, "features", None)
    if isinstance(feats, nn.Sequential):
        mods = list(feats)
        pools = [
            i for i, m in enumerate(mods) if isinstance(m, (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d))
        ]
        convs = [i for i, m in enumerate(mods) if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        start = pools[-1] + 1 if pools and pools[-1] < convs[-1] else convs[-1]
        return nn.Sequential(*mods[start:])
    raise ValueError(f"no top stage known for {type(encoder).__name__}")


class Classifier(nn.Module):
    """An encoder and a new linear classifier on its pooled features: (B, *input) -> (B, n_classes).
    ``mode``: ``all`` trains every layer, ``top`` the encoder's top stage (:func:`top_module`) and the fc,
    ``fc`` the fc alone."""

    def __init__(self, encoder: nn.Module, n_classes: int, *, mode: str = "all", freeze_bn: bool = False) -> None:
        super().__init__()
        self.freeze_bn = freeze_bn
        if mode not in ("all", "top", "fc"):
            raise ValueError(f"mode must be 'all', 'top' or 'fc', not {mode!r}")
        self.encoder = encoder
        self.fc = nn.Linear(int(encoder.out_dim), int(n_classes))
        # fixed standardisation of the features in front of the fc (a linear classifier's scaler)
        self.register_buffer("feat_mean", torch.zeros(int(encoder.out_dim)))
        self.register_buffer("feat_scale", torch.ones(int(encoder.out_dim)))
        self.mode = mode
        self.top = top_module(encoder) if mode == "top" else None
        for p in self.encoder.parameters():
            p.requires_grad_(mode == "all")
        if self.top is not None:
            for p in self.top.parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if mode and self.top is not None:  # frozen layers keep their BatchNorm statistics
            self.encoder.eval()
            self.top.train()
        if mode and self.freeze_bn:  # BatchNorm keeps the pretrained statistics (the linear classifier's features)
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """Class logits of clips ``x``; ``inputs`` (the clips' audio, :meth:`ClipInputs.extra`) go to the encoder."""
        return self.fc((self.encoder(x, **inputs) - self.feat_mean) / self.feat_scale)


def audio_clip_view(sample: dict[str, Any], rng: np.random.Generator, *, clip_frames: int) -> dict[str, Any] | None:
    """A random log-mel window of ``clip_frames / fps`` seconds (sound sets have no frames)."""
    mel, meta = sample["mel"], sample["meta"]
    if mel is None:
        return None
    seconds = clip_frames / float(meta["fps"])
    rate = 1000.0 / float(meta["hop_ms"])
    n = int(round(seconds * rate))
    m0 = int(rng.integers(max(1, mel.shape[1] - n + 1)))
    return {"audio": mel_window(mel, meta, m0 / rate, seconds), "label": int(meta.get("label_idx", -1))}


def train_view(kind: str, clip_frames: int) -> Any:
    """The random training clip of encoder ``kind`` (picklable)."""
    if kind == "audio":
        return functools.partial(audio_clip_view, clip_frames=clip_frames)
    return functools.partial(clip_view, clip_frames=clip_frames, audio=False, flow=kind == "flow")


@dataclass(frozen=True)
class ClipInputs:
    """What a fine-tune feeds its encoder: the clips of encoder ``kind`` alone (``audio_input`` None), or,
    for protocol ``finetune_av``, the video clips with their own audio (``audio_input``: ``waveform`` or
    ``spectrogram``, what the fused network reads; :func:`avbench.pretext.multisensory.av_clip`)."""

    kind: str
    audio_input: str | None = None

    @property
    def needs(self) -> frozenset[str]:
        """The shard members read."""
        if self.audio_input is None:
            return NEEDS[self.kind]
        from avbench.pretext.multisensory import AUDIO_MEMBER

        return frozenset({"frames", AUDIO_MEMBER[self.audio_input]})

    def train_view(self, clip_frames: int) -> Any:
        """The random training clip (picklable)."""
        if self.audio_input is None:
            return train_view(self.kind, clip_frames)
        from avbench.pretext.multisensory import av_train_view

        return functools.partial(av_train_view, clip_frames=clip_frames, audio_input=self.audio_input)

    def eval_items(self, stream: ShardStream, *, clip_frames: int, clips_per_video: int) -> Iterator[dict[str, Any]]:
        """The evaluation clips of every sample of ``stream`` with ``key`` and ``clip`` (ordinal)."""
        if self.audio_input is None:
            yield from _clip_items(stream, kind=self.kind, clip_frames=clip_frames, clips_per_video=clips_per_video)
            return
        for s in stream:
            clips = av_eval_clips(
                s, clip_frames=clip_frames, clips_per_video=clips_per_video, audio_input=self.audio_input
            )
            for j, item in enumerate(clips):
                yield {**item, "key": s["key"], "clip": j}

    def extra(self, t: dict[str, Any]) -> dict[str, Any]:
        """The encoder's inputs beside the clips, from a batch of tensors: ``audio`` and ``audio_ok``."""
        if self.audio_input is None:
            return {}
        from avbench.pretext.multisensory import AUDIO_KEY

        return {"audio": t[AUDIO_KEY[self.audio_input]], "audio_ok": t["with_audio"]}


def av_eval_clips(
    sample: dict[str, Any], *, clip_frames: int, clips_per_video: int, audio_input: str
) -> list[dict[str, Any]]:
    """The evaluation clips of a video (the evenly spaced starts of
    :func:`avbench.evaluate.features.eval_clips`, the same clips
    as every video protocol), each with its own audio (:func:`avbench.pretext.multisensory.av_clip`)."""
    from avbench.pretext.multisensory import av_clip

    if sample["frames"] is None:
        return []
    out = []
    for k0 in spaced(clip_starts(sample["meta"], clip_frames), clips_per_video):
        item = av_clip(sample, int(k0), clip_frames=clip_frames, audio_input=audio_input)
        if item is not None:
            out.append(item)
    return out


def audio_notes(urls: list[str], audio_input: str, keys: frozenset[str] | None = None) -> dict[str, str]:
    """Per video of the shards (``keys`` only, when given): "" when it has the audio a fused network
    reading ``audio_input`` needs, else the one-line reason
    (:func:`avbench.pretext.multisensory.audio_missing`)."""
    from avbench.pretext.multisensory import AUDIO_MEMBER, audio_missing

    member = AUDIO_MEMBER[audio_input]
    stream = ShardStream(urls, shuffle=False, keys=keys, needs=frozenset({member, "mel"}))
    return {s["key"]: audio_missing(s, audio_input) or "" for s in stream}


def _forward_clips(
    fn: Any,
    *,
    inputs: ClipInputs,
    urls: list[str],
    keys: frozenset[str],
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    device: torch.device,
    batch_size: int = 64,
) -> tuple[np.ndarray, list[str], list[str]]:
    """``fn(clips, **extra)`` on the evaluation clips of the videos ``keys``, batched: its outputs
    (clips, D), each clip's video key and ``audio_note`` ("" without one)."""
    stream = ShardStream(urls, shuffle=False, keys=keys, needs=inputs.needs)
    outs: list[np.ndarray] = []
    clip_keys: list[str] = []
    notes: list[str] = []
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        if buf:
            t = to_tensors(collate(buf), device=device, mel_norm=mel_norm)
            outs.append(fn(t[inputs.kind], **inputs.extra(t)).float().cpu().numpy())
            clip_keys.extend(it["key"] for it in buf)
            notes.extend(str(it.get("no_audio_reason", "")) for it in buf)
            buf.clear()

    for item in inputs.eval_items(stream, clip_frames=clip_frames, clips_per_video=clips_per_video):
        buf.append(item)
        if len(buf) == batch_size:
            flush()
    flush()
    return (np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)), clip_keys, notes


def augment_clips(x: torch.Tensor, kind: str, generator: torch.Generator, *, min_scale: float = 0.8) -> torch.Tensor:
    """Random crop (a share ``min_scale``..1 of each side, resized back) and horizontal flip of each
    training clip. video: (B, 3, T, H, W); flow: (B, T, 2, H, W), whose x component is negated where
    the clip is flipped. Other kinds (audio) are returned as they are."""
    if kind not in ("video", "flow"):
        return x
    out = torch.empty_like(x)
    h, w = x.shape[-2], x.shape[-1]
    for i in range(x.shape[0]):
        r = torch.rand(4, generator=generator).tolist()
        scale = min_scale + (1.0 - min_scale) * r[0]
        ch, cw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
        y0, x0 = int(r[1] * (h - ch + 1)) if h > ch else 0, int(r[2] * (w - cw + 1)) if w > cw else 0
        clip = x[i, ..., y0 : y0 + ch, x0 : x0 + cw]
        lead = clip.shape[:-2]
        clip = nn.functional.interpolate(
            clip.reshape(-1, 1, ch, cw), size=(h, w), mode="bilinear", align_corners=False
        ).reshape(*lead, h, w)
        if kind == "flow":  # displacements are in pixels of the crop: back to the stored frame's scale
            clip = clip.clone()
            clip[:, 0] *= w / cw
            clip[:, 1] *= h / ch
        if r[3] < 0.5:
            clip = clip.flip(-1)
            if kind == "flow":
                clip[:, 0] = -clip[:, 0]
        out[i] = clip
    return out


def fc_from_linear(model: "Classifier", classifier: Any, n_classes: int) -> None:
    """Start ``model``'s head from a fitted linear classifier (a scikit-learn pipeline StandardScaler ->
    logistic regression on the encoder's pooled features): the scaler becomes the fixed feature
    standardisation in front of the fc, the regression the fc. Classes the classifier never saw get zero
    weights and a bias below every other class's."""
    scaler, clf = classifier[0], classifier[-1]
    coef = np.asarray(clf.coef_, np.float64)
    bias = np.asarray(clf.intercept_, np.float64)
    if coef.shape[0] == 1:  # two classes: one logit for the second
        coef, bias = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-bias / 2, bias / 2])
    w = np.zeros((n_classes, coef.shape[1]), np.float64)
    b = np.full(n_classes, float(bias.min()) - 10.0)
    for row, c in enumerate(np.asarray(clf.classes_).tolist()):
        w[int(c)], b[int(c)] = coef[row], bias[row]
    fc = model.fc
    with torch.no_grad():
        fc.weight.copy_(torch.as_tensor(w, dtype=fc.weight.dtype))
        fc.bias.copy_(torch.as_tensor(b, dtype=fc.bias.dtype))
        model.feat_mean.copy_(torch.as_tensor(np.asarray(scaler.mean_), dtype=model.feat_mean.dtype))
        model.feat_scale.copy_(torch.as_tensor(np.asarray(scaler.scale_), dtype=model.feat_scale.dtype))


def fit_linear_init(
    encoder: nn.Module,
    *,
    kind: str,
    urls: list[str],
    train_keys: list[str],
    labels: dict[str, int],
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    seed: int,
    cache: FeatureCache | None = None,
    inputs: ClipInputs | None = None,
) -> Any:
    """The linear classifier of the frozen ``encoder`` on the fold's training videos (the evaluation
    clips, as :mod:`avbench.evaluate.linear` fits it): the fine-tune's starting fc. With an audio
    ``inputs`` (``finetune_av``), on the fused features of each clip with its own audio (not cached)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from avbench.evaluate.features import extract_features

    if inputs is not None and inputs.audio_input is not None:
        was = encoder.training
        encoder.eval()
        with torch.inference_mode():
            feats, clip_keys, _ = _forward_clips(
                encoder,
                inputs=inputs,
                urls=urls,
                keys=frozenset(train_keys),
                clip_frames=clip_frames,
                clips_per_video=clips_per_video,
                mel_norm=mel_norm,
                device=next(encoder.parameters()).device,
            )
        encoder.train(was)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
        return clf.fit(feats, np.array([labels[k] for k in clip_keys]))
    f = extract_features(
        encoder,
        urls,
        kind=kind,
        clip_frames=clip_frames,
        clips_per_video=clips_per_video,
        mel_norm=mel_norm,
        keys=frozenset(train_keys),
        cache=cache,
    )
    y = np.array([labels[k] for k in f["keys"]])[f["video"]]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
    return clf.fit(f["features"], y)


def _schedule(opt: torch.optim.Optimizer, kind: str, total: int) -> torch.optim.lr_scheduler.LRScheduler:
    if kind == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    raise ValueError(f"unknown schedule {kind!r}")


def _optimizer(params: list[dict[str, Any]], settings: dict[str, Any]) -> torch.optim.Optimizer:
    lr, wd = float(settings["lr"]), float(settings["weight_decay"])
    if settings["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(settings["momentum"]), weight_decay=wd, nesterov=True)
    if settings["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {settings['optimizer']!r}")


def finetune(
    *,
    encoder: nn.Module,
    kind: str,
    urls: list[str],
    train_keys: list[str],
    labels: dict[str, int],
    n_classes: int,
    clip_frames: int,
    mel_norm: tuple[float, float],
    settings: dict[str, Any],
    mode: str = "all",
    seed: int = 0,
    progress: bool = True,
    linear_init: Any = None,
    fc_only: bool = False,
    cache_mb: int = 1024,
    inputs: ClipInputs | None = None,
) -> tuple[Classifier, list[dict[str, float]], Classifier | None]:
    """Train ``encoder`` + a new fc on random clips of ``train_keys``. ``settings``: the config's
    ``evaluate.finetune`` section (epochs, batch_size, optimizer, lr (of the fc), encoder_lr_scale
    (the encoder's learning rate relative to the fc's), momentum, weight_decay, schedule,
    clips_per_video, augment). ``linear_init``: a fitted linear classifier the fc starts from
    (:func:`fc_from_linear`). With ``fc_only``, a second fc on the frozen initial encoder is trained
    in the same loop (the same batches, augmentation, steps and schedule): the like-for-like "fc"
    of fc vs all. Returns the model, one log row per epoch, and the fc-only model (or None).
    Up to ``cache_mb`` of decoded samples are kept across epochs (the same numbers without).
    ``inputs``: what the encoder is fed (default: ``kind``'s clips alone; :class:`ClipInputs`)."""
    import copy

    inputs = inputs or ClipInputs(kind)

    torch.manual_seed(seed)
    device = default_device()
    frozen = copy.deepcopy(encoder) if fc_only else None
    model = Classifier(encoder, n_classes, mode=mode, freeze_bn=bool(settings.get("freeze_bn", False))).to(device)
    if linear_init is not None:
        fc_from_linear(model, linear_init, n_classes)
    twin = None
    if frozen is not None:
        twin = Classifier(frozen, n_classes, mode="fc").to(device)
        twin.top = None  # nothing of the encoder is trained: the fc alone
        for p in twin.encoder.parameters():
            p.requires_grad_(False)
        twin.fc.load_state_dict(model.fc.state_dict())
        twin.feat_mean.copy_(model.feat_mean)
        twin.feat_scale.copy_(model.feat_scale)
    lr = float(settings["lr"])
    fc_ids = {id(p) for p in model.fc.parameters()}
    params = [
        {
            "params": [p for p in model.parameters() if p.requires_grad and id(p) not in fc_ids],
            "lr": lr * float(settings.get("encoder_lr_scale", 1.0)),
        },
        {"params": list(model.fc.parameters()), "lr": lr},
    ]
    opt = _optimizer(params, settings)
    twin_opt = _optimizer([{"params": list(twin.fc.parameters()), "lr": lr}], settings) if twin is not None else None
    epochs, bs = int(settings["epochs"]), int(settings["batch_size"])
    cpv = float(settings["clips_per_video"])
    steps_per_epoch = max(1, int(len(train_keys) * cpv) // bs)
    sched = _schedule(opt, str(settings["schedule"]), epochs * steps_per_epoch)
    twin_sched = _schedule(twin_opt, str(settings["schedule"]), epochs * steps_per_epoch) if twin_opt else None
    view = inputs.train_view(clip_frames)
    keys = frozenset(train_keys)
    augment = bool(settings.get("augment", False))
    gen = torch.Generator().manual_seed(seed)
    cache = SampleCache(max_bytes=int(cache_mb) << 20) if cache_mb > 0 else None
    logs: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        if twin is not None:
            twin.train()
            twin.encoder.eval()
        stream = ShardStream(
            urls,
            view=view,
            seed=seed,
            epoch=epoch,
            shuffle=True,
            keys=keys,
            repeats={k: cpv for k in train_keys},
            needs=inputs.needs,
            cache=cache,
        )
        loss_sum, correct, seen, steps, twin_correct = 0.0, 0, 0, 0, 0
        with progress_bar(
            total=steps_per_epoch, desc=f"fine-tune {kind} epoch {epoch + 1}/{epochs}", enabled=progress
        ) as bar:
            for b in batches(stream, batch_size=bs, drop_last=len(train_keys) * cpv >= bs):
                t = to_tensors(b, device=device, mel_norm=mel_norm)
                x = augment_clips(t[kind], kind, gen) if augment else t[kind]
                extra = inputs.extra(t)  # the clips' own audio (finetune_av) is not augmented
                y = torch.tensor([labels[k] for k in b["key"]], dtype=torch.long, device=device)
                logits = model(x, **extra)
                loss = nn.functional.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if twin is not None and twin_opt is not None and twin_sched is not None:
                    tl = twin(x, **extra)
                    twin_opt.zero_grad(set_to_none=True)
                    nn.functional.cross_entropy(tl, y).backward()
                    twin_opt.step()
                    twin_sched.step()
                    twin_correct += int((tl.argmax(1) == y).sum())
                loss_sum += float(loss.item()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                steps += 1
                bar.update(1)
        logs.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss_sum / max(1, seen),
                "train_acc": correct / max(1, seen),
                "steps": steps,
                "lr": float(opt.param_groups[-1]["lr"]),
                **({"fc_only_train_acc": twin_correct / max(1, seen)} if twin is not None else {}),
            }
        )
        print(
            f"fine-tune {kind} epoch {epoch + 1}: loss {logs[-1]['train_loss']:.3f} acc {logs[-1]['train_acc']:.3f}",
            flush=True,
        )
    return model.eval(), logs, (twin.eval() if twin is not None else None)


@torch.inference_mode()
def score(
    model: Classifier,
    meta: dict[str, Any],
    *,
    kind: str,
    urls: list[str],
    split: Split,
    downstream: str,
    downstream_hash: str,
    labels: dict[str, int],
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    batch_size: int = 64,
    inputs: ClipInputs | None = None,
) -> dict[str, float]:
    """Clip and video accuracy of a fine-tuned model on the test videos of its own fold (refused
    on any other: :func:`avbench.evaluate.guards.check_model_fold`). ``inputs``: what the encoder is
    fed (default: ``kind``'s clips alone); with audio, each prediction carries its ``audio_note``."""
    check_model_fold(
        meta, downstream=downstream, downstream_hash=downstream_hash, fold=split.fold, test_keys=split.test
    )
    inputs = inputs or ClipInputs(kind)
    model.eval()
    s, clip_keys, notes = _forward_clips(
        lambda x, **extra: torch.softmax(model(x, **extra).float(), dim=1),
        inputs=inputs,
        urls=urls,
        keys=frozenset(split.test),
        clip_frames=clip_frames,
        clips_per_video=clips_per_video,
        mel_norm=mel_norm,
        device=next(model.parameters()).device,
        batch_size=batch_size,
    )
    if not clip_keys:
        return {}
    order = {k: i for i, k in enumerate(dict.fromkeys(clip_keys))}
    video = np.array([order[k] for k in clip_keys])
    clip_labels = np.array([labels[k] for k in clip_keys])
    clip_acc, video_acc = clip_and_video_accuracy(s, np.arange(s.shape[1]), clip_labels, video)
    keys = list(order)
    preds = clip_predictions(
        keys=keys, video=video, clip=clip_ordinals(video), labels=clip_labels, scores=s, classes=np.arange(s.shape[1])
    )
    out: dict[str, Any] = {
        "clip_acc": clip_acc,
        "video_acc": video_acc,
        "n_test": len(order),
        "n_test_clips": len(clip_keys),
        "predictions": preds,
    }
    if inputs.audio_input is not None:  # one reason per clip scored without its audio ("" with it)
        for p, note in zip(preds, notes):
            p["audio_note"] = note
        out["n_test_no_audio"] = len({k for k, n in zip(clip_keys, notes) if n})
    return out


def load_finetuned(path: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """A fine-tuned model saved by :func:`finetune_fold` and its fold meta (score it with :func:`score`)."""
    from avbench.models import build_encoder

    ck = load_state(path)
    meta = ck["meta"]
    mode = PROTOCOLS[meta["protocol"]]
    model = Classifier(build_encoder(ck["spec"]), int(meta["n_classes"]), mode=mode)
    model.load_state_dict(ck["model"])
    return model.eval(), meta


def sample_keys(urls: list[str], kind: str, clip_frames: int) -> list[str]:
    """Keys of the samples that have the inputs encoder ``kind`` needs (at least one clip)."""
    from avbench.shards.loader import usable

    out = []
    for s in ShardStream(urls, shuffle=False, needs=frozenset()):
        m = s["meta"]
        if kind == "audio":
            ok = bool(m.get("has_audio")) and int(m.get("n_mel_frames") or 0) > 0
        else:
            ok = usable(m, clip_frames=clip_frames, audio=False, flow=kind == "flow")
            ok = ok and (kind != "flow" or m.get("flow") is not None)
        if ok:
            out.append(s["key"])
    return out


def finetune_fold(
    *,
    checkpoint: str | Path | dict[str, Any],
    downstream: Downstream,
    task: str,
    fold: int,
    protocol: str,
    settings: dict[str, Any],
    clips_per_video: int,
    seed: int | None = None,
    model_dir: str | Path | None = None,
    progress: bool = True,
    predictions: list[dict[str, Any]] | None = None,
    cache: FeatureCache | None = None,
) -> list[dict[str, Any]]:
    """Fine-tune every encoder of a checkpoint that fits ``task`` on fold ``fold`` of
    ``downstream`` (``protocol``: ``finetune``, ``finetune_top`` or ``finetune_av``) and score it on the fold's
    test videos. Tidy rows like the linear classifier's; the fine-tuned models are saved to
    ``model_dir/<encoder>.pt`` (with their fold) when given. ``seed`` defaults to the checkpoint's
    pretraining seed (a replicate's fine-tune differs with it).

    The recipe (``settings``): the new fc starts from the fold's linear classifier (``init_fc``),
    training clips are randomly cropped and flipped (``augment``), the encoder learns at
    ``encoder_lr_scale`` times the fc's rate; with ``fc_only`` (protocol ``finetune``), an fc on the
    frozen encoder is trained in the same loop and reported as protocol ``finetune_fc``. When
    ``predictions`` is a list, one row per (encoder, test clip) is appended.

    ``finetune_av`` fine-tunes only a fused audio-visual encoder (one with an ``audio_input``: the
    Multisensory network), fed each clip's own audio (:class:`ClipInputs`); any other encoder, or a set
    none of whose videos has the audio it reads (a waveform network on shards without ``wav.npy``), is
    skipped with a one-line reason. Videos without audio stay in the fold (scored with the network's mean
    training audio feature; their reasons are printed, in the predictions' ``audio_note`` and counted in
    the rows' ``n_test_no_audio``)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, not {protocol!r}")
    ck = load_checkpoint(checkpoint)
    encoders, meta = load_encoders(ck)
    seed = int(meta.get("seed", 0)) if seed is None else int(seed)
    mel_norm = tuple(meta["mel_norm"])
    labels = downstream.labels()
    rows: list[dict[str, Any]] = []
    for kind in TASK_ENCODERS[task]:
        if kind not in encoders:
            continue
        clip_frames = encoder_clip_frames(meta, kind)
        inputs = ClipInputs(kind)
        if protocol in AV_PROTOCOLS:
            audio_input = getattr(encoders[kind], "audio_input", None)
            if kind != "video" or audio_input is None:
                print(
                    f"{protocol}: the {kind} encoder of {meta['run']} takes no audio (only a fused audio-visual "
                    "network such as Multisensory does); skipped",
                    flush=True,
                )
                continue
            inputs = ClipInputs(kind, audio_input=str(audio_input))
        keys = sample_keys(downstream.urls, kind, clip_frames)
        if not keys:
            print(f"{kind} encoder: no sample of {downstream.name} has the inputs it needs; skipped", flush=True)
            continue
        check_index_covers(keys, downstream.index)
        sp = downstream.split(fold, keys)
        if not sp.train or not sp.test:
            continue
        if inputs.audio_input is not None:
            notes = audio_notes(downstream.urls, inputs.audio_input, frozenset(sp.train + sp.test))
            if notes and all(notes.values()):
                first = next(iter(notes.values())).split(";")[0]
                print(
                    f"{protocol}: no video of {downstream.name} fold {fold} has its audio ({first}); skipped",
                    flush=True,
                )
                continue
            for k, note in sorted(notes.items()):
                if note:
                    print(f"{protocol} {k}: {note}", flush=True)
        n_classes = max(labels[k] for k in keys) + 1
        t0 = time.time()
        linear_init = None
        if settings.get("init_fc", "random") == "linear_probe":
            linear_init = fit_linear_init(
                encoders[kind],
                kind=kind,
                urls=downstream.urls,
                train_keys=sp.train,
                labels=labels,
                clip_frames=clip_frames,
                clips_per_video=clips_per_video,
                mel_norm=mel_norm,
                seed=seed,
                cache=cache,
                inputs=inputs,
            )
        model, logs, twin = finetune(
            encoder=encoders[kind],
            kind=kind,
            urls=downstream.urls,
            train_keys=sp.train,
            labels=labels,
            n_classes=n_classes,
            clip_frames=clip_frames,
            mel_norm=mel_norm,
            settings=settings,
            mode=PROTOCOLS[protocol],
            seed=seed * 1000 + fold,
            progress=progress,
            linear_init=linear_init,
            fc_only=bool(settings.get("fc_only", False)) and protocol == "finetune",
            inputs=inputs,
        )
        train_s = time.time() - t0
        fmeta = {
            **fold_meta(
                downstream=downstream.name, downstream_hash=downstream.manifest_hash, fold=fold, train_keys=sp.train
            ),
            "run": meta["run"],
            "protocol": protocol,
            "encoder": kind,
            "n_classes": n_classes,
        }
        if model_dir is not None:
            save_state(
                Path(model_dir) / f"{kind}.pt",
                {
                    "model": {k: v.cpu() for k, v in model.state_dict().items()},
                    "spec": ck["specs"][kind],
                    "meta": fmeta,
                    "logs": logs,
                },
            )
        n_train_clips = sum(int(lg["steps"]) for lg in logs) * int(settings["batch_size"])
        scored = [(protocol, model, "final_train_acc", "train_acc")]
        if twin is not None:
            scored.append(("finetune_fc", twin, "final_train_acc", "fc_only_train_acc"))
        for proto, m, _, acc_key in scored:
            res = score(
                m,
                fmeta,
                kind=kind,
                urls=downstream.urls,
                split=sp,
                downstream=downstream.name,
                downstream_hash=downstream.manifest_hash,
                labels=labels,
                clip_frames=clip_frames,
                clips_per_video=clips_per_video,
                mel_norm=mel_norm,
                inputs=inputs,
            )
            if not res:
                continue
            if predictions is not None:
                predictions += [{"encoder": kind, "protocol": proto, "fold": fold, **p} for p in res["predictions"]]
            for metric in ("clip_acc", "video_acc"):
                rows.append(
                    {
                        "encoder": kind,
                        "backbone": backbone(meta, kind),
                        "protocol": proto,
                        "classifier": "fc",
                        "fold": fold,
                        "metric": metric,
                        "value": res[metric],
                        "n_train": len(sp.train),
                        "n_test": res["n_test"],
                        "n_train_clips": n_train_clips,
                        "n_test_clips": res["n_test_clips"],
                        "pretrain_overlap": sp.overlap,
                        "chance": 1.0 / max(1, len({labels[k] for k in sp.train})),
                        "final_train_acc": logs[-1].get(acc_key, float("nan")) if logs else float("nan"),
                        "finetune_s": round(train_s, 1),
                        **(
                            {"audio_input": inputs.audio_input, "n_test_no_audio": res["n_test_no_audio"]}
                            if inputs.audio_input is not None
                            else {}
                        ),
                    }
                )
    return rows
