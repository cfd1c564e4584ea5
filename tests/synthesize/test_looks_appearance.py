"""The opt-in ``appearance_by_class``: the sounding object's shape and colour follow its class; off by
default, and nothing but the overridden fields changes when on."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from avbench.synthesize.world import CLASS_APPEARANCE, CLASSES, SHAPES, VideoSpec, render, sample_spec

KW = dict(duration_s=(1.0, 1.0), sizes=((160, 120),), p_camera=1.0, p_letterbox=0.5)


def _spec(cls: str, i: int, **kw) -> VideoSpec:
    return sample_spec(np.random.default_rng([5, i]), cls, **KW, **kw)


def _l1(a, b) -> int:
    return int(np.abs(np.asarray(a, int) - np.asarray(b, int)).sum())


def test_palette_is_one_distinct_look_per_class():
    assert list(CLASS_APPEARANCE) == CLASSES
    cols = [c for _, c in CLASS_APPEARANCE.values()]
    assert len(set(cols)) == len(CLASSES)
    assert min(_l1(a, b) for i, a in enumerate(cols) for b in cols[i + 1 :]) >= 100
    assert {s for s, _ in CLASS_APPEARANCE.values()} == set(SHAPES)
    assert CLASS_APPEARANCE["bounce"] == ("circle", (230, 34, 34))  # hue 0: red


def test_same_class_same_look_and_off_by_default():
    for cls in CLASSES:
        on = [_spec(cls, i, appearance_by_class=True) for i in range(6)]
        assert {(s.shape, s.color) for s in on} == {CLASS_APPEARANCE[cls]}
        assert all(_l1(s.color, s.bg_color) > 150 for s in on)  # the object stands out
        assert len({s.obj_size for s in on}) == 6  # size stays random
        off = [_spec(cls, i) for i in range(6)]
        assert len({s.color for s in off}) == 6  # off: colours drawn at random
        for a, b in zip(off, on):
            assert not a.appearance_by_class and b.appearance_by_class
            assert "appearance_by_class" not in a.to_dict() and b.to_dict()["appearance_by_class"] is True
            # every other draw is the same
            assert dataclasses.replace(b, shape=a.shape, color=a.color, bg_color=a.bg_color) == dataclasses.replace(
                a, appearance_by_class=True
            )
            if _l1(CLASS_APPEARANCE[cls][1], a.bg_color) > 150:
                assert b.bg_color == a.bg_color  # the background is redrawn only when too close


def test_silent_object_keeps_a_random_look_and_truth_records_the_setting():
    specs = [_spec(c, i, appearance_by_class=True, p_silent_object=1.0) for i, c in enumerate(CLASSES)]
    assert all(_l1(s.silent_color, s.color) > 150 for s in specs)
    assert len({s.silent_color for s in specs}) == len(specs)
    assert len({s.silent_shape for s in specs}) > 1  # not its class shape either
    frames, audio, _, gt = render(specs[0])
    assert gt["spec"]["appearance_by_class"] is True and gt["spec"]["color"] == list(CLASS_APPEARANCE["bounce"][1])
    json.dumps(gt)
    # the sounding object is painted in its class colour: some pixel of the middle frame has it exactly
    # (anti-aliased edges aside), and the audio is the default world's
    mid = frames[len(frames) // 2].reshape(-1, 3).astype(int)
    assert (np.abs(mid - np.asarray(CLASS_APPEARANCE["bounce"][1])).sum(1) <= 3).any()
    _, audio_off, _, _ = render(_spec("bounce", 0, p_silent_object=1.0))
    assert np.array_equal(audio, audio_off)


def test_localize_set_takes_the_setting(tmp_path):
    import pandas as pd

    from avbench.synthesize.dataset import plan, plan_localize, write_localize_set

    cfg = {"n_videos": 3, "duration_s": [1, 1], "sizes": [[160, 120]], "appearance_by_class": True}
    jobs = plan_localize(cfg, 0)
    assert all(j["spec"].color == CLASS_APPEARANCE[j["spec"].cls][1] for j in jobs)
    assert not any(j["spec"].appearance_by_class for j in plan_localize({"n_videos": 3}, 0))
    assert all(j["spec"].appearance_by_class for j in plan({"pretrain_videos": 4, "appearance_by_class": True}, 0))
    write_localize_set(tmp_path, cfg, seed=0, progress=False)
    gtc = pd.read_csv(tmp_path / "localize" / "ground_truth.csv")
    assert gtc["appearance_by_class"].all()
    assert list(gtc["color"]) == ["#%02x%02x%02x" % CLASS_APPEARANCE[c][1] for c in gtc["class"]]
