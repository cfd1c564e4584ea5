"""The opt-in silent moving object and object boxes: off by default, nothing else changes when on."""

from __future__ import annotations

import dataclasses

import numpy as np

from avbench.synthesize.world import VideoSpec, render, render_audio, sample_spec

KW = dict(duration_s=(1.0, 1.0), sizes=((160, 120),), p_camera=1.0, p_letterbox=0.5)


def _spec(i: int, **kw) -> VideoSpec:
    return sample_spec(np.random.default_rng([3, i]), "bounce", **KW, **kw)


def test_off_by_default_and_draws_unchanged():
    for i in range(6):
        a, b = _spec(i), _spec(i, p_silent_object=1.0)
        assert not a.silent_object and b.silent_object and b.record_boxes
        # the sounding object's spec is the same draw: only the opt-in fields differ
        assert (
            dataclasses.replace(
                b,
                **{
                    f: getattr(a, f)
                    for f in (
                        "silent_object",
                        "silent_cls",
                        "silent_seed",
                        "silent_shape",
                        "silent_color",
                        "silent_size",
                        "record_boxes",
                    )
                },
            )
            == a
        )
        d = a.to_dict()
        assert "silent_object" not in d and "record_boxes" not in d


def test_silent_object_is_seen_not_heard_and_boxed():
    a = _spec(1)
    b = _spec(1, p_silent_object=1.0)
    fa, aa, ea, ga = render(a)
    fb, ab, eb, gb = render(b)
    assert np.array_equal(aa, ab) and ea == eb  # no sound of its own
    assert not np.array_equal(fa, fb)  # but seen
    assert "object_box" not in ga and "silent_object" not in ga
    T = a.n_frames
    for k in ("object_box", "object_box_frame", "object_visible", "silent_object_box_frame", "silent_object_visible"):
        assert len(gb[k]) == T
    assert gb["silent_object"] and gb["silent_object_cls"] == b.silent_cls
    # the object's centre lies inside its scene box
    for (x, y), box in zip(gb["object_xy"], gb["object_box"]):
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3]
    # record_boxes alone: the same frames and audio as the default, boxes added
    c = dataclasses.replace(a, record_boxes=True)
    fc, ac, _, gc = render(c)
    assert np.array_equal(fa, fc) and np.array_equal(aa, ac)
    assert gc["object_box"] == gb["object_box"] and "silent_object_box" not in gc
    assert render_audio(c)[0].shape == aa.shape


def test_silent_object_pixels_inside_its_box():
    b = _spec(4, p_silent_object=1.0)
    b = dataclasses.replace(b, camera="none", letterbox=0, pillarbox=0, black_lead_in=0, black_lead_out=0)
    frames, _, _, gt = render(b)
    base, _, _, _ = render(dataclasses.replace(b, silent_object=False))
    for t in (0, len(frames) // 2):
        diff = np.abs(frames[t].astype(int) - base[t].astype(int)).sum(-1) > 30
        ys, xs = np.nonzero(diff)
        if not len(xs):
            continue
        x0, y0, x1, y1 = gt["silent_object_box_frame"][t]
        assert xs.min() >= x0 - 1.5 and xs.max() <= x1 + 1.5 and ys.min() >= y0 - 1.5 and ys.max() <= y1 + 1.5


def test_localize_set_layout(tmp_path):
    import json

    import pandas as pd

    from avbench.synthesize.dataset import plan_localize, write_localize_set

    cfg = {"n_videos": 2, "duration_s": [1, 1], "sizes": [[160, 120]], "p_silent_object": 1.0}
    jobs = plan_localize(cfg, 0)
    assert all(j["spec"].silent_object and not j["spec"].no_audio for j in jobs)
    s = write_localize_set(tmp_path, cfg, seed=0, progress=False)
    assert s["videos"] == 2 and s["silent_object"] == 2
    kin = pd.read_csv(tmp_path / "localize" / "kinetics.csv")
    assert len(kin) == 2 and (tmp_path / "localize" / "videos").is_dir()
    gtc = pd.read_csv(tmp_path / "localize" / "ground_truth.csv")
    assert gtc["silent_object"].all()
    gt = json.loads(next((tmp_path / "localize" / "ground_truth").glob("*.json")).read_text())
    assert "object_box_frame" in gt and "silent_object_box_frame" in gt
