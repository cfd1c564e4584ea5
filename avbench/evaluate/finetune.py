"""Fine-tuning a pretrained encoder on one official fold of a downstream set.

Two protocols (seeds 000, 002, 003):

- ``finetune`` (all layers): the encoder and a new linear classifier (``fc``) are trained on
  random clips of the fold's training videos. Fine-tuning the ``scratch`` run (random init) is
  the papers' "trained from scratch" baseline.
- ``finetune_top`` (the arrow of time's "after fusion"): only the top of the encoder and ``fc``
  are trained; the rest stays frozen, BatchNorm statistics included. The top is
  :func:`top_module`: the T-CAM flow network's ``fusion`` block, the last stage of the other
  encoders (a video ViT: its last quarter of transformer blocks and the final LayerNorm).

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.checkpoint import load_checkpoint, load_encoders, load_state, save_state
from avbench.evaluate.downstream import Downstream, Split
from avbench.evaluate.features import NEEDS, FeatureCache, _clip_items
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
from avbench.shards.loader import SampleCache, ShardStream, batches, clip_view, collate, mel_window

PROTOCOLS = {"finetune": "all", "finetune_top": "top"}


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((self.encoder(x) - self.feat_mean) / self.feat_scale)


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
) -> Any:
    """The linear classifier of the frozen ``encoder`` on the fold's training videos (the evaluation
    clips, as :mod:`avbench.evaluate.linear` fits it): the fine-tune's starting fc."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from avbench.evaluate.features import extract_features

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
) -> tuple[Classifier, list[dict[str, float]], Classifier | None]:
    """Train ``encoder`` + a new fc on random clips of ``train_keys``. ``settings``: the config's
    ``evaluate.finetune`` section (epochs, batch_size, optimizer, lr (of the fc), encoder_lr_scale
    (the encoder's learning rate relative to the fc's), momentum, weight_decay, schedule,
    clips_per_video, augment). ``linear_init``: a fitted linear classifier the fc starts from
    (:func:`fc_from_linear`). With ``fc_only``, a second fc on the frozen initial encoder is trained
    in the same loop (the same batches, augmentation, steps and schedule): the like-for-like "fc"
    of fc vs all. Returns the model, one log row per epoch, and the fc-only model (or None).
    Up to ``cache_mb`` of decoded samples are kept across epochs (the same numbers without)."""
    import copy

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
    view = train_view(kind, clip_frames)
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
            needs=NEEDS[kind],
            cache=cache,
        )
        loss_sum, correct, seen, steps, twin_correct = 0.0, 0, 0, 0, 0
        with progress_bar(
            total=steps_per_epoch, desc=f"fine-tune {kind} epoch {epoch + 1}/{epochs}", enabled=progress
        ) as bar:
            for b in batches(stream, batch_size=bs, drop_last=len(train_keys) * cpv >= bs):
                t = to_tensors(b, device=device, mel_norm=mel_norm)
                x = augment_clips(t[kind], kind, gen) if augment else t[kind]
                y = torch.tensor([labels[k] for k in b["key"]], dtype=torch.long, device=device)
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if twin is not None and twin_opt is not None and twin_sched is not None:
                    tl = twin(x)
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
) -> dict[str, float]:
    """Clip and video accuracy of a fine-tuned model on the test videos of its own fold (refused
    on any other: :func:`avbench.evaluate.guards.check_model_fold`)."""
    check_model_fold(
        meta, downstream=downstream, downstream_hash=downstream_hash, fold=split.fold, test_keys=split.test
    )
    model.eval()
    device = next(model.parameters()).device
    stream = ShardStream(urls, shuffle=False, keys=frozenset(split.test), needs=NEEDS[kind])
    scores: list[np.ndarray] = []
    clip_keys: list[str] = []
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        if buf:
            t = to_tensors(collate(buf), device=device, mel_norm=mel_norm)
            scores.append(torch.softmax(model(t[kind]).float(), dim=1).cpu().numpy())
            clip_keys.extend(it["key"] for it in buf)
            buf.clear()

    for item in _clip_items(stream, kind=kind, clip_frames=clip_frames, clips_per_video=clips_per_video):
        buf.append(item)
        if len(buf) == batch_size:
            flush()
    flush()
    if not clip_keys:
        return {}
    order = {k: i for i, k in enumerate(dict.fromkeys(clip_keys))}
    video = np.array([order[k] for k in clip_keys])
    clip_labels = np.array([labels[k] for k in clip_keys])
    s = np.concatenate(scores)
    clip_acc, video_acc = clip_and_video_accuracy(s, np.arange(s.shape[1]), clip_labels, video)
    keys = list(order)
    preds = clip_predictions(
        keys=keys, video=video, clip=clip_ordinals(video), labels=clip_labels, scores=s, classes=np.arange(s.shape[1])
    )
    return {
        "clip_acc": clip_acc,
        "video_acc": video_acc,
        "n_test": len(order),
        "n_test_clips": len(clip_keys),
        "predictions": preds,
    }


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
    ``downstream`` (``protocol``: ``finetune`` or ``finetune_top``) and score it on the fold's
    test videos. Tidy rows like the linear classifier's; the fine-tuned models are saved to
    ``model_dir/<encoder>.pt`` (with their fold) when given. ``seed`` defaults to the checkpoint's
    pretraining seed (a replicate's fine-tune differs with it).

    The recipe (``settings``): the new fc starts from the fold's linear classifier (``init_fc``),
    training clips are randomly cropped and flipped (``augment``), the encoder learns at
    ``encoder_lr_scale`` times the fc's rate; with ``fc_only`` (protocol ``finetune``), an fc on the
    frozen encoder is trained in the same loop and reported as protocol ``finetune_fc``. When
    ``predictions`` is a list, one row per (encoder, test clip) is appended."""
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
        keys = sample_keys(downstream.urls, kind, clip_frames)
        if not keys:
            print(f"{kind} encoder: no sample of {downstream.name} has the inputs it needs; skipped", flush=True)
            continue
        check_index_covers(keys, downstream.index)
        sp = downstream.split(fold, keys)
        if not sp.train or not sp.test:
            continue
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
                    }
                )
    return rows
