"""The opt-in audio-visual offset of the synthetic world (``p_av_offset``): off by default, nothing
else changes when on, and a rendered and written video's decoded audio is shifted by exactly the
recorded offset against the in-sync rendering of the same video."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from avbench.synthesize.world import render, render_audio, sample_spec

KW = dict(duration_s=(2.0, 2.0), sizes=((160, 120),), p_camera=1.0, p_letterbox=0.5, p_black_frames=0.5)


def _spec(i: int, **kw):
    return sample_spec(np.random.default_rng([5, i]), "bounce", **KW, **kw)


def test_off_by_default_and_other_draws_unchanged():
    n_shifted = 0
    for i in range(12):
        a, b = _spec(i), _spec(i, p_av_offset=0.5, av_offsets_s=(-0.5, 0.25))
        assert a.av_offset_s == 0.0 and not a.record_av_offset and b.record_av_offset
        assert b.av_offset_s in (0.0, -0.5, 0.25)
        n_shifted += b.av_offset_s != 0
        assert dataclasses.replace(b, av_offset_s=0.0, record_av_offset=False) == a  # only the opt-in fields
        d = a.to_dict()
        assert "av_offset_s" not in d and "record_av_offset" not in d
    assert 0 < n_shifted < 12
    # with a silent object too: its draws are not moved by the offset's
    s = _spec(3, p_silent_object=1.0)
    t = _spec(3, p_silent_object=1.0, p_av_offset=1.0)
    assert t.av_offset_s != 0 and dataclasses.replace(t, av_offset_s=0.0, record_av_offset=False) == s


def test_ground_truth_records_the_offset_only_when_asked():
    a = _spec(1)
    _, audio_a, _, ga = render(a)
    assert "av_offset_s" not in ga and "audio_event_samples" not in ga
    rec = dataclasses.replace(a, record_av_offset=True)  # recorded, in sync: 0, same media
    fr, audio_r, _, gr = render(rec)
    assert gr["av_offset_s"] == 0.0 and gr["audio_event_samples"] == gr["event_samples"]
    assert np.array_equal(audio_a, audio_r)
    lag = dataclasses.replace(rec, av_offset_s=0.5)
    fl, audio_l, _, gl = render(lag)
    assert np.array_equal(fr, fl)  # the picture does not move
    assert gl["av_offset_s"] == 0.5 and gl["av_offset_samples"] == round(0.5 * a.sample_rate)
    assert gl["audio_event_samples"] == [s + gl["av_offset_samples"] for s in gl["event_samples"]]
    assert gl["av_offset_frames"] == pytest.approx(0.5 * a.fps)


def _clean(spec, lag):
    """A quiet, single-source version of ``spec`` (no noise, distractor or black frames), out of sync by ``lag``."""
    return dataclasses.replace(
        spec,
        noise_db=-120.0,
        distractor=False,
        black_lead_in=0,
        black_lead_out=0,
        silent=False,
        no_audio=False,
        av_offset_s=lag,
        record_av_offset=True,
    )


def _decoded_audio(tmp_path, spec, name):
    """Write the video as the world does, decode its audio as the shards do (16 kHz mono)."""
    from avbench.media.decode import decode_clip
    from avbench.synthesize.write import write_video

    frames, audio, _, _ = render(spec)
    path = tmp_path / f"{name}.mkv"
    write_video(path, frames, spec.fps, audio, spec.sample_rate, container="mkv")
    clip = decode_clip(str(path), video=False, sample_rate=16000)
    return np.asarray(clip.audio, dtype=np.float64).reshape(-1)


@pytest.mark.parametrize("lag", [0.5, -0.25])
def test_decoded_audio_is_shifted_by_exactly_the_offset(tmp_path, lag):
    spec = sample_spec(np.random.default_rng([9, 1]), "zigzag", duration_s=(3.0, 3.0), sizes=((96, 72),))
    ref = _decoded_audio(tmp_path, _clean(spec, 0.0), "ref")
    out = _decoded_audio(tmp_path, _clean(spec, lag), "lag")
    n = min(len(ref), len(out))
    ref, out = ref[:n], out[:n]
    want = int(round(lag * 16000))
    # the onset of the first sound heard in both (a positive lag delays it; a negative one advances it)
    on_ref = int(np.flatnonzero(np.abs(ref) > 0.05)[0])
    on_out = int(np.flatnonzero(np.abs(out) > 0.05)[0])
    if lag > 0:
        assert on_out - on_ref == want
    # the whole track: the shifted one is the reference moved by `want` samples (where both exist)
    lo, hi = max(0, -want), min(n, n - want)
    seg = slice(lo + 800, hi - 800)
    moved = out[seg.start + want : seg.stop + want]
    assert np.abs(moved - ref[seg]).max() < 0.01 * np.abs(ref[seg]).max()  # AAC: the same up to its coding noise
    lags = range(want - 40, want + 41)
    err = [np.abs(out[seg.start + k : seg.stop + k] - ref[seg]).mean() for k in lags]
    assert list(lags)[int(np.argmin(err))] == want


def test_sync_set_records_offsets_and_boxes(tmp_path):
    from avbench.synthesize.dataset import plan_sync, write_sync_set

    cfg = {"n_videos": 6, "duration_s": [1, 1], "p_av_offset": 0.5, "p_silent_object": 1.0, "p_camera": 0.0}
    jobs = plan_sync(cfg, seed=0)
    assert jobs == plan_sync(cfg, seed=0) and all(j["spec"].record_av_offset for j in jobs)
    assert {j["spec"].av_offset_s for j in jobs} - {0.0}  # some out of sync
    summary = write_sync_set(tmp_path, cfg, seed=0, progress=False)
    assert summary["videos"] == 6 and summary["av_offset"] == sum(bool(j["spec"].av_offset_s) for j in jobs)
    gt = pd.read_csv(tmp_path / "sync" / "ground_truth.csv")
    assert list(gt["av_offset_s"]) == [j["spec"].av_offset_s for j in jobs]
    for j in jobs:
        g = json.loads((tmp_path / "sync" / "ground_truth" / f"{j['id']}.json").read_text())
        assert g["av_offset_s"] == j["spec"].av_offset_s and g["silent_object"] and "object_box_frame" in g
    with pytest.raises(ValueError, match="p_av_offset"):
        plan_sync({"p_av_offset": 0.0}, seed=0)
    assert render_audio(jobs[0]["spec"])[0].shape[1] == jobs[0]["spec"].n_samples


def test_synth_knob_reaches_the_video_sets_not_the_sound_set():
    from avbench.synthesize.dataset import plan

    cfg = {"pretrain_videos": 8, "n_bad": 0, "action_groups_per_class": 1, "sound_clips_per_class": 1}
    off = plan(cfg, 0)
    on = plan({**cfg, "p_av_offset": 0.5, "av_offsets_s": [0.5]}, 0)
    for a, b in zip(off, on):
        assert a["id"] == b["id"]
        assert dataclasses.replace(b["spec"], av_offset_s=0.0, record_av_offset=False) == a["spec"]
        assert b["spec"].record_av_offset == (b["set"] != "sound") and not a["spec"].record_av_offset
    assert {j["spec"].av_offset_s for j in on if j["set"] == "pretrain"} == {0.0, 0.5}
