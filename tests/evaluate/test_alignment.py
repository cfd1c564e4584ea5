"""Phase alignment: known answers (identical videos tau 1, a video running backwards -1, unrelated
features ~0), the true phase of the world's periodic classes, and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from avbench.evaluate.alignment import (
    evaluate_alignment,
    kendall_tau,
    noise_embeddings,
    pair_scores,
    phase_progression,
    pixel_embeddings,
)
from avbench.synthesize.phase import PERIODIC, one_cycle, phase_spec, phase_videos, true_phase
from avbench.synthesize.world import simulate


def _helix(phase: np.ndarray) -> np.ndarray:
    a = 2 * np.pi * phase
    return np.stack([np.cos(a), np.sin(a), phase], 1)


def test_kendall_tau_counts_concordant_minus_discordant_pairs():
    assert kendall_tau([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    assert kendall_tau([0, 1, 2, 3], [3, 2, 1, 0]) == -1.0
    assert kendall_tau([0, 1, 2, 3], [0, 2, 1, 3]) == pytest.approx(4 / 6)  # one swapped pair of six
    assert kendall_tau([0, 1, 2], [5, 5, 5]) == 0.0  # ties count as neither


def test_identical_videos_align_with_tau_one_and_a_reversed_one_with_minus_one():
    ph = np.linspace(0, 0.95, 20)
    emb = _helix(ph)
    same = pair_scores(emb, ph, emb, ph)
    assert same == {"kendall_tau": 1.0, "phase_error": 0.0, "cycle_consistency": 1.0}
    # v's frame j looks like u's frame 19 - j but is at phase j: the alignment runs backwards
    back = pair_scores(emb, ph, emb[::-1], ph)
    assert back["kendall_tau"] == -1.0 and back["cycle_consistency"] == 1.0
    # the same process at another speed (v: 33 frames of one cycle) still aligns in order
    ph_v = np.linspace(0, 0.97, 33)
    fast = pair_scores(emb, ph, _helix(ph_v), ph_v)
    assert fast["kendall_tau"] == 1.0 and fast["phase_error"] < 0.02


def test_the_true_phase_follows_the_world_and_one_cycle_rises_from_0_to_1():
    for cls in PERIODIC:
        spec = phase_spec(0, cls, 1, duration=7.0, fps=16.0, render_size=(160, 120))
        traj = simulate(spec)
        ph = true_phase(spec, traj)
        a, b = one_cycle(ph)
        assert np.all(np.diff(ph[a:b]) > 0) and ph[a] < 0.15 and ph[b - 1] > 0.85, cls
        period = traj.info["period_s"] * spec.fps  # frames per cycle
        assert abs((b - a) - period) <= 1.0, cls
        # the world's events sit at phase 0 (orbit, spin: the top; pendulum: each extreme, 0 and 0.5)
        ev = np.array(traj.events) * spec.fps
        ev = ev[(ev > 1) & (ev < len(ph) - 2)]
        k = np.floor(ev).astype(int)
        at = ph[k] + (ev - k) * np.mod(ph[k + 1] - ph[k], 1.0)  # the phase at the event's instant
        cyc = 0.5 if cls == "pendulum" else 1.0
        err = np.abs(np.mod(at + cyc / 2, cyc) - cyc / 2)
        assert err.max() < 0.02, (cls, err)


def test_the_set_and_the_baselines():
    videos = phase_videos(n_per_class=3, seed=0)
    assert [v["cls"] for v in videos] == [c for c in PERIODIC for _ in range(3)]
    assert all(v["frames"].shape[1:] == (30, 40, 3) and len(v["frames"]) == len(v["phase"]) + 8 for v in videos)
    per, summary = evaluate_alignment(videos, noise_embeddings(0), n_boot=200)
    assert len(per) == 3 * 3 * 2  # ordered pairs within each class
    s = summary.set_index(["class", "metric"])
    assert abs(s.loc[("all", "kendall_tau"), "value"]) < 0.15  # chance
    assert (
        s.loc[("all", "kendall_tau"), "lo"]
        <= s.loc[("all", "kendall_tau"), "value"]
        <= s.loc[("all", "kendall_tau"), "hi"]
    )
    assert s.loc[("all", "phase_progression"), "value"] < 0.2
    # ideal features (the phase itself on a circle): tau 1 in every pair, progression ~1
    ideal = lambda v: _helix(next(np.r_[x["phase"], np.zeros(8)] for x in videos if x["frames"] is v))  # noqa: E731
    _, best = evaluate_alignment(videos, ideal, n_boot=200)
    b = best.set_index(["class", "metric"])
    assert b.loc[("all", "kendall_tau"), "value"] > 0.95 and b.loc[("all", "phase_progression"), "value"] > 0.8
    px = pixel_embeddings(videos[0]["frames"])
    assert px.shape == (len(videos[0]["frames"]), 240)
    r2 = phase_progression([_helix(v["phase"]) for v in videos[:3]], [v["phase"] for v in videos[:3]])
    assert r2 > 0.9


def test_the_command_line_scores_a_baseline(tmp_path):
    out, pairs = tmp_path / "a.csv", tmp_path / "p.csv"
    r = subprocess.run(
        [sys.executable, "-m", "avbench.cli", "alignment", "pixels", "noise", "--n-per-class", "2"]
        + ["--n-boot", "100", "--threads", "1", "-o", str(out), "--pairs", str(pairs)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(out)
    assert set(rows["run"]) == {"pixels", "noise"} and set(rows["class"]) == {"all", *PERIODIC}
    assert {"kendall_tau", "phase_error", "cycle_consistency", "phase_progression"} == set(rows["metric"])
    assert len(pd.read_csv(pairs)) == 2 * 3 * 2
    bad = subprocess.run(
        [sys.executable, "-m", "avbench.cli", "alignment", str(tmp_path / "missing.pt"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and bad.stderr.strip().startswith("avbench alignment:")
