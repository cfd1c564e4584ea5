"""Write the synthetic world as three datasets in the on-disk formats of real ones.

Layout under ``root``::

    pretrain/videos/<youtube_id>_<start:06d>_<end:06d>.<mp4|webm|mkv|avi>   Kinetics-style
    pretrain/kinetics.csv              label,youtube_id,time_start,time_end,split
    action/videos/<Class>/v_<Class>_g<GG>_c<CC>.avi                        UCF101-style
    action/ucfTrainTestlist/classInd.txt, trainlist0{1,2,3}.txt, testlist0{1,2,3}.txt (CRLF)
    sound/audio/<fold>-<srcid>-<take>-<target>.wav                         ESC-50-style
    sound/meta/esc50.csv               filename,fold,target,category,esc10,src_file,take
    <set>/ground_truth.csv             one row per file: spec + nuisance ground truth
    <set>/ground_truth/<id>.json       per-frame camera transforms, event times, ...

Everything is a function of ``seed`` and the config: every file's spec is drawn from a
``numpy.random.SeedSequence([seed, set_code, index])``, so the output does not depend on the
number of worker processes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from avbench.paths import atomic_path
from avbench.synthesize.world import (
    AV_OFFSETS_S,
    CLASSES,
    VideoSpec,
    ground_truth,
    render,
    render_audio,
    sample_spec,
    simulate,
)
from avbench.synthesize.write import write_video, write_wav

DEFAULTS: dict[str, Any] = {
    "n_classes": 8,
    "pretrain_videos": 800,
    "action_groups_per_class": 6,
    "action_clips_per_group": 2,
    "sound_clips_per_class": 20,
    "duration_s": [3, 10],
    "fps": [24, 25, 30],
    "sizes": [[320, 240], [340, 256]],
    "sample_rate": 44100,
    "channels": 2,
    "containers": {"mp4": 0.7, "webm": 0.1, "mkv": 0.1, "avi": 0.1},
    "p_letterbox": 0.35,
    "p_pillarbox": 0.17,
    "p_black_frames": 0.1,
    "p_camera": 0.73,
    "p_distractor": 0.3,
    "p_silent": 0.03,
    "p_no_audio": 0.02,
    "p_zoom_in": 0.8,
    "p_tilt_down": 0.8,
    "camera_speed": [0.25, 0.5],
    "bar_drift": [0.25, 0.5],
    "n_bad": 3,
    "sound_duration_s": 5.0,
    "sound_sample_rate": 44100,
    "p_av_offset": 0.0,
    "av_offsets_s": list(AV_OFFSETS_S),
}

_SET_CODES = {"pretrain": 1, "action": 2, "sound": 3, "bad": 4, "localize": 5, "sync": 6}
_YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_BAD_KINDS = ["zero_bytes", "truncated", "no_audio"]
_SPEC_KNOBS = (
    "duration_s",
    "fps",
    "sizes",
    "sample_rate",
    "channels",
    "p_letterbox",
    "p_pillarbox",
    "p_black_frames",
    "p_camera",
    "p_distractor",
    "p_silent",
    "p_no_audio",
    "p_zoom_in",
    "p_tilt_down",
    "camera_speed",
    "bar_drift",
    "p_av_offset",
    "av_offsets_s",
)

GT_COLUMNS = [
    "set",
    "id",
    "file",
    "class",
    "class_idx",
    "container",
    "bad",
    "seed",
    "fps",
    "width",
    "height",
    "duration",
    "n_frames",
    "sample_rate",
    "channels",
    "has_audio",
    "letterbox",
    "pillarbox",
    "black_lead_in",
    "black_lead_out",
    "black_ranges",
    "camera",
    "camera_max_shift_px",
    "camera_scale_min",
    "camera_scale_max",
    "camera_zoom",
    "camera_tilt",
    "camera_speed",
    "bar_drift",
    "distractor",
    "distractor_cls",
    "n_distractor_events",
    "silent",
    "no_audio",
    "n_events",
    "shape",
    "color",
    "bg_color",
    "obj_size",
    "pitch_hz",
    "noise_db",
    "level",
]


def merged_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULTS`` updated with the keys of ``cfg`` (unknown keys such as ``enabled`` are kept)."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in (cfg or {}).items() if v is not None})
    return out


def _rng(seed: int, set_name: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SET_CODES[set_name], int(index)]))


def _youtube_id(rng: np.random.Generator) -> str:
    return "".join(_YT_ALPHABET[i] for i in rng.integers(0, len(_YT_ALPHABET), size=11))


def _spec_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    kw = {k: cfg[k] for k in _SPEC_KNOBS}
    kw["sizes"] = [tuple(s) for s in cfg["sizes"]]
    kw["n_classes"] = int(cfg["n_classes"])
    kw["p_av_offset"] = float(cfg["p_av_offset"])
    kw["av_offsets_s"] = tuple(float(v) for v in cfg["av_offsets_s"])
    kw["appearance_by_class"] = bool(cfg.get("appearance_by_class", False))  # opt-in, not in DEFAULTS
    return kw


def _pick_container(rng: np.random.Generator, containers: dict[str, float]) -> str:
    names = sorted(containers)
    p = np.array([float(containers[n]) for n in names])
    p = p / p.sum()
    return names[int(rng.choice(len(names), p=p))]


# ----------------------------------------------------------------------------------------------
# planning: a list of jobs, each a picklable dict, fully determined by (seed, cfg)


def plan(cfg: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """All files to write, in order. Each job: set, id, rel (path under root), spec, bad, ..."""
    cfg = merged_config(cfg)
    n_cls = int(cfg["n_classes"])
    if not 1 <= n_cls <= len(CLASSES):
        raise ValueError(f"n_classes must be in 1..{len(CLASSES)}")
    classes = CLASSES[:n_cls]
    kw = _spec_kwargs(cfg)
    jobs: list[dict[str, Any]] = []

    # pretrain: balanced classes in a seeded order
    n_pre = int(cfg["pretrain_videos"])
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0])).permutation(n_pre)
    used_ids: set[str] = set()
    for i in range(n_pre):
        rng = _rng(seed, "pretrain", i)
        cls = classes[int(order[i]) % n_cls]
        container = _pick_container(rng, cfg["containers"])
        yt = _youtube_id(rng)
        while yt in used_ids:
            yt = _youtube_id(rng)
        used_ids.add(yt)
        spec = sample_spec(rng, cls, container=container, **kw)
        end = int(round(spec.duration))
        vid = f"{yt}_{0:06d}_{end:06d}"
        jobs.append(
            {
                "set": "pretrain",
                "id": vid,
                "rel": f"pretrain/videos/{vid}.{container}",
                "spec": spec,
                "bad": "",
                "youtube_id": yt,
                "time_end": end,
            }
        )
    # bad files, listed in the CSV like the others
    for j in range(int(cfg["n_bad"])):
        rng = _rng(seed, "bad", j)
        kind = _BAD_KINDS[j % len(_BAD_KINDS)]
        cls = classes[j % n_cls]
        yt = _youtube_id(rng)
        while yt in used_ids:
            yt = _youtube_id(rng)
        used_ids.add(yt)
        spec = sample_spec(rng, cls, container="mp4", **{**kw, "p_no_audio": 0.0, "p_silent": 0.0})
        if kind == "no_audio":
            spec = _replace(spec, no_audio=True)
        end = int(round(spec.duration))
        vid = f"{yt}_{0:06d}_{end:06d}"
        jobs.append(
            {
                "set": "pretrain",
                "id": vid,
                "rel": f"pretrain/videos/{vid}.mp4",
                "spec": spec,
                "bad": kind,
                "youtube_id": yt,
                "time_end": end,
            }
        )

    # action: UCF101 groups; a group shares its "setting" (appearance), never its class
    n_g, n_c = int(cfg["action_groups_per_class"]), int(cfg["action_clips_per_group"])
    for ci, cls in enumerate(classes):
        for g in range(1, n_g + 1):
            app_seed = int(np.random.SeedSequence([int(seed), _SET_CODES["action"], ci, g, 99]).generate_state(1)[0])
            for c in range(1, n_c + 1):
                idx = (ci * n_g + (g - 1)) * n_c + (c - 1)
                rng = _rng(seed, "action", idx)
                spec = sample_spec(rng, cls, container="avi", appearance_seed=app_seed, **kw)
                name = f"v_{cls}_g{g:02d}_c{c:02d}"
                jobs.append(
                    {
                        "set": "action",
                        "id": name,
                        "rel": f"action/videos/{cls}/{name}.avi",
                        "spec": spec,
                        "bad": "",
                        "group": g,
                        "clip": c,
                    }
                )

    # sound: ESC-50, 5 folds balanced per class, mono 16-bit wav
    n_s = int(cfg["sound_clips_per_class"])
    sdur = float(cfg["sound_duration_s"])
    src_rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SET_CODES["sound"], 0]))
    src_ids = src_rng.choice(np.arange(100000, 999999), size=n_cls * n_s, replace=False)
    skw = {
        **kw,
        "duration_s": (sdur, sdur),
        "fps": (25,),
        "sizes": ((320, 240),),
        "sample_rate": int(cfg["sound_sample_rate"]),
        "channels": 1,
        "p_letterbox": 0.0,
        "p_pillarbox": 0.0,
        "p_black_frames": 0.0,
        "p_camera": 0.0,
        "p_silent": 0.0,
        "p_no_audio": 0.0,
        "p_av_offset": 0.0,  # no picture to be out of sync with
    }
    for ci, cls in enumerate(classes):
        for k in range(n_s):
            idx = ci * n_s + k
            rng = _rng(seed, "sound", idx)
            spec = sample_spec(rng, cls, container="wav", **skw)
            fold = k % 5 + 1
            src = int(src_ids[idx])
            name = f"{fold}-{src}-A-{ci}"
            jobs.append(
                {
                    "set": "sound",
                    "id": name,
                    "rel": f"sound/audio/{name}.wav",
                    "spec": spec,
                    "bad": "",
                    "fold": fold,
                    "src_file": src,
                    "target": ci,
                }
            )
    return jobs


def _replace(spec: VideoSpec, **kw: Any) -> VideoSpec:
    import dataclasses

    return dataclasses.replace(spec, **kw)


# ----------------------------------------------------------------------------------------------
# one job (runs in a worker process)


def _gt_row(job: dict[str, Any], gt: dict[str, Any], has_audio: bool) -> dict[str, Any]:
    spec: VideoSpec = job["spec"]
    rng_ = gt.get("camera_scale_range", [1.0, 1.0])
    return {
        "set": job["set"],
        "id": job["id"],
        "file": job["rel"].split("/", 1)[1],
        "class": spec.cls,
        "class_idx": CLASSES.index(spec.cls),
        "container": spec.container,
        "bad": job["bad"],
        "seed": spec.seed,
        "fps": spec.fps,
        "width": spec.width,
        "height": spec.height,
        "duration": round(spec.n_frames / spec.fps, 6),
        "n_frames": spec.n_frames,
        "sample_rate": spec.sample_rate,
        "channels": spec.channels,
        "has_audio": has_audio,
        "letterbox": spec.letterbox,
        "pillarbox": spec.pillarbox,
        "black_lead_in": spec.black_lead_in,
        "black_lead_out": spec.black_lead_out,
        "black_ranges": ";".join(f"{a}-{b}" for a, b in gt["black_frames"]),
        "camera": spec.camera,
        "camera_max_shift_px": round(float(gt.get("camera_max_shift_px", 0.0)), 3),
        "camera_scale_min": round(float(rng_[0]), 4),
        "camera_scale_max": round(float(rng_[1]), 4),
        "camera_zoom": ("in" if spec.zoom_in else "out") if spec.camera == "zoom" else "",
        "camera_tilt": gt.get("camera_tilt", ""),
        "camera_speed": round(float(spec.camera_speed), 4) if spec.camera in ("pan", "zoom") else 0.0,
        "bar_drift": round(float(spec.bar_drift), 4) if (spec.letterbox or spec.pillarbox) else 0.0,
        "distractor": spec.distractor,
        "distractor_cls": spec.distractor_cls if spec.distractor else "",
        "n_distractor_events": len(gt["distractor_events"]),
        "silent": spec.silent,
        "no_audio": not has_audio,
        "n_events": gt["n_events"],
        "shape": spec.shape,
        "color": "#%02x%02x%02x" % spec.color,
        "bg_color": "#%02x%02x%02x" % spec.bg_color,
        "obj_size": round(spec.obj_size, 3),
        "pitch_hz": round(spec.pitch_hz, 3),
        "noise_db": round(spec.noise_db, 3),
        "level": round(spec.level, 4),
        "av_offset_s": float(spec.av_offset_s),  # a column only where the world records it (gt_columns)
        "appearance_by_class": spec.appearance_by_class,  # likewise (gt_columns)
    }


def _run_job(args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    root_s, job = args
    root = Path(root_s)
    spec: VideoSpec = job["spec"]
    out = root / job["rel"]
    if job["set"] == "sound":
        traj = simulate(spec)
        audio, ainfo = render_audio(spec, traj)
        write_wav(out, audio, spec.sample_rate)
        gt = ground_truth(spec, traj, None, ainfo)
        has_audio = True
    else:
        frames, audio, _events, gt = render(spec)
        has_audio = not spec.no_audio and job["bad"] != "zero_bytes"
        if job["bad"] == "zero_bytes":
            with atomic_path(out, suffix=out.suffix) as tmp:
                tmp.write_bytes(b"")
        else:
            write_video(
                out, frames, spec.fps, None if spec.no_audio else audio, spec.sample_rate, container=spec.container
            )
            if job["bad"] == "truncated":
                data = out.read_bytes()
                with atomic_path(out, suffix=out.suffix) as tmp:
                    tmp.write_bytes(data[: int(len(data) * 0.3)])
    gt = {
        **gt,
        "set": job["set"],
        "id": job["id"],
        "file": job["rel"].split("/", 1)[1],
        "container": spec.container,
        "bad": job["bad"],
        "has_audio": has_audio,
    }
    gpath = root / job["set"] / "ground_truth" / f"{job['id']}.json"
    with atomic_path(gpath, suffix=".json") as tmp:
        tmp.write_text(json.dumps(gt, separators=(",", ":")))
    return _gt_row(job, gt, has_audio)


# ----------------------------------------------------------------------------------------------
# annotation files


def _write_text(path: Path, text: str, newline: str = "\n") -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        with open(tmp, "w", newline="") as f:
            f.write(text.replace("\n", newline))


def _csv_text(header: list[str], rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _kinetics_csv(jobs: list[dict[str, Any]], split: str) -> str:
    """The Kinetics annotation CSV of rendered world videos (whole videos, one split)."""
    rows = (
        {
            "label": j["spec"].cls,
            "youtube_id": j["youtube_id"],
            "time_start": 0,
            "time_end": j["time_end"],
            "split": split,
        }
        for j in jobs
    )
    return _csv_text(["label", "youtube_id", "time_start", "time_end", "split"], rows)


def _write_annotations(
    root: Path, jobs: list[dict[str, Any]], rows: list[dict[str, Any]], classes: list[str], n_groups: int
) -> None:
    pre = [j for j in jobs if j["set"] == "pretrain"]
    _write_text(
        root / "pretrain" / "kinetics.csv",
        _kinetics_csv(pre, "train"),
    )

    act = [j for j in jobs if j["set"] == "action"]
    if act:
        lists = root / "action" / "ucfTrainTestlist"
        _write_text(lists / "classInd.txt", "".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)), "\r\n")
        bounds = [round(k * n_groups / 3) for k in range(4)]
        for k in range(3):
            test_groups = set(range(bounds[k] + 1, bounds[k + 1] + 1))
            train, test = [], []
            for j in act:
                rel = j["rel"].split("/", 2)[2]  # <Class>/v_<Class>_gGG_cCC.avi
                if j["group"] in test_groups:
                    test.append(f"{rel}\n")
                else:
                    train.append(f"{rel} {classes.index(j['spec'].cls) + 1}\n")
            _write_text(lists / f"trainlist0{k + 1}.txt", "".join(train), "\r\n")
            _write_text(lists / f"testlist0{k + 1}.txt", "".join(test), "\r\n")

    snd = [j for j in jobs if j["set"] == "sound"]
    if snd:
        _write_text(
            root / "sound" / "meta" / "esc50.csv",
            _csv_text(
                ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
                (
                    {
                        "filename": f"{j['id']}.wav",
                        "fold": j["fold"],
                        "target": j["target"],
                        "category": j["spec"].cls,
                        "esc10": False,
                        "src_file": j["src_file"],
                        "take": "A",
                    }
                    for j in sorted(snd, key=lambda j: (j["fold"], j["target"], j["src_file"]))
                ),
            ),
        )

    for set_name in ("pretrain", "action", "sound"):
        srows = [r for r in rows if r["set"] == set_name]
        if srows:
            cols = gt_columns(GT_COLUMNS, [j for j in jobs if j["set"] == set_name])
            _write_text(root / set_name / "ground_truth.csv", _csv_text(cols, srows))


def gt_columns(base: list[str], jobs: list[dict[str, Any]]) -> list[str]:
    """The ground-truth CSV's columns: ``base``, plus ``av_offset_s`` when the world records the
    videos' audio-visual offsets (``synth.p_av_offset`` > 0) and ``appearance_by_class`` when the
    sounding objects look like their class (``synth.appearance_by_class``); the default CSV is unchanged."""
    extra = ["av_offset_s"] if any(j["spec"].record_av_offset for j in jobs) else []
    if any(j["spec"].appearance_by_class for j in jobs):
        extra.append("appearance_by_class")
    return base + extra


def _progress(it: Iterator[Any], total: int, enabled: bool) -> Iterator[Any]:
    from avbench.progress import progress_bar

    with progress_bar(total=total, desc="synth", enabled=enabled, unit="file") as bar:
        for x in it:
            yield x
            bar.update(1)


def write_dataset(
    root: str | os.PathLike[str], cfg: dict[str, Any] | None, *, seed: int, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Write the pretrain / action / sound sets under ``root`` (see the module docstring).

    cfg: the ``synth`` section of config.yaml; missing keys take :data:`DEFAULTS`. ``workers``
    processes encode in parallel; the output is identical for any ``workers``. Returns a summary
    with the counts per set.
    """
    root = Path(root)
    cfg = merged_config(cfg)
    classes = CLASSES[: int(cfg["n_classes"])]
    jobs = plan(cfg, seed)
    # longest jobs first keeps the workers busy until the end; results are re-ordered anyway
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["spec"].n_frames * (jobs[i]["set"] != "sound"))
    args = [(str(root), jobs[i]) for i in order]
    rows_by: dict[int, dict[str, Any]] = {}
    t0 = time.time()
    if workers > 1:
        with get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(workers) as pool:
            for i, row in zip(order, _progress(pool.imap(_run_job, args, chunksize=1), len(args), progress)):
                rows_by[i] = row
    else:
        for i, row in zip(order, _progress(map(_run_job, args), len(args), progress)):
            rows_by[i] = row
    rows = [rows_by[i] for i in range(len(jobs))]
    _write_annotations(root, jobs, rows, classes, int(cfg["action_groups_per_class"]))
    counts = {s: sum(1 for j in jobs if j["set"] == s) for s in ("pretrain", "action", "sound")}
    return {
        "classes": classes,
        "counts": counts,
        "pretrain_bad": {k: sum(1 for j in jobs if j["bad"] == k) for k in _BAD_KINDS},
        "containers": {
            c: sum(1 for j in jobs if j["set"] == "pretrain" and j["spec"].container == c)
            for c in sorted(cfg["containers"])
        },
        "hours": round(sum(j["spec"].n_frames / j["spec"].fps for j in jobs) / 3600, 3),
        "synth_s": round(time.time() - t0, 1),
    }


