"""Encoders avbench did not train: a torchvision video model with local weights, or any Python callable
``package.module:build`` returning a ``torch.nn.Module``, described by a small spec.

A spec (``external: {name: spec}`` in the config, or ``avbench import-encoder`` flags):

=================  ==========================================================================================
``kind``           ``torchvision`` (``model``: a ``torchvision.models.video`` builder, e.g. ``r2plus1d_18``)
                   or ``callable`` (``model``: ``package.module:function``, called with ``kwargs``)
``model``          the builder (see kind)
``weights``        a local state-dict file loaded into the built model (never downloaded); optional
``kwargs``         keyword arguments of a callable's builder
``modality``       ``video`` (RGB clips) or ``audio`` (log-mel)
``layout``         the model's input: ``BCTHW`` (video) or ``B1FM`` (audio: batch, 1, n_mels, mel frames)
``frames``         frames (video) the model reads: each clip is resampled in time to it; null keeps them
``size``           [H, W] the frames are resized to (video); null keeps them
``mean``, ``std``  per-channel normalisation after [0, 1] scaling (video) or of the log-mel (audio); null: none
``feature_dim``    the pooled feature dimension the model returns, (B, feature_dim)
``pretrained_on``  what it was trained on (the rows' ``pretrain_data``, e.g. ``kinetics400``); optional
=================  ==========================================================================================

:class:`ExternalEncoder` wraps the model so that it takes avbench's encoder inputs (video float
(B, 3, T, H, W) in [0, 1]; audio (B, 1, n_mels, M) log-mel, unnormalised for external encoders) and
returns (B, feature_dim) features like every avbench encoder. :func:`check_encoder` tells what is wrong
with a spec and a model on one batch (``avbench validate-encoder``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

#: the ``kind`` of an external encoder spec
EXTERNAL_KINDS = ("torchvision", "callable")
#: the input layout of each modality
LAYOUTS = {"video": "BCTHW", "audio": "B1FM"}
#: the ``method`` of an external encoder's checkpoint and rows (beside the pretext methods)
EXTERNAL_METHOD = "external"
#: the ``name`` of an external encoder in a checkpoint's specs (``build_encoder`` dispatches on it)
EXTERNAL_BACKBONE = "external"

SPEC_KEYS = (
    "kind",
    "model",
    "weights",
    "kwargs",
    "modality",
    "layout",
    "frames",
    "size",
    "mean",
    "std",
    "feature_dim",
    "pretrained_on",
)


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A complete spec (defaults filled in) or a ValueError saying what is wrong with it."""
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown external encoder keys {sorted(unknown)} (known: {', '.join(SPEC_KEYS)})")
    s: dict[str, Any] = {
        "weights": None,
        "kwargs": {},
        "frames": None,
        "size": None,
        "mean": None,
        "std": None,
        "pretrained_on": "",
        **dict(spec),
    }
    for key in ("kind", "model", "modality", "feature_dim"):
        if s.get(key) in (None, ""):
            raise ValueError(f"external encoder spec needs {key!r}")
    if s["kind"] not in EXTERNAL_KINDS:
        raise ValueError(f"external encoder kind must be one of {EXTERNAL_KINDS}, not {s['kind']!r}")
    if s["modality"] not in LAYOUTS:
        raise ValueError(f"external encoder modality must be one of {sorted(LAYOUTS)}, not {s['modality']!r}")
    s.setdefault("layout", LAYOUTS[s["modality"]])
    if s["layout"] != LAYOUTS[s["modality"]]:
        raise ValueError(f"a {s['modality']} encoder reads layout {LAYOUTS[s['modality']]}, not {s['layout']!r}")
    if s["kind"] == "callable" and ":" not in str(s["model"]):
        raise ValueError(f"a callable external encoder's model is 'package.module:function', not {s['model']!r}")
    if s["kind"] == "torchvision" and s["modality"] != "video":
        raise ValueError("torchvision external encoders are video models (torchvision.models.video)")
    if (s["mean"] is None) != (s["std"] is None):
        raise ValueError("give both mean and std, or neither")
    s["feature_dim"] = int(s["feature_dim"])
    s["frames"] = None if s["frames"] is None else int(s["frames"])
    s["size"] = None if s["size"] is None else [int(v) for v in s["size"]]
    if s["size"] is not None and len(s["size"]) != 2:
        raise ValueError(f"size is [H, W], not {s['size']}")
    s["kwargs"] = dict(s["kwargs"] or {})
    return {k: s[k] for k in SPEC_KEYS}


