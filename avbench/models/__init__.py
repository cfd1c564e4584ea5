"""Video, audio and flow encoders, built by keyword-only builders. Models know nothing of shards.

:func:`build_encoder` builds any of them from a spec dict (what checkpoints store), so a
checkpoint can be reloaded without the config that made it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from avbench.models.audio import build_audio_encoder
from avbench.models.flow import build_flow_encoder
from avbench.models.video import build_video_encoder
from avbench.models.vit import VIT_DEFAULTS, VIT_NAMES

KINDS = ("video", "audio", "flow")


def encoder_spec(kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The builder arguments of encoder ``kind`` from a pretraining config section (a ViT video
    backbone: its ``vit`` settings over :data:`avbench.models.vit.VIT_DEFAULTS`)."""
    ch = [int(c) for c in cfg["channels"]]
    if kind == "video":
        if cfg["video_backbone"] in VIT_NAMES:  # a ViT: its settings, defaults filled (no channels)
            return {"kind": kind, "name": cfg["video_backbone"], "vit": {**VIT_DEFAULTS, **(cfg.get("vit") or {})}}
        return {"kind": kind, "name": cfg["video_backbone"], "channels": ch}
    if kind == "audio":
        return {"kind": kind, "name": cfg["audio_backbone"], "channels": ch}
    if kind == "flow":
        f = cfg["flow"]
        return {
            "kind": kind,
            "name": f["backbone"],
            "segments": int(f["segments"]),
            "frames": int(f["frames"]),
            "channels": ch,
        }
    raise ValueError(f"unknown encoder kind {kind!r}")


def build_encoder(spec: dict[str, Any]) -> nn.Module:
    """Build an encoder from :func:`encoder_spec`'s dict (or an external encoder's,
    :func:`avbench.models.external.external_encoder_spec`)."""
    if spec.get("name") == "external":
        from avbench.models.external import build_external_encoder

        return build_external_encoder(spec["external"])
    kw = {k: v for k, v in spec.items() if k not in ("kind", "name")}
    if "channels" in kw:
        kw["channels"] = tuple(kw["channels"])
    builders = {"video": build_video_encoder, "audio": build_audio_encoder, "flow": build_flow_encoder}
    return builders[spec["kind"]](name=spec["name"], **kw)


__all__ = ["KINDS", "build_audio_encoder", "build_encoder", "build_flow_encoder", "build_video_encoder", "encoder_spec"]
