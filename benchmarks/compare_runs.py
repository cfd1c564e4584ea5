"""Compare the results trees of two `make run`s (e.g. two fresh clones): every leaderboard value,
`findings.csv`, `leaderboard.intervals.csv`, every `*.predictions.parquet` and every checkpoint's
tensors, exactly; provenance and timing columns that differ are listed, not counted.

    .venv/bin/python benchmarks/compare_runs.py /path/to/clone1/results /path/to/clone2/results

Exit status 0 when every value, prediction and weight is equal, 1 otherwise.
"""

from __future__ import annotations

import glob
import os
import sys

import pandas as pd
import torch

KEYS = ["method", "pretext", "encoder", "downstream", "protocol", "classifier", "fold", "metric", "seed"]


def _flat(x: dict, p: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in x.items():
        if isinstance(v, dict):
            out.update(_flat(v, p + str(k) + "."))
        elif torch.is_tensor(v):
            out[p + str(k)] = v
    return out


def main(a: str, b: str) -> int:
    bad = 0
    la, lb = pd.read_csv(f"{a}/leaderboard.csv"), pd.read_csv(f"{b}/leaderboard.csv")
    keys = [c for c in KEYS if c in la.columns]
    m = la.merge(lb, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    unmatched = int((m["_merge"] != "both").sum())
    both = m[m["_merge"] == "both"]
    d = (both["value_a"] - both["value_b"]).abs()
    print(
        f"leaderboard rows {len(la)} / {len(lb)}, unmatched {unmatched}, values differing {int((d > 0).sum())} "
        f"(max |diff| {d.max()})"
    )
    bad += unmatched + int((d > 0).sum())
    for c in la.columns:
        if c in keys or c == "value" or c not in lb.columns:
            continue
        xa, xb = both[c + "_a"], both[c + "_b"]
        na, nb = pd.to_numeric(xa, errors="coerce"), pd.to_numeric(xb, errors="coerce")
        num = na.notna() & nb.notna()  # 64 and 64.0 are equal (an outer merge with unmatched rows makes floats)
        diff = (num & (na != nb)) | (~num & (xa.astype(str) != xb.astype(str)))
        if diff.any():
            print(
                f"  column {c} differs in {int(diff.sum())} rows, e.g. {both[c + '_a'][diff].iloc[0]!s:.40} vs "
                f"{both[c + '_b'][diff].iloc[0]!s:.40}"
            )
    for f in ("findings.csv", "leaderboard.intervals.csv"):
        fa, fb = pd.read_csv(f"{a}/{f}"), pd.read_csv(f"{b}/{f}")
        same = fa.equals(fb)
        rows_a = set(map(tuple, fa.astype(str).values))
        rows_b = set(map(tuple, fb.astype(str).values))
        print(
            f"{f}: {'identical' if same else 'DIFFERENT'} ({len(fa)} / {len(fb)} rows; "
            f"{len(rows_a - rows_b)} of a's rows not in b, {len(rows_b - rows_a)} of b's not in a)"
        )
        bad += not same
    n = nbad = 0
    for pa in sorted(glob.glob(f"{a}/eval/**/*.predictions.parquet", recursive=True)):
        pb = os.path.join(b, os.path.relpath(pa, a))
        n += 1
        if not os.path.exists(pb) or not pd.read_parquet(pa).equals(pd.read_parquet(pb)):
            nbad += 1
            print("  predictions differ:", os.path.relpath(pa, a))
    print(f"predictions files {n}, differing {nbad}")
    n = wbad = 0
    for ca in sorted(glob.glob(f"{a}/models/*/checkpoint.pt")):
        cb = os.path.join(b, os.path.relpath(ca, a))
        n += 1
        if not os.path.exists(cb):
            wbad += 1
            continue
        sa, sb = (torch.load(c, weights_only=False, map_location="cpu") for c in (ca, cb))
        ta = _flat({k: sa[k] for k in ("encoders", "head") if k in sa})
        tb = _flat({k: sb[k] for k in ("encoders", "head") if k in sb})
        if ta.keys() != tb.keys() or not all(torch.equal(ta[k], tb[k]) for k in ta):
            wbad += 1
            print("  weights differ:", os.path.relpath(ca, a))
    print(f"checkpoints {n}, with different weights {wbad}")
    return 1 if bad + nbad + wbad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
