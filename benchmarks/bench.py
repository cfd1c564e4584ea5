"""avbench preprocessing and loader benchmarks (``make bench``): ratios measured side by side.

Writes ``benchmarks/results.json``; ``benchmarks/README.md`` explains every figure. Run from the
repository root with the project's Python (``.venv/bin/python benchmarks/bench.py``). Timings are
CPU seconds (``time.process_time``) of single-threaded work in this process, each clip measured
``--repeats`` times in turn with the other variants (so that the load of a shared machine hits
all of them alike); the median per clip is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from avbench.config import deep_merge, load_config, shard_settings  # noqa: E402
from avbench.media.ffmpeg import ffmpeg_binary  # noqa: E402

SECTIONS = (
    "preprocess",
    "quality",
    "bframes",
    "real",
    "codecs",
    "flow_codecs",
    "video2dataset",
    "loader",
    "workers",
    "baseline",
)
STAGES = (
    "demux",
    "decode_video",
    "decode_audio",
    "frames",
    "borders_black",
    "audio_resample",
    "flow",
    "camera_motion",
    "stabilize",
    "audio_features",
    "encode",
    "write",
)


# -- sources ------------------------------------------------------------------------------------


def make_sources(work: Path, seconds: float, n_per_kind: int) -> dict[str, list[dict[str, Any]]]:
    """Generated sources (cached in ``work/clips``):

    - ``340x256``: synthetic-world clips as the default run writes them (H.264 ultrafast crf 23 +
      AAC 44.1 kHz stereo, 25 fps), one with a letterbox, one with a camera pan, one with shake;
    - ``640x360``: Kinetics-like clips: 640x360, 29.97 fps, letterboxed (40 px bars), panning
      camera, re-encoded like YouTube/Kinetics files (x264 medium, 1.6 Mbps; AAC 128 kb/s).
    """
    from avbench.synthesize import CLASSES, VideoSpec, render, write_video

    out: dict[str, list[dict[str, Any]]] = {"340x256": [], "640x360": []}
    d = work / "clips"
    d.mkdir(parents=True, exist_ok=True)
    cams = ["pan", "shake", "none", "zoom"]
    for i in range(n_per_kind):
        p = d / f"s340_{i}_{seconds:g}s.mp4"
        if not p.exists():
            spec = VideoSpec(
                cls=CLASSES[i % 8],
                seed=100 + i,
                width=340,
                height=256,
                fps=25.0,
                duration=seconds,
                camera=cams[i % 4],
                letterbox=24 if i % 2 == 0 else 0,
                texture=20,
            )
            frames, audio, _, _ = render(spec)
            write_video(p, frames, spec.fps, audio, spec.sample_rate)
        out["340x256"].append({"path": str(p), "seconds": seconds})
        p = d / f"k640_{i}_{seconds:g}s.mp4"
        if not p.exists():
            spec = VideoSpec(
                cls=CLASSES[(i + 3) % 8],
                seed=200 + i,
                width=640,
                height=360,
                fps=30000 / 1001,
                duration=seconds,
                camera="pan",
                letterbox=40,
                texture=28,
            )
            frames, audio, _, _ = render(spec)
            raw = d / f"k640_{i}_raw.mp4"
            write_video(raw, frames, Fraction(30000, 1001), audio, spec.sample_rate)
            subprocess.run(
                [
                    ffmpeg_binary(),
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(raw),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "medium",
                    "-b:v",
                    "1600k",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                    str(p),
                ],
                check=True,
            )
            raw.unlink()
        out["640x360"].append({"path": str(p), "seconds": seconds})
    return out


def bframe_sources(sources: dict[str, list[dict[str, Any]]], work: Path) -> dict[str, list[dict[str, Any]]]:
    """The Kinetics-like 640x360 clips re-encoded with B-frames as YouTube's and Kinetics' H.264
    files have them (x264 ``medium``, 1.6 Mb/s, 3 B-frames between references with x264's default
    B-pyramid, forced with ``b-adapt=0``: for the synthetic pan x264 otherwise picks almost none),
    audio copied; cached in ``work/clips``."""
    out = []
    for c in sources["640x360"]:
        src = Path(c["path"])
        p = work / "clips" / src.name.replace("k640_", "k640b_")
        if not p.exists():
            tmp = p.with_suffix(".tmp.mp4")
            cmd = [ffmpeg_binary(), "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-preset", "medium"]
            cmd += ["-b:v", "1600k", "-x264-params", "b-adapt=0:bframes=3", "-c:a", "copy", str(tmp)]
            subprocess.run(cmd, check=True)
            tmp.rename(p)
        out.append({"path": str(p), "seconds": c["seconds"]})
    return {"640x360_bframes": out}


def real_sources(clip_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The H.264 clips of a folder of real videos (``../shared/realdata/clips`` beside the checkout
    when it is there), read in place: real encoders' B-frames, which the generated clips lack
    (x264 picks almost none for the generated 640x360 pan)."""
    out: list[dict[str, Any]] = []
    for p in sorted(clip_dir.glob("*")) if clip_dir.is_dir() else []:
        if p.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            continue
        try:
            with av.open(str(p)) as c:
                vs = c.streams.video[0] if c.streams.video else None
                if vs is None or vs.codec_context.name != "h264" or not c.streams.audio or not c.duration:
                    continue
                seconds = float(c.duration / av.time_base)
        except av.error.FFmpegError:
            continue
        out.append({"path": str(p), "seconds": min(seconds, 10.0)})
    return {"real_h264": out} if out else {}


# -- measurements -------------------------------------------------------------------------------


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()
    value = fn()
    return time.process_time() - t0, value


def decode_only(path: str) -> None:
    """The physical limit: demux and decode every packet of the chosen video and audio streams,
    single-threaded, no conversion, no resampling."""
    from avbench.media.decode import pick_stream

    with av.open(path) as c:
        vs, as_ = pick_stream(c.streams.video), pick_stream(c.streams.audio)
        vs.codec_context.thread_count = 1
        streams = [s for s in (vs, as_) if s is not None]
        for packet in c.demux(*streams):
            packet.decode()


