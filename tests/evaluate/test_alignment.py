"""Phase alignment: known answers (identical videos tau 1, a video running backwards -1, unrelated
features ~0; an oracle aligning by the world's true state tau ~1 on every scored pair, which the
former all-pairs score contradicted), the true phase of the world's periodic classes, and the
command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from avbench.evaluate.alignment import (
    alignment_table,
    evaluate_alignment,
    kendall_tau,
    nearest,
    noise_embeddings,
    pair_scores,
    phase_progression,
    pixel_embeddings,
)
from avbench.synthesize.phase import PERIODIC, direction, one_cycle, phase_spec, phase_videos, state, true_phase
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


def test_an_oracle_aligning_by_the_true_state_scores_tau_one_on_every_scored_pair():
    """The known answer of the score on the real set (8 videos a class, seed 0): an aligner that
    matches frames by what they show (the world's true state: the object's angle about its circle,
    the marker's angle, the pendulum's angle and velocity) follows the phase on every pair the score
    uses: no pair of frames is discordant, except through at most one frame that wraps to the far end
    of the other cycle (a cycle's first and last frames show neighbouring states; it costs up to
    4/n), and ties where the other video is shorter, so tau is ~1 (0.97 on average), not exactly 1. On pairs that turn
    opposite ways the same oracle scores ~ -1 under the time-fraction phase: the former all-pairs
    score contradicted the task there, and an aligner by elapsed time (not by state) scored ~1."""
    videos = phase_videos(n_per_class=8, seed=0)
    dirs = {v["id"]: v["direction"] for v in videos}
    assert {d for v, d in dirs.items() if v.startswith("pendulum")} == {1}
    for cls in ("orbit", "spin"):  # both directions occur: the case the score must handle
        assert {d for v, d in dirs.items() if v.startswith(cls)} == {1, -1}
    n = {v["id"]: len(v["phase"]) for v in videos}
    per, summary = evaluate_alignment(videos, np.asarray, n_boot=200, key="state")
    assert per["same_direction"].tolist() == [dirs[u] == dirs[v] for u, v in zip(per["u"], per["v"])]
    scored = per[per["same_direction"]]
    assert len(scored) == 112 and len(per) == 168 and scored["class"].value_counts()["orbit"] == 24
    ids = {v["id"]: v for v in videos}
    for u, v, tau, err in zip(scored["u"], scored["v"], scored["kendall_tau"], scored["phase_error"]):
        assert tau > 0.75 and err < 1 / n[u], (u, v, tau, err)
        # exactly: no frame pair is discordant once the wrap is undone (ties remain where v is shorter)
        pu, pv = ids[u]["phase"], ids[v]["phase"]
        got = pv[nearest(ids[u]["state"][: n[u]], ids[v]["state"][: n[v]])]
        wrapped = np.abs(got - pu) > 0.5
        assert wrapped.sum() <= 1, (u, v)
        unwrapped = got + np.round(pu - got)  # the aligned phase, a whole cycle on where it wrapped
        assert (np.sign(pu[:, None] - pu[None]) * np.sign(unwrapped[:, None] - unwrapped[None]) >= 0).all()
    s = summary.set_index(["class", "metric"])
    assert s.loc[("all", "kendall_tau"), "value"] > 0.95 and s.loc[("all", "kendall_tau"), "lo"] > 0.9
    # the former score, kept as the breakdown: the oracle's opposite-direction pairs run backwards
    opposite = per[~per["same_direction"]]
    assert len(opposite) == 56 and (opposite["kendall_tau"] < -0.7).all()
    assert s.loc[("all", "kendall_tau_all_pairs"), "value"] < 0.5
    assert s.loc[("all", "kendall_tau_all_pairs"), "n_pairs"] == 168
    # an aligner by elapsed time scores ~1 on every pair, opposite ones included: the former ground
    # truth rewarded time, not state; on the scored pairs the two agree
    by_time = [{**v, "t": _helix(np.r_[v["phase"], np.ones(8)])[:, :2]} for v in videos]
    per_t, _ = evaluate_alignment(by_time, np.asarray, n_boot=50, key="t")
    assert (per_t["kendall_tau"] > 0.7).all()
    # an aligner that runs the other cycle backwards (u's frame to the time-mirrored frame of its
    # state match in v) must not score 1: -1 on every scored pair, up to the wrapped frame
    for u, v in zip(scored["u"], scored["v"]):
        a, b = ids[u], ids[v]
        sb = b["state"][: len(b["phase"])]
        back = pair_scores(a["state"][: len(a["phase"])], a["phase"], sb[::-1], b["phase"])
        assert back["kendall_tau"] < -0.7, (u, v, back)


def test_direction_and_state_follow_the_simulated_motion():
    for cls in ("orbit", "spin"):
        seen = set()
        for k in range(8):
            spec = phase_spec(0, cls, k, duration=7.0, fps=16.0, render_size=(160, 120))
            traj = simulate(spec)
            d, st = direction(spec, traj), state(spec, traj)
            seen.add(d)
            assert st.shape == (spec.n_frames, 2) and np.allclose(np.hypot(*st.T), 1.0)
            # the state turns the way the direction says, by 2 pi / period per second
            turn = np.diff(np.unwrap(np.arctan2(st[:, 1], st[:, 0])))
            assert np.allclose(turn * d, 2 * np.pi / traj.info["period_s"] / spec.fps, rtol=1e-6), cls
            # the phase is the time fraction from the top, whichever way it turns: the state at phase p
            # of a clockwise video is that at phase 1 - p of an anticlockwise one
            ph = true_phase(spec, traj)
            a = 2 * np.pi * (ph if d > 0 else 1 - ph) - np.pi / 2
            assert np.allclose(st, np.c_[np.cos(a), np.sin(a)], atol=1e-6), cls
        assert seen == {1, -1}, cls
    spec = phase_spec(0, "pendulum", 0, duration=7.0, fps=16.0, render_size=(160, 120))
    traj = simulate(spec)
    ph, st = true_phase(spec, traj), state(spec, traj)
    assert direction(spec, traj) == 1
    a = 2 * np.pi * ph  # right extreme (1, 0) at phase 0, then to the left: (cos, -sin)
    assert np.abs(st - np.c_[np.cos(a), -np.sin(a)]).max() < 0.05


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
    assert {"kendall_tau", "phase_error", "cycle_consistency", "phase_progression", "kendall_tau_all_pairs"} == set(
        rows["metric"]
    )
    assert len(pd.read_csv(pairs)) == 2 * 3 * 2
    bad = subprocess.run(
        [sys.executable, "-m", "avbench.cli", "alignment", str(tmp_path / "missing.pt"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and bad.stderr.strip().startswith("avbench alignment:")


def _pairs(run: str, tau: np.ndarray, *, videos: int = 6) -> pd.DataFrame:
    """Every ordered pair of ``videos`` videos of one class with the given taus (in video_pairs' order)."""
    uv = [(a, b) for a in range(videos) for b in range(videos) if a != b]
    return pd.DataFrame(
        {
            "run": run,
            "method": run,
            "class": "spin",
            "u": [f"spin{a}" for a, _ in uv],
            "v": [f"spin{b}" for _, b in uv],
            "kendall_tau": tau,
            "phase_error": 0.25 - tau / 5,
            "cycle_consistency": (tau + 1) / 2,
        }
    )


def test_the_table_pairs_every_run_with_the_reference_on_the_same_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 0.2, 30)
    noise = rng.normal(0.0, 0.05, 30)
    pairs = pd.concat(
        [
            _pairs("scratch", base),
            _pairs("tcc", base + 0.3 + noise),  # better on every pair by 0.3 (+- 0.05)
            _pairs("worse", base - 0.2),  # worse by exactly 0.2
            _pairs("same", base.copy()),
            _pairs("shuffled", base + 0.3).iloc[::-1],  # the same pairs in another order: still paired
            _pairs("other", base[:20] + 0.3, videos=5).assign(**{"class": "orbit"}),  # other pairs: no difference
        ],
        ignore_index=True,
    )
    rows = pd.DataFrame([{"run": "tcc", "method": "tcc", "class": "all", "metric": "phase_progression", "value": 0.7}])
    t = alignment_table(pairs, rows, reference="scratch", n_boot=500).set_index("run")
    assert t.loc["tcc", "tau_diff"] == pytest.approx(0.3 + noise.mean())
    assert 0.25 < t.loc["tcc", "tau_diff_lo"] < t.loc["tcc", "tau_diff"] < t.loc["tcc", "tau_diff_hi"] < 0.35
    assert t.loc["tcc", "tau_verdict"] == "reproduced" and t.loc["tcc", "reference"] == "scratch"
    # a constant difference has a point interval; none at all is inconclusive
    assert t.loc["worse", ["tau_diff", "tau_diff_lo", "tau_diff_hi"]].astype(float).round(9).tolist() == [-0.2] * 3
    assert t.loc["worse", "tau_verdict"] == "contradicted" and t.loc["same", "tau_verdict"] == "inconclusive"
    assert t.loc["shuffled", "tau_diff"] == pytest.approx(0.3) and t.loc["shuffled", "tau_verdict"] == "reproduced"
    assert np.isnan(t.loc["other", "tau_diff"]) and t.loc["other", "tau_verdict"] == "inconclusive"
    assert pd.isna(t.loc["scratch", "tau_diff"]) and pd.isna(t.loc["scratch", "reference"])
    # the means and intervals of each run's own scores
    assert t.loc["tcc", "kendall_tau"] == pytest.approx((base + 0.3 + noise).mean())
    assert t.loc["worse", "phase_error"] == pytest.approx((0.25 - (base - 0.2) / 5).mean())
    assert t.loc["scratch", "pairs"] == 30 and t.loc["scratch", "videos"] == 6 and t.loc["other", "pairs"] == 20
    for m in ("kendall_tau", "phase_error", "cycle_consistency"):
        assert (t[f"{m}_lo"] <= t[m]).all() and (t[m] <= t[f"{m}_hi"]).all()
    assert t.loc["tcc", "phase_progression"] == 0.7 and np.isnan(t.loc["scratch", "phase_progression"])


