"""Decode a time window of a media file into frames and audio, by timestamps, in one pass.

Frames are chosen by presentation time, never ``index / fps`` (variable frame rate exists): the
output frame ``k`` shows the last source frame whose timestamp is ``<= t_start + k / fps``.
Only the chosen source frames are converted, each once, by one FFmpeg filter graph
(``crop, [transpose], scale=W:H:flags=area, format=rgb24``, see :mod:`avbench.media.geometry`),
which costs about as much as decoding alone. While the frames go by, their luma (Y) planes are
looked at where they are: black-frame flags for every chosen frame, and black-bar statistics on
every 8th of the first ``BorderSearch.probe_frames`` chosen frames (those are held, undecoded to RGB,
until the crop is known, so that the crop happens at source resolution before scaling).

Audio of the same file is decoded in the same demuxing pass, downmixed and resampled by FFmpeg's
resampler (PyAV ``AudioResampler``) and aligned on its timestamps: a track that starts late or
ends early is zero-padded and the padding recorded.

Streams: the first stream with the ``default`` disposition, else the first (:func:`pick_stream`),
for video and for audio alike.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np

from avbench.media.geometry import Box, Geometry, normalize_rotation, plan_geometry
from avbench.preprocess.black_frames import is_black
from avbench.preprocess.borders import detect_borders, raw_luma_threshold


@dataclass
class DecodedClip:
    """A decoded window.

    frames: uint8 (T, H, W, 3) RGB at ``fps`` on the requested grid ``t_start + k / fps``
    (T = 0 when video was not requested or absent). black: bool (T,) black-frame flags, or None
    when not computed. audio: float32 (N,) mono at ``sample_rate`` (None when no audio stream).
    crop_box: content box inside black bars in source pixels (None when not detected).
    source_frames: frames of the window the decoder produced or dropped; dropped_frames: the
    non-reference frames no output frame needed, which the decoder skipped (:class:`_SkipPlanner`).
    """

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None
    sample_rate: int
    t_start: float
    t_end: float
    audio_pad_start: int = 0
    audio_pad_end: int = 0
    source_frames: int = 0
    dropped_frames: int = 0
    notes: list[str] = field(default_factory=list)
    black: np.ndarray | None = None
    crop_box: Box | None = None
    border_samples: int = 0
    geometry: Geometry | None = None
    video_stream: dict[str, Any] | None = None
    audio_stream: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BorderSearch:
    """Black-bar detection (:mod:`avbench.preprocess.borders`): rows and columns whose full-range
    luma is at or below ``max_luma`` are bars, looked for on every ``every``-th of the first
    ``probe_frames`` chosen frames; a crop keeping less than ``min_content`` of the picture is
    refused. The shard config's ``borders`` section (:meth:`from_config`; None when disabled)."""

    max_luma: float
    every: int = 8
    probe_frames: int = 128
    min_content: float = 0.5

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> BorderSearch | None:
        if not section["enabled"]:
            return None
        return cls(
            max_luma=float(section["max_luma"]),
            every=int(section["every"]),
            probe_frames=int(section["probe_frames"]),
            min_content=float(section["min_content"]),
        )


@dataclass(frozen=True)
class BlackFrameTest:
    """Black-frame flags (:mod:`avbench.preprocess.black_frames`): a frame is black when at least
    ``min_fraction`` of its pixels have full-range luma at or below ``max_luma``. The shard
    config's ``black_frames`` section (:meth:`from_config`; None when disabled)."""

    max_luma: float
    min_fraction: float = 0.98

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> BlackFrameTest | None:
        if not section["enabled"]:
            return None
        return cls(max_luma=float(section["max_luma"]), min_fraction=float(section["min_fraction"]))


# Containers round timestamps (Matroska and WebM to 1 ms): a frame stamped up to this much after a
# target time still counts as shown at that time.
TS_TOLERANCE = 0.001
_Y_PLANE_FORMATS = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "gray",
        "yuva420p",
    }
)


def _frame_times(t_start: float, t_end: float, fps: float) -> np.ndarray:
    n = int(math.floor((t_end - t_start) * fps + 1e-6))
    return t_start + np.arange(n) / fps


