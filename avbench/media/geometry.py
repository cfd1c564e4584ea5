"""Frame geometry: which source pixels become the stored frame, and the FFmpeg filters that do it.

Everything happens at source resolution before scaling, in one filter graph
(``crop, [transpose | hflip,vflip], scale=W:H:flags=area, format=rgb24``):

- ``crop_box`` (black bars found by :mod:`avbench.preprocess.borders`) is cut away first;
- rotation metadata (display matrix or ``rotate`` tag) is honoured by a transpose/flip;
- non-square pixels (``sar`` != 1) are honoured by computing aspect ratios in display units;
- ``mode="stretch"`` scales the region to ``size`` whatever its aspect ratio; ``mode="cover"``
  keeps the aspect ratio: it scales the short side to the target and cuts the centre (the crop is
  done on source pixels, in the same ``crop`` filter), e.g. 640x360 -> 171x128 keeps 480x360.

Boxes are ``(x0, y0, x1, y1)`` in stored (pre-rotation) source pixels, ``x1``/``y1`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESIZE_MODES = ("stretch", "cover")
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Geometry:
    """The plan for one video stream.

    region: source pixels that are scaled into the stored frame (x0, y0, x1, y1).
    filters: ``[(name, args), ...]`` FFmpeg filters after the buffer source, ending in rgb24.
    """

    source_size: tuple[int, int]
    rotation: int
    sar: float
    crop_box: Box | None
    region: Box
    size: tuple[int, int]
    mode: str
    filters: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source_size": list(self.source_size),
            "rotation": self.rotation,
            "sar": round(self.sar, 6),
            "region": list(self.region),
            "size": list(self.size),
            "resize": self.mode,
            "filters": ",".join(f"{n}={a}" if a else n for n, a in self.filters),
        }


def normalize_rotation(degrees: float) -> int:
    """Clockwise display rotation rounded to a multiple of 90, in {0, 90, 180, 270}."""
    return int(round(float(degrees) / 90.0)) % 4 * 90


def _even_down(v: float) -> int:
    return int(v) // 2 * 2


def _centre(lo: int, hi: int, length: int) -> tuple[int, int]:
    """A centred sub-range of ``[lo, hi)`` of ``length`` (even offset and length)."""
    length = max(2, min(_even_down(length), hi - lo))
    start = lo + _even_down((hi - lo - length) / 2)
    return start, start + length


def plan_geometry(
    source_size: tuple[int, int],
    *,
    size: tuple[int, int],
    crop_box: Box | None = None,
    rotation: int = 0,
    sar: float = 1.0,
    mode: str = "cover",
) -> Geometry:
    """Plan crop, rotation and scaling of frames of ``source_size`` = (w, h) into ``size`` = (W, H).

    rotation: clockwise degrees to apply for display (0, 90, 180, 270). sar: sample aspect ratio
    (pixel width / pixel height; 0 or None means square). Returns a :class:`Geometry`.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, not {mode!r}")
    sw, sh = int(source_size[0]), int(source_size[1])
    W, H = int(size[0]), int(size[1])
    sar = float(sar) if sar and float(sar) > 0 else 1.0
    rotation = normalize_rotation(rotation)
    x0, y0, x1, y1 = crop_box if crop_box is not None else (0, 0, sw, sh)
    if mode == "cover":
        # display size of the region (x scaled by sar; axes swapped by a quarter turn)
        dw, dh = (x1 - x0) * sar, float(y1 - y0)
        swapped = rotation in (90, 270)
        if swapped:
            dw, dh = dh, dw
        target = W / H
        if dw / dh > target + 1e-9:  # too wide: keep the central display width dh * target
            keep = dh * target
            if swapped:
                y0, y1 = _centre(y0, y1, round(keep))
            else:
                x0, x1 = _centre(x0, x1, round(keep / sar))
        elif dw / dh < target - 1e-9:  # too tall: keep the central display height dw / target
            keep = dw / target
            if swapped:
                x0, x1 = _centre(x0, x1, round(keep / sar))
            else:
                y0, y1 = _centre(y0, y1, round(keep))
    region = (int(x0), int(y0), int(x1), int(y1))
    filters: list[tuple[str, str]] = []
    if region != (0, 0, sw, sh):
        filters.append(("crop", f"{x1 - x0}:{y1 - y0}:{x0}:{y0}"))
    if rotation == 90:
        filters.append(("transpose", "clock"))
    elif rotation == 270:
        filters.append(("transpose", "cclock"))
    elif rotation == 180:
        filters += [("hflip", ""), ("vflip", "")]
    filters += [("scale", f"{W}:{H}:flags=area"), ("format", "rgb24")]
    return Geometry(
        source_size=(sw, sh),
        rotation=rotation,
        sar=sar,
        crop_box=crop_box,
        region=region,
        size=(W, H),
        mode=mode,
        filters=filters,
    )
