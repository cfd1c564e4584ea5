"""The GPU path of avbench, measured (``make bench-gpu``; benchmarks/README.md, "GPU").

On a CUDA machine, within a total time budget (``--budget-s``, default 420 s):

- ``train``: training clips/s of torchvision ``r2plus1d_18`` and ``r3d_18`` (avbench's video
  encoders plus a 400-way linear head, SGD) at 16x112x112 with autocast (bfloat16, else float16
  with a gradient scaler) and ``channels_last_3d``, batch 32 and 64, on random input already on
  the GPU (no data loading); peak GPU memory of each; one float32 contiguous baseline.
- ``data``: 112x112 JPEG shards (JPEG flow) built here, without network: synthetic videos written by
  ``avbench.synthesize`` and sharded by the real pipeline (``avbench.shards.write``, every stage on)
  when PyAV is importable, else samples generated in memory and written in the same format.
- ``loader``: clips/s of ``avbench.shards.loader.ShardStream`` through a torch ``DataLoader``
  (``avbench.shards.loader.batches``, as ``pretrain`` reads) with 1, 4, 8 and 16 workers; each
  item is a 16-frame clip + its 16 flow fields + the log-mel of the same second (``clip_view``).
- ``wait``: the ``train`` step of r2plus1d_18 at batch 32 fed by that loader: the share of step
  time spent waiting for the next batch (and copying it to the GPU), and the GPU utilisation
  (NVML) when ``pynvml`` is there.
- ``e2e``: ``avbench pretrain`` of one method (AVTS, R(2+1)D-18 + VGG audio, 112x112, 16-frame
  clips, SyncBatchNorm on) under ``torchrun --standalone --nproc_per_node 1`` (NCCL), then
  ``avbench evaluate`` (linear classifier) of its checkpoint on the synthetic action and sound sets.
- ``methods``: ``avbench pretrain`` of one run per method family of workflow/configs/kinetics.yaml
  (the papers' backbones, clip sizes and losses; :data:`METHOD_RUNS`, ``--methods`` overrides) on
  the ``data`` section's 112x112 shards for 1 epoch (batch 16, one clip a video, AMP on), one
  process each with a per-run timeout, within ``--methods-budget-s`` (240 s) and the total budget:
  per run rc, wall seconds, clips/s, peak GPU memory, the error line of a failure.

Without CUDA it says so and runs a CPU dry mode (tiny sizes, a few steps, seconds; ``--dry``
forces it) that ``tests/test_bench_gpu.py`` runs. Every section runs in a ``try`` that records
its error; figures go to ``--out`` (JSON, rewritten after every section) and a table is printed.

    python benchmarks/gpu.py --out gpu.json --budget-s 420
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# What avbench needs at run time (module name -> pip name); the GPU images often lack a few.
IMPORTS = {
    "numpy": "numpy",
    "torch": "torch",
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "cv2": "opencv-python-headless",
    "av": "av",
    "webdataset": "webdataset",
    "braceexpand": "braceexpand",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "sklearn": "scikit-learn",
    "threadpoolctl": "threadpoolctl",
    "tqdm": "tqdm",
    "pynvml": "nvidia-ml-py (optional: GPU utilisation)",
}
# The sections each need these (a missing one skips the section with a clear message). `avbench pretrain` and
# `evaluate` (the methods section) need _PRETRAIN; the end-to-end section also writes its sets with PyAV.
_PRETRAIN = [
    "webdataset",
    "cv2",
    "pandas",
    "pyarrow",
    "yaml",
    "jsonschema",
    "sklearn",
    "torchaudio",
    "threadpoolctl",
    "tqdm",
]
NEEDS = {
    "train": ["torch", "torchvision"],
    "data": ["numpy", "cv2", "webdataset", "pandas", "pyarrow", "yaml", "jsonschema"],
    "loader": ["webdataset", "cv2"],
    "wait": ["webdataset", "cv2", "torchvision"],
    "e2e": ["av", *_PRETRAIN],
    "methods": list(_PRETRAIN),
}
SECTIONS = ("train", "data", "loader", "wait", "e2e", "methods")


def log(msg: str) -> None:
    print(f"[gpu.py {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Budget:
    """Wall-clock budget of the whole run: sections ask how much is left before starting work."""

    def __init__(self, seconds: float) -> None:
        self.t0 = time.perf_counter()
        self.total = float(seconds)

    def used(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.total - self.used()


def check_imports() -> dict[str, Any]:
    """{module: version or None} and the pip names of the missing ones."""
    found: dict[str, str | None] = {}
    for mod in IMPORTS:
        try:
            importlib.import_module(mod)
            found[mod] = _version(IMPORTS[mod].split(" ")[0])
        except Exception as exc:  # noqa: BLE001 - any import failure means missing here
            found[mod] = None
            found[f"{mod}_error"] = f"{type(exc).__name__}: {exc}"[:200]
    missing = [IMPORTS[m] for m in IMPORTS if found.get(m) is None]
    return {"modules": found, "missing": missing}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "present"


def machine_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(
            gpu=p.name,
            gpu_memory_gib=round(p.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            capability=f"{p.major}.{p.minor}",
            bf16=torch.cuda.is_bf16_supported(),
            nccl=_nccl_version(),
        )
    return info


def _nccl_version() -> str | None:
    try:
        import torch

        v = torch.cuda.nccl.version()
        return ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
    except Exception:  # noqa: BLE001
        return None


# -- training throughput -------------------------------------------------------------------------


class Classifier:
    """avbench's video encoder + a linear head, its optimizer and one training step."""

    def __init__(self, name: str, *, device: Any, amp: bool, channels_last: bool, n_classes: int = 400) -> None:
        import torch

        from avbench.models.video import build_video_encoder

        self.torch = torch
        # autocast only on the GPU: CPU bfloat16 3D convolutions are slower than float32
        self.device, self.amp, self.channels_last = device, amp and device.type == "cuda", channels_last
        enc = build_video_encoder(name=name)
        self.model = torch.nn.Sequential(enc, torch.nn.Linear(int(getattr(enc, "out_dim", 512)), n_classes)).to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        cuda = device.type == "cuda"
        self.dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp and self.dtype == torch.float16)
        self.model.train()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return self.torch.autocast(device_type="cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    def prepare(self, video: Any) -> Any:
        """float (B, 3, T, H, W) on the device, channels-last if asked."""
        if self.channels_last:
            return video.contiguous(memory_format=self.torch.channels_last_3d)
        return video.contiguous()

    def step(self, video: Any, labels: Any) -> None:
        torch = self.torch
        with self.autocast():
            loss = torch.nn.functional.cross_entropy(self.model(video), labels)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_train(*, device: Any, dry: bool, budget: Budget, cap_s: float) -> dict[str, Any]:
    import torch

    torch.backends.cudnn.benchmark = device.type == "cuda"
    T, S = (4, 32) if dry else (16, 112)
    batches = (2, 4) if dry else (32, 64)
    warm, steps = (1, 2) if dry else (5, 40)
    configs = [(m, b, True, True) for m in ("r2plus1d_18", "r3d_18") for b in batches]
    configs.append(("r2plus1d_18", batches[0], False, False))  # float32, contiguous: the baseline
    if dry:  # the code path of each, at the least cost
        configs = [("r2plus1d_18", 2, True, True), ("r3d_18", 2, False, False)]
    rows = []
    for name, bs, amp, cl in configs:
        row: dict[str, Any] = {"model": name, "batch": bs, "frames": T, "size": S, "amp": amp, "channels_last_3d": cl}
        if budget.left() < (5 if dry else 25):
            row["skipped"] = "time budget"
            rows.append(row)
            continue
        try:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            clf = Classifier(name, device=device, amp=amp, channels_last=cl)
            row["amp_dtype"] = str(clf.dtype).replace("torch.", "") if clf.amp else "float32"
            g = torch.Generator(device=device).manual_seed(0)
            video = clf.prepare(torch.rand((bs, 3, T, S, S), device=device, generator=g))
            labels = torch.randint(0, 400, (bs,), device=device, generator=g)
            t0 = time.perf_counter()
            for _ in range(warm):
                clf.step(video, labels)
            _sync(device)
            row["warmup_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            done = 0
            while done < steps and (time.perf_counter() - t0) < cap_s:
                clf.step(video, labels)
                done += 1
                if done % 5 == 0:
                    _sync(device)
            _sync(device)
            dt = time.perf_counter() - t0
            row.update(
                steps=done,
                seconds=round(dt, 3),
                clips_per_s=round(done * bs / dt, 1),
                step_ms=round(1000 * dt / done, 2),
            )
            if device.type == "cuda":
                row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            del clf, video, labels
        except Exception as exc:  # noqa: BLE001 - recorded (out of memory, missing kernel, ...)
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
        log(
            f"train {name} b{bs} amp={amp} cl={cl}: "
            + (
                f"{row.get('clips_per_s')} clips/s, peak {row.get('peak_memory_gib')} GiB"
                if "clips_per_s" in row
                else row.get("error", row.get("skipped", ""))
            )
        )
        rows.append(row)
    return {"rows": rows}


# -- data: 112x112 JPEG shards --------------------------------------------------------------------


# The sections of config.yaml that name datasets of the default run (the world-truth sets, the
# waveform sets): off in the benchmark's config, whose ``datasets`` are the three synthetic sets only.
OFF_SECTIONS = ("avsync", "localize", "propagation", "alignment", "multisensory")


def e2e_config(work: Path, *, dry: bool, waveform: bool = False) -> dict[str, Any]:
    """The config of the shards and of the end-to-end run: the repository's config.yaml with the
    synthetic sets under ``work``, 112x112 JPEG shards with flow bound 20 (32x32 in dry mode), AVTS
    with R(2+1)D-18 + VGG audio and SyncBatchNorm on (small3d + vgg_small in dry mode).

    ``datasets`` is replaced by the three synthetic sets, so the sections of config.yaml that name
    other sets (:data:`OFF_SECTIONS`) are turned off and pointed at ``synth_pretrain``. With
    ``waveform`` the pretraining set's shards also store the raw waveform (``shard.waveform``:
    ~32 kB a second), which the Multisensory run of the ``methods`` section reads."""
    import yaml

    from avbench.config import deep_merge

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    synth = work / "data" / "synth"
    over: dict[str, Any] = {
        "run_name": "gpu_bench",
        "synth": {
            "enabled": True,
            "n_classes": 4,
            "pretrain_videos": 8 if dry else 96,
            "action_groups_per_class": 3,
            "action_clips_per_group": 1 if dry else 3,
            "sound_clips_per_class": 5,
            "duration_s": [2, 3] if dry else [8, 10],
            "n_bad": 0,
        },
        "shard": {"size": [32, 32] if dry else [112, 112], "frame_codec": "jpeg", "flow": {"bound": 6 if dry else 20}},
        "pretrain": {
            "methods": ["avts_easy"],
            "runs": {"avts_easy": {"method": "avts", "avts": {"easy_fraction": 1.0}}},
            "video_backbone": "small3d" if dry else "r2plus1d_18",
            "audio_backbone": "vgg_small" if dry else "vgg",
            "clip_frames": 4 if dry else 16,
            "clips_per_video": 2 if dry else 4,
            "epochs": 1 if dry else 2,
            "batch_size": 4 if dry else 32,
            "lr": 0.001,
            "amp": True,
            "sync_batchnorm": True,
        },
        "evaluate": {"protocols": ["linear"], "clips_per_video": 2, "finetune_runs": [], "finetune_top_runs": []},
    }
    from avbench.config import _schema

    schema = _schema()["properties"]
    if "sync_batchnorm" not in schema["pretrain"]["properties"]:
        del over["pretrain"]["sync_batchnorm"]  # a checkout from before the key: run without it
    if "codec" in schema["shard"]["properties"]["flow"]["properties"]:
        over["shard"]["flow"]["codec"] = "jpeg"  # what real datasets store (config.yaml sets npy for 40x30)
    cfg = deep_merge(base, over)
    cfg["pretrain"]["runs"] = over["pretrain"]["runs"]
    cfg["datasets"] = {
        "synth_pretrain": {
            "format": "kinetics",
            "source": str(synth / "pretrain" / "kinetics.csv"),
            "videos": str(synth / "pretrain" / "videos"),
            "modality": "audiovisual",
        },
        "synth_action": {"format": "ucf101", "source": str(synth / "action"), "modality": "video"},
        "synth_sound": {"format": "esc50", "source": str(synth / "sound"), "modality": "audio"},
    }
    if waveform:
        cfg["datasets"]["synth_pretrain"]["shard"] = {"waveform": True}
    cfg["pretrain_dataset"] = "synth_pretrain"
    cfg["downstream"] = {"synth_action": "video", "synth_sound": "audio"}
    for name in OFF_SECTIONS:
        if isinstance(cfg.get(name), dict):
            cfg[name]["enabled"] = False
    if isinstance(cfg.get("avsync"), dict):  # validated whether enabled or not
        cfg["avsync"]["datasets"] = ["synth_pretrain"]
        cfg["avsync"].pop("truth", None)
    if isinstance(cfg.get("localize"), dict) and "dataset" in cfg["localize"]:
        cfg["localize"]["dataset"] = "synth_pretrain"
    if isinstance(cfg.get("multisensory"), dict):
        cfg["multisensory"]["waveform_sets"] = {}
    return cfg


def build_pipeline_shards(work: Path, cfg: dict[str, Any], *, workers: int, sets: tuple[str, ...]) -> dict[str, Any]:
    """Synthetic videos -> ingest -> probe -> shards (the workflow's steps, in this process)."""
    from avbench.config import shard_settings, validate
    from avbench.ingest import prepare
    from avbench.media.probe import probe_manifest
    from avbench.shards.write import merge_indexes, write_shards
    from avbench.synthesize import write_dataset

    cfg = validate(cfg)
    out: dict[str, Any] = {"method": "pipeline (avbench.synthesize videos, avbench.shards.write, every stage on)"}
    t0 = time.perf_counter()
    write_dataset(work / "data" / "synth", cfg["synth"], seed=int(cfg["seed"]), workers=workers, progress=False)
    out["synth_s"] = round(time.perf_counter() - t0, 1)
    log(f"data: synthetic videos written in {out['synth_s']} s")
    for name in sets:
        d = cfg["datasets"][name]
        t0 = time.perf_counter()
        df = prepare(d["format"], d["source"], videos=d.get("videos"), dataset=name)
        probed = probe_manifest(df, modality=d["modality"], min_duration=1.0, workers=workers, progress=False)
        folder = work / "shards" / name
        idx = write_shards(
            probed,
            folder / "group-000",
            folder / "group-000.index.parquet",
            cfg=shard_settings(cfg, name),
            modality=d["modality"],
            workers=workers,
            progress=False,
        )
        merge_indexes([folder / "group-000.index.parquet"], folder / "index.parquet")
        ok = int((idx["status"] == "ok").sum())
        out[name] = {
            "rows": len(idx),
            "ok": ok,
            "seconds": round(time.perf_counter() - t0, 1),
            "bytes": sum(p.stat().st_size for p in folder.rglob("*.tar")),
        }
        log(f"data: {name} {ok}/{len(idx)} samples sharded in {out[name]['seconds']} s")
    return out


def generated_samples(
    folder: Path, *, n: int, frames: int, size: int, fps: float = 16.0, bound: float = 20.0, seed: int = 0
) -> dict[str, Any]:
    """Write ``n`` samples in the shard format (JPEG frames of a moving textured scene, JPEG
    quantized flow, float16 log-mel, the JSON fields the loader reads) without decoding any video: the
    fallback when PyAV is missing, and the CPU dry mode."""
    import numpy as np
    import webdataset as wds

    from avbench.shards.codec import encode_jpeg_frames, npy_bytes, quantize_flow

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    n_mel = int(round(frames / fps * 100))
    writer = wds.ShardWriter(str(folder / "shard-%06d.tar"), maxsize=256 * 2**20, maxcount=10**9, verbose=0)
    total = 0
    for i in range(n):
        fx, fy, ph = rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.2), rng.uniform(0, 6.28)
        t = np.arange(frames, dtype=np.float32)[:, None, None]
        base = 0.5 + 0.25 * np.sin(fx * (xx[None] - 1.5 * t) + ph) * np.cos(fy * (yy[None] + 0.7 * t))
        rgb = np.stack([base, np.roll(base, 3, axis=2), 1.0 - base], axis=-1)
        rgb += rng.normal(0.0, 0.03, rgb.shape).astype(np.float32)
        video = np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
        data, lengths = encode_jpeg_frames(video, 90)
        flow = np.zeros((frames - 1, size, size, 2), np.float32)
        flow[..., 0], flow[..., 1] = -1.5, 0.7
        mel = rng.normal(-4.0, 2.0, (40, n_mel)).astype(np.float16)
        meta = {
            "format_version": 2,
            "id": f"gen{i:05d}",
            "label_idx": int(i % 4),
            "fps": fps,
            "size": [size, size],
            "n_frames": frames,
            "frame_times": [round(k / fps, 6) for k in range(frames)],
            "hop_ms": 10.0,
            "n_mels": 40,
            "n_mel_frames": n_mel,
            "has_audio": True,
            "frame_jpeg_bytes": lengths,
            "frame_codec": {"name": "jpeg", "quality": 90},
            "flow": {"bound": bound},
        }
        files = {"frames.mjpeg": data, "mel.npy": npy_bytes(mel)}
        q = quantize_flow(flow, bound)
        try:
            from avbench.shards.codec import encode_jpeg_flow

            files["flow.mjpeg"], meta["flow_jpeg_bytes"] = encode_jpeg_flow(q, 95)
        except ImportError:  # a checkout from before the flow codec
            files["flow.npy"] = npy_bytes(q)
        files["json"] = json.dumps(meta).encode()
        total += sum(len(v) for v in files.values())
        writer.write({"__key__": f"gen{i:05d}", **files})
    writer.close()
    return {
        "method": "generated in memory (no video decoding)",
        "samples": n,
        "frames": frames,
        "size": size,
        "bytes": total,
    }


# -- loader throughput ----------------------------------------------------------------------------


def _stream(urls: list[str], *, clip_frames: int, items: int, n_samples: int, keys: list[str]) -> Any:
    from avbench.shards.loader import ShardStream, clip_view

    view = partial(clip_view, clip_frames=clip_frames, audio=True, flow=True)
    reps = float(max(1, math.ceil(items / max(1, n_samples))))
    return ShardStream(urls, view=view, seed=0, repeats={k: reps for k in keys})


def sample_keys(urls: list[str]) -> list[str]:
    from avbench.shards.loader import ShardStream

    return [s["key"] for s in ShardStream(urls, shuffle=False, needs=frozenset())]


def bench_loader(
    urls: list[str], *, workers: list[int], clip_frames: int, batch: int, cap_s: float, budget: Budget, dry: bool
) -> dict[str, Any]:
    """Clips/s of the library's loader path (``batches``: each DataLoader worker collates its own
    batches, as torch tensors in pinned memory on a CUDA machine) per worker count, after the first
    batch (worker start-up apart); and, side by side at the largest worker count, the previous path
    (items from the workers collated in this process)."""
    import torch

    from avbench.shards.loader import batches, collate

    keys = sample_keys(urls)
    pin = torch.cuda.is_available()
    default = "batches (collate in the workers" + (", torch tensors, pin_memory)" if pin else ")")

    def in_main(stream: Any, w: int) -> Iterator[dict[str, Any]]:
        loader = torch.utils.data.DataLoader(
            stream, batch_size=None, num_workers=w, collate_fn=lambda x: x, prefetch_factor=4
        )
        buf: list[dict[str, Any]] = []
        for item in loader:
            buf.append(item)
            if len(buf) == batch:
                yield collate(buf)
                buf = []

    plan = [(w, default, lambda st, w: batches(st, batch_size=batch, workers=w)) for w in workers]
    plan.append((max(workers), "items from the workers, collated in the main process (the previous path)", in_main))
    rows = []
    for w, path, make in plan:
        row: dict[str, Any] = {"workers": w, "batch": batch, "path": path}
        if budget.left() < (3 if dry else 20):
            row["skipped"] = "time budget"
            rows.append(row)
            continue
        try:
            stream = _stream(
                urls,
                clip_frames=clip_frames,
                items=int(40000 * max(1, w) * cap_s / 10) if not dry else 64,
                n_samples=len(keys),
                keys=keys,
            )
            row.update(_time_batches(iter(make(stream, w)), cap_s=cap_s))
            row["clips_per_s_per_worker"] = round(row["clips_per_s"] / max(1, w), 1)
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
        log(
            f"loader {w} workers, {path}: {row.get('clips_per_s', row.get('error'))} clips/s "
            f"(start-up {row.get('startup_s')} s)"
        )
        rows.append(row)
    return {
        "clip_frames": clip_frames,
        "n_samples": len(keys),
        "item": "clip + flow + log-mel (clip_view)",
        "rows": rows,
    }


def _batch_size(b: Any) -> int:
    key = b["key"] if isinstance(b, dict) and "key" in b else None
    return len(key) if key is not None else int(b["video"].shape[0])


def _time_batches(it: Iterator[Any], *, cap_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        first = next(it)
        t1 = time.perf_counter()
        n = 0
        nb = 0
        while time.perf_counter() - t1 < cap_s:
            b = next(it, None)
            if b is None:
                break
            n += _batch_size(b)
            nb += 1
        dt = time.perf_counter() - t1
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
        del it
    shape = [int(x) for x in first["video"].shape] if "video" in first else None
    return {
        "startup_s": round(t1 - t0, 2),
        "batches": nb,
        "clips": n,
        "seconds": round(dt, 2),
        "clips_per_s": round(n / dt, 1) if dt > 0 else None,
        "video_batch_shape": shape,
    }


# -- data wait while training ---------------------------------------------------------------------


def _nvml() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(int(os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or 0))
    except Exception:  # noqa: BLE001 - optional
        return None


def bench_wait(
    urls: list[str],
    *,
    device: Any,
    workers: list[int],
    clip_frames: int,
    batch: int,
    cap_s: float,
    budget: Budget,
    dry: bool,
    model: str = "r2plus1d_18",
) -> dict[str, Any]:
    """Train ``model`` from the loader; per step, the time blocked on the next batch (including
    its copy to the device) against the whole step (synchronized)."""
    import torch

    from avbench.pretext.base import to_tensors
    from avbench.shards.loader import batches

    keys = sample_keys(urls)
    handle = _nvml() if device.type == "cuda" else None
    rows = []
    for w in workers:
        row: dict[str, Any] = {"model": model, "batch": batch, "workers": w, "frames": clip_frames}
        if budget.left() < (3 if dry else 30):
            row["skipped"] = "time budget"
            rows.append(row)
            continue
        try:
            torch.backends.cudnn.benchmark = device.type == "cuda"
            clf = Classifier(model, device=device, amp=True, channels_last=True)
            stream = _stream(
                urls, clip_frames=clip_frames, items=200000 if not dry else 64, n_samples=len(keys), keys=keys
            )
            it = batches(stream, batch_size=batch, workers=w)
            t_start = time.perf_counter()
            warm = 2 if dry else 5
            wait = step = 0.0
            n = clips = 0
            t_meas = t_start
            util: list[int] = []
            try:
                while True:
                    ta = time.perf_counter()
                    b = next(it, None)
                    if b is None:
                        break
                    t = to_tensors({"video": b["video"], "label": b["label"]}, device=device, mel_norm=(0.0, 1.0))
                    video = clf.prepare(t["video"])
                    labels = t["label"].clamp(min=0)
                    tb = time.perf_counter()
                    clf.step(video, labels)
                    _sync(device)
                    tc = time.perf_counter()
                    n += 1
                    if n <= warm:
                        t_meas = tc
                        continue
                    wait += tb - ta
                    step += tc - ta
                    clips += int(video.shape[0])
                    if handle is not None and n % 5 == 0:
                        import pynvml

                        util.append(int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                    if tc - t_meas > cap_s or (dry and n >= warm + 3):
                        break
            finally:
                it.close()
            row.update(
                startup_and_warmup_s=round(t_meas - t_start, 2),
                steps=n - warm,
                clips=clips,
                seconds=round(step, 2),
                clips_per_s=round(clips / step, 1) if step else None,
                data_wait_share=round(wait / step, 3) if step else None,
                wait_ms_per_step=round(1000 * wait / max(1, n - warm), 2),
                step_ms=round(1000 * step / max(1, n - warm), 2),
            )
            if util:
                row["gpu_util_percent_mean"] = round(sum(util) / len(util), 1)
            del clf
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
        log(
            f"wait {model} b{batch} {w} workers: {row.get('clips_per_s', row.get('error'))} clips/s, data wait "
            f"{row.get('data_wait_share')} of step time"
        )
        rows.append(row)
    return {"rows": rows}


# -- end to end -----------------------------------------------------------------------------------


def _run(
    cmd: list[str], *, log_path: Path, timeout: float, env: dict[str, str], cwd: Path = REPO
) -> tuple[int, float, str]:
    """Run ``cmd`` (output to ``log_path``) in a session of its own; past ``timeout`` the whole
    process group (the command, its loader workers, torchrun's children) is killed: rc 124."""
    t0 = time.perf_counter()
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
            rc = 124
    tail = log_path.read_text(errors="replace")[-1500:]
    return rc, time.perf_counter() - t0, tail


def bench_e2e(work: Path, cfg_path: Path, *, device: Any, budget: Budget, dry: bool, workers: int) -> dict[str, Any]:
    """``torchrun --nproc_per_node 1 -m avbench.cli pretrain`` then ``avbench evaluate``."""
    import pandas as pd
    import torch

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    out: dict[str, Any] = {
        "method": "avts_easy",
        "launcher": "torchrun --standalone --nproc_per_node 1",
        "backend": "nccl" if device.type == "cuda" else "gloo",
    }
    shards = work / "shards"
    models = work / "models" / "avts_easy"
    if models.exists():
        shutil.rmtree(models)
    threads = max(1, min(16, os.cpu_count() or 1))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "1",
        "-m",
        "avbench.cli",
        "pretrain",
        "avts_easy",
        "--shards",
        str(shards / "synth_pretrain"),
        "--index",
        str(shards / "synth_pretrain" / "index.parquet"),
        "--out",
        str(models),
        "--config",
        str(cfg_path),
        "--threads",
        str(threads),
        "--loader-workers",
        str(workers),
    ]
    out["pretrain_command"] = " ".join(cmd[1:])
    log("e2e: pretrain under torchrun")
    rc, dt, tail = _run(cmd, log_path=work / "pretrain.log", timeout=budget.left() - (10 if dry else 40), env=env)
    out["pretrain"] = {"rc": rc, "wall_s": round(dt, 1)}
    if rc != 0:
        out["pretrain"]["log_tail"] = tail
        raise RuntimeError(f"pretrain exited {rc}: {tail[-300:]}")
    ck = torch.load(models / "checkpoint.pt", map_location="cpu", weights_only=False)
    meta = ck["meta"]
    out["pretrain"].update(
        world_size=meta.get("world_size"),
        sync_batchnorm=meta.get("sync_batchnorm"),
        train_videos=meta.get("n_train_videos"),
        pretrain_wall_s=meta.get("wall_s"),
        final=ck["metrics"][-1] if ck.get("metrics") else {},
    )
    log(f"e2e: pretrain done in {dt:.0f} s (sync_batchnorm {meta.get('sync_batchnorm')})")
    for name, kind in (("synth_action", "video"), ("synth_sound", "audio")):
        res = work / "eval" / f"{name}.csv"
        res.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "avbench.cli",
            "evaluate",
            "--checkpoint",
            str(models / "checkpoint.pt"),
            "--shards",
            str(shards / name),
            "--index",
            str(shards / name / "index.parquet"),
            "--kind",
            kind,
            "--downstream",
            name,
            "--pretrain-index",
            str(shards / "synth_pretrain" / "index.parquet"),
            "--protocols",
            "linear",
            "--config",
            str(cfg_path),
            "--threads",
            str(threads),
            "-o",
            str(res),
        ]
        log(f"e2e: evaluate on {name}")
        rc, dt, tail = _run(cmd, log_path=work / f"evaluate_{name}.log", timeout=budget.left() - 5, env=env)
        ev: dict[str, Any] = {"rc": rc, "wall_s": round(dt, 1)}
        if rc == 0:
            rows = pd.read_csv(res)
            ev["accuracy"] = {
                f"{e}/{m}": round(float(v), 4)
                for (e, m), v in rows.groupby(["encoder", "metric"])["value"].mean().items()
            }
        else:
            ev["log_tail"] = tail
        out[f"evaluate_{name}"] = ev
        if budget.left() < 10:
            break
    return out


# -- every method of the zoo ----------------------------------------------------------------------

# One run per method family of workflow/configs/kinetics.yaml (``--methods`` overrides). xdc_k64:
# the kinetics run ``xdc`` clusters into k = 256, more clusters than the ~86 training videos here;
# avolnet is not in kinetics.yaml (config.yaml's entry, with kinetics.yaml's backbones).
METHOD_RUNS = (
    "avts_curriculum",
    "l3",
    "avenet",
    "infonce",
    "xdc_k64",
    "aot_cues_removed",
    "shuffle_learn",
    "odd_one_out",
    "sorting",
    "jigsaw",
    "speed",
    "videomae",
    "colorization",
    "crw",
    "tcc",
    "multisensory",
    "avolnet",
    "image_all",
    "supervised",
)
# CPU dry mode: cheap methods at tiny sizes (the code path, in seconds)
DRY_METHOD_RUNS = ("l3", "infonce", "image_rotation")
# 3D video backbones replaced by small3d in dry mode (2D and ViT runs keep theirs, at small widths)
_DRY_3D = {"r2plus1d_18", "r3d_18", "mc3_18"}

# Runs `avbench pretrain` in this interpreter (what `python -m avbench.cli` runs) and prints the peak
# GPU memory of the process at exit, also when the run fails.
_PRETRAIN = (
    "import sys\n"
    "import torch\n"
    "from avbench.cli import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "finally:\n"
    "    if torch.cuda.is_available() and torch.cuda.is_initialized():\n"
    "        print('GPU_BENCH_PEAK_BYTES', torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved(),\n"
    "              flush=True)\n"
    "sys.exit(rc)\n"
)


def methods_config(
    cfg: dict[str, Any], runs: list[str], *, dry: bool, batch: int, clips_per_video: int, waveform: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The config of the ``methods`` section: ``cfg`` (the benchmark's sets) with the ``pretrain``
    section of workflow/configs/kinetics.yaml (backbones, clip sizes, losses: the papers' settings)
    holding only ``runs``, each for 1 epoch of ``clips_per_video`` clips a video in batches of
    ``batch`` on the pretraining set, one process (``nproc_per_node`` 1), AMP on. A run that
    kinetics.yaml lacks takes config.yaml's entry. The Multisensory waveform runs read the
    spectrogram instead when the shards hold no waveform. In dry mode the 3D backbones become
    small3d (vgg_small audio, tcam_small flow, narrow widths) on the dry shards' 4-frame clips.
    Returns (config, {run: what was changed beyond the schedule and the data set})."""
    import yaml

    kinetics = yaml.safe_load((REPO / "workflow" / "configs" / "kinetics.yaml").read_text())
    kin = kinetics["pretrain"]
    own = yaml.safe_load((REPO / "config.yaml").read_text())["pretrain"].get("runs") or {}
    # relative position's patches and gap are set for kinetics.yaml's frames (128 px short side)
    scale = min(1.0, min(cfg["shard"]["size"]) / min(kinetics.get("shard", {}).get("size", [128, 128])))
    out = copy.deepcopy(cfg)
    p = {k: copy.deepcopy(v) for k, v in kin.items() if k not in ("runs", "methods")}
    p.update(epochs=1, batch_size=batch, clips_per_video=clips_per_video, amp=True, nnodes=1, nproc_per_node=1)
    p.pop("sync_batchnorm", None)
    if dry:
        p.update(
            video_backbone="small3d",
            audio_backbone="vgg_small",
            channels=[8, 16, 32, 64],
            flow=copy.deepcopy(cfg["pretrain"]["flow"]),
            clip_frames=4,
        )
    notes: dict[str, str] = {}
    entries: dict[str, Any] = {}

    def note(run: str, text: str) -> None:
        notes[run] = f"{notes[run]}; {text}" if run in notes else text

    for run in runs:
        if run in kin["runs"]:
            entry = copy.deepcopy(kin["runs"][run])
        elif run in own:
            entry = copy.deepcopy(own[run])
            note(run, "not in kinetics.yaml: config.yaml's entry with kinetics.yaml's settings")
        else:
            raise KeyError(f"run {run!r} is in neither workflow/configs/kinetics.yaml nor config.yaml")
        for k in ("dataset", "replicates", "seeds", "epochs", "clips_per_video", "batch_size"):
            entry.pop(k, None)
        context = (entry.get("image") or {}).get("context")
        if scale < 1.0 and isinstance(context, dict) and ("patch" in context or "gap" in context):
            was = (context.get("patch"), context.get("gap"))
            for k in ("patch", "gap"):
                if k in context:
                    context[k] = max(1, int(context[k] * scale))
            note(
                run,
                f"relative position's patch / gap {was[0]} / {was[1]} px scaled to {context.get('patch')} / "
                f"{context.get('gap')} px for the {min(cfg['shard']['size'])} px frames (kinetics.yaml: 128 px)",
            )
        ms = entry.get("multisensory") or {}
        if entry.get("method") == "multisensory" and ms.get("audio_input", "waveform") == "waveform" and not waveform:
            entry.setdefault("multisensory", {})["audio_input"] = "spectrogram"
            note(run, "spectrogram input: the shards hold no waveform (wav.npy)")
        if dry:
            if entry.get("video_backbone") in _DRY_3D:
                entry["video_backbone"] = "small3d"
            entry.pop("audio_backbone", None)
            if "channels" in entry:
                entry["channels"] = [8, 16, 32, 64]
            entry.pop("clip_frames", None)
        entries[run] = entry
    p["runs"] = entries
    p["methods"] = list(runs)
    out["pretrain"] = p
    return out, notes


def _peak_gib(log_text: str) -> dict[str, float]:
    for line in reversed(log_text.splitlines()):
        if line.startswith("GPU_BENCH_PEAK_BYTES"):
            _, alloc, reserved = line.split()
            return {
                "peak_memory_gib": round(int(alloc) / 2**30, 2),
                "peak_reserved_gib": round(int(reserved) / 2**30, 2),
            }
    return {}


def _error_line(log_text: str) -> str:
    """The last line of a failed run's log that names the error (else its last line)."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip() and not ln.startswith("GPU_BENCH_PEAK")]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln or ln.startswith("avbench ") or "error:" in ln:
            return ln[:400]
    return lines[-1][:400] if lines else ""


def bench_methods(
    work: Path,
    cfg: dict[str, Any],
    runs: list[str],
    *,
    shards: Path,
    index: Path | None,
    device: Any,
    budget: Budget,
    cap_s: float,
    run_timeout_s: float,
    dry: bool,
    batch: int,
    clips_per_video: int,
    workers: int,
) -> dict[str, Any]:
    """``avbench pretrain <run>`` of each run of ``runs`` with its kinetics.yaml settings
    (:func:`methods_config`) on the ``data`` section's pretraining shards, one process each (a
    per-run timeout, killed with its loader workers past it), within ``cap_s`` and the total budget:
    a run that would not fit is skipped with the reason. Per run: rc, wall seconds, the training
    steps and clips of its epoch, clips/s over its ``pretrain()`` call (set-up, the epoch and the
    held-out pass; the process start-up apart), peak GPU memory, the error line when it fails."""
    import pandas as pd
    import yaml

    from avbench.config import validate
    from avbench.shards.loader import ShardStream, shard_urls

    first = next(iter(ShardStream(shard_urls(shards), shuffle=False, needs=frozenset())), None)
    waveform = bool(first is not None and first["meta"].get("n_wav_samples"))
    mcfg, notes = methods_config(cfg, runs, dry=dry, batch=batch, clips_per_video=clips_per_video, waveform=waveform)
    validate(mcfg)  # a settings error names the run here, before any process starts
    cfg_path = work / "methods_config.yaml"
    cfg_path.write_text(yaml.safe_dump(mcfg, sort_keys=False))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    threads = 1 if dry else max(1, min(16, os.cpu_count() or 1))
    out: dict[str, Any] = {
        "settings": "workflow/configs/kinetics.yaml's runs; 1 epoch, AMP on, one process",
        "batch": batch,
        "clips_per_video": clips_per_video,
        "loader_workers": workers,
        "shards": str(shards),
        "shards_store_waveform": waveform,
        "run_timeout_s": run_timeout_s,
        "launcher": "python -c 'avbench.cli.main(...)' pretrain (python -m avbench.cli; peak GPU memory at exit)",
        "rows": [],
    }
    t_end = time.perf_counter() + cap_s
    need = 5.0 if dry else 20.0  # below this a run cannot start, train and write its checkpoint
    for run in runs:
        settings = mcfg["pretrain"]["runs"][run]
        row: dict[str, Any] = {
            "run": run,
            "method": settings["method"],
            "video_backbone": settings.get("video_backbone", mcfg["pretrain"]["video_backbone"]),
            "clip_frames": settings.get("clip_frames", mcfg["pretrain"]["clip_frames"]),
        }
        if run in notes:
            row["note"] = notes[run]
        left = min(t_end - time.perf_counter(), budget.left() - (2 if dry else 10))
        if left < need:
            row["skipped"] = f"time budget ({max(0.0, left):.0f} s left of the section's {cap_s:.0f} s / the total)"
            out["rows"].append(row)
            log(f"methods {run}: skipped, {row['skipped']}")
            continue
        dest = work / "methods" / run
        if dest.exists():
            shutil.rmtree(dest)
        cmd = [sys.executable, "-c", _PRETRAIN, "pretrain", run, "--shards", str(shards)]
        if index is not None:
            cmd += ["--index", str(index)]
        cmd += ["--out", str(dest), "--config", str(cfg_path), "--threads", str(threads)]
        cmd += ["--loader-workers", str(workers)]
        timeout = min(run_timeout_s, left)
        log_path = work / f"methods_{run}.log"
        rc, dt, _ = _run(cmd, log_path=log_path, timeout=timeout, env=env, cwd=work)
        text = log_path.read_text(errors="replace")
        row.update(rc=rc, wall_s=round(dt, 1), **_peak_gib(text))
        metrics = dest / "metrics.csv"
        if rc == 0 and metrics.is_file():
            m = pd.read_csv(metrics).iloc[-1].to_dict()
            steps = int(m.get("train_steps", 0) or 0)
            pre_s = float(m.get("wall_s", 0) or 0)
            row.update(
                train_steps=steps,
                train_clips=steps * batch,
                pretrain_s=round(pre_s, 1),
                clips_per_s=round(steps * batch / pre_s, 1) if pre_s > 0 else None,
                train_loss=round(float(m["train_loss"]), 4) if "train_loss" in m else None,
            )
        elif rc == 124:
            row["error"] = f"timed out after {timeout:.0f} s"
        else:
            row["error"] = _error_line(text) or f"exit {rc}"
        if rc != 0:
            row["log_tail"] = text[-1200:]
        log(
            f"methods {run}: rc {rc} in {dt:.1f} s"
            + (f", {row.get('clips_per_s')} clips/s, peak {row.get('peak_memory_gib', '-')} GiB" if rc == 0 else "")
            + (f": {row['error']}" if "error" in row else "")
        )
        out["rows"].append(row)
        shutil.rmtree(dest, ignore_errors=True)  # checkpoints are not kept
    rows = out["rows"]
    out["passed"] = sum(1 for r in rows if r.get("rc") == 0)
    out["failed"] = [r["run"] for r in rows if r.get("rc") not in (0, None)]
    out["skipped"] = [r["run"] for r in rows if "skipped" in r]
    return out


# -- main -----------------------------------------------------------------------------------------


def print_table(res: dict[str, Any]) -> None:
    m = res.get("machine", {})
    print(
        f"\n== avbench GPU benchmark ({res['mode']}) on {m.get('gpu', 'CPU')}, torch {m.get('torch')}, "
        f"{m.get('cpu_count')} CPUs; {res.get('wall_s')} s ==",
        flush=True,
    )
    if res["imports"]["missing"]:
        print("missing imports: " + ", ".join(res["imports"]["missing"]), flush=True)
    sec = res["sections"]
    for row in (sec.get("train") or {}).get("rows", []):
        print(
            f"train  {row['model']:12s} b{row['batch']:<3d} {row['frames']}x{row['size']}x{row['size']} "
            f"{row.get('amp_dtype', ''):9s} cl3d={row['channels_last_3d']!s:5s} "
            f"{row.get('clips_per_s', '-')!s:>8s} clips/s  peak {row.get('peak_memory_gib', '-')} GiB  "
            f"{row.get('error', row.get('skipped', ''))}",
            flush=True,
        )
    d = sec.get("data") or {}
    if d:
        print(f"data   {d.get('method')}; {d.get('seconds')} s", flush=True)
    for row in (sec.get("loader") or {}).get("rows", []):
        print(
            f"loader {row['workers']:>2d} workers {row.get('clips_per_s', '-')!s:>8s} clips/s "
            f"({row.get('clips_per_s_per_worker', '-')} per worker, start-up {row.get('startup_s', '-')} s) "
            f"{row['path']} {row.get('error', row.get('skipped', ''))}",
            flush=True,
        )
    for row in (sec.get("wait") or {}).get("rows", []):
        print(
            f"wait   {row['model']} b{row['batch']} {row['workers']:>2d} workers: {row.get('clips_per_s', '-')} "
            f"clips/s, data wait {row.get('data_wait_share', '-')} of step time, GPU util "
            f"{row.get('gpu_util_percent_mean', '-')}% {row.get('error', row.get('skipped', ''))}",
            flush=True,
        )
    e = sec.get("e2e") or {}
    if e.get("pretrain"):
        p = e["pretrain"]
        print(
            f"e2e    pretrain rc {p.get('rc')} in {p.get('wall_s')} s (world {p.get('world_size')}, "
            f"SyncBatchNorm {p.get('sync_batchnorm')}); "
            + "; ".join(f"{k}: {v.get('accuracy', v.get('rc'))}" for k, v in e.items() if k.startswith("evaluate_")),
            flush=True,
        )
    mt = sec.get("methods") or {}
    for row in mt.get("rows", []):
        print(
            f"method {row['run']:17s} {row['method']:14s} {row['video_backbone']:12s} {row['clip_frames']!s:>3s}f "
            f"rc {row.get('rc', '-')!s:>4s} {row.get('wall_s', '-')!s:>6s} s {row.get('clips_per_s', '-')!s:>7s} "
            f"clips/s  peak {row.get('peak_memory_gib', '-')} GiB  "
            f"{row.get('error', row.get('skipped', row.get('note', '')))}",
            flush=True,
        )
    if mt.get("rows"):
        print(
            f"methods: {mt.get('passed')} of {len(mt['rows'])} ran; failed {mt.get('failed')}; "
            f"skipped {mt.get('skipped')}",
            flush=True,
        )
    for name, s in sec.items():
        if isinstance(s, dict) and s.get("error"):
            print(f"ERROR in {name}: {s['error'][:300]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "gpu.json"), help="JSON figures")
    ap.add_argument("--budget-s", type=float, default=420.0, help="total wall-clock budget (s)")
    ap.add_argument("--dry", action="store_true", help="CPU dry mode even where CUDA is available")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed at the end)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument(
        "--data",
        choices=["auto", "pipeline", "generated"],
        default="auto",
        help="how the shards are built (auto: the pipeline when PyAV is there; dry mode: generated)",
    )
    ap.add_argument("--e2e", action="store_true", help="also run the end-to-end section in CPU dry mode")
    ap.add_argument("--workers", default=None, help="loader worker counts (default 1,4,8,16; dry: 1,2)")
    ap.add_argument(
        "--methods",
        default=None,
        help="methods section: comma list of runs of workflow/configs/kinetics.yaml (or config.yaml) "
        f"(default: {','.join(METHOD_RUNS)}; dry: {','.join(DRY_METHOD_RUNS)})",
    )
    ap.add_argument("--methods-budget-s", type=float, default=240.0, help="cap of the methods section (s)")
    ap.add_argument("--method-timeout-s", type=float, default=90.0, help="cap of one run of the methods section (s)")
    ap.add_argument("--method-batch", type=int, default=None, help="batch size of the methods section (16; dry: 4)")
    ap.add_argument("--method-clips", type=int, default=None, help="clips_per_video of the methods section (1; dry: 2)")
    a = ap.parse_args(argv)
    budget = Budget(a.budget_s)
    imports = check_imports()
    if imports["modules"].get("torch") is None:
        print("gpu.py: torch is not importable here; nothing can be measured", flush=True)
        Path(a.out).write_text(json.dumps({"imports": imports}, indent=2))
        return 1
    import torch

    cuda = torch.cuda.is_available() and not a.dry
    dry = not cuda
    if dry:
        log(
            "CUDA is not available (or --dry): CPU dry mode, tiny sizes, a few steps; no figure is a GPU figure"
            if not a.dry
            else "--dry: CPU dry mode"
        )
    device = torch.device("cuda:0") if cuda else torch.device("cpu")
    if dry:
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    missing = imports["missing"]
    if missing:
        log("missing imports: " + ", ".join(missing) + " (sections that need them are skipped)")
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if a.workers:
        workers = [int(x) for x in a.workers.split(",")]
    else:
        workers = [1, 2] if dry else sorted({min(w, ncpu) for w in (1, 4, 8, 16)})
    wanted = [s.strip() for s in a.sections.split(",") if s.strip()]
    if dry and "e2e" in wanted and not a.e2e:
        wanted.remove("e2e")
    res: dict[str, Any] = {
        "mode": "gpu" if cuda else "cpu_dry",
        "budget_s": a.budget_s,
        "imports": imports,
        "machine": machine_info(),
        "sections": {},
        "command": " ".join(sys.argv),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(a.work) if a.work else Path(__import__("tempfile").mkdtemp(prefix="avbench-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    res["work"] = str(work)
    clip_frames = 4 if dry else 16
    batch = 4 if dry else 32
    cap = 1.0 if dry else 8.0
    state: dict[str, Any] = {}

    def save() -> None:
        res["wall_s"] = round(budget.used(), 1)
        out.write_text(json.dumps(res, indent=2, default=str))

    def section(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if name not in wanted:
            return
        lacking = [m for m in NEEDS.get(name, []) if imports["modules"].get(m) is None]
        if name == "e2e" and state.get("data_method") != "pipeline":
            lacking = lacking or ["shards of the pipeline (the data section did not build them)"]
        if name == "methods" and "urls_dir" not in state:
            lacking = lacking or ["shards (the data section did not build them)"]
        if lacking:
            res["sections"][name] = {"skipped": "missing: " + ", ".join(lacking)}
            log(f"{name}: skipped, missing {', '.join(lacking)}")
            save()
            return
        if budget.left() < 3:
            res["sections"][name] = {"skipped": "time budget"}
            save()
            return
        log(f"{name}: start ({budget.left():.0f} s of the budget left)")
        t0 = time.perf_counter()
        try:
            res["sections"][name] = fn()
        except Exception as exc:  # noqa: BLE001 - recorded, the next section runs
            res["sections"][name] = {
                "error": f"{type(exc).__name__}: {exc}"[:600],
                "traceback": traceback.format_exc()[-2000:],
            }
            log(f"{name}: ERROR {type(exc).__name__}: {exc}")
        res["sections"][name]["seconds"] = round(time.perf_counter() - t0, 1)
        save()

    cfg = e2e_config(work, dry=dry, waveform="methods" in wanted)
    cfg_path = work / "config.yaml"

    def data() -> dict[str, Any]:
        import yaml

        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        mode = a.data
        if mode == "auto":
            mode = "pipeline" if (imports["modules"].get("av") and not (dry and not a.e2e)) else "generated"
        if mode == "pipeline":
            sets = ("synth_pretrain", "synth_action", "synth_sound") if "e2e" in wanted else ("synth_pretrain",)
            d = build_pipeline_shards(work, cfg, workers=ncpu, sets=sets)
            state["urls_dir"] = work / "shards" / "synth_pretrain"
        else:
            size = int(cfg["shard"]["size"][0])
            d = generated_samples(
                work / "generated",
                n=8 if dry else 64,
                frames=24 if dry else 160,
                size=size,
                bound=float(cfg["shard"]["flow"]["bound"]),
            )
            state["urls_dir"] = work / "generated"
        state["data_method"] = mode
        from avbench.shards.loader import shard_urls

        d["shards"] = len(shard_urls(state["urls_dir"]))
        return d

    def urls() -> list[str]:
        from avbench.shards.loader import shard_urls

        if "urls_dir" not in state:
            raise RuntimeError("no shards (the data section failed or was not selected)")
        return shard_urls(state["urls_dir"])

    section("train", lambda: bench_train(device=device, dry=dry, budget=budget, cap_s=cap + 2))
    section("data", data)
    section(
        "loader",
        lambda: bench_loader(
            urls(), workers=workers, clip_frames=clip_frames, batch=batch, cap_s=cap, budget=budget, dry=dry
        ),
    )
    wait_workers = [w for w in workers if w >= 8][-2:] or [max(workers)]
    section(
        "wait",
        lambda: bench_wait(
            urls(),
            device=device,
            workers=wait_workers,
            clip_frames=clip_frames,
            batch=batch,
            cap_s=cap + 2,
            budget=budget,
            dry=dry,
            model="r2plus1d_18" if not dry else "small3d",
        ),
    )
    section(
        "e2e", lambda: bench_e2e(work, cfg_path, device=device, budget=budget, dry=dry, workers=min(8, max(workers)))
    )
    method_runs = [r.strip() for r in a.methods.split(",") if r.strip()] if a.methods else None
    section(
        "methods",
        lambda: bench_methods(
            work,
            cfg,
            method_runs or list(DRY_METHOD_RUNS if dry else METHOD_RUNS),
            shards=state["urls_dir"],
            index=(state["urls_dir"] / "index.parquet") if state.get("data_method") == "pipeline" else None,
            device=device,
            budget=budget,
            cap_s=a.methods_budget_s,
            run_timeout_s=a.method_timeout_s,
            dry=dry,
            batch=a.method_batch or (4 if dry else 16),
            clips_per_video=a.method_clips or (2 if dry else 1),
            workers=0 if dry else min(4, ncpu),
        ),
    )
    save()
    print_table(res)
    log(f"wrote {out}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
