"""What pinning oneDNN to AVX2 costs, and what it buys: the same training steps run side by side in
fresh processes with ``ONEDNN_MAX_CPU_ISA=AVX2`` (avbench's pin) and ``ALL`` (oneDNN's own choice:
AVX-512 kernels on an AVX-512 CPU), twice each.

Prints, per setting, the seconds per training step and a hash of the final weights; whether two runs
of one setting are bit-identical; the largest weight difference between the settings; and the
speed ratio. Writes the figures into ``benchmarks/results.json`` under ``determinism``.

    .venv/bin/python benchmarks/determinism.py [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import hashlib, json, sys, time
import torch
from avbench.models import build_encoder
steps, threads = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
enc = build_encoder({"kind": "video", "name": "small3d", "channels": [16, 32, 64, 128]})
head = torch.nn.Linear(enc.out_dim, 8)
opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=3e-3)
g = torch.Generator().manual_seed(1)
x = torch.rand(steps, 32, 3, 16, 30, 40, generator=g)
y = torch.randint(0, 8, (steps, 32), generator=g)
loss = torch.nn.functional.cross_entropy(head(enc(x[0])), y[0]); loss.backward(); opt.zero_grad()  # warm-up
t0 = time.perf_counter()
for i in range(steps):
    loss = torch.nn.functional.cross_entropy(head(enc(x[i])), y[i])
    opt.zero_grad(); loss.backward(); opt.step()
dt = (time.perf_counter() - t0) / steps
w = torch.cat([p.detach().flatten() for p in enc.parameters()])
print(json.dumps({"s_per_step": dt, "hash": hashlib.sha256(w.numpy().tobytes()).hexdigest()[:16],
                  "weights": w.tolist()}))
"""


def run(isa: str, steps: int, threads: int) -> dict:
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa}
    out = subprocess.run(
        [sys.executable, "-c", "import avbench\n" + CHILD, str(steps), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    a = ap.parse_args()
    res = {}
    for isa in ("AVX2", "ALL", "AVX2", "ALL"):  # interleaved: a loaded machine slows both alike
        r = run(isa, a.steps, a.threads)
        res.setdefault(isa, []).append(r)
    import numpy as np

    w = {k: np.asarray(v[0]["weights"]) for k, v in res.items()}
    summary = {
        isa: {
            "s_per_step": min(r["s_per_step"] for r in runs),
            "hashes": [r["hash"] for r in runs],
            "repeatable": len({r["hash"] for r in runs}) == 1,
        }
        for isa, runs in res.items()
    }
    summary["max_weight_difference_avx2_vs_all"] = float(np.abs(w["AVX2"] - w["ALL"]).max())
    summary["avx2_time_ratio"] = summary["AVX2"]["s_per_step"] / summary["ALL"]["s_per_step"]
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
        summary["cpu"] = cpu + (" (AVX-512)" if "avx512f" in flags else " (no AVX-512)")
    except (OSError, StopIteration):
        summary["cpu"] = "unknown"
    summary["steps"], summary["threads"] = a.steps, a.threads
    for isa in ("AVX2", "ALL"):
        s = summary[isa]
        print(
            f"ONEDNN_MAX_CPU_ISA={isa:4s}  {1000 * s['s_per_step']:.1f} ms/step  weights {s['hashes']}  "
            f"repeatable: {s['repeatable']}"
        )
    print(f"largest weight difference AVX2 vs ALL: {summary['max_weight_difference_avx2_vs_all']:.3g}")
    print(f"AVX2 pin costs x{summary['avx2_time_ratio']:.2f} time per step on {summary['cpu']}")
    out = Path(a.out)
    data = json.loads(out.read_text()) if out.is_file() else {}
    data["determinism"] = summary
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(out)


if __name__ == "__main__":
    main()