def pick_stream(streams: Any) -> Any | None:
    """The stream to use among ``streams`` (one type): the first with the ``default`` disposition,
    else the first; None when there is none."""
    streams = list(streams)
    for s in streams:
        if s.disposition & av.stream.Disposition.default:
            return s
    return streams[0] if streams else None


def frame_rotation(frame: av.VideoFrame, stream: Any = None) -> int:
    """Clockwise rotation (0, 90, 180, 270) to apply to ``frame`` for display: from its display
    matrix side data (PyAV's counter-clockwise ``frame.rotation``), else the legacy ``rotate`` tag
    of ``stream``."""
    rot = getattr(frame, "rotation", 0) or 0
    if rot:
        return normalize_rotation(-float(rot))
    tag = stream.metadata.get("rotate") if stream is not None and stream.metadata else None
    if tag:
        try:
            return normalize_rotation(float(tag))
        except ValueError:
            pass
    return 0


def stream_sar(stream: Any) -> float:
    """Sample (pixel) aspect ratio of a video stream; 1.0 when unknown."""
    for sar in (
        getattr(stream, "sample_aspect_ratio", None),
        getattr(stream.codec_context, "sample_aspect_ratio", None),
    ):
        if sar and float(sar) > 0:
            return float(sar)
    return 1.0


def luma_plane(frame: av.VideoFrame) -> tuple[np.ndarray, bool]:
    """The frame's luma as uint8 (H, W) and whether it is full range (0..255) rather than 16..235.

    A view of the Y plane for 8-bit YUV/gray formats (no copy); other formats are converted.
    """
    name = frame.format.name
    if name in _Y_PLANE_FORMATS:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        full = name.startswith("yuvj") or name == "gray" or int(frame.color_range or 0) == 2
        return y, full
    return frame.reformat(format="gray").to_ndarray(), True


@dataclass
class _Held:
    frame: av.VideoFrame
    k0: int
    k1: int
    luma: np.ndarray | None
    black: bool


class _FrameProcessor:
    """Receives the chosen source frames (each with the output indices it fills), flags black
    frames, finds the bars on the first frames, then converts every frame through one graph."""

    def __init__(
        self,
        n_out: int,
        *,
        stream: Any,
        size: tuple[int, int],
        resize: str,
        borders: BorderSearch | None,
        black: BlackFrameTest | None,
        timings: defaultdict[str, float],
    ) -> None:
        W, H = size
        self.timings = timings
        self.out = np.zeros((n_out, H, W, 3), np.uint8)
        border_luma = borders.max_luma if borders is not None else None
        black_luma = black.max_luma if black is not None else None
        self.black = np.zeros(n_out, bool) if black_luma is not None else None
        self.stream, self.size, self.resize = stream, (W, H), resize
        self.border_luma = border_luma
        self.border_every = max(1, int(borders.every)) if borders is not None else 8
        self.probe_frames = max(1, int(borders.probe_frames)) if borders is not None else 1
        self.border_min_content = borders.min_content if borders is not None else 0.5
        self.black_luma = black_luma
        self.black_fraction = black.min_fraction if black is not None else 0.98
        self.held: list[_Held] = []
        self.graph: av.filter.Graph | None = None
        self.geometry: Geometry | None = None
        self.crop_box: Box | None = None
        self.border_samples = 0
        self.rotation = 0
        self.input_key: tuple[int, int, str] | None = None

    def add(self, frame: av.VideoFrame, k0: int, k1: int) -> None:
        luma = None
        blk = False
        t0 = time.process_time()
        if self.black_luma is not None or self.border_luma is not None:
            luma, full = luma_plane(frame)
            if self.black_luma is not None:
                blk = is_black(
                    luma,
                    max_luma=raw_luma_threshold(self.black_luma, full_range=full),
                    min_fraction=self.black_fraction,
                )
                assert self.black is not None
                self.black[k0:k1] = blk
        self.timings["borders_black"] += time.process_time() - t0
        if self.graph is None:
            self.held.append(_Held(frame, k0, k1, luma if self.border_luma is not None else None, blk))
            if len(self.held) >= self.probe_frames:
                self._start()
        else:
            self._convert(frame, k0, k1)

    def finish(self) -> None:
        if self.graph is None and self.held:
            self._start()

    def _start(self) -> None:
        t0 = time.process_time()
        first = self.held[0].frame
        sw, sh = first.width, first.height
        self.rotation = frame_rotation(first, self.stream)
        if self.border_luma is not None:
            _, full = luma_plane(first)
            usable = [h.luma for h in self.held if not h.black and h.luma is not None and h.luma.shape == (sh, sw)]
            samples = usable[:: self.border_every]
            self.border_samples = len(samples)
            if samples:
                self.crop_box = detect_borders(
                    np.stack(samples),
                    max_luma=raw_luma_threshold(self.border_luma, full_range=full),
                    min_content=self.border_min_content,
                )
        self.timings["borders_black"] += time.process_time() - t0
        self.geometry = plan_geometry(
            (sw, sh),
            size=self.size,
            crop_box=self.crop_box,
            rotation=self.rotation,
            sar=stream_sar(self.stream),
            mode=self.resize,
        )
        graph = av.filter.Graph()
        graph.threads = 1
        src = graph.add_buffer(width=sw, height=sh, format=first.format, time_base=first.time_base or Fraction(1, 1000))
        nodes = [src] + [graph.add(name, args or None) for name, args in self.geometry.filters]
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes)
        graph.configure()
        self.graph = graph
        self.input_key = (sw, sh, first.format.name)
        for h in self.held:
            self._convert(h.frame, h.k0, h.k1)
        self.held = []

    def _convert(self, frame: av.VideoFrame, k0: int, k1: int) -> None:
        assert self.graph is not None
        if (frame.width, frame.height, frame.format.name) != self.input_key:
            raise ValueError(
                f"video frame format changes inside the window ({self.input_key} -> "
                f"{(frame.width, frame.height, frame.format.name)})"
            )
        t0 = time.process_time()
        self.graph.push(frame)
        img = self.graph.pull().to_ndarray()
        self.out[k0:k1] = img
        self.timings["frames"] += time.process_time() - t0