def test_the_table_reads_the_same_intervals_as_avbench_alignment(tmp_path):
    videos = phase_videos(n_per_class=2, seed=0)
    per, summary = evaluate_alignment(videos, noise_embeddings(0), n_boot=200, seed=3)
    t = alignment_table(per.assign(run="noise"), summary.assign(run="noise"), reference=None, n_boot=200, seed=3)
    s = summary[summary["class"] == "all"].set_index("metric")
    for m in ("kendall_tau", "phase_error", "cycle_consistency"):
        assert t.loc[0, [m, f"{m}_lo", f"{m}_hi"]].astype(float).tolist() == pytest.approx(
            s.loc[m, ["value", "lo", "hi"]].astype(float).tolist()
        )
    # the command line: avbench alignment's pairs and rows in, the table out
    per.assign(run="noise").to_csv(tmp_path / "pairs.csv", index=False)
    summary.assign(run="noise").to_csv(tmp_path / "rows.csv", index=False)
    r = subprocess.run(
        [sys.executable, "-m", "avbench.cli", "alignment-table", str(tmp_path / "pairs.csv")]
        + ["--rows", str(tmp_path / "rows.csv"), "--seed", "3", "--n-boot", "200", "-o", str(tmp_path / "t.csv")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path / "t.csv")["kendall_tau_lo"].iloc[0] == pytest.approx(s.loc["kendall_tau", "lo"])


def test_the_video_bootstrap_resamples_videos_within_classes_and_widens_shared_video_intervals():
    from avbench.evaluate.alignment import video_bootstrap, weighted_means

    rng = np.random.default_rng(0)
    vids = {c: [f"{c}{i}" for i in range(8)] for c in ("a", "b")}
    u, v, cls, vals = [], [], [], []
    effect = {x: rng.normal() for xs in vids.values() for x in xs}  # a per-video effect shared by its pairs
    for c, xs in vids.items():
        for x in xs:
            for y in xs:
                if x != y:
                    u.append(x), v.append(y), cls.append(c), vals.append(effect[x] + effect[y])
    w = video_bootstrap(u, v, cls, 400, seed=0)
    assert np.array_equal(w, video_bootstrap(u, v, cls, 400, seed=0))  # the same draws for every source
    # a pair weighs the product of its two videos' counts; each class keeps its 8 draws
    assert (w >= 0).all() and np.allclose(w, np.round(w))
    naive = np.random.default_rng(1).multinomial(len(u), np.full(len(u), 1 / len(u)), size=400)
    vals = np.asarray(vals)
    wide = np.subtract(*np.percentile(weighted_means(w, vals), [97.5, 2.5]))
    narrow = np.subtract(*np.percentile(naive @ vals / len(vals), [97.5, 2.5]))
    assert wide > 2 * narrow  # 112 pairs but only 16 independent videos


def test_embedding_pretext_keeps_the_encoder_for_methods_without_a_frame_embedding(
    tmp_path, moving_squares, tiny_checkpoint
):
    """`--embedding pretext` is TCC's embedder for tcc runs only: a random-init run (no per-frame
    embedding of its own) is aligned with its encoder's pooled features either way, and an unknown
    embedding is refused."""
    from avbench.evaluate.alignment import source_embeddings

    moving_squares(tmp_path / "sq", n_videos=8, audio=False)
    ck = str(tiny_checkpoint(tmp_path / "sq"))
    frames = np.random.default_rng(0).integers(0, 255, (6, 24, 32, 3), dtype=np.uint8)
    enc, m_enc = source_embeddings(ck, embedding="encoder")
    pre, m_pre = source_embeddings(ck, embedding="pretext")
    assert m_enc["embedding"] == m_pre["embedding"] == "encoder"
    assert np.array_equal(enc(frames), pre(frames))
    with pytest.raises(ValueError, match="embedding"):
        source_embeddings(ck, embedding="head")


def test_the_table_scores_the_pairs_that_turn_the_same_way_and_keeps_all_pairs_as_a_breakdown():
    rng = np.random.default_rng(1)
    base = rng.normal(0.0, 0.2, 30)
    same = np.array([(a < 3) == (b < 3) for a in range(6) for b in range(6) if a != b])  # two directions of 3
    runs = []
    for run, tau in (("scratch", base), ("state", np.where(same, 0.9, -0.9))):  # an aligner by state
        runs.append(_pairs(run, tau).assign(same_direction=same))
    t = alignment_table(pd.concat(runs, ignore_index=True), reference="scratch", n_boot=300).set_index("run")
    assert t.loc["state", "kendall_tau"] == pytest.approx(0.9) and t.loc["state", "pairs"] == same.sum() == 12
    assert t.loc["state", "kendall_tau_all_pairs"] == pytest.approx((0.9 * 12 - 0.9 * 18) / 30)
    assert t.loc["state", "pairs_all"] == 30
    lo, hi = t.loc["state", ["kendall_tau_all_pairs_lo", "kendall_tau_all_pairs_hi"]]
    assert lo < t.loc["state", "kendall_tau_all_pairs"] < hi
    assert t.loc["state", "tau_diff"] == pytest.approx(0.9 - base[same].mean())
    # pairs written before the direction was recorded: every pair scored, no breakdown
    old = alignment_table(pd.concat(runs, ignore_index=True).drop(columns="same_direction"), n_boot=100)
    assert old.set_index("run").loc["state", "pairs"] == 30 and "kendall_tau_all_pairs" not in old.columns
