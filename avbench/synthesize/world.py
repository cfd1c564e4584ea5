"""A deterministic synthetic audio-visual world: pure functions on numpy arrays.

Every class lives in its **dynamics and sound**, never in its appearance (see
``shared/synthetic-world.md``). ``sample_spec`` draws appearance, framing and nuisances without
looking at the class; ``render`` turns a :class:`VideoSpec` into frames, audio and ground truth.

Coordinates: the *scene* is the picture area inside any letterbox/pillarbox bars, of size
``(content_h, content_w)``; x grows to the right, y grows downwards (image convention). Gravity
pulls towards larger y. Distances are in scene pixels, scaled by ``content_h / 240``.

Audio: each class has a timbre that fires at the exact sample of each visual event
(event time ``t`` -> sample ``round(t * sample_rate)``; for impulsive sounds the onset is at that
sample, for the soft ``orbit`` and ``spin`` sounds the envelope maximum is). Pitch is random per
video over one wide range shared by every class, so classes differ by envelope, harmonic
structure, noisiness and rhythm, not by frequency band.

Camera (``camera``): ``none``; ``shake`` (small smoothed jitter of the whole scene, object included,
time-symmetric); ``pan`` and ``zoom``, the seed's cinematic conventions: the camera follows the
object (a tracking shot), so the object keeps its place and size in the picture while the
background, an endless periodic texture, moves past at ``camera_speed`` scene heights per second:
a pan translates it (horizontal direction 50/50, vertical ``tilt_down`` -> the picture moves up),
a zoom magnifies it (``zoom_in``) or shrinks it at a constant rate, through log-periodic texture
layers (an "infinite zoom": a layer fades in as the one before grows out of view). At the default
0.25-0.5 heights per second a 30 px high stored frame at 16 fps moves by ~0.5-0.9 px per frame,
well above the flow quantization (8/255 px) and the arrow-of-time input's 0.5 px ``moving_px``.

Bars (letterbox / pillarbox): not pure black but a dim blocky residual (0-22 grey levels, blocks
of 1/15 of the frame height, plus 0-3 levels of fresh grain per frame) that rolls slowly and
always the same way, rightwards along letterbox bars and downwards along pillarbox bars, at
``bar_drift`` frame heights per second (like the roll of a hum bar or a telecine artefact): the
reversed video rolls the other way, so the bars carry a time-asymmetric cue of their own.
``bar_drift = 0`` gives static bars (grain only changes), with no cue.

Black lead-in/out frames: the world keeps running (events still happen and are listed), but the
object's sounds and distractors are muted there; only the background noise is heard.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import cv2
import numpy as np

CLASSES: list[str] = ["bounce", "pendulum", "orbit", "zigzag", "fall", "launch", "spin", "jitter"]
"""Class names: letters only (valid UCF101-style folder names)."""

SHAPES: list[str] = ["circle", "square", "triangle"]
CAMERAS: list[str] = ["none", "pan", "zoom", "shake"]
TIME_SYMMETRIC: frozenset[str] = frozenset({"orbit", "spin"})

_G0 = 900.0  # gravity in px/s^2 at 240 px scene height


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video (deterministic given the fields).

    ``seed`` drives the dynamics, the sound and the per-frame noise; appearance fields are drawn
    by :func:`sample_spec` independently of ``cls``.
    """

    cls: str
    seed: int
    width: int = 320
    height: int = 240
    fps: float = 25.0
    duration: float = 4.0
    sample_rate: int = 44100
    channels: int = 2
    container: str = "mp4"
    # nuisance switches (ground truth)
    letterbox: int = 0  # height in px of each of the top and bottom bars
    pillarbox: int = 0  # width in px of each of the left and right bars
    black_lead_in: int = 0  # fully black frames at the start
    black_lead_out: int = 0  # fully black frames at the end
    camera: str = "none"  # none | pan | zoom | shake
    zoom_in: bool = True  # direction of a "zoom" camera: magnify over time (in) or the reverse (out)
    tilt_down: bool = True  # vertical direction of a "pan" camera: looks further down over time (picture moves up)
    camera_speed: float = (
        0.35  # pan/zoom: background speed in scene heights per second (zoom: at half a height from the centre)
    )
    bar_drift: float = 0.35  # the bars' residual pattern rolls at this many frame heights per second
    distractor: bool = False  # off-screen sounds of another class's timbre
    silent: bool = False  # audio stream present but near-zero (about -80 dBFS noise)
    no_audio: bool = False  # written without an audio stream
    # appearance (class-independent)
    shape: str = "circle"
    color: tuple[int, int, int] = (220, 60, 60)
    bg_color: tuple[int, int, int] = (90, 110, 90)
    texture: float = 30.0  # amplitude of the low-frequency background texture
    obj_size: float = 24.0  # radius in px at 240 px scene height
    # sound (class-independent draws)
    pitch_hz: float = 400.0
    noise_db: float = -30.0  # background noise rms in dB (before the final level)
    noise_color: float = 1.0  # spectral slope: 0 white, 1 pink, 2 brown
    level: float = 0.6  # peak level of the final mix
    distractor_cls: str = "jitter"
    distractor_db: float = -10.0
    # opt-in (sound-source localization): a second, silent moving object, and per-frame object boxes
    # in the ground truth. Off by default; to_dict() leaves these fields out while they are off, so
    # the ground truth of every other video is unchanged.
    silent_object: bool = False  # another shape/colour moving with its own dynamics, making no sound
    silent_cls: str = ""  # whose dynamics it follows (never heard)
    silent_seed: int = 0  # seed of its dynamics
    silent_shape: str = "square"
    silent_color: tuple[int, int, int] = (60, 60, 220)
    silent_size: float = 24.0  # radius in px at 240 px scene height
    record_boxes: bool = False  # ground truth: the sounding object's box in every frame
    # opt-in (audio-visual sync): the object's sound rendered ``av_offset_s`` seconds late (positive: the
    # audio lags the picture; negative: it leads), and the offset recorded in the ground truth (0 included)
    av_offset_s: float = 0.0
    record_av_offset: bool = False
    # opt-in (sound-source localization): the sounding object's shape and colour follow its class
    # (:data:`CLASS_APPEARANCE`); recorded in the ground truth when on
    appearance_by_class: bool = False

    @property
    def n_frames(self) -> int:
        """Number of video frames, ``round(duration * fps)``."""
        return int(round(self.duration * self.fps))

    @property
    def n_samples(self) -> int:
        """Number of audio samples per channel, ``round(n_frames / fps * sample_rate)``."""
        return int(round(self.n_frames / self.fps * self.sample_rate))

    @property
    def content_size(self) -> tuple[int, int]:
        """(width, height) of the picture inside the bars."""
        return self.width - 2 * self.pillarbox, self.height - 2 * self.letterbox

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["color"] = list(self.color)
        d["bg_color"] = list(self.bg_color)
        for f in _OPT_IN_FIELDS:  # the opt-in fields only when on (older ground truth unchanged)
            if d[f] == _OPT_IN_DEFAULTS[f]:
                del d[f]
        if "silent_color" in d:
            d["silent_color"] = list(self.silent_color)
        return d


_OPT_IN_FIELDS = (
    "silent_object",
    "silent_cls",
    "silent_seed",
    "silent_shape",
    "silent_color",
    "silent_size",
    "record_boxes",
    "av_offset_s",
    "record_av_offset",
    "appearance_by_class",
)
_OPT_IN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(VideoSpec) if f.name in _OPT_IN_FIELDS}
AV_OFFSETS_S: tuple[float, ...] = (-0.75, -0.5, -0.25, 0.25, 0.5, 0.75)
"""Default audio-visual offsets (seconds) of ``p_av_offset``: +-4, 8, 12 frames at the shards' 16 fps."""
SILENT_CLASSES: tuple[str, ...] = ("bounce", "pendulum", "orbit", "zigzag", "fall", "launch")
"""Dynamics a silent object may follow: the classes whose object moves across the picture."""


