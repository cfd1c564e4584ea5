"""External encoders in the evaluation: ``avbench import-encoder`` turns a spec (a torchvision model with
local weights, or a ``package.module:build`` callable; :mod:`avbench.models.external`) into an avbench
checkpoint, which every downstream protocol then reads like a pretraining run's; ``avbench
validate-encoder`` checks a spec and its model on one shard batch first.

The checkpoint's meta: ``run`` = the encoder's name, ``method`` = ``external``, ``seed`` = the config's
seed, ``mel_norm`` = (0, 1) (the model gets the stored log-mel; its spec's mean/std normalise it),
``config`` = the pretrain settings (clip length) with the model as backbone, ``external`` = the spec.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from avbench.checkpoint import Checkpoint, save_checkpoint
from avbench.evaluate.features import NEEDS, eval_clips
from avbench.models.external import (
    EXTERNAL_METHOD,
    build_external_encoder,
    check_encoder,
    external_encoder_spec,
    normalize_spec,
)
from avbench.pretext.base import to_tensors
from avbench.shards.loader import ShardStream, collate, shard_urls

#: log-mel normalisation of external encoders: none (their spec's mean/std apply)
EXTERNAL_MEL_NORM = (0.0, 1.0)


def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def external_meta(name: str, spec: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint meta of external encoder ``name`` under config ``cfg``."""
    from avbench.config import config_hash

    s = normalize_spec(spec)
    settings = {k: v for k, v in cfg["pretrain"].items() if k not in ("runs", "methods")}
    model_name = str(s["model"]).rpartition(":")[2]
    settings.update(method=EXTERNAL_METHOD, dataset=s["pretrained_on"] or "")
    settings[f"{s['modality']}_backbone"] = model_name
    return {
        "run": name,
        "method": EXTERNAL_METHOD,
        "seed": int(cfg.get("seed", 0)),
        "config": settings,
        "n_classes": 0,
        "mel_norm": EXTERNAL_MEL_NORM,
        "encoders": [s["modality"]],
        "external": s,
        "pretrain_data": s["pretrained_on"] or "none",
        "config_hash": config_hash(cfg),
        "weights_sha256": _sha256(s["weights"]) if s["weights"] else "",
        "wall_s": 0.0,
        "n_train_videos": 0,
        "n_val_videos": 0,
        "heldout_keys": [],
    }


def import_encoder(name: str, spec: dict[str, Any], cfg: dict[str, Any], out: str | os.PathLike[str]) -> Checkpoint:
    """Write external encoder ``name`` (its local weights loaded) as an avbench checkpoint at ``out``."""
    s = normalize_spec(spec)
    if s["weights"] and not Path(s["weights"]).is_file():
        raise FileNotFoundError(f"external encoder {name}: weights file {s['weights']} not found")
    encoder = build_external_encoder(s, load_weights=True)
    return save_checkpoint(
        out,
        encoders={s["modality"]: encoder},
        specs={s["modality"]: external_encoder_spec(s)},
        meta=external_meta(name, s, cfg),
    )


def one_batch(shard_dir: str | Path, *, modality: str, clip_frames: int, batch_size: int = 4) -> torch.Tensor:
    """One batch of evaluation clips of a dataset's shards, as the encoders of ``modality`` get them."""
    urls = shard_urls(shard_dir)
    if not urls:
        raise FileNotFoundError(f"no shard-*.tar under {shard_dir}")
    items: list[dict[str, Any]] = []
    for sample in ShardStream(urls, shuffle=False, needs=NEEDS[modality]):
        items += eval_clips(sample, kind=modality, clip_frames=clip_frames, clips_per_video=1)
        if len(items) >= batch_size:
            break
    if not items:
        raise ValueError(f"no sample of {shard_dir} has the {modality} input a {modality} encoder needs")
    batch = to_tensors(collate(items[:batch_size]), device=torch.device("cpu"), mel_norm=EXTERNAL_MEL_NORM)
    return batch[modality]


def validate_encoder(
    spec: dict[str, Any], shard_dir: str | Path, *, clip_frames: int, batch_size: int = 4
) -> tuple[list[str], dict[str, Any]]:
    """Problems of a spec and its model on one batch of ``shard_dir`` (empty list: usable) and what was
    seen (input and model-input shapes, output shape, dtype)."""
    try:
        s = normalize_spec(spec)
    except ValueError as exc:
        return [f"spec: {exc}"], {}
    if s["weights"] and not Path(s["weights"]).is_file():
        return [f"weights file {s['weights']} not found"], {}
    try:
        encoder = build_external_encoder(s, load_weights=True).eval()
    except Exception as exc:  # the user's builder or weights: report it
        return [f"building the model failed: {type(exc).__name__}: {exc}"], {}
    x = one_batch(shard_dir, modality=s["modality"], clip_frames=clip_frames, batch_size=batch_size)
    info: dict[str, Any] = {"input": tuple(x.shape), "model_input": tuple(encoder.prepare(x).shape)}
    problems = check_encoder(encoder, x, s["feature_dim"])
    if not problems:
        with torch.inference_mode():
            y = encoder(x)
        info.update(output=tuple(y.shape), dtype=str(y.dtype), mean=float(y.float().mean()), std=float(y.float().std()))
    return problems, info