class _VideoCollector:
    """Chooses source frames by timestamp: target ``k`` is shown by the last frame with pts <= it."""

    def __init__(self, targets: np.ndarray, t_end: float, proc: _FrameProcessor) -> None:
        self.targets, self.t_end, self.proc = targets, t_end, proc
        self.k = 0
        self.prev: av.VideoFrame | None = None
        self.n_src = 0
        self.done = len(targets) == 0

    def feed(self, frame: av.VideoFrame) -> None:
        if self.done or frame.time is None:
            return
        self.n_src += 1
        t = float(frame.time)
        targets, n = self.targets, len(self.targets)
        # Targets strictly before this frame's time are shown by the previous frame.
        if self.prev is not None and self.k < n and targets[self.k] < t - TS_TOLERANCE:
            k0 = self.k
            while self.k < n and targets[self.k] < t - TS_TOLERANCE:
                self.k += 1
            self.proc.add(self.prev, k0, self.k)
        if self.k >= n:
            self.done = True
            return
        self.prev = frame
        if t > self.t_end + 1.0:
            self.done = True

    def finish(self) -> None:
        if self.prev is not None and self.k < len(self.targets):
            self.proc.add(self.prev, self.k, len(self.targets))  # the stream ended: hold its last frame
            self.k = len(self.targets)
        self.proc.finish()


class _AudioCollector:
    def __init__(self, t_end: float, sample_rate: int, timings: defaultdict[str, float]) -> None:
        self.timings = timings
        self.t_end = t_end
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        self.chunks: list[np.ndarray] = []
        self.first_time: float | None = None
        self.done = False

    def _take(self, frames: list[av.AudioFrame]) -> None:
        for rf in frames:
            if self.first_time is None and rf.time is not None:
                self.first_time = float(rf.time)
            # packed mono float: the samples are the start of plane 0 (a copy read straight from
            # it, the same values as ``to_ndarray`` without its per-frame stacking)
            self.chunks.append(np.frombuffer(rf.planes[0], np.float32, count=rf.samples).copy())

    def feed(self, frame: av.AudioFrame) -> None:
        if self.done:
            return
        if self.first_time is None and frame.time is not None:
            self.first_time = float(frame.time)
        t0 = time.process_time()
        self._take(self.resampler.resample(frame))
        self.timings["audio_resample"] += time.process_time() - t0
        if frame.time is not None and frame.time > self.t_end + 0.5:
            self.done = True

    def finish(self, t_start: float, t_end: float, sample_rate: int) -> tuple[np.ndarray, int, int]:
        self._take(self.resampler.resample(None))
        n_out = int(round((t_end - t_start) * sample_rate))
        audio = np.concatenate(self.chunks).astype(np.float32) if self.chunks else np.zeros(0, np.float32)
        origin = self.first_time if self.first_time is not None else 0.0
        offset = int(round((t_start - origin) * sample_rate))  # index in `audio` of t_start
        pad_start = 0
        if offset < 0:
            pad_start = -offset
            audio = np.concatenate([np.zeros(pad_start, np.float32), audio])
            offset = 0
        audio = audio[offset : offset + n_out]
        pad_end = n_out - len(audio)
        if pad_end > 0:
            audio = np.concatenate([audio, np.zeros(pad_end, np.float32)])
        return audio, min(pad_start, n_out), max(pad_end, 0)


