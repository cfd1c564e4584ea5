"""Audio-visual offset estimation (SyncNet, Chung & Zisserman 2016; seed 002) with any trained
synchronization model, on any sharded dataset.

A synchronization model embeds a video clip and a log-mel window into one space where the distance
of a synchronized pair is small (:class:`SyncModel`; AVTS's checkpoint: its video and audio
encoders and its embedding head, :class:`EmbeddingSync`, L2 distance of the normalised embeddings),
or scores a (clip, window) pair jointly (:class:`PairSyncModel`; a Multisensory checkpoint on the
log-mel, :class:`MultisensorySync`: distance = minus its in-sync logit).

For every video of a shard set, up to ``windows`` non-overlapping clips of ``clip_frames`` frames
(the model's clip length) are embedded once; the log-mel window of the same duration is embedded
at every candidate offset ``o`` in ``offsets`` (whole video frames at the stored fps). The
distances are averaged over the video's windows (SyncNet's averaging), giving one distance per
offset (the curve). Per video:

- ``offset_frames`` = the argmin of the curve (ties: the one closest to 0), ``offset_s`` in seconds;
- ``confidence`` = median minus minimum of the curve (SyncNet);
- ``status``: ``in_sync`` (confident and ``|offset| <= tolerance`` frames), ``out_of_sync``
  (confident, ``|offset| > tolerance``), ``no_sync_signal`` (confidence below the threshold,
  ``reason`` ``low_confidence``; or not scored: ``no_frames``, ``no_audio``, ``silent_audio``,
  ``too_short``, or, given the shard index, ``not_sharded``).

Sign: a positive offset means the **audio lags the picture**: the sound of video frame ``k`` is
heard ``o`` frames later (the audio window that matches the clip starting at time ``t`` starts at
``t + o / fps``). Only windows whose audio lies inside the track at every candidate offset are
used, so a curve never mixes real audio with padding; a video too short for one such window
(``clip_frames + (max - min offset)`` frames of video with audio) gets ``too_short``.

Evaluation with known offsets (:func:`inject_plan`): the shards hold audio and video as recorded,
so a seeded share of the videos is given a known shift ``s`` (frames, drawn from a set of offsets
beyond the tolerance): its audio is read as if the track were delayed by ``s`` (the window for
candidate ``o`` is read at ``t + (o - s) / fps`` of the stored track) and the right answer is
``s``; the other videos keep ``true_offset_frames = 0``. :func:`score_injected` computes, from
these predictions only, the offset accuracy (within ``tolerance`` frames) and the detection of the
shifted videos (accuracy of ``status == out_of_sync``, and the AUC of ``gain_over_zero`` = distance
at offset 0 minus the minimum), each beside its chance level and with its 95% interval over videos.

Known offsets in the world itself: a synthetic world rendered with ``p_av_offset``
(:mod:`avbench.synthesize.world`) records each video's offset (``av_offset_s``, 0 when in sync) in
its ground-truth file; given that folder (``truth``), each video's offset is read by its validated
id (:func:`truth_file`) and the as-stored rows are scored against it (summary mode ``world``).
Which of two on-screen objects is sounding: :mod:`avbench.evaluate.active_object`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from avbench.shards.loader import ShardStream, clip_starts, frame_time, item_rng, shard_urls

STATUSES = ("in_sync", "out_of_sync", "no_sync_signal")
_DEFAULT_FPS = 16.0  # the shard schema's fps, for a set with no sharded sample to read it from
#: why a video has no offset (``reason``; empty for in_sync / out_of_sync)
REASONS = ("low_confidence", "no_frames", "no_audio", "silent_audio", "too_short", "not_sharded")
COLUMNS = [
    "run",
    "seed",
    "dataset",
    "key",
    "id",
    "status",
    "reason",
    "offset_frames",
    "offset_s",
    "confidence",
    "min_distance",
    "median_distance",
    "zero_distance",
    "gain_over_zero",
    "n_windows",
    "fps",
    "true_offset_frames",
    "injected",
    "truth",
    "heldout",
    "detail",
    "distances",
]
SUMMARY_COLUMNS = ["run", "seed", "dataset", "mode", "subset", "metric", "value", "lo", "hi", "chance", "n"]


@dataclass(frozen=True)
class SyncSettings:
    """The estimator's settings (config section ``avsync``; see the schema's descriptions)."""

    offsets: tuple[int, int] = (-15, 15)
    windows: int = 4
    confidence_threshold: float = 0.1
    tolerance: int = 1
    inject_share: float = 0.5
    inject_offsets: tuple[int, ...] = (-12, -8, -4, 4, 8, 12)
    seed: int = 0
    calibrate_precision: float = 0.0  # 0: the fixed confidence_threshold only (see calibrate_threshold)
    calibrate_min: int = 10

    def __post_init__(self) -> None:
        lo, hi = self.offsets
        if not lo <= 0 <= hi:
            raise ValueError(f"avsync offsets [{lo}, {hi}] must contain 0")
        if self.windows < 1:
            raise ValueError("avsync windows must be at least 1")
        if not 0.0 <= self.calibrate_precision < 1.0 or self.calibrate_min < 1:
            raise ValueError("avsync calibrate: precision in [0, 1) and min_confident at least 1")
        bad = [s for s in self.inject_offsets if not lo <= s <= hi or abs(s) <= self.tolerance]
        if bad:
            raise ValueError(
                f"avsync injected offsets {bad} must lie in [{lo}, {hi}] and beyond the tolerance "
                f"(+-{self.tolerance} frames)"
            )

    @classmethod
    def from_config(cls, section: dict[str, Any], *, seed: int = 0) -> "SyncSettings":
        inj = section.get("inject") or {}
        return cls(
            offsets=(int(section["offsets"][0]), int(section["offsets"][1])) if "offsets" in section else cls.offsets,
            windows=int(section.get("windows", cls.windows)),
            confidence_threshold=float(section.get("confidence_threshold", cls.confidence_threshold)),
            tolerance=int(section.get("tolerance", cls.tolerance)),
            inject_share=float(inj.get("share", cls.inject_share)),
            inject_offsets=tuple(int(x) for x in inj.get("offsets", cls.inject_offsets)),
            seed=int(inj["seed"]) if inj.get("seed") is not None else int(seed),
            calibrate_precision=float((section.get("calibrate") or {}).get("precision", 0.0)),
            calibrate_min=int((section.get("calibrate") or {}).get("min_confident", cls.calibrate_min)),
        )

    @property
    def candidates(self) -> np.ndarray:
        """The candidate offsets in frames, int (n,), ascending."""
        return np.arange(self.offsets[0], self.offsets[1] + 1)


class SyncModel(Protocol):
    """What the estimator needs of a synchronization model: numpy in, embeddings out; the sync
    distance of a (clip, audio window) pair is the L2 distance of their embeddings."""

    def embed_video(self, clips: np.ndarray) -> np.ndarray:
        """uint8 (N, T, H, W, 3) frames -> float (N, D)."""
        ...

    def embed_audio(self, mels: np.ndarray) -> np.ndarray:
        """float32 (N, n_mels, A) stored log-mel windows -> float (N, D)."""
        ...


class EmbeddingSync:
    """A checkpoint whose head embeds video and audio (AVTS; also AVE-Net, InfoNCE) as a
    :class:`SyncModel`: encoders + ``head.embed_video`` / ``head.embed_audio``, the log-mel
    normalised with the checkpoint's ``mel_norm``; ``batch_size`` windows per forward pass."""

    def __init__(self, model: Any, mel_norm: tuple[float, float], *, batch_size: int = 128) -> None:
        self.model, self.mel_norm, self.batch_size = model.eval(), (float(mel_norm[0]), float(mel_norm[1])), batch_size

    def _embed(self, kind: str, x: np.ndarray) -> np.ndarray:
        import torch

        from avbench.pretext import to_tensors

        device = next(self.model.parameters()).device
        embed = self.model.head.embed_video if kind == "video" else self.model.head.embed_audio
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch_size):
                t = to_tensors(
                    {kind: np.ascontiguousarray(x[i : i + self.batch_size])}, device=device, mel_norm=self.mel_norm
                )[kind]
                out.append(embed(self.model.encode(kind, t)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed_video(self, clips: np.ndarray) -> np.ndarray:
        return self._embed("video", clips)

    def embed_audio(self, mels: np.ndarray) -> np.ndarray:
        return self._embed("audio", mels)


class PairSyncModel(Protocol):
    """A synchronization model that scores a (clip, audio window) pair jointly (early fusion, no
    separate embeddings): the sync distance of each pair."""

    def pair_distances(self, clips: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """uint8 (W, T, H, W, 3) clips and float32 (W, n, n_mels, A) log-mel windows (n per clip)
        -> float (W, n): the distance of clip i with each of its windows."""
        ...


AnySync = SyncModel | PairSyncModel


class MultisensorySync:
    """A Multisensory checkpoint (:mod:`avbench.pretext.multisensory`, log-mel input:
    ``multisensory_spec``) as a :class:`PairSyncModel`: the fused network's in-sync logit of each
    (clip, window) pair, its distance ``-logit`` (the lower, the more in sync). The video subnet runs
    once per clip; its map is fused with every window of that clip."""

    def __init__(self, model: Any, mel_norm: tuple[float, float], *, batch_size: int = 128) -> None:
        self.model, self.mel_norm, self.batch_size = model.eval(), (float(mel_norm[0]), float(mel_norm[1])), batch_size

    def pair_distances(self, clips: np.ndarray, mels: np.ndarray) -> np.ndarray:
        import torch

        from avbench.pretext import to_tensors

        device = next(self.model.parameters()).device
        net = self.model.encoders["video"]
        n = mels.shape[1]
        out = np.zeros((len(clips), n), np.float64)
        with torch.inference_mode():
            for i in range(len(clips)):
                t = to_tensors(
                    {"video": np.ascontiguousarray(clips[i : i + 1]), "audio": np.ascontiguousarray(mels[i])},
                    device=device,
                    mel_norm=self.mel_norm,
                )
                v = net.video_map(t["video"])  # (1, C, T', H', W')
                for j in range(0, n, self.batch_size):
                    a = t["audio"][j : j + self.batch_size]
                    f = net.fuse(v.expand(len(a), *v.shape[1:]), a)
                    out[i, j : j + len(a)] = -self.model.head(f).float().cpu().numpy()
        return out


def load_sync_model(checkpoint: str | Path | dict[str, Any]) -> tuple[AnySync, dict[str, Any]]:
    """A checkpoint as a sync model and its meta: :class:`EmbeddingSync` when its head embeds video
    and audio (AVTS, AVE-Net, InfoNCE), :class:`MultisensorySync` for a Multisensory run on the
    log-mel; a one-line ValueError for any other (no sync distance: scratch, supervised, the
    clustering methods, a waveform Multisensory run: avsync reads the log-mel)."""
    from avbench.evaluate.retrieval import embeds_both, load_pretrain_model
    from avbench.pretext.multisensory import Multisensory

    model, meta = load_pretrain_model(checkpoint)
    if embeds_both(model):
        return EmbeddingSync(model, tuple(meta["mel_norm"])), meta
    from avbench.pretext import PRETEXTS

    if issubclass(PRETEXTS[meta["method"]], Multisensory):
        audio_input = str(model.specs["video"].get("audio_input", "waveform"))
        if audio_input != "spectrogram":
            raise ValueError(
                f"{meta['run']} (multisensory, {audio_input} input): avsync reads the shards' log-mel; "
                "use a multisensory run with audio_input spectrogram (multisensory_spec)"
            )
        return MultisensorySync(model, tuple(meta["mel_norm"])), meta
    raise ValueError(
        f"{meta['run']} ({meta['method']}) has no audio-visual embedding head and no sync logit: no sync "
        "distance (avsync needs a synchronization model: AVTS, or Multisensory on the log-mel)"
    )


# -- one video ---------------------------------------------------------------------------------


def _mel_rate(meta: dict[str, Any]) -> float:
    return 1000.0 / float(meta["hop_ms"])


def _mel_start(meta: dict[str, Any], k: int, shift: float) -> int:
    """First log-mel frame of the audio read for the clip starting at frame ``k``, ``shift`` frames
    later (the rounding of :func:`avbench.shards.loader.mel_window`)."""
    return int(round((frame_time(meta, k) + shift / float(meta["fps"])) * _mel_rate(meta)))


def _mel_len(meta: dict[str, Any], clip_frames: int) -> int:
    return int(round(clip_frames / float(meta["fps"]) * _mel_rate(meta)))


def window_starts(
    meta: dict[str, Any], n_mel: int, *, clip_frames: int, reads: tuple[int, int], windows: int
) -> list[int]:
    """Start frames of up to ``windows`` clips, one every ``clip_frames`` frames (contiguous frames,
    not overlapping), whose audio read ``reads[0]`` to ``reads[1]`` frames later lies inside the
    ``n_mel`` log-mel frames of the track; evenly spaced over the video when there are more."""
    n = _mel_len(meta, clip_frames)
    ok = [
        k
        for k in clip_starts(meta, clip_frames)
        if _mel_start(meta, k, reads[0]) >= 0 and _mel_start(meta, k, reads[1]) + n <= n_mel
    ]
    picked: list[int] = []
    for k in ok:
        if not picked or k >= picked[-1] + clip_frames:
            picked.append(k)
    if len(picked) <= windows:
        return picked
    from avbench.evaluate.features import spaced

    return spaced(picked, windows)


class _Embeddings:
    """The embeddings of one video's clips (by start frame) and audio windows (by first log-mel
    frame), computed once each: the as-is and the shifted curves share most audio windows."""

    def __init__(self, model: SyncModel | PairSyncModel, sample: dict[str, Any], clip_frames: int) -> None:
        self.model, self.sample, self.clip_frames = model, sample, clip_frames
        self.video: dict[int, np.ndarray] = {}
        self.audio: dict[int, np.ndarray] = {}
        self.pair: dict[tuple[int, int], float] = {}

    def clips(self, starts: list[int]) -> np.ndarray:
        todo = [k for k in dict.fromkeys(starts) if k not in self.video]
        if todo:
            frames = self.sample["frames"]
            e = self.model.embed_video(np.stack([np.asarray(frames[k : k + self.clip_frames]) for k in todo]))
            self.video.update(zip(todo, np.asarray(e, dtype=np.float64)))
        return np.stack([self.video[k] for k in starts])

    def windows(self, m0: np.ndarray) -> np.ndarray:
        """Embeddings of the audio windows starting at log-mel frames ``m0`` (any shape) -> m0.shape + (D,)."""
        flat = m0.reshape(-1).tolist()
        todo = [m for m in dict.fromkeys(flat) if m not in self.audio]
        if todo:
            n = _mel_len(self.sample["meta"], self.clip_frames)
            mel = self.sample["mel"]
            e = self.model.embed_audio(
                np.stack([np.ascontiguousarray(mel[:, m : m + n], dtype=np.float32) for m in todo])
            )
            self.audio.update(zip(todo, np.asarray(e, dtype=np.float64)))
        return np.stack([self.audio[m] for m in flat]).reshape(*m0.shape, -1)

    def pairs(self, starts: list[int], m0: np.ndarray) -> np.ndarray:
        """Distances of a :class:`PairSyncModel` of each clip ``starts[i]`` with the windows ``m0[i]``
        (W, n), each pair computed once."""
        n = _mel_len(self.sample["meta"], self.clip_frames)
        mel, frames = self.sample["mel"], self.sample["frames"]
        for i, k in enumerate(starts):
            todo = [m for m in dict.fromkeys(m0[i].tolist()) if (k, m) not in self.pair]
            if todo:
                clip = np.asarray(frames[k : k + self.clip_frames])[None]
                win = np.stack([np.ascontiguousarray(mel[:, m : m + n], dtype=np.float32) for m in todo])[None]
                d = np.asarray(self.model.pair_distances(clip, win), dtype=np.float64)[0]  # type: ignore[attr-defined]
                self.pair.update({(k, m): float(x) for m, x in zip(todo, d)})
        return np.array([[self.pair[(k, int(m))] for m in m0[i]] for i, k in enumerate(starts)])


def distance_curve(emb: _Embeddings, starts: list[int], candidates: np.ndarray, shift: int = 0) -> np.ndarray:
    """Mean over the clips ``starts`` of the sync distance at each candidate offset: float (n,).
    ``shift``: the audio track is read as if delayed by that many frames (injected offset)."""
    meta = emb.sample["meta"]
    m0 = np.array([[_mel_start(meta, k, int(o) - shift) for o in candidates] for k in starts], dtype=np.int64)
    if hasattr(emb.model, "pair_distances"):  # a joint (early-fusion) model: distances directly
        return emb.pairs(starts, m0).mean(0)
    v = emb.clips(starts)  # (W, D)
    a = emb.windows(m0)  # (W, n, D)
    d = np.linalg.norm(a - v[:, None, :], axis=-1)
    return d.mean(0)


def judge(curve: np.ndarray, candidates: np.ndarray, s: SyncSettings) -> dict[str, Any]:
    """Offset (argmin; exact ties: the one closest to 0), confidence (median - min), status."""
    lo = float(curve.min())
    best = np.flatnonzero(curve <= lo)
    i = int(best[np.argmin(np.abs(candidates[best]))])
    off = int(candidates[i])
    conf = float(np.median(curve) - lo)
    zero = float(curve[int(np.flatnonzero(candidates == 0)[0])])
    if conf < s.confidence_threshold:
        status, reason = "no_sync_signal", "low_confidence"
    else:
        status, reason = ("in_sync" if abs(off) <= s.tolerance else "out_of_sync"), ""
    return {
        "status": status,
        "reason": reason,
        "offset_frames": off,
        "confidence": conf,
        "min_distance": lo,
        "median_distance": float(np.median(curve)),
        "zero_distance": zero,
        "gain_over_zero": zero - lo,
        "distances": [float(x) for x in curve],
    }


def _unscored(reason: str, detail: str) -> dict[str, Any]:
    return {"status": "no_sync_signal", "reason": reason, "detail": detail, "n_windows": 0}


def unscorable(sample: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, detail) when a sample cannot be scored at all, else None."""
    meta = sample["meta"]
    if sample.get("frames") is None or not int(meta.get("n_frames") or 0):
        return "no_frames", "the sample has no frames"
    if sample.get("mel") is None or not meta.get("has_audio", True) or not sample["mel"].shape[-1]:
        return "no_audio", "the sample has no audio track"
    flags = meta.get("audio_flags") or {}
    if flags.get("silent"):
        return "silent_audio", f"audio RMS {flags.get('rms_dbfs')} dBFS"
    return None


def score_video(
    model: AnySync,
    sample: dict[str, Any],
    s: SyncSettings,
    *,
    clip_frames: int,
    shifts: Iterable[int] = (0,),
    emb: _Embeddings | None = None,
) -> dict[int, dict[str, Any]]:
    """One row per audio shift (0: as stored; else an injected offset): status, offset, confidence,
    the curve, or the reason it has none."""
    shifts = list(dict.fromkeys(int(x) for x in shifts))
    bad = unscorable(sample)
    if bad is not None:
        return {sh: _unscored(*bad) for sh in shifts}
    meta = sample["meta"]
    fps = float(meta["fps"])
    emb = emb or _Embeddings(model, sample, clip_frames)
    cand = s.candidates
    out = {}
    for sh in shifts:
        reads = (int(cand[0]) - sh, int(cand[-1]) - sh)
        starts = window_starts(
            meta, int(sample["mel"].shape[-1]), clip_frames=clip_frames, reads=reads, windows=s.windows
        )
        if not starts:
            span = clip_frames + reads[1] - reads[0]
            out[sh] = _unscored(
                "too_short",
                f"needs {span} frames ({span / fps:.2f} s) of video with audio for "
                f"offsets {s.offsets[0]}..{s.offsets[1]}"
                + (f" with shift {sh}" if sh else "")
                + f"; has {int(meta.get('n_frames') or 0)} frames and "
                f"{sample['mel'].shape[-1] / _mel_rate(meta):.2f} s of audio",
            )
            continue
        row = judge(distance_curve(emb, starts, cand, sh), cand, s)
        row.update(n_windows=len(starts), detail="", offset_s=row["offset_frames"] / fps)
        out[sh] = row
    return out


# -- a dataset ---------------------------------------------------------------------------------


def inject_plan(keys: Iterable[str], s: SyncSettings) -> dict[str, int]:
    """The injected shift of each key (0: left as recorded): a share ``inject_share`` of the keys,
    each with an offset drawn from ``inject_offsets``; a function of (seed, key) only."""
    out = {}
    for k in keys:
        rng = item_rng(s.seed, 0, f"avsync/{k}")
        u, j = rng.random(), int(rng.integers(len(s.inject_offsets)))
        out[str(k)] = int(s.inject_offsets[j]) if s.inject_offsets and u < s.inject_share else 0
    return out


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def video_id(meta: dict[str, Any]) -> str:
    """The world video id of a sample or index row: the file name's stem of its ``source`` (else its
    ``id``), as the world names its ground-truth files (``<id>.json``)."""
    return Path(str(meta.get("source") or meta.get("id") or "")).stem


def truth_file(gt_dir: str | Path, vid: str) -> Path | None:
    """``gt_dir/<vid>.json`` when ``vid`` is a plain name (letters, digits, ``_ . -``, not starting
    with a dot, no separators) and the file lies directly in ``gt_dir``; else None (nothing outside
    the folder is ever read)."""
    if not _SAFE_ID.fullmatch(vid or "") or ".." in vid:
        return None
    root = Path(gt_dir).resolve()
    p = (root / f"{vid}.json").resolve()
    return p if p.parent == root and p.is_file() else None


def world_offset_s(gt_dir: str | Path | None, vid: str) -> float | None:
    """The world's audio-visual offset of video ``vid`` in seconds (positive: the audio lags; 0 for
    an in-sync video of a world that records offsets), or None when unknown: no folder, an unsafe
    id, no ground-truth file, or one without ``av_offset_s`` (a world without offsets)."""
    import json

    if gt_dir is None:
        return None
    p = truth_file(gt_dir, vid)
    if p is None:
        return None
    try:
        v = json.loads(p.read_text()).get("av_offset_s")
    except (OSError, ValueError, AttributeError):
        return None
    return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None


@dataclass
class SyncResult:
    """Per-video rows as stored (``as_is``) and, with injection, as evaluated (``injected``)."""

    as_is: pd.DataFrame
    injected: pd.DataFrame | None = None
    settings: SyncSettings = field(default_factory=SyncSettings)


def _frame(rows: list[dict[str, Any]], head: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame([{**head, **r} for r in rows]) if rows else pd.DataFrame(columns=COLUMNS)
    df = df.reindex(columns=COLUMNS)
    for c in (
        "offset_frames",
        "offset_s",
        "confidence",
        "min_distance",
        "median_distance",
        "zero_distance",
        "gain_over_zero",
        "fps",
        "true_offset_frames",
    ):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["n_windows"] = df["n_windows"].fillna(0).astype("int64")
    df["injected"] = df["injected"].fillna(False).astype(bool)
    for c in ("status", "reason", "detail", "key", "id", "heldout", "truth"):
        df[c] = df[c].fillna("").astype(str)
    df["distances"] = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in df["distances"]]
    return df.sort_values("key", kind="stable").reset_index(drop=True)


def estimate_offsets(
    model: AnySync,
    urls: list[str],
    s: SyncSettings,
    *,
    clip_frames: int,
    inject: bool = False,
    index: pd.DataFrame | None = None,
    heldout_keys: Iterable[str] | None = None,
    run: str = "",
    seed: int = 0,
    dataset: str = "",
    progress: bool = False,
    truth: str | Path | None = None,
) -> SyncResult:
    """Score every sample of the shards ``urls``: one row per video (``as_is``), and with
    ``inject`` one per video with the planned shifts (``injected``). ``index`` (the shard index):
    its rows that were not sharded get a ``not_sharded`` row each. ``heldout_keys``: the run's
    held-out pretraining videos (``heldout`` column: heldout / train; empty when not given).
    ``truth``: the world's ground-truth folder (``<id>.json``, :func:`world_offset_s`): a video
    whose offset is recorded there gets it, in frames at the stored fps, as ``true_offset_frames``
    of its as-stored row (``truth`` = ``world``), scored as the summary's ``world`` mode; with
    ``inject`` its injected row's truth is the sum of both."""
    held = None if heldout_keys is None else {str(k) for k in heldout_keys}
    as_is: list[dict[str, Any]] = []
    inj: list[dict[str, Any]] = []
    seen: set[str] = set()
    n = 0
    stored_fps = 0.0
    for sample in _samples(urls):
        key = str(sample["key"])
        seen.add(key)
        shift = inject_plan([key], s)[key] if inject else 0
        rows = score_video(model, sample, s, clip_frames=clip_frames, shifts=(0, shift))
        meta = sample["meta"]
        common = {
            "key": key,
            "id": str(meta.get("id", key)),
            "fps": float(meta["fps"]),
            "heldout": "" if held is None else ("heldout" if key in held else "train"),
        }
        stored_fps = float(meta["fps"])  # one frame rate for the whole set (the shard option)
        w = world_offset_s(truth, video_id(meta))
        wf = np.nan if w is None else w * float(meta["fps"])
        known = {"truth": "" if w is None else "world"}
        as_is.append({**common, **rows[0], "true_offset_frames": wf, "injected": False, **known})
        if inject:
            both = float(shift) + (0.0 if w is None else wf)
            inj.append({**common, **rows[shift], "true_offset_frames": both, "injected": bool(shift), **known})
        n += 1
        if progress and n % 50 == 0:
            print(f"avsync: {n} videos", flush=True)
    if index is not None:  # listed by the shard index but not in the shards: say why
        for r in index.to_dict("records"):
            key, status, why = _text(r.get("key")), _text(r.get("status")) or "ok", _text(r.get("reason"))
            if key in seen:
                continue
            ident = _text(r.get("id")) or key
            if status == "ok":
                detail = "listed as sharded by the index, but not in the shards"
            else:
                detail = f"shard status {status}" + (f": {why}" if why else "")
            row = {"key": key or ident, "id": ident, **_unscored("not_sharded", detail)}
            w = world_offset_s(truth, video_id(r))  # in frames at the shards' fps (meta defaults: 16)
            wf = np.nan if w is None else w * (stored_fps or _DEFAULT_FPS)
            known = {"truth": "" if w is None else "world"}
            as_is.append({**row, "true_offset_frames": wf, "injected": False, **known})
            if inject:
                inj.append({**row, "true_offset_frames": 0.0 if w is None else wf, "injected": False, **known})
    head = {"run": run, "seed": int(seed), "dataset": dataset}
    return SyncResult(as_is=_frame(as_is, head), injected=_frame(inj, head) if inject else None, settings=s)


def _text(v: Any) -> str:
    """A text cell of the index ("" for None and NaN)."""
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _samples(urls: list[str]) -> Iterator[dict[str, Any]]:
    yield from ShardStream(list(urls), shuffle=False, needs=frozenset({"frames", "mel"}))


# -- scores ------------------------------------------------------------------------------------


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for labels ``y`` (ties count a half); NaN with one class."""
    from scipy.stats import rankdata

    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _within_chance(true: np.ndarray, candidates: np.ndarray, tol: int) -> float:
    """Chance of a uniform guess among the candidates landing within ``tol`` frames of ``true``."""
    if not len(true):
        return float("nan")
    return float(np.mean([(np.abs(candidates - t) <= tol).mean() for t in true]))


def status_counts(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of the summary: how many videos have each status (and each reason of no_sync_signal)."""
    n = len(df)
    out = [{"metric": "n_videos", "value": float(n), "chance": np.nan, "n": n}]
    for st in STATUSES:
        out.append(
            {
                "metric": f"share_{st}",
                "value": float((df["status"] == st).mean()) if n else np.nan,
                "chance": np.nan,
                "n": n,
            }
        )
    for reason, k in df.loc[df["status"] == "no_sync_signal", "reason"].value_counts().sort_index().items():
        out.append({"metric": f"n_{reason}", "value": float(k), "chance": np.nan, "n": n})
    return out


def interval(fn: Any, n: int, *key: Any, n_boot: int = 1000) -> tuple[float, float]:
    """95% bootstrap interval of ``fn(idx)`` (a score of the rows ``idx``), the ``n`` rows (one per
    video) resampled with replacement; the draws are seeded by ``key`` (the same rows give the same
    interval). NaN when there are no rows or no resample gives a value."""
    from avbench.stats import _rng

    if n == 0:
        return float("nan"), float("nan")
    idx = _rng("avsync", n, *key).integers(0, n, size=(n_boot, n))
    vals = np.array([fn(i) for i in idx], dtype=float)
    if not np.isfinite(vals).any():
        return float("nan"), float("nan")
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def _mean_row(metric: str, ok: np.ndarray, chance: float, *key: Any) -> dict[str, Any]:
    """A summary row: the share of ``ok`` with its interval over videos and its chance level."""
    lo, hi = interval(lambda i: ok[i].mean(), len(ok), metric, *key)
    return {
        "metric": metric,
        "value": float(ok.mean()) if len(ok) else np.nan,
        "lo": lo,
        "hi": hi,
        "chance": chance,
        "n": int(len(ok)),
    }


def shifted(df: pd.DataFrame, s: SyncSettings) -> np.ndarray:
    """Which videos are out of sync in truth: ``|true_offset_frames| > tolerance`` (bool)."""
    return (np.abs(df["true_offset_frames"].fillna(0.0).to_numpy(float)) > s.tolerance).astype(bool)


def score_injected(df: pd.DataFrame, s: SyncSettings, *, key: str = "") -> list[dict[str, Any]]:
    """Offset accuracy and out-of-sync detection against known offsets (injected at read time, or
    the world's own, ``true_offset_frames``), from the per-video predictions, each with its 95%
    interval over videos (``lo``, ``hi``; ``key`` seeds the resamples) and its chance level:

    - ``offset_acc`` (every scored video), ``offset_acc_shifted`` / ``offset_acc_unshifted``: share
      of estimated offsets within ``tolerance`` frames of the true one (chance: a uniform guess
      among the candidate offsets);
    - ``detect_acc``: ``status == out_of_sync`` against "is shifted" (``|true| > tolerance``), over
      every video (unscored ones count as not flagged; chance: always answering the majority
      class); ``detect_recall`` / ``false_alarm``: the shares of shifted / unshifted videos flagged;
    - ``detect_auc``: AUC of ``gain_over_zero`` for the shifted videos among the scored (chance 0.5).
    """
    cand = s.candidates
    scored = df[df["offset_frames"].notna()]
    sh = shifted(scored, s)
    out = []
    for name, part in (
        ("offset_acc", scored),
        ("offset_acc_shifted", scored[sh]),
        ("offset_acc_unshifted", scored[~sh]),
    ):
        t = part["true_offset_frames"].to_numpy(float)
        ok = np.abs(part["offset_frames"].to_numpy(float) - t) <= s.tolerance
        out.append(_mean_row(name, ok, _within_chance(t, cand, s.tolerance), key))
    y = shifted(df, s)
    flagged = (df["status"] == "out_of_sync").to_numpy(bool)
    p = float(y.mean()) if len(y) else np.nan
    out.append(_mean_row("detect_acc", flagged == y, max(p, 1 - p) if len(y) else np.nan, key))
    out.append(_mean_row("detect_recall", flagged[y], np.nan, key))
    out.append(_mean_row("false_alarm", flagged[~y], np.nan, key))
    gain = scored["gain_over_zero"].to_numpy(float)
    lo, hi = interval(lambda i: _auc(gain[i], sh[i]), len(scored), "detect_auc", key)
    out.append(
        {"metric": "detect_auc", "value": _auc(gain, sh), "lo": lo, "hi": hi, "chance": 0.5, "n": int(len(scored))}
    )
    out.append({"metric": "n_shifted", "value": float(y.sum()), "chance": np.nan, "n": int(len(y))})
    return out


def calibration_half(keys: Iterable[str]) -> np.ndarray:
    """Which videos calibrate the threshold (True) and which score it (False): a fixed half by a
    hash of the key (the same video is on the same side in every run and job)."""
    import hashlib

    return np.array([hashlib.sha1(str(k).encode()).digest()[0] % 2 == 0 for k in keys], dtype=bool)


def calibrate_threshold(injected: pd.DataFrame, s: SyncSettings) -> tuple[float, list[dict[str, Any]]]:
    """The confidence threshold that makes a confident status right with ``calibrate_precision``,
    from the evaluation with known offsets, and its summary rows (mode ``calibration``).

    On the calibration half of the scored videos (:func:`calibration_half`), the lowest confidence
    ``tau`` (never below ``confidence_threshold``) such that the videos at or above it number at
    least ``calibrate_min`` and at least ``calibrate_precision`` of them have their offset within
    ``tolerance`` frames of the true one (then their in_sync / out_of_sync status is right); no such
    ``tau``: infinity, i.e. the model gives no sync signal and every video is ``no_sync_signal``.
    Scored on the other half: ``calibrated_precision`` (share right among the confident, with its
    interval over videos; chance: the share right among all of them, the precision of no threshold)
    and ``calibrated_coverage`` (share confident)."""
    scored = injected[injected["offset_frames"].notna() & injected["true_offset_frames"].notna()]
    conf = scored["confidence"].to_numpy(float)
    ok = np.abs(scored["offset_frames"].to_numpy(float) - scored["true_offset_frames"].to_numpy(float)) <= s.tolerance
    cal = calibration_half(scored["key"])
    tau = float("inf")
    for t in np.sort(np.unique(conf[cal])):  # lowest first: the first that qualifies covers the most
        if t < s.confidence_threshold:
            continue
        above = cal & (conf >= t)
        if above.sum() >= s.calibrate_min and ok[above].mean() >= s.calibrate_precision:
            tau = float(t)
            break
    ev_conf, ev_ok = conf[~cal], ok[~cal]
    confident = ev_conf >= tau
    prec = ev_ok[confident]
    lo, hi = interval(
        lambda i: ev_ok[i][ev_conf[i] >= tau].mean() if (ev_conf[i] >= tau).any() else np.nan,
        len(ev_ok),
        "calibrated_precision",
    )
    rows = [
        {"metric": "calibrated_threshold", "value": tau, "chance": np.nan, "n": int(cal.sum())},
        {
            "metric": "calibrated_precision",
            "value": float(prec.mean()) if len(prec) else np.nan,
            "lo": lo,
            "hi": hi,
            "chance": float(ev_ok.mean()) if len(ev_ok) else np.nan,
            "n": int(len(prec)),
        },
        _mean_row("calibrated_coverage", confident, np.nan, "calibration"),
        {"metric": "target_precision", "value": s.calibrate_precision, "chance": np.nan, "n": int(len(ev_ok))},
    ]
    return tau, rows


def apply_threshold(df: pd.DataFrame, tau: float, s: SyncSettings) -> pd.DataFrame:
    """The rows with their statuses judged again at confidence threshold ``tau`` (the scored videos
    only; the unscored keep their reason): below it ``no_sync_signal`` (``low_confidence``), above
    it ``in_sync`` / ``out_of_sync`` by ``tolerance``."""
    out = df.copy()
    scored = out["offset_frames"].notna() & out["reason"].isin(["", "low_confidence"])
    low = scored & (out["confidence"] < tau)
    high = scored & ~low
    out.loc[low, "status"], out.loc[low, "reason"] = "no_sync_signal", "low_confidence"
    inside = out["offset_frames"].abs() <= s.tolerance
    out.loc[high & inside, "status"] = "in_sync"
    out.loc[high & ~inside, "status"] = "out_of_sync"
    out.loc[high, "reason"] = ""
    return out


def summarize(result: SyncResult, *, run: str = "", seed: int = 0, dataset: str = "") -> pd.DataFrame:
    """The summary CSV: status counts as stored (mode ``as_is``); for the videos whose offset the
    world records (``truth == "world"``), their counts and scores as stored (mode ``world``); with
    injection, the counts and scores of the evaluation (mode ``injected``); for every video (subset
    ``all``) and, when the run's held-out pretraining videos are among them, for those only
    (``heldout``). Scores carry their 95% interval over videos (``lo``, ``hi``)."""
    rows: list[dict[str, Any]] = []
    parts = [("as_is", result.as_is)]
    world = result.as_is[result.as_is["truth"] == "world"]
    if len(world):  # the world's own offsets, as stored (no read-time injection)
        parts.append(("world", world))
    if result.injected is not None:
        parts.append(("injected", result.injected))
    for mode, df in parts:
        subsets = [("all", df)] + (
            [("heldout", df[df["heldout"] == "heldout"])] if (df["heldout"] == "heldout").any() else []
        )
        for subset, part in subsets:
            rows += [{"mode": mode, "subset": subset, **r} for r in status_counts(part)]
            if mode in ("injected", "world"):
                rows += [
                    {"mode": mode, "subset": subset, **r}
                    for r in score_injected(part, result.settings, key=f"{dataset}/{mode}/{subset}")
                ]
    return summary_frame(rows, run=run, seed=seed, dataset=dataset)


def summary_frame(rows: list[dict[str, Any]], *, run: str, seed: int, dataset: str) -> pd.DataFrame:
    """Summary rows (``mode``, ``subset``, ``metric``, ...) as a frame of :data:`SUMMARY_COLUMNS`
    headed by the run, its seed and the dataset."""
    return pd.DataFrame([{"run": run, "seed": int(seed), "dataset": dataset, **r} for r in rows]).reindex(
        columns=SUMMARY_COLUMNS
    )


def shard_set_urls(shards: str | Path) -> list[str]:
    urls = shard_urls(shards)
    if not urls:
        raise FileNotFoundError(f"no shard-*.tar under {shards}: nothing to score")
    return urls


@dataclass(frozen=True)
class SyncJob:
    """One ``avbench avsync`` job: the per-video rows (:class:`SyncResult`), their summary, and the
    run and dataset names written in them."""

    result: SyncResult
    summary: pd.DataFrame
    run: str
    dataset: str


def avsync_checkpoint(
    model: AnySync,
    meta: dict[str, Any],
    shard_dir: str | Path,
    settings: SyncSettings,
    *,
    index: str | Path | None = None,
    inject: bool = False,
    run: str | None = None,
    dataset: str | None = None,
    progress: bool = True,
    truth: str | Path | None = None,
) -> SyncJob:
    """The offset of every video of a shard set with a checkpoint's sync model
    (:func:`load_sync_model`), as stored and (``inject``) with known offsets injected, and the
    summary. ``run`` / ``dataset`` default to the checkpoint's run and the shard folder's name; the
    run's held-out pretraining videos are marked when the set is the one it was pretrained on;
    ``index``: the set's shard index (its videos that were not sharded get a row too); ``truth``:
    the world's ground-truth folder of the set (its recorded offsets: mode ``world``)."""
    run = run or str(meta["run"])
    dataset = dataset or Path(shard_dir).name
    pretrained_on = meta.get("pretrain_data", meta["config"].get("dataset", ""))
    result = estimate_offsets(
        model,
        shard_set_urls(shard_dir),
        settings,
        clip_frames=int(meta["config"]["clip_frames"]),
        inject=inject,
        index=pd.read_parquet(index) if index else None,
        heldout_keys=meta.get("heldout_keys") if dataset == pretrained_on else None,
        run=run,
        seed=int(meta["seed"]),
        dataset=dataset,
        progress=progress,
        truth=truth,
    )
    cal_rows: list[dict[str, Any]] = []
    if settings.calibrate_precision > 0 and result.injected is not None:
        tau, cal_rows = calibrate_threshold(result.injected, settings)
        result = SyncResult(
            as_is=apply_threshold(result.as_is, tau, settings),
            injected=apply_threshold(result.injected, tau, settings),
            settings=settings,
        )
    summary = summarize(result, run=run, seed=int(meta["seed"]), dataset=dataset)
    if cal_rows:
        cal = [{"mode": "calibration", "subset": "all", **r} for r in cal_rows]
        extra = summary_frame(cal, run=run, seed=int(meta["seed"]), dataset=dataset)
        summary = pd.concat([summary, extra], ignore_index=True)
    return SyncJob(result=result, summary=summary, run=run, dataset=dataset)