def _class_appearance(i: int, n: int) -> tuple[str, tuple[int, int, int]]:
    """Shape and colour of class ``i`` of ``n`` under ``appearance_by_class``: hues evenly spaced
    around the colour wheel (saturation 0.85, value 0.9), shapes in turn."""
    h = 6.0 * i / n
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h, 6.0)
    rgb = 0.9 * (1.0 - 0.85 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return SHAPES[i % len(SHAPES)], tuple(int(round(255 * c)) for c in rgb)


CLASS_APPEARANCE: dict[str, tuple[str, tuple[int, int, int]]] = {
    c: _class_appearance(i, len(CLASSES)) for i, c in enumerate(CLASSES)
}
"""Class -> (shape, RGB colour) of the sounding object under ``appearance_by_class`` (fixed: the same
in every world and seed; eight hues 45 degrees apart, circle/square/triangle in turn)."""


def _uniform(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    lo, hi = float(lo_hi[0]), float(lo_hi[-1])
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def sample_spec(
    rng: np.random.Generator,
    cls: str,
    *,
    duration_s: Sequence[float] = (3.0, 10.0),
    fps: Sequence[float] = (24, 25, 30),
    sizes: Sequence[Sequence[int]] = ((320, 240), (340, 256)),
    sample_rate: int = 44100,
    channels: int = 2,
    container: str = "mp4",
    p_letterbox: float = 0.35,
    p_pillarbox: float = 0.17,
    p_black_frames: float = 0.1,
    p_camera: float = 0.73,
    p_distractor: float = 0.3,
    p_silent: float = 0.03,
    p_no_audio: float = 0.02,
    p_zoom_in: float = 0.8,
    p_tilt_down: float = 0.8,
    camera_speed: Sequence[float] = (0.25, 0.5),
    bar_drift: Sequence[float] = (0.25, 0.5),
    n_classes: int = len(CLASSES),
    appearance_seed: int | None = None,
    p_silent_object: float = 0.0,
    record_boxes: bool = False,
    p_av_offset: float = 0.0,
    av_offsets_s: Sequence[float] = AV_OFFSETS_S,
    appearance_by_class: bool = False,
) -> VideoSpec:
    """Draw a random :class:`VideoSpec` of class ``cls``.

    Nothing drawn here depends on ``cls`` (the same ``rng`` state gives the same appearance,
    framing and nuisances for every class). ``appearance_seed``, when given, draws the
    appearance (shape, colours, texture, size) from its own generator so that several clips can
    share a "setting" (UCF101 groups). ``webm`` forces 48 kHz audio (Opus).

    ``p_zoom_in`` is the share of zooming cameras that zoom in (magnify over time): real footage
    zooms in far more often than out, which gives the arrow of time a camera-motion shortcut
    (seed 002's cue table); 0.5 makes zooms time-symmetric. Its draw comes from a generator of
    its own (seeded by the video's ``seed``), so changing it changes nothing else; so do
    ``p_tilt_down`` (share of pans that tilt down: the picture moves up), ``camera_speed`` (range of
    pan/zoom speeds, scene heights per second) and ``bar_drift`` (range of the bars' roll speed,
    frame heights per second; (0, 0): static bars).

    ``p_silent_object`` (default 0: off) adds, to that share of videos, a second object of another
    shape or colour that moves with dynamics of its own (one of :data:`SILENT_CLASSES`) and makes
    no sound: everything about it is drawn from a generator of its own, so the sounding object, the
    audio and the other draws stay the same. ``record_boxes`` asks the ground truth for the objects'
    boxes in every frame (on by itself when a silent object is present).

    ``p_av_offset`` (default 0: off) renders, in that share of videos, the object's sound shifted
    against its picture by an offset drawn from ``av_offsets_s`` (seconds; positive: the audio lags),
    as an out-of-sync upload; drawn from a generator of its own (``[seed, 16]``), so nothing else
    changes. With ``p_av_offset`` > 0 every video records its offset (0 when in sync) in the ground
    truth (``av_offset_s``).

    ``appearance_by_class`` (default off) gives the sounding object the shape and colour of its class
    (:data:`CLASS_APPEARANCE`), so that one frame tells the class (in the default world only dynamics
    and sound do). Every draw is made as before and then overridden; where the class colour is close
    to the drawn background (L1 distance <= 150), the background is redrawn from a generator of its
    own (``[seed, 17]``). Size, texture and background stay random; a silent object keeps its random
    shape and colour (drawn, as always, distinct from the sounding object's colour), so it carries a
    class colour only by chance. Recorded in the ground truth (``appearance_by_class``).

    Defaults follow seed 002: black framing in 1 - 0.65 * 0.83 = 46% of videos (letterbox 35%,
    pillarbox 17%, independent), camera motion in 73% (pan, zoom, shake equally often).
    """
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}")
    seed = int(rng.integers(0, 2**63 - 1))
    fps_v = float(fps[int(rng.integers(len(fps)))])
    w, h = (int(v) for v in sizes[int(rng.integers(len(sizes)))])
    dur = _uniform(rng, duration_s)
    n_frames = max(2, int(round(dur * fps_v)))
    dur = n_frames / fps_v
    sr = 48000 if container == "webm" else int(sample_rate)

    # nuisances (all draws always made, so the stream of draws is fixed)
    u = rng.uniform(size=7)
    lb_frac, pb_frac = rng.uniform(0.06, 0.16), rng.uniform(0.06, 0.16)
    letterbox = 2 * int(round(lb_frac * h / 2)) if u[0] < p_letterbox else 0
    pillarbox = 2 * int(round(pb_frac * w / 2)) if u[1] < p_pillarbox else 0
    max_black = max(1, min(int(fps_v * 0.6), n_frames // 4))
    bi, bo = int(rng.integers(1, max_black + 1)), int(rng.integers(0, max_black + 1))
    if u[2] >= p_black_frames:
        bi = bo = 0
    cam = CAMERAS[1 + int(rng.integers(3))] if u[3] < p_camera else "none"
    zoom_in = bool(np.random.default_rng([seed, 11]).uniform() < p_zoom_in)
    tilt_down = bool(np.random.default_rng([seed, 13]).uniform() < p_tilt_down)
    speed = _uniform(np.random.default_rng([seed, 12]), camera_speed) if cam in ("pan", "zoom") else 0.0
    drift = _uniform(np.random.default_rng([seed, 14]), bar_drift) if (letterbox or pillarbox) else 0.0
    distractor = bool(u[4] < p_distractor)
    silent = bool(u[5] < p_silent)
    no_audio = bool(u[6] < p_no_audio)

    arng = np.random.default_rng(appearance_seed) if appearance_seed is not None else rng
    shape = SHAPES[int(arng.integers(len(SHAPES)))]
    bg = arng.integers(20, 236, size=3)
    for _ in range(100):  # object colour clearly distinct from the background
        col = arng.integers(0, 256, size=3)
        if np.abs(col.astype(int) - bg.astype(int)).sum() > 150:
            break
    texture = float(arng.uniform(6, 28))
    obj_size = float(arng.uniform(16, 34))
    extra: dict[str, Any] = {}
    if appearance_by_class:  # opt-in: the draws above are made all the same, then overridden
        shape, class_col = CLASS_APPEARANCE[cls]
        col = np.asarray(class_col, np.int64)
        brng = np.random.default_rng([seed, 17])  # its own generator: nothing else changes
        for _ in range(100):
            if np.abs(col - bg.astype(np.int64)).sum() > 150:
                break
            bg = brng.integers(20, 236, size=3)
        extra["appearance_by_class"] = True

    pitch = float(np.exp(rng.uniform(np.log(150.0), np.log(1200.0))))
    noise_db = float(rng.uniform(-42, -18))
    noise_color = float(rng.uniform(0.0, 2.0))
    level = float(rng.uniform(0.3, 0.9))
    others = [c for c in CLASSES[: max(2, n_classes)] if c != cls]
    dcls = others[int(rng.integers(len(others)))]
    ddb = float(rng.uniform(-16, -6))
    if record_boxes:
        extra["record_boxes"] = True
    if p_silent_object > 0:
        srng = np.random.default_rng([seed, 15])  # its own generator: nothing else changes
        if srng.uniform() < p_silent_object:
            s_shape = SHAPES[int(srng.integers(len(SHAPES)))]
            for _ in range(100):  # distinct from the background and from the sounding object
                s_col = srng.integers(0, 256, size=3)
                if (
                    np.abs(s_col.astype(int) - bg.astype(int)).sum() > 150
                    and np.abs(s_col.astype(int) - col.astype(int)).sum() > 150
                ):
                    break
            extra |= {
                "silent_object": True,
                "silent_cls": SILENT_CLASSES[int(srng.integers(len(SILENT_CLASSES)))],
                "silent_seed": int(srng.integers(0, 2**63 - 1)),
                "silent_shape": s_shape,
                "silent_color": tuple(int(c) for c in s_col),
                "silent_size": float(srng.uniform(16, 34)),
                "record_boxes": True,
            }
    if p_av_offset > 0:
        orng = np.random.default_rng([seed, 16])  # its own generator: nothing else changes
        u_off, j_off = orng.uniform(), int(orng.integers(len(av_offsets_s)))
        extra["record_av_offset"] = True
        if u_off < p_av_offset:
            extra["av_offset_s"] = float(av_offsets_s[j_off])
    return VideoSpec(
        cls=cls,
        seed=seed,
        width=w,
        height=h,
        fps=fps_v,
        duration=dur,
        sample_rate=sr,
        channels=int(channels),
        container=container,
        letterbox=letterbox,
        pillarbox=pillarbox,
        black_lead_in=bi,
        black_lead_out=bo,
        camera=cam,
        zoom_in=zoom_in,
        tilt_down=tilt_down,
        camera_speed=speed,
        bar_drift=drift,
        distractor=distractor,
        silent=silent,
        no_audio=no_audio,
        shape=shape,
        color=tuple(int(c) for c in col),
        bg_color=tuple(int(c) for c in bg),
        texture=texture,
        obj_size=obj_size,
        pitch_hz=pitch,
        noise_db=noise_db,
        noise_color=noise_color,
        level=level,
        distractor_cls=dcls,
        distractor_db=ddb,
        **extra,
    )


# ----------------------------------------------------------------------------------------------
# dynamics


@dataclass
class Trajectory:
    """Object path sampled at the frame times.

    x, y, angle: float arrays of shape (T,) in scene pixels / radians.
    events: event times in seconds (sorted); amps: matching loudness in (0, 1].
    """

    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    events: list[float]
    amps: list[float]
    info: dict[str, Any] = field(default_factory=dict)


def _bounce_path(
    ts: np.ndarray, z0: float, v0: float, g: float, e: float, v_stop: float
) -> tuple[np.ndarray, list[tuple[float, float]], float | None]:
    """Height above the floor of a ball under gravity with restitution ``e``.

    ts: (K,) times >= 0 relative to the release. Returns (z (K,), impacts [(t, speed)], t_rest):
    the ball rests on the floor from ``t_rest`` (None when still bouncing at ``ts[-1]``).
    """
    z = np.zeros_like(ts)
    impacts: list[tuple[float, float]] = []
    tmax = float(ts[-1]) if len(ts) else 0.0
    seg_t, seg_z, seg_v = 0.0, z0, v0
    for _ in range(1000):
        tau = (seg_v + math.sqrt(seg_v * seg_v + 2 * g * seg_z)) / g
        m = (ts >= seg_t) & (ts < seg_t + tau)
        dt = ts[m] - seg_t
        z[m] = seg_z + seg_v * dt - 0.5 * g * dt * dt
        t_imp = seg_t + tau
        v_imp = g * tau - seg_v
        impacts.append((t_imp, v_imp))
        if t_imp > tmax:
            return z, impacts, None
        v_new = e * v_imp
        if v_new < v_stop:
            z[ts >= t_imp] = 0.0
            return z, impacts, t_imp
        seg_t, seg_z, seg_v = t_imp, 0.0, v_new
    return z, impacts, None


def _fold(u: np.ndarray, length: float) -> np.ndarray:
    """Reflect an unfolded coordinate ``u`` into [0, length] (walls at 0 and length)."""
    m = np.mod(u, 2 * length)
    return np.where(m < length, m, 2 * length - m)


def _wall_hits(u0: float, v: float, length: float, dur: float) -> list[float]:
    """Times in (0, dur) at which ``u0 + v t`` crosses a multiple of ``length``."""
    if abs(v) < 1e-9:
        return []
    k0 = math.floor(u0 / length)
    out = []
    if v > 0:
        k = k0 + 1
        while (t := (k * length - u0) / v) < dur:
            out.append(t)
            k += 1
    else:
        k = k0 if u0 / length > k0 else k0 - 1
        while (t := (k * length - u0) / v) < dur:
            out.append(t)
            k -= 1
    return [t for t in out if t > 0]


@dataclass(frozen=True)
class _Scene:
    """What every class's dynamics share: the frame times, the scene's scale and bounds, gravity and
    the floor line, and the generator the dynamics draw from (in :func:`simulate`'s order)."""

    rng: np.random.Generator
    cls: str
    fps: float
    cw: int  # scene width, px
    ch: int  # scene height, px
    s: float  # scale: scene height / 240
    r: float  # object radius, px
    T: int  # number of frames
    dur: float  # seconds
    t: np.ndarray  # frame times, seconds
    g: float  # gravity, px/s^2
    floor: float  # y of the object's centre when it rests on the (invisible) ground
    lo_x: float
    hi_x: float
    avail: float  # height available above the floor
    angle0: float

    def horiz(self, vmax: float) -> np.ndarray:
        """x at the frame times: a random start and constant speed (up to ``vmax`` at 240 px),
        reflected at the scene's sides."""
        x0 = self.rng.uniform(self.lo_x, self.hi_x)
        vx = self.rng.uniform(-vmax, vmax) * self.s
        return self.lo_x + _fold(x0 - self.lo_x + vx * self.t, self.hi_x - self.lo_x)


@dataclass
class _Motion:
    """One class's path at the frame times, its events (unsorted) with their loudness, its extra
    ground truth, and its rotation when it has one of its own (``None``: the constant start angle)."""

    x: np.ndarray
    y: np.ndarray
    events: list[float]
    amps: list[float]
    info: dict[str, Any]
    angle: np.ndarray | None = None


def _scene(spec: VideoSpec) -> _Scene:
    """The shared quantities of :func:`simulate`, drawing gravity, the floor and the start angle."""
    rng = np.random.default_rng([spec.seed, 1])
    cw, ch = spec.content_size
    s = ch / 240.0
    r = spec.obj_size * s
    T = spec.n_frames
    dur = T / spec.fps
    t = np.arange(T) / spec.fps
    g = _G0 * s * rng.uniform(0.8, 1.25)
    floor = ch - r - rng.uniform(0.0, 0.25) * ch  # random floor line (the "ground" is invisible)
    floor = max(floor, 3 * r)
    lo_x, hi_x = r, cw - r
    angle0 = rng.uniform(0, 2 * np.pi)
    return _Scene(
        rng=rng,
        cls=spec.cls,
        fps=spec.fps,
        cw=cw,
        ch=ch,
        s=s,
        r=r,
        T=T,
        dur=dur,
        t=t,
        g=g,
        floor=floor,
        lo_x=lo_x,
        hi_x=hi_x,
        avail=floor - r,
        angle0=angle0,
    )


def _bounce(sc: _Scene) -> _Motion:
    """``bounce``: dropped or tossed from a random height, bouncing on the floor with a restitution;
    an event per impact, as loud as the impact speed."""
    rng, g, avail = sc.rng, sc.g, sc.avail
    e = rng.uniform(0.8, 0.93)
    z0 = rng.uniform(0.5, 0.95) * avail
    v0 = rng.uniform(-0.2, 0.3) * math.sqrt(2 * g * avail)
    z, impacts, _ = _bounce_path(sc.t, z0, v0, g, e, math.sqrt(2 * g * 3 * sc.s))
    y = sc.floor - z
    x = sc.horiz(50)
    vref = math.sqrt(2 * g * avail)
    events: list[float] = []
    amps: list[float] = []
    for ti, vi in impacts:
        if ti < sc.dur:
            events.append(ti)
            amps.append(float(np.clip(vi / vref, 0.15, 1.0)))
    return _Motion(x=x, y=y, events=events, amps=amps, info={"restitution": e})


def _drop_or_launch(sc: _Scene) -> _Motion:
    """``fall`` (held still, then dropped; it bounces a little and rests on the floor before the next
    drop) and ``launch`` (rests on the floor, then is thrown up; the throw is an event too)."""
    rng, t, dur, g, avail, floor, s = sc.rng, sc.t, sc.dur, sc.g, sc.avail, sc.floor, sc.s
    lo_x, hi_x = sc.lo_x, sc.hi_x
    fall = sc.cls == "fall"
    x = np.zeros(sc.T)
    y = np.zeros(sc.T)
    events: list[float] = []
    amps: list[float] = []
    tc = 0.0 if fall else -rng.uniform(0.0, 0.5)
    xc = rng.uniform(lo_x, hi_x)
    vref = math.sqrt(2 * g * avail)
    e = rng.uniform(0.15, 0.35) if fall else rng.uniform(0.0, 0.12)
    first = True
    while tc < dur:
        if fall:
            hold = rng.uniform(0.15, 0.5) if not first else rng.uniform(0.0, 0.3)
            xc = rng.uniform(lo_x, hi_x)
            z0 = rng.uniform(0.6, 0.98) * avail
            m = (t >= tc) & (t < tc + hold)
            x[m], y[m] = xc, floor - z0
            t_rel0 = tc + hold
            v0, vx = 0.0, 0.0
        else:
            hold = rng.uniform(0.25, 0.8)
            m = (t >= tc) & (t < tc + hold)
            x[m], y[m] = xc, floor
            t_rel0 = tc + hold
            z0 = 0.0
            v0 = math.sqrt(2 * g * rng.uniform(0.45, 0.95) * avail)
            vx = rng.uniform(-60, 60) * s
            if t_rel0 < dur:
                events.append(t_rel0)
                amps.append(float(np.clip(0.6 * v0 / vref, 0.15, 1.0)))
        first = False
        if t_rel0 >= dur:
            break
        m = t >= t_rel0
        ts = t[m] - t_rel0
        horizon = np.concatenate([ts, [dur - t_rel0 + 10.0]])
        z, impacts, t_rest = _bounce_path(horizon, z0, v0, g, e, math.sqrt(2 * g * 2 * s))
        y[m] = floor - z[:-1]
        x[m] = lo_x + _fold(xc - lo_x + vx * np.minimum(ts, t_rest or 1e9), hi_x - lo_x)
        for ti, vi in impacts:
            if t_rel0 + ti < dur:
                events.append(t_rel0 + ti)
                amps.append(float(np.clip(vi / vref, 0.15, 1.0)))
        if t_rest is None:
            break
        xc = float(lo_x + _fold(np.array([xc - lo_x + vx * t_rest]), hi_x - lo_x)[0])
        tc = t_rel0 + t_rest + (rng.uniform(0.3, 0.9) if fall else 0.0)
        if fall:  # rest on the floor before the next drop
            m = (t >= t_rel0 + t_rest) & (t < tc)
            x[m], y[m] = xc, floor
    return _Motion(x=x, y=y, events=events, amps=amps, info={"restitution": e})


def _pendulum(sc: _Scene) -> _Motion:
    """``pendulum``: a damped swing; an event at each pass through the bottom, fading with the swing."""
    rng, t, cw, ch, r = sc.rng, sc.t, sc.cw, sc.ch, sc.r
    L = rng.uniform(0.35, 0.75) * ch
    omega = math.sqrt(sc.g / L)
    gamma = rng.uniform(0.03, 0.12)
    px = rng.uniform(0.3, 0.7) * cw
    py = (ch - r) - L - rng.uniform(0, 0.1) * ch
    th_max = min(rng.uniform(0.35, 0.9), math.asin(min(0.99, (min(px - r, cw - r - px)) / L)))
    phi = rng.uniform(0, 2 * np.pi)
    th = th_max * np.exp(-gamma * t) * np.cos(omega * t + phi)
    x = px + L * np.sin(th)
    y = py + L * np.cos(th)
    events: list[float] = []
    amps: list[float] = []
    k = math.ceil(phi / np.pi)
    while (te := (k * np.pi - phi) / omega) < sc.dur:
        if te >= 0:
            events.append(te)
            amps.append(float(np.exp(-gamma * te)))
        k += 1
    return _Motion(
        x=x, y=y, events=events, amps=amps, info={"length_px": L, "damping": gamma, "period_s": 2 * np.pi / omega}
    )


def _orbit(sc: _Scene) -> _Motion:
    """``orbit``: uniform circular motion; an event each time the object passes the top."""
    rng, t, cw, ch, r, dur = sc.rng, sc.t, sc.cw, sc.ch, sc.r, sc.dur
    R = rng.uniform(0.15, 0.4) * min(ch, cw)
    R = min(R, (min(cw, ch) - 2 * r) / 2 - 1)
    cx = rng.uniform(r + R, cw - r - R)
    cy = rng.uniform(r + R, ch - r - R)
    period = rng.uniform(1.0, 2.5)
    w = 2 * np.pi / period * (1 if rng.uniform() < 0.5 else -1)
    a0 = rng.uniform(0, 2 * np.pi)
    a = a0 + w * t
    x = cx + R * np.cos(a)
    y = cy + R * np.sin(a)
    # event when the object passes the top of the circle (a = -pi/2 mod 2pi)
    nk = int(abs(w) * dur / (2 * np.pi)) + 3
    tes = (-np.pi / 2 + 2 * np.pi * np.arange(-nk, nk + 1) - a0) / w
    events = sorted(float(v) for v in tes if 0 <= v < dur)
    return _Motion(x=x, y=y, events=events, amps=[1.0] * len(events), info={"radius_px": R, "period_s": period})


def _zigzag(sc: _Scene) -> _Motion:
    """``zigzag``: constant speed, reflected at the scene's walls; an event per wall hit."""
    rng, t, s, r, lo_x, hi_x = sc.rng, sc.t, sc.s, sc.r, sc.lo_x, sc.hi_x
    speed = rng.uniform(90, 200) * s
    d = rng.uniform(0.25, 1.3) + (np.pi / 2) * int(rng.integers(4))
    vx, vy = speed * math.cos(d), speed * math.sin(d)
    lo_y, hi_y = r, sc.ch - r
    ux0, uy0 = rng.uniform(0, hi_x - lo_x), rng.uniform(0, hi_y - lo_y)
    x = lo_x + _fold(ux0 + vx * t, hi_x - lo_x)
    y = lo_y + _fold(uy0 + vy * t, hi_y - lo_y)
    hits = _wall_hits(ux0, vx, hi_x - lo_x, sc.dur) + _wall_hits(uy0, vy, hi_y - lo_y, sc.dur)
    events = sorted(hits)
    return _Motion(x=x, y=y, events=events, amps=[1.0] * len(events), info={"speed_px_s": speed})


def _spin(sc: _Scene) -> _Motion:
    """``spin``: in place, rotating at a constant rate; an event each time the marker points up."""
    rng, r, T, angle0, dur = sc.rng, sc.r, sc.T, sc.angle0, sc.dur
    x = np.full(T, rng.uniform(sc.lo_x + r, sc.hi_x - r))
    y = np.full(T, rng.uniform(2 * r, sc.ch - 2 * r))
    period = rng.uniform(0.8, 2.5)
    w = 2 * np.pi / period * (1 if rng.uniform() < 0.5 else -1)
    angle = angle0 + w * sc.t
    # events when the marker points up (angle = -pi/2 mod 2pi)
    tes = (-np.pi / 2 - angle0) / w + np.arange(-3, int(dur / period) + 4) * period
    events = sorted(float(v) for v in tes if 0 <= v < dur)
    return _Motion(
        x=x,
        y=y,
        events=events,
        amps=[1.0] * len(events),
        info={"period_s": period, "omega": w, "angle0": angle0},
        angle=angle,
    )


def _jitter(sc: _Scene) -> _Motion:
    """``jitter``: still with a slight tremor, jumping to a nearby place at random instants (an
    event per jump)."""
    rng, T, fps, s, r, lo_x, hi_x, ch = sc.rng, sc.T, sc.fps, sc.s, sc.r, sc.lo_x, sc.hi_x, sc.ch
    x = np.empty(T)
    y = np.empty(T)
    events: list[float] = []
    amps: list[float] = []
    cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(r, ch - r)
    rate = rng.uniform(0.8, 2.0)
    fr = 0
    while fr < T:
        gap = max(int(round(rng.exponential(1.0 / rate) * fps)), int(0.15 * fps) + 1)
        nxt = min(T, fr + gap)
        x[fr:nxt], y[fr:nxt] = cx, cy
        fr = nxt
        if fr < T:
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(15, 50) * s
            cx = float(np.clip(cx + dist * math.cos(ang), lo_x, hi_x))
            cy = float(np.clip(cy + dist * math.sin(ang), r, ch - r))
            events.append(fr / fps)
            amps.append(1.0)
    x = x + rng.normal(0, 0.3 * s, T)  # slight tremor
    y = y + rng.normal(0, 0.3 * s, T)
    return _Motion(x=x, y=y, events=events, amps=amps, info={})


_DYNAMICS: dict[str, Callable[[_Scene], _Motion]] = {
    "bounce": _bounce,
    "fall": _drop_or_launch,
    "launch": _drop_or_launch,
    "pendulum": _pendulum,
    "orbit": _orbit,
    "zigzag": _zigzag,
    "spin": _spin,
    "jitter": _jitter,
}


def simulate(spec: VideoSpec) -> Trajectory:
    """The object's path at the frame times and its event times (class dynamics)."""
    sc = _scene(spec)
    dynamics = _DYNAMICS.get(spec.cls)
    if dynamics is None:  # pragma: no cover
        raise ValueError(spec.cls)
    motion = dynamics(sc)
    info: dict[str, Any] = {"gravity_px_s2": sc.g, **motion.info}
    angle = motion.angle if motion.angle is not None else np.full(sc.T, sc.angle0)
    order = np.argsort(motion.events, kind="stable")
    events = [float(motion.events[i]) for i in order]
    amps = [float(motion.amps[i]) for i in order]
    return Trajectory(
        x=np.asarray(motion.x, float), y=np.asarray(motion.y, float), angle=angle, events=events, amps=amps, info=info
    )


def simulate_silent(spec: VideoSpec) -> Trajectory | None:
    """The silent object's path (its own class dynamics, seed and size; its events are never
    heard), or None when the video has none."""
    if not spec.silent_object:
        return None
    sub = dataclasses.replace(
        spec, cls=spec.silent_cls, seed=spec.silent_seed, obj_size=spec.silent_size, silent_object=False
    )
    return simulate(sub)


# ----------------------------------------------------------------------------------------------
# sound


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= max(n, 2) (a fast FFT length)."""
    n = max(int(n), 2)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


def _bandnoise(n: int, lo: float, hi: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz, unit rms. Shape (n,)."""
    m = _fast_len(n)
    spec = np.fft.rfft(rng.normal(size=m))
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0
    out = np.fft.irfft(spec, m)[:n]
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def timbre(cls: str, f0: float, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One sound event of class ``cls`` at pitch ``f0``.

    Returns (snippet float (L,), pre): the snippet is placed so that its sample ``pre`` lands on
    the event sample (onset for impulsive timbres, envelope maximum for soft ones). Peak ~1.
    """
    dm = rng.uniform(0.7, 1.5)  # per-video decay variation

    def tt(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * sr)) / sr

    def attack(t: np.ndarray) -> np.ndarray:
        return 1.0 - np.exp(-t / 0.0008)

    pre = 0
    if cls == "bounce":  # harmonic "boing" with downward glide
        t = tt(0.35 * dm)
        f = f0 * (1 + 0.3 * np.exp(-t / 0.03))
        ph = 2 * np.pi * np.cumsum(f) / sr
        amps = 1.0 / np.arange(1, 5) * rng.uniform(0.6, 1.4, 4)
        y = sum(a * np.sin(k * ph) for k, a in zip(range(1, 5), amps))
        y = y * attack(t) * np.exp(-t / (0.09 * dm))
    elif cls == "pendulum":  # tick: noise transient + short ring an octave up
        t = tt(0.1)
        y = 0.7 * _bandnoise(len(t), 1500, 0.45 * sr, sr, rng) * np.exp(-t / 0.003)
        y = y + 0.5 * np.sin(2 * np.pi * 2 * f0 * t) * np.exp(-t / (0.02 * dm))
        y = y * attack(t)
    elif cls == "orbit":  # soft swell, envelope maximum on the event
        d = 0.3 * dm
        t = tt(d)
        env = np.sin(np.pi * t / d) ** 2
        y = (np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(4 * np.pi * f0 * t)) * env
        pre = len(t) // 2
    elif cls == "zigzag":  # click: odd harmonics (square-ish), fast decay
        t = tt(0.12)
        y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 3, 5, 7) if k * f0 < 0.45 * sr)
        y = y * attack(t) * np.exp(-t / (0.025 * dm))
    elif cls == "fall":  # thud: low noise + low sine with glide, long decay
        t = tt(0.5)
        f = 0.5 * f0 * (1 + 0.5 * np.exp(-t / 0.02))
        ph = 2 * np.pi * np.cumsum(f) / sr
        y = 0.6 * _bandnoise(len(t), 30, 2.5 * f0, sr, rng) + np.sin(ph)
        y = y * attack(t) * np.exp(-t / (0.12 * dm))
    elif cls == "launch":  # pluck: inharmonic partials, higher ones decay faster
        t = tt(0.5)
        y = np.zeros_like(t)
        for ratio, a in ((1.0, 1.0), (2.76, 0.5), (5.40, 0.25), (8.93, 0.12)):
            if ratio * f0 < 0.45 * sr:
                y += a * np.sin(2 * np.pi * ratio * f0 * t) * np.exp(-t * ratio / (0.15 * dm))
        y = y * attack(t)
    elif cls == "spin":  # tremolo tone burst (used for distractors; videos use a continuous tone)
        d = 0.45 * dm
        t = tt(d)
        env = np.sin(np.pi * t / d) ** 2 * (0.6 + 0.4 * np.cos(2 * np.pi * 9 * t))
        y = (np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(4 * np.pi * f0 * t)) * env
        pre = len(t) // 2
    elif cls == "jitter":  # crackle: a few band-noise micro clicks over ~40 ms
        t = tt(0.06)
        y = np.zeros_like(t)
        offs = [0] + sorted(int(v) for v in rng.uniform(0.004, 0.04, int(rng.integers(2, 5))) * sr)
        for k, o in enumerate(offs):
            n = len(t) - o
            burst = _bandnoise(n, 1.5 * f0, 4.5 * f0, sr, rng) * np.exp(-t[:n] / 0.003)
            y[o:] += burst * (1.0 if k == 0 else rng.uniform(0.3, 0.8))
    else:  # pragma: no cover
        raise ValueError(cls)
    y = np.asarray(y, float)
    return y / (np.max(np.abs(y)) + 1e-12), pre


def _colored_noise(n: int, channels: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ~ f^-slope, unit rms per channel. Shape (channels, n)."""
    m = _fast_len(n)  # FFT-friendly length, cropped to n
    spec = np.fft.rfft(rng.normal(size=(channels, m)), axis=1)
    f = np.fft.rfftfreq(m)
    f[0] = f[1]
    spec *= f ** (-slope / 2)
    out = np.fft.irfft(spec, m, axis=1)[:, :n]
    return out / (np.sqrt(np.mean(out**2, axis=1, keepdims=True)) + 1e-12)


def _pan_gains(p: float, channels: int) -> np.ndarray:
    """Equal-power pan gains for position p in [-1, 1]. Shape (channels,)."""
    if channels == 1:
        return np.ones(1)
    a = (np.clip(p, -1, 1) + 1) * np.pi / 4
    g = np.array([math.cos(a), math.sin(a)]) * math.sqrt(2)
    return np.resize(g, channels)


def _place(buf: np.ndarray, snip: np.ndarray, start: int, gains: np.ndarray) -> None:
    """Add ``snip`` (L,) into ``buf`` (C, N) from sample ``start`` (clipped to the buffer)."""
    n = buf.shape[1]
    a, b = max(start, 0), min(start + len(snip), n)
    if b > a:
        buf[:, a:b] += gains[:, None] * snip[a - start : b - start][None, :]


def render_audio(spec: VideoSpec, traj: Trajectory | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The video's soundtrack. Returns (audio float32 (C, N) in [-1, 1], info dict).

    Works without rendering frames (used for the sound set). With ``spec.av_offset_s`` the object's
    sounds (and the muting over black frames) are placed that many seconds later (earlier when
    negative) than the picture shows them; the background noise and the off-screen distractor are not
    tied to the picture and stay where they are. Sounds shifted past either end are cut.
    """
    traj = traj if traj is not None else simulate(spec)
    lag = float(spec.av_offset_s)  # 0.0 by default: every time below is unchanged
    rng = np.random.default_rng([spec.seed, 2])
    sr, C, N = spec.sample_rate, spec.channels, spec.n_samples
    cw, _ = spec.content_size
    fps = spec.fps
    obj = np.zeros((C, N))
    if spec.cls == "spin":
        # continuous tone, amplitude modulated by the rotation: maxima at the events
        w = traj.info["omega"]
        tn = np.arange(N) / sr
        ang = traj.info["angle0"] + w * (tn - lag)
        env = 0.12 + 0.88 * ((1 + np.cos(ang + np.pi / 2)) / 2) ** 4
        harm = rng.uniform(0.1, 0.5)
        tone = np.sin(2 * np.pi * spec.pitch_hz * tn) + harm * np.sin(4 * np.pi * spec.pitch_hz * tn)
        obj += _pan_gains(2 * float(traj.x[0]) / cw - 1, C)[:, None] * (tone * env / (1 + harm))[None]
        rng.uniform(0.7, 1.5)  # keep the draw count aligned with timbre()
    else:
        snip, pre = timbre(spec.cls, spec.pitch_hz, sr, rng)
        for te, amp in zip(traj.events, traj.amps):
            fr = min(len(traj.x) - 1, max(0, int(round(te * fps))))
            gains = _pan_gains(2 * float(traj.x[fr]) / cw - 1, C)
            _place(obj, snip * amp * rng.uniform(0.85, 1.0), int(round((te + lag) * sr)) - pre, gains)
    dist_events: list[float] = []
    if spec.distractor:
        f0 = float(np.exp(rng.uniform(np.log(150.0), np.log(1200.0))))
        dsnip, dpre = timbre(spec.distractor_cls, f0, sr, rng)
        rate = rng.uniform(0.4, 1.5)
        tcur = rng.exponential(1.0 / rate)
        dur = N / sr
        gain = 10 ** (spec.distractor_db / 20)
        while tcur < dur:
            dist_events.append(float(tcur))
            _place(obj, dsnip * gain, int(round(tcur * sr)) - dpre, _pan_gains(rng.uniform(-1, 1), C))
            tcur += max(0.1, rng.exponential(1.0 / rate))
    # mute event sounds over black lead-in/out (only ambience is heard there)
    if spec.black_lead_in or spec.black_lead_out:
        gate = np.ones(N)
        ramp = max(1, int(0.005 * sr))
        a = min(N, max(0, int(round((spec.black_lead_in / fps + lag) * sr))))
        b = min(N, max(0, int(round(((spec.n_frames - spec.black_lead_out) / fps + lag) * sr))))
        gate[:a] = 0
        gate[b:] = 0
        if a > 0:
            gate[a : a + ramp] = np.linspace(0, 1, len(gate[a : a + ramp]))
        if spec.black_lead_out:
            seg = gate[max(0, b - ramp) : b]
            gate[max(0, b - ramp) : b] = np.linspace(1, 0, len(seg))
        obj *= gate[None]
    noise = _colored_noise(N, C, spec.noise_color, rng) * 10 ** (spec.noise_db / 20)
    mix = obj + noise
    peak = float(np.max(np.abs(mix))) + 1e-12
    mix *= spec.level / peak
    if spec.silent:
        mix = rng.normal(0, 10 ** (-80 / 20), size=(C, N))
    audio = np.clip(mix, -1.0, 1.0).astype(np.float32)
    return audio, {"distractor_events": dist_events}


# ----------------------------------------------------------------------------------------------
# pictures


def _background(spec: VideoSpec, w: int, h: int) -> np.ndarray:
    """Static textured background of the scene. Shape (h, w, 3) uint8."""
    rng = np.random.default_rng([spec.seed, 3])
    gh, gw = int(rng.integers(3, 9)), int(rng.integers(3, 9))
    coarse = rng.normal(0, 1, size=(gh, gw, 3)).astype(np.float32)
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 4, size=(h, w, 1)).astype(np.float32)
    bg = np.asarray(spec.bg_color, np.float32)[None, None] + spec.texture * tex + fine
    return np.clip(bg, 0, 255).astype(np.uint8)


def _camera_path(spec: VideoSpec, w: int, h: int) -> np.ndarray:
    """Per-frame (dx, dy, scale) of the camera. Shape (T, 3).

    Frame pixel p' = scale * (p - c) + c + (dx, dy) with c the scene centre. ``shake``: the
    scene (object included) is magnified by ``scale`` (>= 1, so no border shows) and shifted.
    ``pan`` and ``zoom``: the map of the periodic background (the object is not moved, see the
    module docstring): a pan shifts it at ``camera_speed * h`` px/s (the camera looks further down
    over time when ``tilt_down``: dy decreases), a zoom scales it by ``exp(+-2 camera_speed t)``
    (t from the middle frame), so a point half a height from the centre moves at the same speed.
    """
    T = spec.n_frames
    rng = np.random.default_rng([spec.seed, 4])
    path = np.zeros((T, 3))
    path[:, 2] = 1.0
    t = (np.arange(T) - (T - 1) / 2.0) / spec.fps  # seconds from the middle frame
    if spec.camera == "pan":
        ang = rng.uniform(0, np.pi / 2)  # 0: horizontal pan, pi/2: pure tilt
        sx = 1.0 if rng.uniform() < 0.5 else -1.0  # left/right: no convention
        sy = 1.0 if spec.tilt_down else -1.0
        v = spec.camera_speed * h
        path[:, 0] = -v * t * sx * math.cos(ang)
        path[:, 1] = -v * t * sy * math.sin(ang)
    elif spec.camera == "zoom":
        rate = 2.0 * spec.camera_speed * (1.0 if spec.zoom_in else -1.0)
        path[:, 2] = np.exp(rate * t)
    elif spec.camera == "shake":
        s = 1.08
        k = max(1, int(round(spec.fps / 8)))
        raw = rng.normal(0, 1, size=(T + 2 * k, 2))
        ker = np.ones(k) / k
        sm = np.stack([np.convolve(raw[:, i], ker, mode="same")[k : k + T] for i in range(2)], 1)
        sm /= np.max(np.abs(sm)) + 1e-9
        path[:, 0] = sm[:, 0] * 0.03 * w
        path[:, 1] = sm[:, 1] * 0.03 * h
        path[:, 2] = s
    return path


def camera_matrices(path: np.ndarray, w: int, h: int) -> np.ndarray:
    """2x3 affine matrices (T, 2, 3) mapping scene pixels to frame pixels (inside the bars)."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    s = path[:, 2]
    m = np.zeros((len(path), 2, 3))
    m[:, 0, 0] = s
    m[:, 1, 1] = s
    m[:, 0, 2] = (1 - s) * cx + path[:, 0]
    m[:, 1, 2] = (1 - s) * cy + path[:, 1]
    return m


def _periodic_texture(rng: np.random.Generator, h: int, w: int, cycles: float) -> np.ndarray:
    """Seamlessly periodic smooth noise, (h, w, 3) float32 of unit std per channel, whose detail
    is about ``cycles`` periods per image height (Gaussian low-pass of white noise)."""
    spec = np.fft.rfft2(rng.normal(size=(3, h, w)), axes=(1, 2))
    ky = np.fft.fftfreq(h)[:, None] * h
    kx = np.fft.rfftfreq(w)[None, :] * h  # cycles per image height along x
    filt = np.exp(-(ky**2 + kx**2) / float(cycles) ** 2)
    filt[0, 0] = 0.0
    out = np.fft.irfft2(spec * filt[None], s=(h, w), axes=(1, 2))
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-12
    return np.ascontiguousarray(out.transpose(1, 2, 0), dtype=np.float32)


def _moving_backgrounds(spec: VideoSpec, path: np.ndarray, w: int, h: int) -> np.ndarray:
    """The background of a ``pan`` or ``zoom`` camera in every frame, (T, h, w, 3) uint8.

    Pan: one periodic texture (two octaves) shifted by the path (wrapping around). Zoom: layers
    n of their own periodic texture, layer n magnified by ``scale / 2**n``, weighted by
    ``cos^2(pi (log2 scale - n) / 3)`` (about three layers at once, weights summing to a constant),
    so the zoom can go on forever without running out of detail or showing an edge.
    """
    rng = np.random.default_rng([spec.seed, 6])
    mats = camera_matrices(path, w, h).astype(np.float32)
    T = len(path)
    out = np.empty((T, h, w, 3), np.uint8)
    base = np.asarray(spec.bg_color, np.float32)[None, None]
    f0 = float(rng.integers(3, 9))
    if spec.camera == "pan":
        tex = _periodic_texture(rng, h, w, 0.6 * f0) + 0.5 * _periodic_texture(rng, h, w, 1.5 * f0)
        tex = base + spec.texture * tex / 1.118
        for i in range(T):
            warped = cv2.warpAffine(tex, mats[i], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            out[i] = np.clip(warped, 0, 255).astype(np.uint8)
        return out
    u = np.log2(path[:, 2])
    n_lo, n_hi = int(np.floor(u.min())) - 2, int(np.ceil(u.max())) + 2
    layers = {
        n: _periodic_texture(np.random.default_rng([spec.seed, 7, n - n_lo]), h, w, 0.6 * f0)
        for n in range(n_lo, n_hi + 1)
    }
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    for i in range(T):
        acc = np.zeros((h, w, 3), np.float32)
        wsum = 0.0
        for n in range(int(np.floor(u[i] - 1.5)), int(np.ceil(u[i] + 1.5)) + 1):
            d = u[i] - n
            if abs(d) >= 1.5:
                continue
            wt = math.cos(math.pi * d / 3.0) ** 2
            m = 2.0**d
            mat = np.array([[m, 0, (1 - m) * cx], [0, m, (1 - m) * cy]], np.float32)
            acc += wt * cv2.warpAffine(layers[n], mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            wsum += wt * wt
        out[i] = np.clip(base + spec.texture * acc / math.sqrt(max(wsum, 1e-9)), 0, 255).astype(np.uint8)
    return out


def _bar_residual(
    rng: np.random.Generator, T: int, thick: int, length: int, block: int, shift_px: np.ndarray
) -> np.ndarray:
    """A bar's picture, (T, thick, length) uint8: a blocky residual pattern (0-22) that moves
    along the bar by ``shift_px[t]`` px (positive: towards larger index, wrapping around), plus
    fresh grain (0-3) every frame."""
    nb_t, nb_l = -(-thick // block), -(-length // block)
    blocks = rng.integers(0, 23, size=(nb_t, nb_l)).astype(np.float32)
    pat = np.repeat(np.repeat(blocks, block, 0), block, 1)[:thick]  # (thick, nb_l * block): periodic
    period = pat.shape[1]
    idx = np.arange(length)
    out = np.empty((T, thick, length), np.uint8)
    for t in range(T):
        pos = (idx - float(shift_px[t])) % period
        i0 = np.floor(pos).astype(int)
        a = (pos - i0).astype(np.float32)
        row = pat[:, i0] * (1 - a) + pat[:, (i0 + 1) % period] * a
        out[t] = np.rint(row).astype(np.uint8)
    out += rng.integers(0, 4, size=out.shape, dtype=np.uint8)
    return out


def _draw_bars(frames: np.ndarray, spec: VideoSpec) -> None:
    """Letterbox/pillarbox bars in place (see the module docstring): the residual rolls rightwards
    along letterbox bars and downwards along pillarbox bars at ``bar_drift * height`` px/s."""
    T, H, W = frames.shape[:3]
    lb, pb = spec.letterbox, spec.pillarbox
    rng = np.random.default_rng([spec.seed, 5])
    block = max(2, int(round(H / 15)))
    shift = spec.bar_drift * H * np.arange(T) / spec.fps
    if lb:
        for rows in (slice(0, lb), slice(H - lb, H)):
            frames[:, rows] = _bar_residual(rng, T, lb, W, block, shift)[..., None]
    if pb:
        for cols in (slice(0, pb), slice(W - pb, W)):
            bar = _bar_residual(rng, T, pb, H - 2 * lb, block, shift)  # (T, pb, length): along y
            frames[:, lb : H - lb, cols] = bar.transpose(0, 2, 1)[..., None]


_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


def _draw(
    img: np.ndarray,
    shape: str,
    x: float,
    y: float,
    r: float,
    ang: float,
    color: tuple[int, int, int],
    mark: tuple[int, int, int],
) -> None:
    """Draw the object (with an orientation marker) into ``img`` (h, w, 3) in place."""
    if shape == "circle":
        cv2.circle(img, (int(x * _ONE), int(y * _ONE)), int(r * _ONE), color, -1, cv2.LINE_AA, _SHIFT)
    else:
        n = 4 if shape == "square" else 3
        rr = r * (1.2 if n == 4 else 1.35)
        a = ang + np.pi / n + 2 * np.pi * np.arange(n) / n
        pts = np.stack([x + rr * np.cos(a), y + rr * np.sin(a)], 1)
        cv2.fillPoly(img, [np.round(pts * _ONE).astype(np.int32)], color, cv2.LINE_AA, _SHIFT)
    mx, my = x + 0.55 * r * math.cos(ang), y + 0.55 * r * math.sin(ang)
    cv2.circle(img, (int(mx * _ONE), int(my * _ONE)), int(0.28 * r * _ONE), mark, -1, cv2.LINE_AA, _SHIFT)


def _draw_silent(img: np.ndarray, spec: VideoSpec, traj: Trajectory, i: int) -> None:
    """Draw the silent object of frame ``i`` into ``img`` in place."""
    r = spec.silent_size * spec.content_size[1] / 240.0
    color = tuple(int(c) for c in spec.silent_color)
    mark = tuple(int(c * 0.35 + 0.65 * (255 - c)) for c in spec.silent_color)
    _draw(img, spec.silent_shape, traj.x[i], traj.y[i], r, traj.angle[i], color, mark)


def object_boxes(shape: str, x: np.ndarray, y: np.ndarray, r: float, angle: np.ndarray) -> np.ndarray:
    """The axis-aligned box of an object drawn by :func:`_draw` in every frame, (T, 4) float
    ``[x0, y0, x1, y1]`` in the drawing's coordinates (cv2's: pixel centres at integers)."""
    x, y, angle = np.asarray(x, float), np.asarray(y, float), np.asarray(angle, float)
    if shape == "circle":
        return np.stack([x - r, y - r, x + r, y + r], 1)
    n = 4 if shape == "square" else 3
    rr = r * (1.2 if n == 4 else 1.35)
    a = angle[:, None] + np.pi / n + 2 * np.pi * np.arange(n)[None] / n
    px, py = x[:, None] + rr * np.cos(a), y[:, None] + rr * np.sin(a)
    return np.stack([px.min(1), py.min(1), px.max(1), py.max(1)], 1)


def frame_boxes(spec: VideoSpec, boxes: np.ndarray, path: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Scene boxes (T, 4) -> boxes in the full frame's pixels (bars included; the shake camera's
    transform applied: pan and zoom follow the object, which stays where it is in the scene),
    clipped to the picture area, and whether each is visible (not a black frame, some area left).
    Returns (boxes (T, 4) float, visible (T,) bool)."""
    cw, ch = spec.content_size
    b = np.asarray(boxes, float).copy()
    if path is not None and spec.camera == "shake":
        m = camera_matrices(path, cw, ch)
        cx = np.stack([b[:, 0], b[:, 2], b[:, 2], b[:, 0]], 1)
        cy = np.stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]], 1)
        tx = m[:, 0, 0, None] * cx + m[:, 0, 1, None] * cy + m[:, 0, 2, None]
        ty = m[:, 1, 0, None] * cx + m[:, 1, 1, None] * cy + m[:, 1, 2, None]
        b = np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], 1)
    lo = np.array([-0.5, -0.5, -0.5, -0.5])
    hi = np.array([cw - 0.5, ch - 0.5, cw - 0.5, ch - 0.5])
    b = np.clip(b, lo, hi) + np.array([spec.pillarbox, spec.letterbox] * 2, float)
    T = len(b)
    visible = (b[:, 2] - b[:, 0] > 0.5) & (b[:, 3] - b[:, 1] > 0.5)
    visible[: spec.black_lead_in] = False
    if spec.black_lead_out:
        visible[T - spec.black_lead_out :] = False
    return b, visible


def render_frames(spec: VideoSpec, traj: Trajectory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The video's frames. Returns (frames uint8 (T, H, W, 3) RGB, camera path (T, 3))."""
    traj = traj if traj is not None else simulate(spec)
    T, H, W = spec.n_frames, spec.height, spec.width
    cw, ch = spec.content_size
    lb, pb = spec.letterbox, spec.pillarbox
    r = spec.obj_size * ch / 240.0
    bg = _background(spec, cw, ch)
    color = tuple(int(c) for c in spec.color)
    mark = tuple(int(c * 0.35 + 0.65 * (255 - c)) for c in spec.color)
    path = _camera_path(spec, cw, ch)
    mats = camera_matrices(path, cw, ch)
    frames = np.empty((T, H, W, 3), np.uint8)
    scene = np.empty_like(bg)
    tracking = spec.camera in ("pan", "zoom")
    moving_bg = _moving_backgrounds(spec, path, cw, ch) if tracking else None
    silent = simulate_silent(spec)
    for i in range(T):
        if moving_bg is not None:  # the camera follows the object: only the background moves
            scene[...] = moving_bg[i]
            if silent is not None:  # opt-in: the silent object, behind the sounding one
                _draw_silent(scene, spec, silent, i)
            _draw(scene, spec.shape, traj.x[i], traj.y[i], r, traj.angle[i], color, mark)
            frames[i, lb : lb + ch, pb : pb + cw] = scene
            continue
        if spec.camera == "none":
            tgt = frames[i, lb : lb + ch, pb : pb + cw]
            tgt[...] = bg
            if not tgt.flags.c_contiguous:
                scene[...] = bg
                tgt = scene
        else:
            scene[...] = bg
            tgt = scene
        if silent is not None:
            _draw_silent(tgt, spec, silent, i)
        _draw(tgt, spec.shape, traj.x[i], traj.y[i], r, traj.angle[i], color, mark)
        if spec.camera != "none":
            frames[i, lb : lb + ch, pb : pb + cw] = cv2.warpAffine(
                scene, mats[i], (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
            )
        elif tgt is scene:
            frames[i, lb : lb + ch, pb : pb + cw] = scene
    if lb or pb:
        _draw_bars(frames, spec)
    if spec.black_lead_in:
        frames[: spec.black_lead_in] = 0
    if spec.black_lead_out:
        frames[T - spec.black_lead_out :] = 0
    return frames, path


def render(spec: VideoSpec) -> tuple[np.ndarray, np.ndarray, list[float], dict[str, Any]]:
    """Render one video.

    Returns (frames uint8 (T, H, W, 3) RGB, audio float32 (C, N) in [-1, 1], events (seconds),
    ground truth dict). ``audio`` is returned even when ``spec.no_audio`` (the writer drops it).
    """
    traj = simulate(spec)
    frames, path = render_frames(spec, traj)
    audio, ainfo = render_audio(spec, traj)
    return frames, audio, list(traj.events), ground_truth(spec, traj, path, ainfo)


def ground_truth(spec: VideoSpec, traj: Trajectory, path: np.ndarray | None, ainfo: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready ground truth of one rendered video."""
    T = spec.n_frames
    cw, ch = spec.content_size
    black: list[list[int]] = []
    if spec.black_lead_in:
        black.append([0, spec.black_lead_in])
    if spec.black_lead_out:
        black.append([T - spec.black_lead_out, T])
    gt: dict[str, Any] = {
        "spec": spec.to_dict(),
        "class": spec.cls,
        "class_idx": CLASSES.index(spec.cls),
        "n_frames": T,
        "n_samples": spec.n_samples,
        "events": [float(e) for e in traj.events],
        "event_samples": [int(round(e * spec.sample_rate)) for e in traj.events],
        "event_amps": [float(a) for a in traj.amps],
        "n_events": len(traj.events),
        "audible_events": [
            float(e) for e in traj.events if spec.black_lead_in / spec.fps <= e < (T - spec.black_lead_out) / spec.fps
        ],
        "distractor_events": ainfo.get("distractor_events", []),
        "content_box": [spec.pillarbox, spec.letterbox, spec.pillarbox + cw, spec.letterbox + ch],
        "black_frames": black,
        "time_symmetric": spec.cls in TIME_SYMMETRIC,
        "dynamics": {k: float(v) for k, v in traj.info.items()},
        "object_xy": np.round(np.stack([traj.x, traj.y], 1), 2).tolist(),
    }
    if path is not None:
        gt["camera_path"] = np.round(path, 4).tolist()
        gt["camera_affine"] = np.round(camera_matrices(path, cw, ch), 4).tolist()
        gt["camera_max_shift_px"] = float(np.max(np.abs(path[:, :2]))) if len(path) else 0.0
        gt["camera_scale_range"] = [float(path[:, 2].min()), float(path[:, 2].max())] if len(path) else [1.0, 1.0]
    moving = spec.camera in ("pan", "zoom")
    gt["camera_moves_object"] = spec.camera == "shake"  # pan/zoom follow the object: only the background moves
    gt["camera_speed_px_s"] = float(spec.camera_speed * ch) if moving else 0.0
    gt["camera_tilt"] = ("down" if spec.tilt_down else "up") if spec.camera == "pan" else ""
    gt["camera_zoom"] = ("in" if spec.zoom_in else "out") if spec.camera == "zoom" else ""
    bars = bool(spec.letterbox or spec.pillarbox)
    gt["bar_drift_px_s"] = float(spec.bar_drift * spec.height) if bars else 0.0
    gt["bar_drift_direction"] = {"letterbox": "right", "pillarbox": "down"} if bars else {}
    if spec.record_boxes or spec.silent_object:  # opt-in keys (sound-source localization)
        gt.update(_box_truth(spec, traj, path))
    if spec.record_av_offset or spec.av_offset_s:  # opt-in keys (audio-visual sync)
        lag = float(spec.av_offset_s)
        gt["av_offset_s"] = lag
        gt["av_offset_samples"] = int(round(lag * spec.sample_rate))
        gt["av_offset_frames"] = lag * spec.fps  # in this video's own frames (at its fps)
        gt["audio_event_samples"] = [int(round((e + lag) * spec.sample_rate)) for e in traj.events]
    return gt


def _box_truth(spec: VideoSpec, traj: Trajectory, path: np.ndarray | None) -> dict[str, Any]:
    """Per-frame boxes of the sounding object (``object_box``, scene pixels; ``object_box_frame``,
    full-frame pixels, see :func:`frame_boxes`; ``object_visible``) and, when there is one, the same
    of the silent object (``silent_object_*``). Coordinates as ``object_xy`` (pixel centres at
    integers): a box ``[x0, y0, x1, y1]`` covers the pixel edges ``[x0 + 0.5, x1 + 0.5]``."""
    ch = spec.content_size[1]
    out: dict[str, Any] = {"box_coordinates": "pixel centres at integers; [x0, y0, x1, y1]"}
    box = object_boxes(spec.shape, traj.x, traj.y, spec.obj_size * ch / 240.0, traj.angle)
    fb, vis = frame_boxes(spec, box, path)
    out["object_box"] = np.round(box, 2).tolist()
    out["object_box_frame"] = np.round(fb, 2).tolist()
    out["object_visible"] = vis.tolist()
    out["silent_object"] = bool(spec.silent_object)
    silent = simulate_silent(spec)
    if silent is not None:
        sbox = object_boxes(spec.silent_shape, silent.x, silent.y, spec.silent_size * ch / 240.0, silent.angle)
        sfb, svis = frame_boxes(spec, sbox, path)
        out["silent_object_cls"] = spec.silent_cls
        out["silent_object_xy"] = np.round(np.stack([silent.x, silent.y], 1), 2).tolist()
        out["silent_object_box"] = np.round(sbox, 2).tolist()
        out["silent_object_box_frame"] = np.round(sfb, 2).tolist()
        out["silent_object_visible"] = svis.tolist()
    return out
