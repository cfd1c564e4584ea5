"""Run avbench's sharding of local clips in a fresh process, the way ``v2d_run.py`` runs
video2dataset (bench.py times both alike: CPU of the whole process, start-up and imports
included, and CPU of the work alone). One process, one thread, samples written to one tar.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# --repo DIR: import avbench from another checkout (bench.py's side-by-side baseline)
_repo = sys.argv[sys.argv.index("--repo") + 1] if "--repo" in sys.argv else str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _repo)


def cpu_now() -> float:
    """CPU seconds of this process and of its waited-for children so far."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("listing", help="JSON list of {path, seconds}")
    ap.add_argument("settings", help="JSON file: the merged shard settings")
    ap.add_argument("out", help="output tar")
    ap.add_argument("--repo", default=_repo, help="the checkout whose avbench runs (default: this one)")
    a = ap.parse_args()
    import webdataset as wds
    from threadpoolctl import threadpool_limits

    from avbench.shards.write import make_sample

    threadpool_limits(1)
    clips = json.loads(Path(a.listing).read_text())
    cfg = json.loads(Path(a.settings).read_text())
    import avbench

    start = cpu_now()
    n = 0
    per_clip = []
    with wds.TarWriter(a.out, mtime=0.0) as sink:
        for i, c in enumerate(clips):
            row = {
                "id": f"{Path(c['path']).stem}_{i}",
                "path": c["path"],
                "t_start": 0.0,
                "t_end": c["seconds"],
                "duration": c["seconds"],
            }
            t0 = cpu_now()
            res = make_sample(row, cfg, "audiovisual")
            if res["status"] == "ok":
                sink.write({"__key__": row["id"], **res["files"]})
                n += 1
            per_clip.append(cpu_now() - t0)
    print(
        json.dumps(
            {
                "samples": n,
                "startup_cpu_s": start,
                "work_cpu_s": cpu_now() - start,
                "per_clip_cpu_s": per_clip,
                "avbench": str(Path(avbench.__file__).parent),
            }
        )
    )


if __name__ == "__main__":
    main()
