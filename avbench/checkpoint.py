"""The checkpoint format, read and written in one place.

A pretraining checkpoint (``results/models/<instance>/checkpoint.pt``, written by
:func:`avbench.pretrain.pretrain` or ``avbench import-encoder``) is a ``torch.save`` dict:

=============  ==============================================================================
``encoders``   ``{kind: state_dict}`` for each encoder kind it has (video, audio, flow)
``specs``      ``{kind: spec}``: :func:`avbench.models.build_encoder`'s arguments (no config needed)
``head``       the pretext head's state_dict (``{}`` for external encoders)
``meta``       run, method, seed, config, n_classes, mel_norm, encoders, provenance, ...
``metrics``    per-epoch training rows (``[]`` for external encoders)
=============  ==============================================================================

Training state (``last.pt``, resumable) and fine-tuned models are other dicts saved by
:func:`save_state` / read by :func:`load_state`. Nothing here imports ``train``, ``evaluate`` or
``pretext``: evaluation reads checkpoints without the training code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avbench.paths import atomic_path

#: the keys every pretraining checkpoint has
CHECKPOINT_KEYS = ("encoders", "specs", "head", "meta", "metrics")
#: the meta keys evaluation reads
META_KEYS = ("run", "method", "seed", "mel_norm")

Checkpoint = dict[str, Any]
PathOrCheckpoint = str | os.PathLike[str] | Checkpoint


def load_state(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Any dict avbench saved with :func:`save_state` (training state, fine-tuned model, checkpoint)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def load_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A state dict saved outside avbench (an external encoder's weights file): tensors only
    (``weights_only``), a ``{"state_dict": ...}`` wrapper unwrapped."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict ({type(state).__name__})")
    return state


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Save ``state`` atomically (a reader never sees half a file)."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def check_checkpoint(ck: Checkpoint, where: str = "checkpoint") -> Checkpoint:
    """``ck`` if it has the pretraining checkpoint's keys, else a ValueError naming what is missing."""
    missing = [k for k in CHECKPOINT_KEYS if k not in ck]
    if missing:
        raise ValueError(f"{where} is not an avbench checkpoint: no {', '.join(missing)}")
    missing = [k for k in META_KEYS if k not in ck["meta"]]
    if missing:
        raise ValueError(f"{where}: meta has no {', '.join(missing)}")
    if set(ck["specs"]) != set(ck["encoders"]):
        raise ValueError(f"{where}: specs {sorted(ck['specs'])} and encoders {sorted(ck['encoders'])} differ")
    return ck


def load_checkpoint(checkpoint: PathOrCheckpoint) -> Checkpoint:
    """A pretraining checkpoint, from its path (or the dict itself, checked)."""
    if isinstance(checkpoint, dict):
        return check_checkpoint(checkpoint)
    return check_checkpoint(load_state(checkpoint), str(checkpoint))


def checkpoint_meta(checkpoint: PathOrCheckpoint) -> dict[str, Any]:
    """A checkpoint's meta (run, method, seed, config, provenance, ...)."""
    return load_checkpoint(checkpoint)["meta"]


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    encoders: dict[str, nn.Module | dict[str, Any]],
    specs: dict[str, dict[str, Any]],
    meta: dict[str, Any],
    head: dict[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
) -> Checkpoint:
    """Write a pretraining checkpoint (encoders as modules or state dicts) and return it."""
    states = {k: (e.state_dict() if isinstance(e, nn.Module) else e) for k, e in encoders.items()}
    ck = check_checkpoint(
        {"encoders": states, "specs": specs, "head": head or {}, "meta": meta, "metrics": metrics or []}, str(path)
    )
    save_state(path, ck)
    return ck


def load_encoders(checkpoint: PathOrCheckpoint) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """The encoders of a checkpoint (``{kind: module}``, in eval mode) and its meta."""
    from avbench.models import build_encoder

    ck = load_checkpoint(checkpoint)
    encs = {}
    for kind, spec in ck["specs"].items():
        enc = build_encoder(spec)
        enc.load_state_dict(ck["encoders"][kind])
        encs[kind] = enc.eval()
    return encs, ck["meta"]


def encoder_hash(checkpoint: PathOrCheckpoint, kind: str) -> str:
    """A content hash of encoder ``kind`` of a checkpoint: its spec, its weights and the log-mel
    normalisation it reads with (what its frozen features depend on; the feature cache's key)."""
    import hashlib
    import json

    ck = load_checkpoint(checkpoint)
    h = hashlib.sha256(
        json.dumps(
            {"spec": ck["specs"][kind], "mel_norm": list(ck["meta"]["mel_norm"])}, sort_keys=True, default=str
        ).encode()
    )
    for name, t in sorted(ck["encoders"][kind].items()):
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())  # 0-d too
        else:
            h.update(repr(t).encode())
    return h.hexdigest()[:16]


def pretext_model_hash(checkpoint: PathOrCheckpoint, encoders: dict[str, str] | None = None) -> str:
    """A content hash of a checkpoint's whole pretext model (what its retrieval embeddings depend on):
    every encoder's :func:`encoder_hash` (``encoders``, when already computed), the method, its config
    and class count (the head's architecture) and the head's weights."""
    import hashlib
    import json

    ck = load_checkpoint(checkpoint)
    meta = ck["meta"]
    encoders = encoders if encoders is not None else {k: encoder_hash(ck, k) for k in ck["specs"]}
    h = hashlib.sha256(
        json.dumps(
            {
                "encoders": encoders,
                "method": meta["method"],
                "config": meta.get("config", {}),
                "n_classes": meta.get("n_classes", 1),
                "seed": meta["seed"],
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    for name, t in sorted(ck["head"].items()):
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(t).encode())
    return h.hexdigest()[:16]


def file_path(checkpoint: PathOrCheckpoint) -> Path | None:
    """The checkpoint's path, when it was given as one."""
    return None if isinstance(checkpoint, dict) else Path(checkpoint)