class _SkipPlanner:
    """Which video packets hold frames that no target needs, so that the decoder may drop them.

    A frame shown at ``t`` serves the targets in ``[t - TS_TOLERANCE, t_next - TS_TOLERANCE)``,
    ``t_next`` being the next frame in presentation order (see :class:`_VideoCollector`). A packet
    whose frame serves none is sent with ``skip_frame = NONREF``: the decoder drops it when it is a
    non-reference frame (most B-frames of H.264/HEVC as YouTube and Kinetics files are encoded) and
    decodes it as usual otherwise, so every frame that is kept is bit-identical to a full decode.
    The decision for a packet waits until ``LOOKAHEAD`` later packets (in decode order) are known,
    deeper than any codec's reordering, so its successor in presentation order is among them; when
    in doubt (no timestamp, no successor known, timestamps that disagree with the frames that come
    out) the packet is decoded.
    """

    LOOKAHEAD = 20
    EPS = 1e-6
    # containers whose packets carry presentation times (AVI stores decode times: packed B-frames
    # of MPEG-4 part 2 come out with other stamps than their packets', so nothing is skipped there)
    FORMATS = ("mov", "mp4", "matroska", "webm", "mpegts")

    def __init__(self, targets: np.ndarray, stream: Any, container_format: str = "mp4") -> None:
        self.targets = [float(t) for t in targets]
        self.tb = float(stream.time_base) if stream.time_base is not None else 0.0
        self.cc = stream.codec_context
        self.pending: list[Any] = []
        self.seen: list[int] = []  # sorted pts of the packets seen so far
        self.unneeded: set[int] = set()  # pts sent as unneeded that have not come out (yet)
        self.enabled = (
            stream.time_base is not None
            and len(targets) > 0
            and any(f in container_format.split(",") for f in self.FORMATS)
        )
        self.skipped = 0

    def push(self, packet: Any) -> list[Any]:
        """Take a packet in decode order; return the packets now ready to decode (in order)."""
        if packet.pts is not None:
            bisect.insort(self.seen, packet.pts)
        self.pending.append(packet)
        if packet.size == 0:  # the flush packet: everything left goes, in order
            return self.flush()
        if len(self.pending) <= self.LOOKAHEAD:
            return []
        return [self.pending.pop(0)]

    def flush(self) -> list[Any]:
        out, self.pending = self.pending, []
        return out

    def needed(self, packet: Any) -> bool:
        pts = packet.pts
        if not self.enabled or pts is None or packet.is_keyframe or packet.size == 0:
            return True
        lo_i, hi_i = bisect.bisect_left(self.seen, pts), bisect.bisect_right(self.seen, pts)
        if lo_i == 0 or hi_i - lo_i != 1 or hi_i >= len(self.seen):
            # the first frame known (it also holds the targets before it), two packets with one
            # timestamp, or no successor known yet (the last frame holds the tail): keep it
            return True
        lo = pts * self.tb - TS_TOLERANCE - self.EPS
        hi = self.seen[hi_i] * self.tb - TS_TOLERANCE + self.EPS
        k = bisect.bisect_left(self.targets, lo)
        return k < len(self.targets) and self.targets[k] < hi

    def prepare(self, packet: Any) -> None:
        """Set the decoder's ``skip_frame`` for this packet."""
        if not self.enabled:
            return
        keep = self.needed(packet)
        if not keep:
            self.unneeded.add(packet.pts)
        want = "DEFAULT" if keep else "NONREF"
        if self.cc.skip_frame != want:
            self.cc.skip_frame = want

    def check(self, frame: av.VideoFrame) -> None:
        """A frame came out: an unneeded one was a reference frame, decoded anyway; a frame whose
        pts no packet announced means the timestamps cannot be trusted: stop skipping."""
        if not self.enabled or frame.pts is None:
            return
        if frame.pts in self.unneeded:
            self.unneeded.discard(frame.pts)
            return
        i = bisect.bisect_left(self.seen, frame.pts)
        if i >= len(self.seen) or self.seen[i] != frame.pts:
            self.enabled = False
            if self.cc.skip_frame != "DEFAULT":
                self.cc.skip_frame = "DEFAULT"