@contextlib.contextmanager
def decode_skip(enabled: bool) -> Iterator[None]:
    """``enabled=False``: the decoder decodes every frame (``decode_clip(skip_unneeded=False)``)."""
    import avbench.media.decode as dec

    original = dec.decode_clip
    if not enabled:
        dec.decode_clip = functools.partial(original, skip_unneeded=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        dec.decode_clip = original  # type: ignore[assignment]


def ours(path: str, seconds: float, cfg: dict[str, Any]) -> dict[str, float]:
    """One full sample (make_sample) plus its tar write; CPU seconds per stage and in total. A
    settings key ``bench_skip_unneeded: false`` makes the decoder decode every frame."""
    import io

    import webdataset as wds

    from avbench.shards.write import make_sample

    cfg = dict(cfg)
    skip = bool(cfg.pop("bench_skip_unneeded", True))
    row = {"id": Path(path).stem, "path": path, "t_start": 0.0, "t_end": seconds, "duration": seconds}
    with decode_skip(skip):
        t_all, res = cpu(lambda: make_sample(row, cfg, "audiovisual"))
    if res["status"] != "ok":
        raise RuntimeError(f"{path}: {res['status']} {res.get('reason')}")
    buf = io.BytesIO()

    def write() -> None:
        with wds.TarWriter(buf, mtime=0.0) as sink:
            sink.write({"__key__": row["id"], **res["files"]})

    t_write, _ = cpu(write)
    stages = {k: float(res["timings"].get(k, 0.0)) for k in STAGES if k != "write"}
    stages["write"] = t_write
    stages["other"] = max(0.0, t_all - sum(v for k, v in stages.items() if k != "write"))
    return {"total": t_all + t_write, "stages": stages, "bytes": len(buf.getvalue()), "meta": res["meta"]}


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {"total": statistics.median(r["total"] for r in runs)}
    out["stages"] = {k: statistics.median(r["stages"][k] for r in runs) for k in runs[0]["stages"]}
    out["bytes"] = runs[0]["bytes"]
    return out


def bench_preprocess(
    sources: dict[str, list[dict[str, Any]]],
    settings: dict[str, dict[str, Any]],
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Decode-only vs each settings variant, side by side per clip and repetition."""
    results: dict[str, Any] = {}
    first = next(iter(sources.values()))[0]
    for cfg in settings.values():  # warm-up: imports, first calls, caches
        ours(first["path"], first["seconds"], cfg)
    for kind, clips in sources.items():
        video_s = sum(c["seconds"] for c in clips)
        dec_total = 0.0
        var_total = {name: 0.0 for name in settings}
        var_stages: dict[str, dict[str, float]] = {name: {} for name in settings}
        var_bytes = {name: 0 for name in settings}
        for c in clips:
            dec_runs: list[float] = []
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in settings}
            for _ in range(repeats):
                dec_runs.append(cpu(lambda: decode_only(c["path"]))[0])
                for name, cfg in settings.items():
                    runs[name].append(ours(c["path"], c["seconds"], cfg))
            dec_total += statistics.median(dec_runs)
            for name in settings:
                m = median_runs(runs[name])
                var_total[name] += m["total"]
                var_bytes[name] += m["bytes"]
                for k, v in m["stages"].items():
                    var_stages[name][k] = var_stages[name].get(k, 0.0) + v
        entry: dict[str, Any] = {
            "video_s": video_s,
            "clips": len(clips),
            "decode_only_cpu_s_per_video_s": dec_total / video_s,
            "variants": {},
        }
        for name in settings:
            entry["variants"][name] = {
                "cpu_s_per_video_s": var_total[name] / video_s,
                "ratio_to_decode_bound": var_total[name] / dec_total,
                "stage_cpu_s_per_video_s": {k: v / video_s for k, v in var_stages[name].items()},
                "sample_kb": var_bytes[name] / len(clips) / 1024,
            }
            log(
                f"{kind} {name}: {var_total[name] / video_s:.4f} CPU-s/video-s, "
                f"{var_total[name] / dec_total:.2f}x decode-only ({dec_total / video_s:.4f})"
            )
        results[kind] = entry
    return results


def bench_codecs(
    sources: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], sizes: list[list[int]], repeats: int
) -> dict[str, Any]:
    """Frame codec npy vs jpeg (q90): bytes per sample, encode and decode CPU per sample."""
    from avbench.media.decode import decode_clip
    from avbench.shards.codec import decode_jpeg_frames, encode_jpeg_frames, npy_array, npy_bytes

    clip = sources["640x360"][0]
    out: dict[str, Any] = {}
    for size in sizes:
        frames = decode_clip(clip["path"], fps=float(cfg["fps"]), size=tuple(size), resize="cover", audio=False).frames
        frames = np.ascontiguousarray(frames)
        row: dict[str, Any] = {"frames": int(len(frames))}
        for name in ("npy", "jpeg"):
            enc_t, dec_t = [], []
            for _ in range(repeats):
                if name == "npy":
                    t, data = cpu(lambda: npy_bytes(frames))
                    enc_t.append(t)
                    dec_t.append(cpu(lambda: npy_array(data))[0])
                    n = len(data)
                else:
                    t, (data, lengths) = cpu(lambda: encode_jpeg_frames(frames, int(cfg["jpeg_quality"])))
                    enc_t.append(t)
                    dec_t.append(cpu(lambda: decode_jpeg_frames(data, lengths))[0])
                    n = len(data)
            row[name] = {
                "kb_per_sample": n / 1024,
                "encode_ms": 1000 * statistics.median(enc_t),
                "decode_ms": 1000 * statistics.median(dec_t),
            }
        if True:
            dec = decode_jpeg_frames(*encode_jpeg_frames(frames, int(cfg["jpeg_quality"])))
            row["jpeg"]["psnr_db"] = float(
                10 * np.log10(255**2 / max(1e-9, np.mean((dec.astype(float) - frames) ** 2)))
            )
        out[f"{size[0]}x{size[1]}"] = row
    return out


REAL_CLIPS = ("chaplin.mp4", "tests_data_test.avi", "nasa_13013.mp4", "big_buck_bunny_0_30.webm")
KINETICS_400_SAMPLES = 240_000  # 10 s clips


def bench_flow_codecs(
    sources: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], repeats: int, qualities: tuple[int, ...] = (95, 90)
) -> dict[str, Any]:
    """Flow as raw uint8 (``flow.npy``) vs two 8-bit grayscale JPEG images per pair (``flow.mjpeg``,
    mmaction2/denseflow): bytes per 10 s sample, end-point error against the float flow (and the
    part JPEG adds to the quantization's), encode and decode CPU. DIS flow of the clips decoded at
    ``cfg``'s size and fps (no stabilization), the synthetic clips and, where ../shared/realdata is
    beside the repository, real footage."""
    from avbench.media.decode import decode_clip
    from avbench.preprocess.flow import extract_flow
    from avbench.shards.codec import JpegFlow, dequantize_flow, encode_jpeg_flow, npy_array, npy_bytes, quantize_flow

    bound = float(cfg["flow"]["bound"])
    size = (int(cfg["size"][0]), int(cfg["size"][1]))
    clips = [(k, c["path"]) for k in ("640x360", "340x256") for c in sources[k]]
    real = REPO.parent / "shared" / "realdata" / "clips"
    clips += [("real", str(real / n)) for n in REAL_CLIPS if (real / n).exists()]
    per_clip = []
    codecs = ["npy"] + [f"jpeg_q{q}" for q in qualities]
    pooled = {
        c: {"bytes": 0.0, "pairs": 0, "epe_sum": 0.0, "epe_vs_npy_sum": 0.0, "enc": 0.0, "dec": 0.0, "dec16": 0.0}
        for c in codecs
    }
    for kind, path in clips:
        frames = decode_clip(path, fps=float(cfg["fps"]), size=size, resize=cfg["resize"], audio=False).frames
        flow = extract_flow(
            np.ascontiguousarray(frames), algorithm=cfg["flow"]["algorithm"], preset=cfg["flow"]["preset"]
        )
        ref = np.clip(flow, -bound, bound)
        q = quantize_flow(flow, bound)
        n = len(q)
        row: dict[str, Any] = {
            "kind": kind,
            "source": Path(path).name,
            "pairs": n,
            "mean_flow_px": float(np.linalg.norm(flow, axis=-1).mean()),
            "clipped_share": float((np.abs(flow) > bound).any(-1).mean()),
        }
        deq_q = dequantize_flow(q, bound)
        for c in codecs:
            enc_t, dec_t, dec16_t = [], [], []
            for _ in range(repeats):
                if c == "npy":
                    t, data = cpu(lambda: npy_bytes(q))
                    enc_t.append(t)
                    t, dec = cpu(lambda: npy_array(data))
                    dec_t.append(t)
                    dec16_t.append(cpu(lambda: npy_array(data)[:16].copy())[0])
                    nbytes = len(data)
                else:
                    qual = int(c.split("_q")[1])
                    t, (data, lengths) = cpu(lambda: encode_jpeg_flow(q, qual))
                    enc_t.append(t)
                    t, dec = cpu(lambda: JpegFlow(data, lengths, size)[:])
                    dec_t.append(t)
                    dec16_t.append(cpu(lambda: JpegFlow(data, lengths, size)[0:16])[0])
                    nbytes = len(data)
            deq = dequantize_flow(dec, bound)
            epe = np.linalg.norm(deq - ref, axis=-1).mean(axis=(1, 2))
            epe_npy = np.linalg.norm(deq - deq_q, axis=-1).mean(axis=(1, 2))
            row[c] = {
                "kb_per_pair": nbytes / n / 1024,
                "epe_px": float(epe.mean()),
                "epe_vs_npy_px": float(epe_npy.mean()),
                "encode_ms_per_pair": 1000 * statistics.median(enc_t) / n,
                "decode_ms_per_pair": 1000 * statistics.median(dec_t) / n,
                "decode_ms_16_pairs": 1000 * statistics.median(dec16_t),
            }
            p = pooled[c]
            p["bytes"] += nbytes
            p["pairs"] += n
            p["epe_sum"] += float(epe.sum())
            p["epe_vs_npy_sum"] += float(epe_npy.sum())
            p["enc"] += statistics.median(enc_t)
            p["dec"] += statistics.median(dec_t)
            p["dec16"] += statistics.median(dec16_t)
        per_clip.append(row)
    pairs_10s = int(round(10 * float(cfg["fps"]))) - 1
    summary = {}
    for c, p in pooled.items():
        per_pair = p["bytes"] / p["pairs"]
        summary[c] = {
            "kb_per_10s_sample": per_pair * pairs_10s / 1024,
            "epe_px": p["epe_sum"] / p["pairs"],
            "epe_vs_npy_px": p["epe_vs_npy_sum"] / p["pairs"],
            "encode_ms_per_10s_sample": 1000 * p["enc"] / p["pairs"] * pairs_10s,
            "decode_ms_per_10s_sample": 1000 * p["dec"] / p["pairs"] * pairs_10s,
            "decode_ms_16_pairs": 1000 * p["dec16"] / len(clips),
            "kinetics400_gb": per_pair * pairs_10s * KINETICS_400_SAMPLES / 1e9,
        }
    return {
        "bound_px": bound,
        "quantization_step_px": 2 * bound / 255,
        "size": list(size),
        "fps": cfg["fps"],
        "algorithm": f"{cfg['flow']['algorithm']} {cfg['flow']['preset']}",
        "clips": len(clips),
        "summary": summary,
        "per_clip": per_clip,
    }


def bench_loader(
    sources: dict[str, list[dict[str, Any]]],
    cfg: dict[str, Any],
    work: Path,
    clip_frames: int,
    seconds_budget: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Clips/s from shards (the lead's streaming loader) vs decoding the same clips from the mp4
    files on the fly (PyAV, same size, with the log-mel), and vs a training step of the small model."""
    from functools import partial

    import torch

    from avbench.media.decode import decode_clip
    from avbench.preprocess.audio import log_mel
    from avbench.shards.loader import ShardStream, clip_view, collate, shard_urls
    from avbench.shards.write import write_shards

    import pandas as pd

    clips = sources["340x256"] + sources["640x360"]
    shard_dir = work / "loader_shards"
    rows = [
        {
            "id": Path(c["path"]).stem,
            "path": c["path"],
            "label": "",
            "label_idx": 0,
            "split": "train",
            "t_start": 0.0,
            "t_end": c["seconds"],
            "duration": c["seconds"],
            "status": "ok",
            "dataset": "bench",
        }
        for c in clips
    ]
    write_shards(
        pd.DataFrame(rows),
        shard_dir,
        work / "loader_index.parquet",
        cfg=cfg,
        modality="audiovisual",
        workers=1,
        progress=False,
    )
    urls = shard_urls(shard_dir)
    view = partial(clip_view, clip_frames=clip_frames, audio=True, flow=True)

    n_items, t0 = 0, time.process_time()
    epoch = 0
    while time.process_time() - t0 < seconds_budget:
        for _item in ShardStream(urls, view=view, seed=0, epoch=epoch, shuffle=True, buffer=8):
            n_items += 1
        epoch += 1
    loader_rate = n_items / (time.process_time() - t0)

    rng = np.random.default_rng(0)
    size = tuple(cfg["size"])
    fps = float(cfg["fps"])
    n_mp4, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds_budget:
        c = clips[int(rng.integers(len(clips)))]
        start = float(rng.uniform(0, c["seconds"] - clip_frames / fps - 0.1))
        d = decode_clip(
            c["path"],
            t_start=start,
            t_end=start + clip_frames / fps,
            fps=fps,
            size=size,
            sample_rate=int(cfg["sample_rate"]),
            resize=cfg["resize"],
        )
        log_mel(
            d.audio,
            sample_rate=int(cfg["sample_rate"]),
            n_mels=int(cfg["n_mels"]),
            win_ms=float(cfg["win_ms"]),
            hop_ms=float(cfg["hop_ms"]),
        )
        n_mp4 += 1
    mp4_rate = n_mp4 / (time.process_time() - t0)

    # one training step of the default small model (video small3d + audio vgg_small) on the CPU
    from avbench.models import build_encoder, encoder_spec

    pcfg = load_config(REPO / "config.yaml")["pretrain"]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    venc, aenc = build_encoder(encoder_spec("video", pcfg)), build_encoder(encoder_spec("audio", pcfg))
    params = list(venc.parameters()) + list(aenc.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    batch = collate(list(ShardStream(urls, view=view, seed=0, shuffle=False)))
    B = int(pcfg["batch_size"])
    reps = -(-B // len(batch["video"]))
    video = torch.from_numpy(np.concatenate([batch["video"]] * reps)[:B]).permute(0, 4, 1, 2, 3).float() / 255
    audio = torch.from_numpy(np.concatenate([batch["audio"]] * reps)[:B]).unsqueeze(1)
    steps, wall0 = 0, time.perf_counter()
    while time.perf_counter() - wall0 < seconds_budget or steps < 2:
        opt.zero_grad()
        loss = venc(video).pow(2).mean() + aenc(audio).pow(2).mean()
        loss.backward()
        opt.step()
        steps += 1
    train_rate = steps * B / (time.perf_counter() - wall0)
    torch.set_num_threads(1)
    log(f"loader {loader_rate:.1f} clips/s per core, mp4 on the fly {mp4_rate:.1f}, training {train_rate:.1f} clips/s")
    return {
        "loader_clips_per_s": loader_rate,
        "mp4_decode_clips_per_s": mp4_rate,
        "loader_speedup_vs_mp4_decode": loader_rate / mp4_rate,
        "training_clips_per_s_cpu": train_rate,
        "loader_cores_needed_for_training_cpu": train_rate / loader_rate,
        "clip_frames": clip_frames,
        "size": list(size),
        "training_batch_size": B,
        "training_threads": os.cpu_count(),
    }


def bench_workers(
    sources: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], work: Path, copies: int = 8
) -> dict[str, Any]:
    """Wall time of write_shards with 1 and 2 worker processes on the same clips (each listed
    ``copies`` times: enough work that starting the workers, spawn + imports, is a small share)."""
    import pandas as pd

    from avbench.shards.write import write_shards

    clips = (sources["340x256"] + sources["640x360"]) * copies
    rows = [
        {
            "id": f"{Path(c['path']).stem}_{i}",
            "path": c["path"],
            "label": "",
            "label_idx": 0,
            "split": "train",
            "t_start": 0.0,
            "t_end": c["seconds"],
            "duration": c["seconds"],
            "status": "ok",
            "dataset": "bench",
        }
        for i, c in enumerate(clips)
    ]
    walls: dict[int, list[float]] = {}
    cpus: dict[int, list[float]] = {}
    for w in (1, 2, 1, 2):
        t0 = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        write_shards(
            pd.DataFrame(rows),
            work / f"w{w}",
            work / f"w{w}.parquet",
            cfg=cfg,
            modality="audiovisual",
            workers=w,
            progress=False,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.setdefault(w, []).append(time.perf_counter() - t0)
        cpus.setdefault(w, []).append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    w1, w2 = min(walls[1]), min(walls[2])
    c1, c2 = min(cpus[1]), min(cpus[2])
    video_s = sum(c["seconds"] for c in clips)
    return {
        "wall_s_1_worker": w1,
        "wall_s_2_workers": w2,
        "speedup_2_workers": w1 / w2,
        "cpu_count": os.cpu_count(),
        "clips": len(rows),
        "video_s": video_s,
        "video_s_per_wall_s_1_worker": video_s / w1,
        "video_s_per_wall_s_2_workers": video_s / w2,
        "walls": walls,
        "workers_cpu_s_1_worker": c1,
        "workers_cpu_s_2_workers": c2,
        # what 2 workers could give on 2 free cores: 2x, less the CPU the second worker adds
        "speedup_2_workers_bound_from_cpu": 2 * c1 / c2 if c2 else None,
        "load_average": list(os.getloadavg()),
        "note": "wall times (best of 2) include starting the worker processes (spawn + imports); the wall "
        "speedup needs 2 free cores (see load_average); workers_cpu_s: CPU of the worker processes",
    }


def _child_cpu(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, dict[str, Any]]:
    """(CPU seconds of the process and its children, start-up included; wall seconds; its JSON line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["?"])[-1][:300])
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu_s, wall, json.loads(proc.stdout.strip().splitlines()[-1])


def bench_video2dataset(
    sources: dict[str, list[dict[str, Any]]],
    settings: dict[str, dict[str, Any]],
    work: Path,
    repeats: int,
    copies: int,
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """video2dataset (its own venv, local files, one process) against avbench, both timed the same
    way: each tool runs in a fresh process on the same list of clips (every clip ``copies`` times,
    so that start-up is a small share), one thread; CPU of the process and its children in total
    (interpreter start and imports included) and of the work alone (measured inside the process from
    just before the first clip to the end). avbench runs ``settings`` (``full_112``: the full
    sample; ``subset_112``: video2dataset's subset) through ``ours_run.py``."""
    py = work / "v2d-venv" / "bin" / "python"
    if not py.exists() or not (work / "bin" / "ffprobe").exists():
        log("video2dataset: not set up (benchmarks/setup_video2dataset.sh); skipped")
        return None
    clips = (sources["340x256"] + sources["640x360"]) * copies
    video_s = sum(c["seconds"] for c in clips)
    listing = work / "v2d_clips.json"
    listing.write_text(json.dumps([c["path"] for c in clips]))
    ours_listing = work / "ours_clips.json"
    ours_listing.write_text(json.dumps(clips))
    for name, cfg in settings.items():
        (work / f"ours_{name}.settings.json").write_text(json.dumps(cfg))
    subset = settings["subset_112"]
    env = dict(os.environ, PATH=f"{work / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    runs: dict[str, list[dict[str, Any]]] = {"video2dataset": [], **{name: [] for name in settings}}
    for _ in range(repeats):  # the tools in turn, so that the machine's load hits them alike
        out = work / "v2d_out"
        shutil.rmtree(out, ignore_errors=True)
        try:
            cpu_s, wall, rep = _child_cpu(
                [
                    str(py),
                    str(REPO / "benchmarks" / "v2d_run.py"),
                    str(listing),
                    str(out),
                    "--fps",
                    str(subset["fps"]),
                    "--size",
                    str(subset["size"][1]),
                    "--sample-rate",
                    str(subset["sample_rate"]),
                ],
                env=env,
            )
        except RuntimeError as exc:
            log(f"video2dataset failed: {exc}")
            return {"error": str(exc)}
        runs["video2dataset"].append({"cpu_s": cpu_s, "wall_s": wall, **rep})
        for name in settings:
            cpu_s, wall, rep = _child_cpu(
                [
                    sys.executable,
                    str(REPO / "benchmarks" / "ours_run.py"),
                    str(ours_listing),
                    str(work / f"ours_{name}.settings.json"),
                    str(work / f"ours_{name}.tar"),
                ]
            )
            runs[name].append({"cpu_s": cpu_s, "wall_s": wall, **rep})
    res: dict[str, Any] = {"video_s": video_s, "clips": len(clips), "copies_of_each_clip": copies, "repeats": repeats}
    for tool, rs in runs.items():
        total = statistics.median(r["cpu_s"] for r in rs)
        work_s = statistics.median(r["work_cpu_s"] for r in rs)
        res[tool] = {
            "cpu_s_per_video_s_with_startup": total / video_s,
            "cpu_s_per_video_s_work_only": work_s / video_s,
            "startup_cpu_s": total - work_s,
            "startup_share": (total - work_s) / total,
            "wall_s": statistics.median(r["wall_s"] for r in rs),
            "samples_written": rs[-1].get("samples"),
        }
        log(
            f"{tool}: {total / video_s:.4f} CPU-s/video-s with start-up, {work_s / video_s:.4f} work only "
            f"(start-up {total - work_s:.1f} CPU-s, {100 * (total - work_s) / total:.0f}%)"
        )
    v = runs["video2dataset"][-1]
    res["video2dataset"].update(
        samples_with_audio=v.get("samples_with_audio"), version=v.get("version"), settings=v.get("settings")
    )
    v2d = res["video2dataset"]
    for name in settings:
        for how in ("work_only", "with_startup"):
            res[f"ratio_{name}_{how}"] = v2d[f"cpu_s_per_video_s_{how}"] / res[name][f"cpu_s_per_video_s_{how}"]
    return res


def bench_baseline(
    sources: dict[str, list[dict[str, Any]]],
    cfg: dict[str, Any],
    work: Path,
    repeats: int,
    baseline: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The full sample (``cfg``) by this checkout and by ``baseline`` (another checkout, e.g.
    ``git archive <commit> | tar -x -C DIR``), side by side: each repetition runs both in turn
    (``ours_run.py`` in a fresh process, work-only CPU per clip) and decodes every clip alone in
    this process; medians per clip. Gives each version's ratio to the decode floor per kind."""
    kinds = {k: v for k, v in sources.items()}
    clips = [c for k in kinds for c in kinds[k]]
    listing = work / "baseline_clips.json"
    listing.write_text(json.dumps(clips))
    settings = work / "baseline.settings.json"
    settings.write_text(json.dumps(cfg))
    per: dict[str, list[list[float]]] = {"current": [], "baseline": []}
    dec: list[list[float]] = []
    for r in range(repeats):
        for name, repo in (
            (("baseline", baseline), ("current", REPO)) if r % 2 == 0 else (("current", REPO), ("baseline", baseline))
        ):
            _, _, rep = _child_cpu(
                [
                    sys.executable,
                    str(REPO / "benchmarks" / "ours_run.py"),
                    str(listing),
                    str(settings),
                    str(work / f"baseline_{name}.tar"),
                    "--repo",
                    str(repo),
                ]
            )
            per[name].append(rep["per_clip_cpu_s"])
        dec.append([cpu(lambda: decode_only(c["path"]))[0] for c in clips])
    out: dict[str, Any] = {"baseline": str(baseline), "repeats": repeats, "per_kind": {}}
    i = 0
    for kind, cs in kinds.items():
        idx = list(range(i, i + len(cs)))
        i += len(cs)
        video_s = sum(c["seconds"] for c in cs)
        d = sum(statistics.median(run[j] for run in dec) for j in idx)
        row: dict[str, Any] = {"decode_only_cpu_s_per_video_s": d / video_s}
        for name in per:
            t = sum(statistics.median(run[j] for run in per[name]) for j in idx)
            row[name] = {"cpu_s_per_video_s": t / video_s, "ratio_to_decode_bound": t / d}
        row["current_over_baseline"] = row["current"]["cpu_s_per_video_s"] / row["baseline"]["cpu_s_per_video_s"]
        out["per_kind"][kind] = row
        log(
            f"baseline {kind}: current {row['current']['ratio_to_decode_bound']:.2f}x decode, baseline "
            f"{row['baseline']['ratio_to_decode_bound']:.2f}x; current/baseline {row['current_over_baseline']:.3f}"
        )
    return out


def bframe_ratios(bf: dict[str, Any] | None) -> dict[str, Any]:
    """The B-frame clips' ratios to the decode floor (full sample, and with the Kinetics settings)."""
    if not bf:
        return {}
    v = bf["640x360_bframes"]["variants"]
    return {
        "ratio_to_decode_bound_640x360_bframes": v["full_112"]["ratio_to_decode_bound"],
        "ratio_to_decode_bound_640x360_bframes_kinetics_settings": v["kinetics_112"]["ratio_to_decode_bound"],
        **_opt(
            "ratio_to_decode_bound_640x360_bframes_kinetics_settings_skip_loop_filter",
            v.get("kinetics_112_skip_loop_filter"),
        ),
    }


def _opt(key: str, variant: dict[str, Any] | None) -> dict[str, Any]:
    """``{key: the variant's ratio to the decode floor}``, or nothing where the variant was not run
    (figures of an earlier run without it)."""
    return {key: variant["ratio_to_decode_bound"]} if variant else {}


def _decode_saving(v: dict[str, Any], name: str, reference: str) -> float | None:
    """The share of ``decode_video`` CPU that variant ``name`` saves against ``reference`` (None
    where either was not run)."""
    if name not in v or reference not in v:
        return None
    dec = {n: v[n]["stage_cpu_s_per_video_s"]["decode_video"] for n in (name, reference)}
    return 1.0 - dec[name] / dec[reference]


def real_ratios(real: dict[str, Any] | None) -> dict[str, Any]:
    if not real or "real_h264" not in real:
        return {}
    v = real["real_h264"]["variants"]
    return {
        "ratio_to_decode_bound_real_h264": v["full_112"]["ratio_to_decode_bound"],
        "ratio_to_decode_bound_real_h264_decode_all": v["full_112_decode_all"]["ratio_to_decode_bound"],
        "decode_video_saving_real_h264": _decode_saving(v, "full_112", "full_112_decode_all"),
        **_opt("ratio_to_decode_bound_real_h264_kinetics_settings", v.get("kinetics_112")),
        **_opt(
            "ratio_to_decode_bound_real_h264_kinetics_settings_skip_loop_filter", v.get("kinetics_112_skip_loop_filter")
        ),
        # without the in-loop deblocking, on the real files: the share of their decoding saved
        **{
            f"decode_video_saving_real_h264_{n}": _decode_saving(v, n, "full_112")
            for n in NO_DEBLOCK_VARIANTS
            if n in v
        },
    }


#: the opt-in speed settings of the shard schema, one per variant (`full_112` with that change)
SPEED_VARIANTS: dict[str, dict[str, Any]] = {
    "full_112_dis_refine2": {"flow": {"refinement_iterations": 2}},
    "full_112_fit_64": {"stabilize": {"fit_points": 64, "fit_candidates": 8, "fit_iterations": 4}},
    "full_112_fit_128": {"stabilize": {"fit_points": 128, "fit_candidates": 16}},
    "full_112_frame_nearest": {"stabilize": {"frame_interpolation": "nearest"}},
    "full_112_flow_nearest": {"stabilize": {"flow_interpolation": "nearest"}},
    # the decoder without its in-loop deblocking: on the frames nothing refers to, or on every frame
    "full_112_skip_loop_filter_noref": {"skip_loop_filter": "noref"},
    "full_112_skip_loop_filter_all": {"skip_loop_filter": "all"},
}
NO_DEBLOCK_VARIANTS = ("full_112_skip_loop_filter_noref", "full_112_skip_loop_filter_all")
#: what `kinetics_112_skip_loop_filter` adds to the Kinetics settings
NO_DEBLOCK: dict[str, Any] = {"skip_loop_filter": "all"}
CHEAPEST: dict[str, Any] = {
    "flow": {"preset": "ultrafast", "refinement_iterations": 0},  # ultrafast's own (no refinement)
    "stabilize": {"fit_points": 64, "fit_candidates": 8, "fit_iterations": 4},
}
KINETICS_CONFIG = REPO / "workflow" / "configs" / "kinetics.yaml"


def kinetics_settings(full_112: dict[str, Any]) -> dict[str, Any]:
    """``full_112`` with the ``shard`` section of ``workflow/configs/kinetics.yaml`` merged over it,
    all but its frame ``size`` (kept at 112x112 so that it compares with the other variants): the
    speed settings chosen for real datasets, as a Kinetics-400 run would shard."""
    import yaml

    kin = dict(yaml.safe_load(KINETICS_CONFIG.read_text()).get("shard") or {})
    kin.pop("size", None)
    return deep_merge(copy.deepcopy(full_112), kin)


def _sample_arrays(res: dict[str, Any]) -> dict[str, Any]:
    """Frames (uint8), flow (float px, dequantized), log-mel and meta of one ``make_sample`` result."""
    from avbench.shards.codec import decode_sample, dequantize_flow

    s = decode_sample({"__key__": "x", **res["files"], "json": json.dumps(res["meta"]).encode()})
    meta = s["meta"]
    flow = None
    if s["flow"] is not None:
        flow = dequantize_flow(np.asarray(s["flow"]), float(meta["flow"]["bound"]))
    return {"frames": np.asarray(s["frames"]), "flow": flow, "mel": s["mel"], "meta": meta}


def _residual_px(frames: np.ndarray) -> float:
    """The camera motion left in (stabilized) frames: DIS ``medium`` flow between consecutive
    frames, the robust camera fit on it (default settings), and the median over pairs of the RMS
    displacement it moves the picture by, in pixels (0 for a perfectly held camera; object motion
    is left out by the fit)."""
    from avbench.preprocess.flow import extract_flow
    from avbench.preprocess.stabilize import displacement_rms, fit_camera_motion

    if len(frames) < 2:
        return 0.0
    motion = fit_camera_motion(extract_flow(np.ascontiguousarray(frames), preset="medium"))
    return float(np.median(displacement_rms(motion, (frames.shape[2], frames.shape[1]))))


def bench_quality(
    clips: list[dict[str, Any]],
    settings: dict[str, dict[str, Any]],
    ref: str,
    log: Callable[[str], None],
    finer: str | None = None,
) -> dict[str, Any]:
    """What each variant's sample differs from the reference settings' (``ref``), on the same clips:

    - ``flow_epe_px``: mean end-point error of the stored flow (dequantized, px at the stored size)
      against the reference's stored flow, and its share of the reference flow's mean length;
      ``flow_epe_vs_finer_px``: against the flow of the ``finer`` settings (DIS ``medium``, a more
      accurate flow than either), next to the reference's own (``ref_flow_epe_vs_finer_px``);
    - ``frames_psnr_db``: PSNR of the stored frames against the reference's;
    - ``camera_moving_agreement``: share of clips whose ``camera_moving`` flag is the reference's;
      ``camera_score_rel_diff``: mean |score - ref score| / ref score; ``inter_frame_diff_px``:
      RMS displacement between the fitted inter-frame motions (``stabilization.inter_frame``), per
      pair, mean over pairs;
    - ``stabilization_residual_px``: the motion left between consecutive stabilized frames
      (:func:`_residual_px`), next to the reference's;
    - ``mel_max_abs_diff``: largest difference of the log-mel (the audio path).
    """
    from avbench.preprocess.stabilize import displacement_rms
    from avbench.shards.write import make_sample

    def full(m: list[list[list[float]]]) -> np.ndarray:
        a = np.tile(np.eye(3), (len(m), 1, 1))
        a[:, :2, :] = np.asarray(m, np.float64)
        return a

    per_clip: dict[str, list[dict[str, Any]]] = {name: [] for name in settings if name not in (ref, finer)}
    for c in clips:
        row = {"id": Path(c["path"]).stem, "path": c["path"], "t_start": 0.0, "t_end": c["seconds"]}
        row["duration"] = c["seconds"]
        samples = {}
        for name, cfg in settings.items():
            res = make_sample(row, cfg, "audiovisual")
            if res["status"] != "ok":
                raise RuntimeError(f"{c['path']}: {res['status']} {res.get('reason')}")
            samples[name] = _sample_arrays(res)
        r = samples[ref]
        r_res = _residual_px(r["frames"])
        r_stab = r["meta"]["stabilization"]
        r_flow_len = float(np.linalg.norm(r["flow"], axis=-1).mean()) if r["flow"] is not None else 0.0
        fine = samples[finer]["flow"] if finer else None

        def vs_finer(flow: np.ndarray) -> float | None:
            return float(np.linalg.norm(flow - fine, axis=-1).mean()) if fine is not None else None

        for name in per_clip:
            v = samples[name]
            v_stab = v["meta"]["stabilization"]
            mse = float(np.mean((v["frames"].astype(np.float64) - r["frames"]) ** 2))
            epe = float(np.linalg.norm(v["flow"] - r["flow"], axis=-1).mean()) if r["flow"] is not None else 0.0
            size = tuple(r["meta"]["size"])
            a_r, a_v = full(r_stab["inter_frame"]), full(v_stab["inter_frame"])
            per_clip[name].append(
                {
                    "source": Path(c["path"]).name,
                    "flow_epe_px": epe,
                    "ref_flow_mean_px": r_flow_len,
                    "flow_epe_vs_finer_px": vs_finer(v["flow"]),
                    "ref_flow_epe_vs_finer_px": vs_finer(r["flow"]),
                    "frames_psnr_db": 10 * np.log10(255**2 / mse) if mse > 0 else float("inf"),
                    "camera_moving_same": v_stab["camera_moving"] == r_stab["camera_moving"],
                    "camera_score": v_stab["camera_motion_score"],
                    "ref_camera_score": r_stab["camera_motion_score"],
                    "inter_frame_diff_px": float(displacement_rms(a_v @ np.linalg.inv(a_r), size).mean()),
                    "stabilization_residual_px": _residual_px(v["frames"]),
                    "ref_stabilization_residual_px": r_res,
                    "mel_max_abs_diff": float(np.abs(v["mel"].astype(np.float32) - r["mel"]).max()),
                }
            )
    out: dict[str, Any] = {
        "reference": ref,
        "finer_flow": finer,
        "clips": [Path(c["path"]).name for c in clips],
        "variants": {},
    }
    for name, rows in per_clip.items():
        finite = [x["frames_psnr_db"] for x in rows if np.isfinite(x["frames_psnr_db"])]
        scores = [(x["camera_score"], x["ref_camera_score"]) for x in rows if x["ref_camera_score"]]
        summary = {
            "flow_epe_px": float(np.mean([x["flow_epe_px"] for x in rows])),
            "flow_epe_share_of_ref_flow": float(
                np.mean([x["flow_epe_px"] for x in rows]) / max(1e-9, np.mean([x["ref_flow_mean_px"] for x in rows]))
            ),
            "flow_epe_vs_finer_px": float(np.mean([x["flow_epe_vs_finer_px"] for x in rows])) if finer else None,
            "ref_flow_epe_vs_finer_px": float(np.mean([x["ref_flow_epe_vs_finer_px"] for x in rows]))
            if finer
            else None,
            "frames_psnr_db": float(np.mean(finite)) if finite else None,
            "camera_moving_agreement": float(np.mean([x["camera_moving_same"] for x in rows])),
            "camera_score_rel_diff": float(np.mean([abs(a - b) / b for a, b in scores])) if scores else 0.0,
            "inter_frame_diff_px": float(np.mean([x["inter_frame_diff_px"] for x in rows])),
            "stabilization_residual_px": float(np.mean([x["stabilization_residual_px"] for x in rows])),
            "ref_stabilization_residual_px": float(np.mean([x["ref_stabilization_residual_px"] for x in rows])),
            "mel_max_abs_diff": float(max(x["mel_max_abs_diff"] for x in rows)),
        }
        out["variants"][name] = {"summary": summary, "per_clip": rows}
        log(f"quality {name} vs {ref}: " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items() if v is not None))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results.json"))
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "work"))
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each generated clip")
    ap.add_argument("--clips", type=int, default=3, help="clips per source kind")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loader-seconds", type=float, default=8.0, help="CPU budget of each loader measurement")
    ap.add_argument(
        "--v2d-copies",
        type=int,
        default=4,
        help="times each clip is listed in the video2dataset comparison (enough video that start-up is a small share)",
    )
    ap.add_argument(
        "--baseline-repo",
        default=None,
        help="another checkout (e.g. `git archive <commit> | tar -x -C "
        "DIR`): the baseline section runs the full sample by it and by this one side by side",
    )
    ap.add_argument(
        "--worker-copies",
        type=int,
        default=8,
        help="times each clip is sharded in the 1-vs-2-worker "
        "measurement (enough work that starting the workers does not dominate)",
    )
    ap.add_argument(
        "--only",
        default=None,
        help=f"comma list of sections to run ({', '.join(SECTIONS)}); the others are read back from --out",
    )
    ap.add_argument(
        "--real-dir",
        default=str(REPO.parent / "shared" / "realdata" / "clips"),
        help="real clips for the `real` section (its H.264 files with audio, read in place)",
    )
    ap.add_argument("--quick", action="store_true", help="2 s clips, 1 clip per kind, 1 repeat (a smoke test)")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.clips, a.repeats, a.loader_seconds, a.v2d_copies, a.worker_copies = 2.0, 1, 1, 1.0, 1, 1
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

    def log(msg: str) -> None:
        print(f"[bench] {msg}", flush=True)

    cfg = load_config(REPO / "config.yaml")
    default = shard_settings(cfg, cfg["pretrain_dataset"])
    k400 = copy.deepcopy(default)  # Kinetics-style frames: 112x112 (performance.md's size), schema defaults
    k400["size"] = [112, 112]
    k400["flow"]["bound"] = 20.0
    k400["frame_codec"] = "jpeg"
    k400["flow"]["codec"] = "jpeg"  # the schema defaults for real sizes (README, "Flow codecs")
    settings = {"full_112": k400, "full_default": default}
    subset = copy.deepcopy(k400)  # what video2dataset does: decode, fps, resize, audio resample, write
    subset["flow"]["enabled"] = subset["stabilize"]["enabled"] = False
    subset["borders"]["enabled"] = subset["black_frames"]["enabled"] = False
    settings["subset_112"] = subset
    for preset in ("ultrafast", "medium"):
        v = copy.deepcopy(k400)
        v["flow"]["preset"] = preset
        settings[f"full_112_dis_{preset}"] = v
    v = copy.deepcopy(k400)
    v["stabilize"]["enabled"] = False
    settings["full_112_no_stabilization"] = v
    v = copy.deepcopy(k400)
    v["frame_codec"] = "npy"
    settings["full_112_npy"] = v
    v = copy.deepcopy(k400)
    v["flow"]["codec"] = "npy"
    settings["full_112_flow_npy"] = v
    for name, over in SPEED_VARIANTS.items():  # one speed option each (the shard schema's opt-ins)
        settings[name] = deep_merge(copy.deepcopy(k400), over)
    settings["kinetics_112"] = kinetics_settings(k400)
    # the cheapest measured: the Kinetics settings with plain DIS ultrafast and the lightest camera fit
    settings["kinetics_112_cheapest"] = deep_merge(copy.deepcopy(settings["kinetics_112"]), CHEAPEST)
    settings["kinetics_112_skip_loop_filter"] = deep_merge(copy.deepcopy(settings["kinetics_112"]), NO_DEBLOCK)

    log("generating sources")
    sources = make_sources(work, a.seconds, a.clips)
    only = set(a.only.split(",")) if a.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    previous: dict[str, Any] = {}
    if only != set(SECTIONS):
        if not Path(a.out).exists():
            raise SystemExit(f"--only needs the figures of the other sections in {a.out}")
        previous = json.loads(Path(a.out).read_text())
    details: dict[str, Any] = dict(previous.get("details", {}))
    runs: dict[str, Any] = dict(previous.get("runs", {}))
    stamp = {
        "seconds_per_clip": a.seconds,
        "clips_per_kind": a.clips,
        "repeats": a.repeats,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average_at_start": list(os.getloadavg()),
    }
    key = {"preprocess": "per_source", "codecs": "frame_codecs"}
    for name in SECTIONS:
        if name not in only:
            continue
        log(name)
        if name == "preprocess":
            details["per_source"] = bench_preprocess(sources, settings, a.repeats, log)
        elif name == "quality":
            real = real_sources(Path(a.real_dir)).get("real_h264", [])
            names = ["full_112", "full_112_dis_medium", "full_112_dis_ultrafast", *SPEED_VARIANTS]
            names += ["kinetics_112", "kinetics_112_cheapest", "kinetics_112_skip_loop_filter"]
            details["quality"] = bench_quality(
                [c for k in ("640x360", "340x256") for c in sources[k]] + real,
                {n: settings[n] for n in names},
                "full_112",
                log,
                finer="full_112_dis_medium",
            )
        elif name == "bframes":
            names = ("full_112", "kinetics_112", "kinetics_112_cheapest", "subset_112")
            names += ("full_112_skip_loop_filter_all", "kinetics_112_skip_loop_filter")
            chosen = {n: settings[n] for n in names}
            chosen["full_112_decode_all"] = {**k400, "bench_skip_unneeded": False}
            chosen["kinetics_112_decode_all"] = {**settings["kinetics_112"], "bench_skip_unneeded": False}
            details["bframe_clips"] = bench_preprocess(bframe_sources(sources, work), chosen, a.repeats, log)
        elif name == "real":
            real = real_sources(Path(a.real_dir))
            if not real:
                log(f"real: no H.264 clip with audio in {a.real_dir}: skipped")
                continue
            chosen = {"full_112": k400, "full_112_decode_all": {**k400, "bench_skip_unneeded": False}}
            for n in (*NO_DEBLOCK_VARIANTS, "kinetics_112", "kinetics_112_skip_loop_filter"):
                chosen[n] = settings[n]
            details["real_clips"] = {
                "clips": [Path(c["path"]).name for c in real["real_h264"]],
                **bench_preprocess(real, chosen, a.repeats, log),
            }
        elif name == "codecs":
            details["frame_codecs"] = bench_codecs(
                sources, k400, [default["size"], [112, 112], [171, 128]], max(3, a.repeats)
            )
        elif name == "video2dataset":
            details["video2dataset"] = bench_video2dataset(
                sources, {"full_112": k400, "subset_112": subset}, work, a.repeats, a.v2d_copies, log
            )
        elif name == "loader":
            details["loader"] = bench_loader(
                sources, default, work, int(cfg["pretrain"]["clip_frames"]), a.loader_seconds, log
            )
        elif name == "workers":
            details["workers"] = bench_workers(sources, k400, work, a.worker_copies)
        elif name == "flow_codecs":
            details["flow_codecs"] = bench_flow_codecs(sources, k400, max(3, a.repeats))
        elif name == "baseline":
            if not a.baseline_repo:
                continue
            details["baseline"] = bench_baseline(
                sources, settings["full_112_flow_npy"], work, a.repeats, Path(a.baseline_repo), log
            )  # npy flow: what both versions do
        runs[key.get(name, name)] = {**stamp, "load_average_at_end": list(os.getloadavg())}
    details["settings"] = {k: v for k, v in settings.items()}
    pre, v2d, loader = details["per_source"], details.get("video2dataset"), details["loader"]

    video_s = {k: v["video_s"] for k, v in pre.items()}
    all_s = sum(video_s.values())

    def pooled(variant: str, key: str) -> float:
        return sum(pre[k]["variants"][variant][key] * video_s[k] for k in pre) / all_s

    dec = sum(pre[k]["decode_only_cpu_s_per_video_s"] * video_s[k] for k in pre) / all_s
    ours_total = pooled("full_112", "cpu_s_per_video_s")
    stage = {
        s: sum(pre[k]["variants"]["full_112"]["stage_cpu_s_per_video_s"][s] * video_s[k] for k in pre) / all_s
        for s in pre["640x360"]["variants"]["full_112"]["stage_cpu_s_per_video_s"]
    }
    k640 = pre["640x360"]
    results: dict[str, Any] = {
        "preprocess_cpu_s_per_video_s": ours_total,
        "decode_only_cpu_s_per_video_s": dec,
        "ratio_to_decode_bound": ours_total / dec,
        "ratio_to_decode_bound_640x360": k640["variants"]["full_112"]["ratio_to_decode_bound"],
        # the same with the speed settings of workflow/configs/kinetics.yaml (at 112x112; every stage on),
        # and both on the same clips re-encoded with B-frames (as YouTube / Kinetics files have them)
        **bframe_ratios(details.get("bframe_clips")),
        "ratio_to_decode_bound_640x360_kinetics_settings": k640["variants"]
        .get("kinetics_112", {})
        .get("ratio_to_decode_bound"),
        **_opt(
            "ratio_to_decode_bound_640x360_kinetics_settings_skip_loop_filter",
            k640["variants"].get("kinetics_112_skip_loop_filter"),
        ),
        "stage_cpu_s_per_video_s": stage,
        # real H.264 files (B-frames): the full sample, and with every frame decoded (no frame dropped)
        **real_ratios(details.get("real_clips")),
        # both tools timed the same way (fresh process each, same clips): work only, and with start-up
        "ratio_to_video2dataset": v2d.get("ratio_full_112_work_only") if v2d else None,
        "ratio_to_video2dataset_with_startup": v2d.get("ratio_full_112_with_startup") if v2d else None,
        "ratio_to_video2dataset_same_subset": v2d.get("ratio_subset_112_work_only") if v2d else None,
        "ratio_to_video2dataset_same_subset_with_startup": v2d.get("ratio_subset_112_with_startup") if v2d else None,
        "loader_clips_per_s": loader["loader_clips_per_s"],
        "loader_speedup_vs_mp4_decode": loader["loader_speedup_vs_mp4_decode"],
        "speedup_2_workers": (details.get("workers") or {}).get("speedup_2_workers"),
        "flow_codecs": (details.get("flow_codecs") or {}).get("summary"),
        "details": details,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "pyav": av.__version__,
            "load_average_at_end": list(os.getloadavg()),
        },
        "run": stamp,
        "runs": runs,
    }
    Path(a.out).write_text(json.dumps(results, indent=2, sort_keys=False, default=float) + "\n")
    log(
        f"total {ours_total:.4f} CPU-s/video-s = {ours_total / dec:.2f}x decode-only ({dec:.4f}); "
        f"video2dataset/ours = {results['ratio_to_video2dataset']} work only, "
        f"{results['ratio_to_video2dataset_with_startup']} with start-up; loader {loader['loader_clips_per_s']:.0f} "
        f"clips/s, {loader['loader_speedup_vs_mp4_decode']:.1f}x mp4 decoding; 2 workers "
        f"{results['speedup_2_workers']}x; wrote {a.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