# ----------------------------------------------------------------------------------------------
# the localization set (opt-in; never written by write_dataset)

LOCALIZE_DEFAULTS: dict[str, Any] = {
    "n_videos": 64,
    "duration_s": [2, 4],
    "p_silent_object": 0.5,
    "p_letterbox": 0.2,
    "p_pillarbox": 0.1,
    "p_black_frames": 0.1,
    "p_camera": 0.3,
    "p_distractor": 0.0,
}
LOCALIZE_GT_COLUMNS = GT_COLUMNS + ["silent_object", "silent_cls"]


def plan_localize(cfg: dict[str, Any] | None, seed: int) -> list[dict[str, Any]]:
    """The jobs of the localization set: ``n_videos`` Kinetics-style mp4 videos (classes in turn),
    every one with its objects' boxes in the ground truth and, in a share ``p_silent_object``, a
    silent moving object. Always with audio (no silent or audio-less videos: the sound's source is
    what is scored). Specs are drawn from ``SeedSequence([seed, 5, index])``, a stream of its own."""
    return _plan_world_set("localize", {**LOCALIZE_DEFAULTS, **(cfg or {})}, seed)


def _plan_world_set(set_name: str, cfg: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """``cfg["n_videos"]`` Kinetics-style mp4 videos of set ``set_name`` (classes in turn), with the
    objects' boxes and a silent object in a share ``p_silent_object``, always with audio; specs
    drawn from ``SeedSequence([seed, <set code>, index])``."""
    c = merged_config(cfg)
    kw = _spec_kwargs(c)
    kw.update(p_silent=0.0, p_no_audio=0.0, p_silent_object=float(c["p_silent_object"]), record_boxes=True)
    classes = CLASSES[: int(c["n_classes"])]
    jobs: list[dict[str, Any]] = []
    used: set[str] = set()
    for i in range(int(c["n_videos"])):
        rng = _rng(seed, set_name, i)
        yt = _youtube_id(rng)
        while yt in used:
            yt = _youtube_id(rng)
        used.add(yt)
        spec = sample_spec(rng, classes[i % len(classes)], container="mp4", **kw)
        end = int(round(spec.duration))
        vid = f"{yt}_{0:06d}_{end:06d}"
        jobs.append(
            {
                "set": set_name,
                "id": vid,
                "rel": f"{set_name}/videos/{vid}.mp4",
                "spec": spec,
                "bad": "",
                "youtube_id": yt,
                "time_end": end,
            }
        )
    return jobs


def write_localize_set(
    root: str | os.PathLike[str], cfg: dict[str, Any] | None, *, seed: int, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Write the localization set under ``root``: ``localize/videos/*.mp4``, ``localize/kinetics.csv``
    (label,youtube_id,time_start,time_end,split), ``localize/ground_truth.csv`` (one row per video,
    with ``silent_object``) and ``localize/ground_truth/<id>.json`` (with the per-frame boxes:
    ``object_box_frame``, ``object_visible``, ``silent_object_box_frame``, ...)."""
    return _write_world_set(Path(root), plan_localize(cfg, seed), "localize", progress=progress, workers=workers)


def _write_world_set(
    root: Path, jobs: list[dict[str, Any]], set_name: str, *, progress: bool, workers: int
) -> dict[str, Any]:
    """Render ``jobs`` (:func:`_plan_world_set`) under ``root/<set_name>``: videos, kinetics.csv,
    ground_truth.csv (with ``silent_object``, ``silent_cls`` and, when recorded, ``av_offset_s``)
    and ground_truth/<id>.json. Returns a summary."""
    args = [(str(root), j) for j in jobs]
    if workers > 1:
        with get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(workers) as pool:
            rows = list(_progress(pool.imap(_run_job, args, chunksize=1), len(args), progress))
    else:
        rows = list(_progress(map(_run_job, args), len(args), progress))
    for j, r in zip(jobs, rows):
        r["silent_object"] = j["spec"].silent_object
        r["silent_cls"] = j["spec"].silent_cls
    base = root / set_name
    _write_text(
        base / "kinetics.csv",
        _kinetics_csv(jobs, "test"),
    )
    _write_text(base / "ground_truth.csv", _csv_text(gt_columns(LOCALIZE_GT_COLUMNS, jobs), rows))
    out = {
        "videos": len(jobs),
        "silent_object": int(sum(j["spec"].silent_object for j in jobs)),
        "hours": round(sum(j["spec"].n_frames / j["spec"].fps for j in jobs) / 3600, 4),
    }
    if any(j["spec"].record_av_offset for j in jobs):
        out["av_offset"] = int(sum(bool(j["spec"].av_offset_s) for j in jobs))
    return out


# ----------------------------------------------------------------------------------------------
# the audio-visual sync set (opt-in; never written by write_dataset)

SYNC_DEFAULTS: dict[str, Any] = {
    **LOCALIZE_DEFAULTS,
    "n_videos": 96,
    "duration_s": [4, 7],
    "sizes": [[160, 120]],
    "p_silent_object": 0.75,
    "p_av_offset": 0.5,
}


def plan_sync(cfg: dict[str, Any] | None, seed: int) -> list[dict[str, Any]]:
    """The jobs of the audio-visual sync set: :func:`plan_localize`'s videos (boxes, a silent object
    in a share ``p_silent_object``) in a stream of their own (``SeedSequence([seed, 6, index])``),
    whose audio is out of sync with the picture in a share ``p_av_offset`` by one of
    ``av_offsets_s`` seconds (every video records its offset, 0 when in sync)."""
    c = {**SYNC_DEFAULTS, **(cfg or {})}
    if float(c["p_av_offset"]) <= 0:
        raise ValueError("the sync set needs p_av_offset > 0 (its videos' offsets are what it is for)")
    return _plan_world_set("sync", c, seed)


def write_sync_set(
    root: str | os.PathLike[str], cfg: dict[str, Any] | None, *, seed: int, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Write the sync set under ``root``: ``sync/videos/*.mp4``, ``sync/kinetics.csv``,
    ``sync/ground_truth.csv`` (with ``av_offset_s``) and ``sync/ground_truth/<id>.json`` (with
    ``av_offset_s``, the boxes of both objects, ...)."""
    return _write_world_set(Path(root), plan_sync(cfg, seed), "sync", progress=progress, workers=workers)