def _run(
    container: av.container.InputContainer,
    vs: Any,
    as_: Any,
    t_start: float,
    vcol: _VideoCollector | None,
    acol: _AudioCollector | None,
    timings: defaultdict[str, float],
    skip: _SkipPlanner | None = None,
) -> None:
    """One demuxing pass feeding the collectors of the streams given (CPU seconds of the decoders
    added to ``timings``). With a ``skip`` planner, video frames that no target needs are dropped
    by the decoder where it can (non-reference frames)."""
    streams = [s for s in (vs, as_) if s is not None]
    if not streams:
        return
    if t_start > 0.5:
        ref = vs if vs is not None else as_
        container.seek(int(max(0.0, t_start - 0.5) / ref.time_base), stream=ref, backward=True, any_frame=False)
    clock = time.process_time

    def decode_video(packets: list[Any]) -> None:
        assert vcol is not None
        for packet in packets:
            if vcol.done:
                return
            if skip is not None:
                skip.prepare(packet)
            t0 = clock()
            frames = packet.decode()
            timings["decode_video"] += clock() - t0
            for frame in frames:
                if skip is not None:
                    skip.check(frame)
                vcol.feed(frame)

    for packet in container.demux(*streams):
        if vcol is not None and packet.stream is vs and not vcol.done:
            decode_video(skip.push(packet) if skip is not None else [packet])
        elif acol is not None and packet.stream is as_ and not acol.done:
            t0 = clock()
            frames = packet.decode()
            timings["decode_audio"] += clock() - t0
            for frame in frames:
                acol.feed(frame)
        if (vcol is None or vcol.done) and (acol is None or acol.done):
            break
    if vcol is not None and skip is not None and not vcol.done:
        decode_video(skip.flush())
    if skip is not None:
        skip.skipped = len(skip.unneeded)  # sent as unneeded and never came out: dropped by the decoder


#: the levels of ``decode_clip(skip_loop_filter=...)`` (FFmpeg's AVDiscard names)
LOOP_FILTER_SKIPS = ("noref", "all")


