"""Run video2dataset on local clips (run by bench.py with the Python of benchmarks/work/v2d-venv).

Its subset of avbench's job: read each file, resample the frame rate, resize (short side, centre
crop), resample the audio, write a WebDataset. One process (its sequential distributor, in this process), one thread: the CPU time of this
process and of its ffmpeg/ffprobe children is what bench.py measures, in total (interpreter start
and imports included) and for the work alone (``work_cpu_s``: from just before the
``video2dataset`` call to its end, ffmpeg children included), as ``ours_run.py`` does for avbench.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import tarfile
import tempfile
from pathlib import Path

# "m4a" (its documented default) is not an FFmpeg muxer name: with FFmpeg 6 the audio extraction
# fails silently and samples come without audio. WAV works and is its cheapest audio path.
AUDIO = "wav"


def cpu_now() -> float:
    """CPU seconds of this process and of its waited-for children (ffmpeg, ffprobe) so far."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("listing", help="JSON list of local video paths")
    ap.add_argument("out", help="output folder")
    ap.add_argument("--fps", type=float, default=16)
    ap.add_argument("--size", type=int, default=112, help="output height = width (scale, centre crop)")
    ap.add_argument("--sample-rate", type=int, default=16000)
    a = ap.parse_args()

    import video2dataset
    from video2dataset import video2dataset as v2d
    from video2dataset.subsamplers import AudioRateSubsampler, FrameSubsampler, ResolutionSubsampler

    # video2dataset 1.3.0's download worker reads `encode_formats` from the first video and audio
    # subsamplers, which these classes do not define (AttributeError): give them the attribute.
    for cls, modality in ((ResolutionSubsampler, "video"), (FrameSubsampler, "video"), (AudioRateSubsampler, "audio")):
        if not hasattr(cls, "encode_formats"):
            cls.encode_formats = property(lambda self, m=modality: {m: self.encode_format})

    # ... and its worker loops over the stream dict while Frame/AudioRateSubsampler pop and re-add
    # its keys ("RuntimeError: dictionary keys changed during iteration" on Python 3.11): let them
    # work on a copy and write their outputs back into the same keys.
    def on_a_copy(call):
        def wrapped(self, streams, metadata=None):
            out, meta, err = call(self, dict(streams), metadata)
            if err is None:
                for k, v in out.items():
                    streams[k] = v
                out = streams
            return out, meta, err

        return wrapped

    for cls in (FrameSubsampler, AudioRateSubsampler):
        cls.__call__ = on_a_copy(cls.__call__)
    # ... and run its single worker in this process (its sequential distributor), where the patch holds
    import sys

    import video2dataset.distributor as dist

    sys.modules["video2dataset.main"].multiprocessing_distributor = dist.no_distributor

    paths = json.loads(Path(a.listing).read_text())
    tmp = Path(tempfile.mkdtemp(prefix="v2d_"))
    urls = tmp / "urls.csv"
    with urls.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["url"])
        for p in paths:
            w.writerow([p])
    settings = {
        "subsampling": {
            "ResolutionSubsampler": {"args": {"video_size": a.size, "resize_mode": "scale,crop"}},
            "FrameSubsampler": {"args": {"frame_rate": a.fps}},
            "AudioRateSubsampler": {
                "args": {"sample_rate": a.sample_rate, "encode_format": AUDIO, "n_audio_channels": 1}
            },
        },
        "reading": {
            "yt_args": {"download_size": 360, "download_audio_rate": 44100, "yt_metadata_args": {}},
            "timeout": 60,
            "sampler": None,
        },
        "storage": {"number_sample_per_shard": 1000, "oom_shard_count": 5, "captions_are_subtitles": False},
        "distribution": {
            "processes_count": 1,
            "thread_count": 1,
            "subjob_size": 1000,
            "distributor": "multiprocessing",
        },
    }
    start = cpu_now()
    v2d(
        url_list=str(urls),
        output_folder=a.out,
        output_format="webdataset",
        input_format="csv",
        encode_formats={"video": "mp4", "audio": AUDIO},
        stage="download",
        url_col="url",
        config=settings,
        tmp_dir=str(tmp),
    )
    work = cpu_now() - start
    samples = audio = 0
    for tar in Path(a.out).glob("*.tar"):
        with tarfile.open(tar) as t:
            names = [m.name for m in t.getmembers()]
            samples += sum(1 for n in names if n.endswith(".mp4"))
            audio += sum(1 for n in names if n.endswith(f".{AUDIO}"))
    print(
        json.dumps(
            {
                "startup_cpu_s": start,
                "work_cpu_s": work,
                "samples": samples,
                "samples_with_audio": audio,
                "version": getattr(video2dataset, "__version__", None) or _version(),
                "settings": settings["subsampling"],
                "ffmpeg_path": os.environ.get("PATH", "").split(":")[0],
            }
        )
    )


def _version() -> str | None:
    from importlib.metadata import version

    try:
        return version("video2dataset")
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    main()