def import_callable(target: str) -> Any:
    """``package.module:attr`` -> the object."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def build_model(spec: Mapping[str, Any], *, load_weights: bool = True) -> nn.Module:
    """The bare model of a spec (its local weights loaded when ``load_weights``; nothing is downloaded)."""
    s = normalize_spec(spec)
    if s["kind"] == "torchvision":
        from torchvision.models import video as tvv

        if not hasattr(tvv, s["model"]):
            raise ValueError(f"torchvision.models.video has no {s['model']!r}")
        net = getattr(tvv, s["model"])(weights=None, **s["kwargs"])
        fc_in = net.fc.in_features
        if load_weights and s["weights"]:
            from avbench.checkpoint import load_weights as read_weights

            net.load_state_dict(read_weights(s["weights"]))
        net.fc = nn.Identity()  # pooled features, not the Kinetics logits
        if fc_in != s["feature_dim"]:
            raise ValueError(f"{s['model']} gives {fc_in} features, the spec says feature_dim {s['feature_dim']}")
        return net
    model = import_callable(str(s["model"]))(**s["kwargs"])
    if not isinstance(model, nn.Module):
        raise TypeError(f"{s['model']} returned {type(model).__name__}, not a torch.nn.Module")
    if load_weights and s["weights"]:
        from avbench.checkpoint import load_weights as read_weights

        model.load_state_dict(read_weights(s["weights"]))
    return model


class ExternalEncoder(nn.Module):
    """An external model behind avbench's encoder interface: (B, *input) -> (B, feature_dim)."""

    def __init__(self, model: nn.Module, spec: Mapping[str, Any]) -> None:
        super().__init__()
        self.spec = normalize_spec(spec)
        self.model = model
        self.out_dim = int(self.spec["feature_dim"])
        mean, std = self.spec["mean"], self.spec["std"]
        shape = (1, -1, 1, 1, 1) if self.spec["modality"] == "video" else (1, -1, 1, 1)
        self.register_buffer(
            "mean", None if mean is None else torch.tensor(mean, dtype=torch.float32).view(shape), persistent=False
        )
        self.register_buffer(
            "std", None if std is None else torch.tensor(std, dtype=torch.float32).view(shape), persistent=False
        )

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """avbench's input -> the model's: frames resampled in time, resized, normalised."""
        s = self.spec
        if s["modality"] == "video":
            frames = s["frames"] or x.shape[2]
            size = tuple(s["size"] or x.shape[3:])
            if frames != x.shape[2]:
                idx = torch.linspace(0, x.shape[2] - 1, frames, device=x.device).round().long()
                x = x.index_select(2, idx)
            if size != tuple(x.shape[3:]):
                b, c, t = x.shape[:3]
                x = (
                    F.interpolate(
                        x.transpose(1, 2).reshape(b * t, c, *x.shape[3:]),
                        size=size,
                        mode="bilinear",
                        align_corners=False,
                    )
                    .reshape(b, t, c, *size)
                    .transpose(1, 2)
                )
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.model(self.prepare(x)))

    @staticmethod
    def pool(y: Any) -> torch.Tensor:
        """The model's output -> (B, D): a dict's ``features`` (else its first value), a tuple's first item,
        unpooled maps averaged."""
        if isinstance(y, Mapping) and y:
            y = y.get("features", next(iter(y.values())))
        elif isinstance(y, (tuple, list)) and y:
            y = y[0]
        if y is None:
            raise ValueError("no output: the model returned None")
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"the model returned {type(y).__name__}, not a tensor")
        if y.ndim > 2:  # unpooled maps: average every axis after the channels
            y = y.flatten(2).mean(-1)
        return y


def build_external_encoder(spec: Mapping[str, Any], *, load_weights: bool = False) -> ExternalEncoder:
    """The wrapped encoder of a spec. Checkpoints rebuild it without the weights file (their state dict
    has the weights), ``avbench import-encoder`` with it."""
    return ExternalEncoder(build_model(spec, load_weights=load_weights), spec)


def external_encoder_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder spec a checkpoint stores for an external encoder (:func:`avbench.models.build_encoder`)."""
    s = normalize_spec(spec)
    return {"kind": s["modality"], "name": EXTERNAL_BACKBONE, "external": s}


def check_encoder(encoder: nn.Module, x: torch.Tensor, feature_dim: int) -> list[str]:
    """What is wrong with ``encoder`` on the batch ``x`` (empty when nothing): no output, not a tensor,
    wrong shape, a dtype other than floating point, NaN or infinite values, every feature constant."""
    problems: list[str] = []
    try:
        with torch.inference_mode():
            if isinstance(encoder, ExternalEncoder):
                x_in = encoder.prepare(x)
                raw = encoder.model(x_in)
                if raw is None or (isinstance(raw, (Mapping, tuple, list)) and not raw):
                    return [f"no output: the model returned {raw!r} on input {tuple(x_in.shape)}"]
                try:
                    y = encoder.pool(raw)
                except TypeError as exc:
                    return [str(exc)]
            else:
                y = encoder(x)
    except Exception as exc:  # the user's model: report whatever it raises
        return [f"the model raised {type(exc).__name__} on input {tuple(x.shape)} {x.dtype}: {exc}"]
    if y is None:
        return [f"no output: the model returned None on input {tuple(x.shape)}"]
    if tuple(y.shape) != (x.shape[0], feature_dim):
        problems.append(
            f"wrong shape: output {tuple(y.shape)}, expected (batch, feature_dim) = "
            f"({x.shape[0]}, {feature_dim}) for input {tuple(x.shape)}"
        )
    if not y.dtype.is_floating_point:
        problems.append(f"wrong dtype: output {y.dtype}, expected a floating-point tensor")
    elif not torch.isfinite(y).all():
        n = int((~torch.isfinite(y)).sum())
        problems.append(f"NaN or infinite values: {n} of {y.numel()} output values")
    elif y.numel() and x.shape[0] > 1 and float(y.float().std(0).max()) == 0.0:
        problems.append("every output feature is the same for every item of the batch (constant features)")
    return problems