def decode_clip(
    path: str,
    *,
    t_start: float = 0.0,
    t_end: float | None = None,
    fps: float = 16.0,
    size: tuple[int, int] = (64, 48),
    sample_rate: int = 16000,
    video: bool = True,
    audio: bool = True,
    resize: str = "stretch",
    borders: BorderSearch | None = None,
    black: BlackFrameTest | None = None,
    skip_unneeded: bool = True,
    skip_loop_filter: str | None = None,
) -> DecodedClip:
    """Decode ``[t_start, t_end)`` of ``path`` (``t_end=None``: to the end of the file).

    size: (W, H) of the stored frames; resize: ``stretch`` or ``cover`` (see
    :mod:`avbench.media.geometry`). borders: the black-bar search (None: no border detection);
    black: the black-frame test (None: off).
    skip_unneeded: let the decoder drop the non-reference frames that no output frame shows
    (:class:`_SkipPlanner`; the output is the same, bit for bit).
    skip_loop_filter: None (decode as every tool does) or FFmpeg's ``skip_loop_filter`` level
    (``noref``: no in-loop deblocking on the frames nothing is predicted from; ``all``: on none,
    the difference then carried by prediction to the next keyframe): less CPU for decoding, pixels
    no longer those of the reference decoder (``shard.skip_loop_filter``; recorded in
    ``video_stream``).
    """
    notes: list[str] = []
    timings: defaultdict[str, float] = defaultdict(float)
    with av.open(path) as container:
        if t_end is None or not math.isfinite(t_end):
            dur = container.duration / av.time_base if container.duration else None
            if dur is None:
                raise ValueError("unknown duration")
            t_end = float(dur)
        vs = pick_stream(container.streams.video) if video else None
        as_ = pick_stream(container.streams.audio) if audio else None
        vcol = acol = None
        proc = None
        skip = None
        if vs is not None:
            vs.thread_type = "SLICE"
            vs.codec_context.thread_count = 1
            if skip_loop_filter is not None:
                if skip_loop_filter not in LOOP_FILTER_SKIPS:
                    raise ValueError(f"skip_loop_filter must be one of {LOOP_FILTER_SKIPS}, not {skip_loop_filter!r}")
                # an AVCodecContext option: applied when the decoder opens (at the first packet)
                vs.codec_context.options = {"skip_loop_filter": skip_loop_filter}
            proc = _FrameProcessor(
                len(_frame_times(t_start, t_end, fps)),
                stream=vs,
                size=size,
                resize=resize,
                borders=borders,
                black=black,
                timings=timings,
            )
            vcol = _VideoCollector(_frame_times(t_start, t_end, fps), t_end, proc)
            if skip_unneeded:
                skip = _SkipPlanner(vcol.targets, vs, container.format.name)
        if as_ is not None:
            as_.codec_context.thread_count = 1
            acol = _AudioCollector(t_end, sample_rate, timings)
        t0, before = time.process_time(), sum(timings.values())
        _run(container, vs, as_, t_start, vcol, acol, timings, skip)
        # reading and demuxing the file (and the loop itself): what the parts above do not cover
        timings["demux"] += max(0.0, time.process_time() - t0 - (sum(timings.values()) - before))
        frames = np.zeros((0, size[1], size[0], 3), np.uint8)
        n_src = 0
        vinfo = ainfo = None
        if vcol is not None and proc is not None:
            vcol.finish()
            if vcol.n_src == 0:
                raise ValueError("no video frame decoded in the window")
            frames, n_src = proc.out, vcol.n_src + (skip.skipped if skip is not None else 0)
            cc = vs.codec_context
            vinfo = {
                "index": vs.index,
                "codec": cc.name,
                "width": cc.width,
                "height": cc.height,
                "rotation": proc.rotation,
                "sar": round(stream_sar(vs), 6),
                "n_streams": len(container.streams.video),
                **({"skip_loop_filter": skip_loop_filter} if skip_loop_filter is not None else {}),
            }
        wav = None
        pad_s = pad_e = 0
        if acol is not None:
            wav, pad_s, pad_e = acol.finish(t_start, t_end, sample_rate)
            cc = as_.codec_context
            ainfo = {
                "index": as_.index,
                "codec": cc.name,
                "sample_rate": cc.sample_rate,
                "channels": cc.channels,
                "n_streams": len(container.streams.audio),
            }
    if acol is not None and pad_s > 0 and t_start > 0.5 and vs is not None:
        # the seek was made on the video stream: re-read the audio with a seek of its own
        with av.open(path) as container:
            a2 = container.streams[as_.index]
            a2.codec_context.thread_count = 1
            acol2 = _AudioCollector(t_end, sample_rate, timings)
            _run(container, None, a2, t_start, None, acol2, timings)
            wav, pad_s, pad_e = acol2.finish(t_start, t_end, sample_rate)
    if wav is not None:
        if pad_s > 0.01 * sample_rate:
            notes.append(f"audio starts {pad_s / sample_rate:.3f}s late: zero-padded")
        if pad_e > 0.01 * sample_rate:
            notes.append(f"audio ends {pad_e / sample_rate:.3f}s early: zero-padded")
    return DecodedClip(
        frames=frames,
        fps=fps,
        audio=wav,
        sample_rate=sample_rate,
        t_start=t_start,
        t_end=t_end,
        audio_pad_start=pad_s,
        audio_pad_end=pad_e,
        source_frames=n_src,
        dropped_frames=skip.skipped if skip is not None else 0,
        notes=notes,
        black=proc.black if proc is not None else None,
        crop_box=proc.crop_box if proc is not None else None,
        border_samples=proc.border_samples if proc is not None else 0,
        geometry=proc.geometry if proc is not None else None,
        video_stream=vinfo,
        audio_stream=ainfo,
        timings=dict(timings),
    )
